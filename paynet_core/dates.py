"""Dates on the wire and on the page, all in Europe/Istanbul.

Paynet: ``dd.MM.yyyy HH:mm:ss`` (``val_date``) and ``dd.MM.yyyy`` (list filters).
Payofin: ``yyyy-mm-dd`` in requests; its replies' sample writes ``dd.MM.yyyy`` (``expDate``,
``paymentDate``), so replies are read in either form.
The providers never state a time zone; we assume Istanbul local time (INFERRED).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from .errors import DateError
from .i18n import Message
from .i18n.formats import format_day

ISTANBUL = ZoneInfo("Europe/Istanbul")

PAYNET_DATETIME = "%d.%m.%Y %H:%M:%S"
PAYNET_DATE = "%d.%m.%Y"
PAYOFIN_DATE = "%Y-%m-%d"


def now() -> datetime:
    """The current time in Istanbul (aware)."""
    return datetime.now(ISTANBUL)


def today() -> date:
    return now().date()


def to_istanbul(dt: datetime) -> datetime:
    """Naive datetimes are taken as Istanbul local time; aware ones are converted."""
    return dt.replace(tzinfo=ISTANBUL) if dt.tzinfo is None else dt.astimezone(ISTANBUL)


def format_paynet_datetime(dt: datetime) -> str:
    return to_istanbul(dt).strftime(PAYNET_DATETIME)


def format_paynet_date(d: date) -> str:
    return d.strftime(PAYNET_DATE)


def format_payofin_date(d: date) -> str:
    return d.strftime(PAYOFIN_DATE)


def format_display_date(d: date | datetime) -> str:
    """How dates appear on pages: ``23.11.2026``."""
    if isinstance(d, datetime):
        d = to_istanbul(d)
    return d.strftime(PAYNET_DATE)


def format_display_datetime(dt: datetime) -> str:
    return to_istanbul(dt).strftime("%d.%m.%Y %H:%M")


def parse_paynet_datetime(text: str, *, field: str = "val_date") -> datetime:
    """``"03.10.2017 10:32:24"`` → an aware datetime in Istanbul."""
    try:
        return datetime.strptime(text.strip(), PAYNET_DATETIME).replace(tzinfo=ISTANBUL)
    except (ValueError, AttributeError):
        raise DateError(
            Message("{text!r} is not a date and time like 03.10.2017 10:32:24", text=text),
            field=field,
        ) from None


def parse_paynet_date(text: str, *, field: str = "date") -> date:
    try:
        return datetime.strptime(text.strip(), PAYNET_DATE).date()
    except (ValueError, AttributeError):
        raise DateError(
            Message("{text!r} is not a date like 23.11.2026", text=text), field=field
        ) from None


def parse_payofin_date(text: str, *, field: str = "date") -> date:
    try:
        return datetime.strptime(text.strip(), PAYOFIN_DATE).date()
    except (ValueError, AttributeError):
        raise DateError(
            Message("{text!r} is not a date like 2026-11-23", text=text), field=field
        ) from None


_DATE_FORMATS = ("%d.%m.%Y", "%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%Y.%m.%d")
_TIME_SUFFIXES = ("", " %H:%M:%S", " %H:%M", "T%H:%M:%S", "T%H:%M")


def parse_any_datetime(value: object, *, field: str = "date") -> datetime:
    """Read what a person or a reply may contain: a date, or a date and time, in any usual form.

    Accepts ``date``/``datetime`` objects (e.g. from a spreadsheet cell) and text such as
    ``23.11.2026``, ``23.11.2026 14:30``, ``2026-11-23``, ``2026-11-23T14:30:00``, ``23/11/2026``.
    A date without a time is midnight in Istanbul.
    """
    if isinstance(value, datetime):
        return to_istanbul(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=ISTANBUL)
    if not isinstance(value, str) or not value.strip():
        raise DateError(Message("date is empty"), field=field)
    text = value.strip()
    if text.endswith("Z") or "+" in text[10:]:
        try:
            return datetime.fromisoformat(text).astimezone(ISTANBUL)
        except OverflowError:
            raise DateError(
                Message("{value!r} is out of range", value=value), field=field
            ) from None
        except ValueError:
            pass
    text = (
        text.split(".")[0] if "T" in text and text.count(".") == 1 else text
    )  # 2026-11-23T10:00:00.123
    for fmt in _DATE_FORMATS:
        for suffix in _TIME_SUFFIXES:
            try:
                return datetime.strptime(text, fmt + suffix).replace(tzinfo=ISTANBUL)
            except ValueError:
                continue
    raise DateError(
        Message("{value!r} is not a date like 23.11.2026 or 2026-11-23", value=value), field=field
    )


def parse_any_date(value: object, *, field: str = "date") -> date:
    return parse_any_datetime(value, field=field).date()


def date_windows(first: date, last: date, max_days: int) -> list[tuple[date, date]]:
    """Split ``first..last`` (inclusive) into consecutive windows of at most ``max_days`` days.

    The windows cover every day exactly once: no gap, no overlap.
    """
    if last < first:
        raise DateError(
            Message(
                "range ends ({last}) before it starts ({first})",
                last=format_day(last),
                first=format_day(first),
            )
        )
    if max_days < 1:
        raise ValueError("max_days must be at least 1")
    windows = []
    start = first
    while start <= last:
        end = min(start + timedelta(days=max_days - 1), last)
        windows.append((start, end))
        start = end + timedelta(days=1)
    return windows
