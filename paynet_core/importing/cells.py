"""One cell → one typed value; each parser raises with a message that says how to fix the cell.

Cells come as text (CSV) or as Excel values (numbers, dates, booleans): both are accepted
where they can mean only one thing, and refused, with the reason, where they cannot.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from ..dates import parse_any_datetime
from ..errors import DateError, InputError, MoneyError
from ..i18n import Message
from ..i18n.formats import format_count
from ..money import parse_amount
from ..paynet.models import InvoiceStatus
from ..reports.cells import unneutralise_cell
from .display import EXCEL_EXACT_LIMIT, SHOW_CHARS, display, short
from .headers import fold_header

#: Our own guard (Paynet documents no length): longer identifiers are typos or pasted junk.
MAX_IDENTIFIER_CHARS = 64
#: "999.999.999,99 TL" is 17 characters; anything much longer is not an amount. The cap also
#: keeps parse_amount away from Python's 4,300-digit int() limit.
_MAX_AMOUNT_CHARS = 40
_MAX_DATE_CHARS = 40
_MAX_STATUS_CHARS = 40
_MAX_CURRENCY_CHARS = 20

_YEARS = range(2000, 2100)  # a typo guard for charge dates


def clean(value: Any) -> Any:
    """Strip text, turn blanks into None, and undo our own export's formula guard (``'=``)."""
    if isinstance(value, str):
        value = unneutralise_cell(value.strip()).strip()
        return value or None
    return value


def parse_identifier(value: Any) -> str:
    if isinstance(value, bool):
        raise InputError(Message("{value!r} is a yes/no value, not an identifier", value=value))
    if isinstance(value, (datetime, date, time, timedelta)):
        raise InputError(
            Message(
                "{value!r} is a date or time, not an identifier", value=display(value, SHOW_CHARS)
            )
        )
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise InputError(
                Message("{value!r} has decimals; identifiers are whole, e.g. 11400556", value=value)
            )
        value = int(value)
        if abs(value) >= EXCEL_EXACT_LIMIT:
            raise InputError(
                Message(
                    "{value} is too long for Excel to keep as a number (it keeps 15 digits); "
                    "format the column as Text and type the identifier again",
                    value=value,
                )
            )
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        raise InputError(Message("unexpected {kind} value", kind=type(value).__name__))
    if len(value) > MAX_IDENTIFIER_CHARS:
        raise InputError(
            Message(
                "{value!r} is {n} characters long; at most {limit} are allowed",
                value=short(value),
                n=format_count(len(value)),
                limit=MAX_IDENTIFIER_CHARS,
            )
        )
    if not value.isprintable():
        bad = next(ch for ch in value if not ch.isprintable())
        code = f"U+{ord(bad):04X}"
        raise InputError(
            Message(
                "{value!r} contains an invisible or control character ({code}); retype it",
                value=short(value),
                code=code,
            )
        )
    if value.startswith(("=", "+", "-", "@")):
        raise InputError(
            Message(
                "{value!r} starts with {first!r}, which spreadsheets read as a formula; remove it",
                value=short(value),
                first=value[0],
            )
        )
    return value


def parse_money(value: Any, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool):
        raise MoneyError(Message("{value!r} is a yes/no value, not an amount", value=value))
    if isinstance(value, (datetime, date, time, timedelta)):
        raise MoneyError(
            Message(
                "{value!r} is a date, not an amount; write it like 1.234,56",
                value=display(value, SHOW_CHARS),
            )
        )
    if isinstance(value, (int, float)):
        return _number_to_kurus(value, allow_zero)
    if not isinstance(value, str):
        raise MoneyError(Message("unexpected {kind} value", kind=type(value).__name__))
    if len(value) > _MAX_AMOUNT_CHARS:
        raise MoneyError(
            Message(
                "{value!r} is {n} characters long, too long for an amount",
                value=short(value),
                n=format_count(len(value)),
            )
        )
    return _parse_amount_text(value, allow_zero)


# Bulk files repeat the same few amounts and dates thousands of times; only successful parses
# are cached (lru_cache does not keep exceptions), and the results are immutable.
@lru_cache(maxsize=4096)
def _parse_amount_text(text: str, allow_zero: bool) -> int:
    return parse_amount(text, allow_zero=allow_zero)


@lru_cache(maxsize=4096)
def _parse_date_text(text: str) -> datetime:
    return parse_any_datetime(text, field="val_date")


def _number_to_kurus(value: int | float, allow_zero: bool) -> int:
    """A number cell from Excel is TL: ``1234`` is 1.234,00 TL and ``10.5`` is 10,50 TL.

    ``repr`` gives the shortest decimal that round-trips the float, i.e. what Excel showed
    (``Decimal(10.1)`` would be 10.0999999999999996447...).
    """
    if isinstance(value, float) and not math.isfinite(value):
        raise MoneyError(Message("{value!r} is not a number", value=value))
    try:
        kurus = (Decimal(repr(value)) if isinstance(value, float) else Decimal(value)) * 100
    except InvalidOperation:
        raise MoneyError(Message("{value!r} is not a number", value=value)) from None
    if kurus != kurus.to_integral_value():
        raise MoneyError(
            Message(
                "{value!r} has more than two decimals; round it to kuruş, e.g. with ROUND(...; 2) "
                "in Excel",
                value=value,
            )
        )
    return parse_amount(int(kurus), allow_zero=allow_zero)


def parse_charge_date(value: Any) -> datetime:
    """A charge date; a date without a time means midnight of that day in Istanbul."""
    if isinstance(value, (bool, int, float)):
        raise DateError(
            Message(
                "{value!r} is a number, not a date; format the cell as a date or write it like "
                "23.11.2026",
                value=value,
            )
        )
    if isinstance(value, (time, timedelta)):
        raise DateError(
            Message(
                "{value!r} is a time without a date; write it like 23.11.2026 14:30",
                value=display(value, SHOW_CHARS),
            )
        )
    if isinstance(value, str) and len(value) > _MAX_DATE_CHARS:
        raise DateError(
            Message(
                "{value!r} is {n} characters long, too long for a date",
                value=short(value),
                n=format_count(len(value)),
            )
        )
    try:
        when = _parse_date_text(value) if isinstance(value, str) else parse_any_datetime(value)
    except OverflowError:  # parse_any_datetime lets this through for year 9999 with a UTC offset
        raise DateError(
            Message("{value!r} is out of range; write it like 23.11.2026", value=short(str(value)))
        ) from None
    if when.year not in _YEARS:
        raise DateError(
            Message(
                "{value!r} has the year {year}; check it (e.g. 23.11.2026)",
                value=display(value, SHOW_CHARS),
                year=when.year,
            )
        )
    return when


def parse_status(value: Any) -> InvoiceStatus:
    if isinstance(value, str):
        if len(value) > _MAX_STATUS_CHARS:
            raise InputError(Message("{value!r} is too long for a status", value=short(value)))
        # InvoiceStatus.parse uses str.isdigit, which also accepts "٥" and "²"; amounts refuse
        # such digits, so statuses do too.
        if any(ch.isdigit() and not ch.isascii() for ch in value):
            raise InputError(Message("{value!r} uses digits other than 0-9", value=value))
        if re.search(r"\d", value) and re.search(r"[+\-−]", value):
            raise InputError(
                Message(
                    "{value!r} has a sign; a status code is a plain number from 0 to 5, e.g. 5",
                    value=value,
                )
            )
    if isinstance(value, float) and math.copysign(1.0, value) < 0:
        raise InputError(
            Message(
                "{value!r} is negative; a status code is a number from 0 to 5, e.g. 5", value=value
            )
        )
    try:
        return InvoiceStatus.parse(value)
    except ValueError:
        choices = ", ".join(f"{s.value} {s.label} ({s.label_tr})" for s in InvoiceStatus)
        raise InputError(
            Message(
                "{value!r} is not an invoice status; use one of: {choices}",
                value=display(value, SHOW_CHARS),
                choices=choices,
            )
        ) from None


_CURRENCIES = {fold_header(k): "TRY" for k in ("TRY", "TL", "Türk Lirası", "Turkish Lira")}


def parse_currency(value: Any) -> str:
    text = value if isinstance(value, str) else display(value, SHOW_CHARS)
    if len(text) <= _MAX_CURRENCY_CHARS and (
        text.strip() == "₺" or fold_header(text) in _CURRENCIES
    ):
        return "TRY"
    raise InputError(
        Message(
            "{value!r} is not accepted: only Turkish lira (TRY, TL or ₺) can be charged",
            value=short(text),
        )
    )
