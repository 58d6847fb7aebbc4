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
