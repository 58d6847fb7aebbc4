"""Numbers and dates the Turkish way, in both languages: ``4.702``, ``93.663,50``, ``01.12.2026``.

The team reads Turkish figures all day; a count grouped one way on a card and another way in a
table is a figure misread. Money has its own module (``paynet_core.money``).
"""

from __future__ import annotations

from datetime import date, datetime


def format_count(n: int | None) -> str:
    """``4702`` → ``4.702``; never cut, never a float."""
    if n is None:
        return "–"
    return f"{int(n):,}".replace(",", ".")


def format_number(x: float | int | None, digits: int = 1) -> str:
    """``1234.5`` → ``1.234,5``: grouped with dots, decimals after a comma, trailing zeros
    dropped (``14.0`` → ``14``), at most ``digits`` decimals. For sizes and ratios, never money."""
    if x is None or x != x:
        return "–"
    text = f"{float(x):,.{digits}f}" if digits > 0 else f"{round(x):,}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def format_percent(share: float | None, digits: int = 1) -> str:
    """A share (``0.145``) the Turkish way: ``%14,5``; ``%14`` when whole; the sign in front, as
    Turkish writes it (in both languages, like every other figure)."""
    if share is None or share != share:
        return "–"
    return f"%{format_number(share * 100, digits)}"


def format_day(value: date | datetime | None) -> str:
    """``dd.MM.yyyy``, the form Paynet and the team use."""
    if value is None:
        return "–"
    return value.strftime("%d.%m.%Y")


def month_names(language: str) -> list[str]:
    """Month names for chart axes (January first)."""
    from babel.dates import get_month_names

    names = get_month_names("wide", context="stand-alone", locale=language)
    return [names[i] for i in range(1, 13)]


def day_names(language: str) -> list[str]:
    """Day names for chart axes (Monday first)."""
    from babel.dates import get_day_names

    names = get_day_names("wide", context="stand-alone", locale=language)
    return [names[i] for i in range(7)]


class Figure:
    """A number put into a :class:`~paynet_core.i18n.Message` as a parameter, written when the
    message is shown: ``4,702`` (``en_spec``) in English, ``4.702`` / ``1,5`` in Turkish. English
    texts keep the exact form they had before they were translated."""

    __slots__ = ("en_spec", "tr_digits", "value")

    def __init__(self, value: int | float, en_spec: str = ",", tr_digits: int = 0):
        self.value, self.en_spec, self.tr_digits = value, en_spec, tr_digits

    def __str__(self) -> str:
        from . import current_language

        if current_language() == "tr":
            if self.tr_digits:
                return format_number(self.value, self.tr_digits)
            return format_count(int(self.value))
        return format(self.value, self.en_spec)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __repr__(self) -> str:
        return f"Figure({self.value!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Figure) and (other.value, other.en_spec, other.tr_digits) == (
            self.value,
            self.en_spec,
            self.tr_digits,
        )

    def __hash__(self) -> int:
        return hash(self.value)

    def __reduce__(self):
        return (Figure, (self.value, self.en_spec, self.tr_digits))
