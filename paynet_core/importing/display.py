"""Cells as text for messages and the validation table: one look, cut to a readable length."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

#: Cells shown in messages and in the validation table are cut to this many characters.
SHOW_CHARS = 60
TABLE_CHARS = 500
#: Excel keeps 15 significant digits: a bigger number in an identifier cell has lost digits.
EXCEL_EXACT_LIMIT = 10**15


def display(value: Any, limit: int) -> str:
    """A cell as text for messages and the validation table, cut to ``limit`` characters."""
    if value is None:
        text = ""
    elif isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "TRUE" if value else "FALSE"
    elif isinstance(value, float):
        text = (
            str(int(value))
            if value.is_integer() and abs(value) < EXCEL_EXACT_LIMIT
            else repr(value)
        )
    elif isinstance(value, datetime):
        fmt = "%d.%m.%Y" if value.time() == time(0) else "%d.%m.%Y %H:%M:%S"
        text = value.strftime(fmt)
    elif isinstance(value, date):
        text = value.strftime("%d.%m.%Y")
    else:
        text = str(value)
    return short(text, limit)


def short(text: str, limit: int = SHOW_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
