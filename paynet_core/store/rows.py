"""Row conversion: provider models in, plain SQLite values out (and the value checks).

Written for speed where a full sync converts a million rows. Days are ``YYYY-MM-DD``,
timestamps ISO 8601 in Istanbul time, money integer kuruş; a value the cache cannot hold
raises :class:`~paynet_core.errors.StoreError` with the field's name.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from operator import attrgetter
from typing import Any, Protocol, SupportsInt

from .. import dates
from ..errors import StoreError
from ..outcomes import Outcome, payofin_outcome
from ..paynet.models import Invoice, InvoiceStatus, Subscription
from .schema import _SECRET_KEYS


class BillPaymentLike(Protocol):
    """What ``upsert_payments`` reads (``paynet_core.payofin.models.BillPayment`` fits)."""

    # read-only properties, so BillPayment's plain ``str`` fields fit the ``str | None`` ones
    @property
    def invoice_payment_id(self) -> int: ...
    @property
    def invoice_type(self) -> str | None: ...
    @property
    def institution(self) -> str | None: ...
    @property
    def subscriber_no(self) -> str | None: ...
    @property
    def customer_name(self) -> str | None: ...
    @property
    def invoice_no(self) -> str | None: ...
    @property
    def due_date(self) -> date | None: ...
    @property
    def amount_kurus(self) -> int: ...
    @property
    def fee_kurus(self) -> int: ...
    @property
    def paid_at(self) -> datetime | None: ...
    @property
    def status(self) -> str: ...


def _subscription_row(sub: Subscription | Mapping) -> dict:
    if not isinstance(sub, Subscription):
        sub = Subscription.model_validate(sub)
    return {
        "subscription_id": sub.subscription_id,
        "reference_no": sub.reference_no,
        "name_surname": sub.name_surname,
        "amount_kurus": sub.amount,
        "agent_id": sub.agent_id,
        "interval": sub.interval,
        "interval_count": sub.interval_count,
        "begin_date": _day(sub.begin_date) if sub.begin_date else None,
        "is_fixed_price": None if sub.is_fixed_price is None else int(sub.is_fixed_price),
        "status": sub.status,
        "group_reference_no": sub.group_reference_no,
        "created_at": _timestamp(sub.created_at) if sub.created_at else None,
    }


def _invoice_row(invoice: Invoice | Mapping) -> dict:
    if not isinstance(invoice, Invoice):
        invoice = Invoice.model_validate(invoice)
    if not invoice.invoice_no:
        raise StoreError(
            f"invoice {invoice.invoice_id or '?'} has no invoice_no; the cache keys invoices on it"
        )
    status = _STATUS_COLUMNS.get(invoice.status)
    if status is None:
        status = _status_columns(InvoiceStatus(invoice.status))  # an unknown code raises here
    stamp = _timestamp(invoice.val_date) if invoice.val_date else None
    return {
        "invoice_no": invoice.invoice_no,
        "invoice_id": invoice.invoice_id,
        "subscription_id": invoice.subscription_id,
        "agent_id": None,  # filled from the subscription when written
        "reference_no": invoice.reference_no,
        "amount_kurus": invoice.amount,
        "agent_amount_kurus": invoice.agent_amount,
        "company_amount_kurus": invoice.company_amount,
        "currency": invoice.currency,
        "val_date": stamp,
        "val_day": stamp[:10] if stamp else None,
        "status": status[0],
        "status_label": status[1],
        "outcome": status[2],
    }


def _status_columns(status: InvoiceStatus) -> tuple[int, str, str]:
    return int(status), status.label, status.outcome.value


#: A status code's three cached columns, looked up once per row (ingest converts millions).
_STATUS_COLUMNS = {int(s): _status_columns(s) for s in InvoiceStatus}


_PAYMENT_FIELDS = (
    "invoice_payment_id",
    "invoice_type",
    "institution",
    "subscriber_no",
    "customer_name",
    "invoice_no",
    "due_date",
    "amount_kurus",
    "fee_kurus",
    "paid_at",
    "status",
)
_payment_fields = attrgetter(*_PAYMENT_FIELDS)

#: The cached columns of a payment, in the order :func:`_payment_row` gives them.
PAYMENT_COLUMNS = (
    "invoice_payment_id",
    "invoice_type",
    "institution",
    "subscriber_no",
    "customer_name_masked",
    "invoice_no",
    "due_date",
    "amount_kurus",
    "fee_kurus",
    "paid_at",
    "paid_day",
    "status",
    "outcome",
)


def _payment_row(payment: BillPaymentLike | Mapping) -> tuple:
    """A payment as a tuple of :data:`PAYMENT_COLUMNS` (a full sync converts a million: a
    tuple costs a fifth of a dict, and goes to ``executemany`` as it is)."""
    if type(payment) is dict:
        values = tuple(map(payment.get, _PAYMENT_FIELDS))
    else:
        try:
            values = _payment_fields(payment)
        except AttributeError:  # another mapping, or an object without the optional fields
            if isinstance(payment, Mapping):
                values = tuple(map(payment.get, _PAYMENT_FIELDS))
            else:
                values = tuple(getattr(payment, name, None) for name in _PAYMENT_FIELDS)
    payment_id, kind, institution, subscriber, customer, bill_no, due, amount, fee, paid, status = (
        values
    )
    known = _PAYMENT_STATUS.get(status) if type(status) is str else None
    # Fast path: what a parsed Payofin reply holds, checked inline (a call per field would
    # double the cost). Anything else, e.g. an empty text or a naive time, takes the full checks.
    if (
        known is not None
        and type(payment_id) is int
        and type(amount) is int
        and amount >= 0
        and type(fee) is int
        and fee >= 0
        and type(due) is date
        and type(paid) is datetime
        and paid.tzinfo is dates.ISTANBUL
        and type(kind) is str
        and type(institution) is str
        and type(subscriber) is str
        and type(customer) is str
        and type(bill_no) is str
        and kind
        and institution
        and subscriber
        and customer
        and bill_no
    ):
        stamp = paid.isoformat(timespec="seconds")
        return (
            payment_id, kind, institution, subscriber, customer, bill_no, due.isoformat(), amount,
            fee, stamp, stamp[:10], known[0], known[1],
        )  # fmt: skip
    return _checked_payment_row(values)


def _checked_payment_row(values: tuple) -> tuple:
    payment_id, kind, institution, subscriber, customer, bill_no, due, amount, fee, paid, status = (
        values
    )
    status, outcome = _payment_status(status, payment_id)
    paid_at = _opt_datetime(paid)
    paid_stamp = paid_at.isoformat(timespec="seconds") if paid_at else None
    return (
        _payment_id(payment_id),
        _opt_text(kind),
        _opt_text(institution),
        _opt_text(subscriber),
        _opt_text(customer),
        _opt_text(bill_no),
        due.isoformat() if type(due) is date else _opt_day(due),
        _kurus(amount, "amount_kurus"),
        _kurus(fee or 0, "fee_kurus"),
        paid_stamp,
        paid_stamp[:10] if paid_stamp else None,
        status,
        outcome,
    )


_PAYMENT_STATUS = {"Paid": ("Paid", "paid"), "Cancelled": ("Cancelled", "cancelled")}


def _payment_status(status: object, payment_id: object) -> tuple[str, str]:
    """Payofin's status, spelled the one way the cache stores it, and its outcome."""
    known = _PAYMENT_STATUS.get(status) if isinstance(status, str) else None
    if known:
        return known
    if not isinstance(status, str) or not status.strip():
        raise StoreError(f"payment {payment_id!r} has no status")
    outcome = payofin_outcome(status)
    return ("Cancelled" if outcome is Outcome.CANCELLED else "Paid"), outcome.value


