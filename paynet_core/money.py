"""Money as integer kuruş: parsing what people type, formatting for people, and the wire format.

Floats never touch money. Paynet sends and receives kuruş as digit strings (``"1000"`` is
10,00 TL); Payofin sends decimal TL numbers, which we read as ``Decimal`` and convert exactly.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from .errors import MoneyError
from .i18n import Message

Kurus = int

#: The largest amount we accept anywhere (999.999.999,99 TL): a typo guard, not a provider limit.
MAX_KURUS: Kurus = 99_999_999_999
#: The largest amount we read from a provider reply (100.000.000.000,00 TL). Far above any real
#: invoice or bill, and above MAX_KURUS so a record made elsewhere stays readable; it is there so
#: that a number like ``1e999999`` is refused before it becomes a huge int (seconds of CPU).
MAX_WIRE_KURUS: Kurus = 10**13
_MAX_WIRE_DIGITS = len(str(MAX_WIRE_KURUS))
_CENT = Decimal("0.01")
_TL_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")

_CURRENCY = re.compile(r"(₺|\bTL\b|\bTRY\b)", re.IGNORECASE)
#: One grouping mark between digit groups: any space (incl. no-break and thin ones) or '.
_GROUPER = re.compile(r"[\s']")
_FIRST_GROUP = re.compile(r"[1-9][0-9]{0,2}")
_LAST_GROUP = re.compile(r"[0-9]{3}([.,][0-9]+)?")
_ASCII_NUMBER = re.compile(r"[0-9.,]+")


def parse_amount(text: str | int, *, field: str = "amount", allow_zero: bool = False) -> Kurus:
    """Read an amount as a person types it in Turkey and return kuruş.

    Accepts ``"10,50"``, ``"1.234,56"``, ``"10.50"``, ``"1234"``, ``"₺1.234,56"``, ``" 10 TL "``
    and English ``"1,234.56"``. Rejects, with a message that says why: negatives, zero (unless
    ``allow_zero``), more than two decimals, separators that could mean either thousands or
    decimals (``"1.234"``), scientific notation, non-ASCII digits and anything else.
    """
    if isinstance(text, bool):
        raise MoneyError(Message("expected an amount, got a yes/no value"), field=field)
    if isinstance(text, int):
        return _check_range(text, field, allow_zero)
    if not isinstance(text, str):
        raise MoneyError(
            Message("expected an amount as text, got {kind}", kind=type(text).__name__), field=field
        )
    raw = text
    s = _CURRENCY.sub("", text).strip()
    if s.startswith("'"):  # Excel's "keep as text" mark, not part of the number
        s = s[1:].strip()
    if not s:
        raise MoneyError(Message("amount is empty"), field=field)
    negative = s.startswith("-") or s.startswith("−")
    if negative or s.startswith("+"):
        s = s[1:].lstrip()
    if _GROUPER.search(s):
        s = _ungroup(s, raw, field)
    if len(s) > 30:  # also keeps int() away from Python's 4,300-digit limit
        raise MoneyError(
            Message("{raw!r}… is far too long to be an amount", raw=raw[:40]), field=field
        )
    if not _ASCII_NUMBER.fullmatch(s):
        if any(ch.isdigit() and not ("0" <= ch <= "9") for ch in s):
            raise MoneyError(Message("{raw!r} uses digits other than 0-9", raw=raw), field=field)
        raise MoneyError(
            Message("{raw!r} is not a number (write it like 1.234,56)", raw=raw), field=field
        )
    kurus = _digits_to_kurus(s, raw, field)
    if negative and kurus != 0:
        raise MoneyError(
            Message("{raw!r} is negative; amounts must be positive", raw=raw), field=field
        )
    if negative:
        raise MoneyError(Message("{raw!r} is zero; amounts must be positive", raw=raw), field=field)
    return _check_range(kurus, field, allow_zero)


def _ungroup(s: str, raw: str, field: str) -> str:
    """Remove spaces or apostrophes that group thousands (``1 234,56``); refuse any other.

    Joining them blindly read ``10 50`` and ``10'50`` as 1.050,00 TL, a hundred times what
    was probably meant, so a mark inside the number must sit exactly at a thousands boundary.
    """
    marks = {"'" if ch == "'" else " " for ch in _GROUPER.findall(s)}
    what = Message("an apostrophe") if marks == {"'"} else Message("a space")
    if len(marks) > 1:
        raise MoneyError(
            Message(
                "{raw!r} groups digits with both spaces and apostrophes; write it like 1.234,56",
                raw=raw,
            ),
            field=field,
        )
    groups = _GROUPER.split(s)
    head, middle, last = groups[0], groups[1:-1], groups[-1]
    if not (
        _FIRST_GROUP.fullmatch(head)
        and all(len(g) == 3 and g.isascii() and g.isdigit() for g in middle)
        and _LAST_GROUP.fullmatch(last)
    ):
        raise MoneyError(
            Message(
                "{raw!r} has {what} inside the number; it may only group thousands, "
                "like 1 234,56 (or write 1.234,56)",
                raw=raw,
                what=what,
            ),
            field=field,
        )
    return "".join(groups)


def _check_range(kurus: int, field: str, allow_zero: bool) -> Kurus:
    if kurus < 0:
        raise MoneyError(Message("amount is negative; amounts must be positive"), field=field)
    if kurus == 0 and not allow_zero:
        raise MoneyError(Message("amount is zero; amounts must be positive"), field=field)
    if kurus > MAX_KURUS:
        raise MoneyError(
            Message("amount is larger than {limit}", limit=format_amount(MAX_KURUS)), field=field
        )
    return kurus


def _digits_to_kurus(s: str, raw: str, field: str) -> Kurus:
    if s[0] in ".," or s[-1] in ".,":
        raise MoneyError(Message("{raw!r} starts or ends with a separator", raw=raw), field=field)
    seps = [c for c in s if c in ".,"]
    if not seps:
        return int(s) * 100
    if "." in seps and "," in seps:
        decimal_sep = s[max(s.rfind("."), s.rfind(","))]
        thousands_sep = "," if decimal_sep == "." else "."
        if seps.count(decimal_sep) != 1:
            raise MoneyError(
                Message("{raw!r} mixes separators in a way that cannot be read", raw=raw),
                field=field,
            )
        whole, frac = s.split(decimal_sep)
        return _whole(whole, thousands_sep, raw, field) * 100 + _fraction(frac, raw, field)
    sep = seps[0]
    parts = s.split(sep)
    if len(parts) > 2:  # "1.234.567" or "1,234,567": only thousands make sense
        return _whole(s, sep, raw, field) * 100
    whole, frac = parts
    if len(frac) == 3 and whole != "0" and not whole.startswith("0"):
        other = "," if sep == "." else "."
        raise MoneyError(
            Message(
                "{raw!r} is ambiguous: write {digits} for thousands "
                "or use {other!r} for decimals with at most two digits",
                raw=raw,
                digits=whole + frac,
                other=other,
            ),
            field=field,
        )
    return int(whole) * 100 + _fraction(frac, raw, field)


def _whole(text: str, sep: str, raw: str, field: str) -> int:
    groups = text.split(sep)
    if len(groups) == 1:
        return int(groups[0])
    head, rest = groups[0], groups[1:]
    if not (1 <= len(head) <= 3) or head.startswith("0") or any(len(g) != 3 for g in rest):
        raise MoneyError(
            Message("{raw!r} has misplaced thousands separators", raw=raw), field=field
        )
    return int("".join(groups))


def _fraction(frac: str, raw: str, field: str) -> int:
    if len(frac) > 2:
        raise MoneyError(
            Message("{raw!r} has more than two decimals (kuruş)", raw=raw), field=field
        )
    return int(frac.ljust(2, "0"))


def format_amount(kurus: Kurus, *, symbol: bool = True) -> str:
    """Format kuruş the Turkish way: ``123456`` → ``"1.234,56 ₺"``."""
    if isinstance(kurus, bool) or not isinstance(kurus, int):
        raise TypeError(f"money must be int kuruş, got {type(kurus).__name__}")
    sign = "-" if kurus < 0 else ""
    lira, kr = divmod(abs(kurus), 100)
    text = f"{sign}{lira:,}".replace(",", ".") + f",{kr:02d}"
    return f"{text} ₺" if symbol else text


class SplitProblem(NamedTuple):
    """One thing wrong with an agent/company split: the field at fault, why, and its kuruş."""

    field: str
    text: Message
    kurus: Kurus

    @property
    def message(self) -> str:
        return str(self.text)


def check_split(amount: Kurus, agent: Kurus | None, company: Kurus | None) -> list[SplitProblem]:
    """What is wrong with splitting ``amount`` between the agent and the company (none: it holds).

    Paynet splits a charge between the agent and the company: given both, they must add up to
    the amount; given one, it cannot exceed it. The client, the importer and the issue page all
    ask this one function, so a split is judged the same way wherever it is typed.
    """
    if agent is not None and company is not None:
        if agent + company == amount:
            return []
        message = Message(
            "agent_amount {agent} + company_amount {company} = {total}, but amount is {amount}; "
            "the two parts must add up to the amount",
            agent=format_amount(agent),
            company=format_amount(company),
            total=format_amount(agent + company),
            amount=format_amount(amount),
        )
        return [SplitProblem("agent_amount", message, agent)]
    return [
        SplitProblem(
            name,
            Message(
                "{part} is more than the amount {amount}",
                part=format_amount(part),
                amount=format_amount(amount),
            ),
            part,
        )
        for name, part in (("agent_amount", agent), ("company_amount", company))
        if part is not None and part > amount
    ]


def to_wire(kurus: Kurus) -> str:
    """Paynet's wire format: kuruş as a digit string (10,00 TL → ``"1000"``)."""
    if isinstance(kurus, bool) or not isinstance(kurus, int) or kurus < 0:
        raise TypeError(f"money must be a non-negative int of kuruş, got {kurus!r}")
    return str(kurus)