def _history(
    row: dict, old_status: int | None, source: str, actor: str | None, job_id: str | None, now: str
) -> dict:
    return {
        "invoice_no": row["invoice_no"],
        "old_status": None if old_status is None else int(old_status),
        "new_status": row["status"],
        "source": source,
        "job_id": job_id,
        "actor": actor,
        "observed_at": now,
    }


def _istanbul(value: datetime) -> datetime:
    # Fast path: provider models already hold Istanbul times, and ingest converts millions.
    return value if value.tzinfo is dates.ISTANBUL else dates.to_istanbul(value)


def _timestamp(value: datetime) -> str:
    return _istanbul(value).isoformat(timespec="seconds")


def _day(value: date | datetime | str) -> str:
    if isinstance(value, datetime):
        return _istanbul(value).date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return dates.parse_any_date(value).isoformat()


def _bound(value: datetime | date | str, *, end: bool) -> str:
    """A timestamp bound for text comparison; a day's end bound is the next day's start."""
    if isinstance(value, datetime):
        return _timestamp(value)
    day = date.fromisoformat(_day(value))
    if end:
        day = date.fromordinal(day.toordinal() + 1)
    return day.isoformat()


def _opt_datetime(value: object) -> datetime | None:
    """Payofin may give only a day: that is midnight in Istanbul."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is dates.ISTANBUL else dates.to_istanbul(value)
    return dates.parse_any_datetime(value)


def _opt_text(value: object) -> str | None:
    if type(value) is str:
        return value or None
    return None if value is None or value == "" else str(value)


def _opt_day(value: date | datetime | str | None) -> str | None:
    return None if value is None or value == "" else _day(value)


def _opt_int(value: SupportsInt | None) -> int | None:
    return None if value is None else int(value)  # IntEnum statuses become plain codes


def _kurus(value: object, name: str) -> int:
    if type(value) is int and value >= 0:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise StoreError(f"{name} must be a non-negative int of kuruş, got {value!r}")
    return int(value)


def _payment_id(value: object) -> int:
    """Payofin's ids are integers; accept them as text too (from a form or a URL)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise StoreError(f"invoice_payment_id must be an integer, got {value!r}")


def _status(value: InvoiceStatus | int | str) -> InvoiceStatus:
    try:
        return InvoiceStatus.parse(value)
    except ValueError as exc:
        raise StoreError(str(exc)) from exc


def _as_list(value: Any) -> list:
    if isinstance(value, (int, str)):
        return [value]
    return list(value)


def _check_choice(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise StoreError(f"{name} {value!r} is not one of {', '.join(allowed)}")


def _json(name: str, value: Mapping[str, Any]) -> str:
    """JSON for the journal; refuses anything that looks like a credential."""
    _refuse_secrets(name, value)
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=_json_default)
    except TypeError as exc:
        raise StoreError(f"{name} cannot be stored as JSON: {exc}") from exc


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return _timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _refuse_secrets(name: str, value: object) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if str(key).lower().replace("-", "_") in _SECRET_KEYS:
                raise StoreError(f"{name} must not contain credentials (key {key!r})")
            _refuse_secrets(name, inner)
    elif isinstance(value, (list, tuple)):
        for inner in value:
            _refuse_secrets(name, inner)


def _fold(text: str | None) -> str:
    """Case- and accent-insensitive text: ``"AYŞE Işık"`` → ``"ayse isik"``."""
    if text is None:
        return ""
    text = str(text).strip().replace("İ", "i").replace("I", "ı").lower().replace("ı", "i")
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if not unicodedata.combining(ch))