def from_wire(value: object) -> Kurus:
    """Read a Paynet amount: an int or a digit string of kuruş. Raises ``ValueError`` otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"amount {value!r} is a boolean")
    if isinstance(value, str) and value.isascii() and value.isdigit():
        if len(value.lstrip("0")) > _MAX_WIRE_DIGITS:  # before int(): 5,000 digits cost time
            raise _too_large(value)
        value = int(value)
    elif isinstance(value, Decimal) and value.is_finite():
        if value < 0:
            raise ValueError(f"amount {_shown(value)} is negative")
        if value.adjusted() >= _MAX_WIRE_DIGITS:  # before int(): 1e999999 costs seconds
            raise _too_large(value)
        if value != value.to_integral_value():
            raise ValueError(f"amount {_shown(value)} is not a whole number of kuruş")
        value = int(value)
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"amount {_shown(value)} is negative")
        return _wire_range(value, value)
    raise ValueError(f"amount {_shown(value)} is not a whole number of kuruş")


def tl_to_kurus(value: object) -> Kurus:
    """Convert a decimal TL amount from Payofin (``1.00``, ``"110740.99"``) to kuruş exactly.

    Floats are refused: parse JSON with ``parse_float=Decimal`` so no precision is lost.
    Negative amounts are refused, as Paynet's are: nothing in Payofin's reference has one (no
    refund amounts; a cancelled payment is told by ``status``), so it is a broken reply.
    """
    if isinstance(value, (bool, float)):
        raise ValueError(f"amount {value!r} must be read as Decimal, not float")
    if isinstance(value, str) and not _TL_TEXT.fullmatch(value.strip()):
        # Decimal() would also read "1e5", "1_000" and non-ASCII digits like "١٢٣"
        raise ValueError(f"amount {_shown(value)} is not a decimal number")
    try:
        d = Decimal(str(value)) if isinstance(value, (int, str)) else value
        if not isinstance(d, Decimal) or not d.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        raise ValueError(f"amount {_shown(value)} is not a decimal number") from None
    if d < 0:
        raise ValueError(f"amount {_shown(value)} is negative")
    if d.adjusted() >= _MAX_WIRE_DIGITS:  # before any arithmetic: 1e999999 * 100 overflows
        raise _too_large(value)
    cents = d.quantize(_CENT)  # an exact test: d * 100 would round away a 29th digit
    if cents != d:
        raise ValueError(f"amount {_shown(value)} has more than two decimals")
    return _wire_range(int(cents * 100), value)


def _wire_range(kurus: int, value: object) -> Kurus:
    if kurus > MAX_WIRE_KURUS:
        raise _too_large(value)
    return kurus


def _too_large(value: object) -> ValueError:
    return ValueError(
        f"amount {_shown(value)} is larger than any we accept ({format_amount(MAX_WIRE_KURUS)})"
    )


def _shown(value: object, limit: int = 30) -> str:
    """A value from a reply as a message shows it: its repr, cut short (it may be 5,000 digits)."""
    text = repr(value)
    return text[:limit] + "…" if len(text) > limit else text


def kurus_to_tl(kurus: Kurus) -> Decimal:
    """Kuruş as an exact Decimal of TL, for exports and for the Payofin wire format."""
    return (Decimal(kurus) / 100).quantize(Decimal("0.01"))
