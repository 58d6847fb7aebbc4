"""Building Paynet requests: every call's path and payload, and the checks on its arguments.

Every call is ``POST <base>/v1/subscription/<operation>`` with JSON. Amounts go out as kuruş
digit strings, ``val_date`` as ``dd.MM.yyyy HH:mm:ss`` Istanbul time, and an argument that the
API would refuse (a float amount, a split that does not add up, neither of two "at least one of"
fields) is an ``InputError`` here, before anything is sent. Pure functions: no I/O.
"""

from __future__ import annotations

import secrets as _secrets
from datetime import date, datetime
from typing import Any

from ..dates import format_paynet_date, format_paynet_datetime, now, to_istanbul
from ..errors import InputError
from ..http import Call
from ..money import check_split, to_wire
from .models import InvoiceStatus

PROVIDER = "Paynet"
BASE_URLS = {
    "sandbox": "http://paynet.sandbox",
    "test": "https://pts-api.paynet.com.tr",
    "live": "https://api.paynet.com.tr",
}
#: INFERRED: the largest page the list endpoints are asked for (default is 10).
PAGE_SIZE = 100


def generate_invoice_no() -> str:
    """A unique invoice number: ``PO`` + yymmdd + 10 random hex digits (18 characters)."""
    return f"PO{now():%y%m%d}{_secrets.token_hex(5).upper()}"


def _one_of(field_a: str, a: Any, field_b: str, b: Any) -> dict[str, str]:
    """Paynet's "at least one of" rule; the unused one is sent as "" like the documented samples."""
    a = "" if a is None else str(a).strip()
    b = "" if b is None else str(b).strip()
    if not a and not b:
        raise InputError(f"give {field_a} or {field_b}", field=field_a)
    return {field_a: a, field_b: b}


def _kurus_arg(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"must be int kuruş, got {type(value).__name__}", field=field)
    if value <= 0:
        raise InputError("must be positive", field=field)
    return value


def _status_arg(status: InvoiceStatus | int | str) -> InvoiceStatus:
    try:
        return InvoiceStatus.parse(status)
    except ValueError as exc:
        raise InputError(str(exc), field="status") from exc


def _split_args(
    amount: int, agent_amount: int | None, company_amount: int | None
) -> dict[str, str]:
    out = {}
    if agent_amount is not None:
        out["agent_amount"] = to_wire(_kurus_arg(agent_amount, "agent_amount"))
    if company_amount is not None:
        out["company_amount"] = to_wire(_kurus_arg(company_amount, "company_amount"))
    problems = check_split(amount, agent_amount, company_amount)  # one rule with the importer
    if problems:
        raise InputError(problems[0].text, field=problems[0].field)
    return out


def _val_date_arg(val_date: datetime | date) -> datetime:
    if isinstance(val_date, datetime):
        return to_istanbul(val_date)
    if isinstance(val_date, date):
        return to_istanbul(datetime(val_date.year, val_date.month, val_date.day))
    raise InputError("must be a date or datetime", field="val_date")


def create_invoice_call(
    *,
    amount: int,
    val_date: datetime,
    invoice_no: str,
    subscription_id: str | None,
    reference_no: str | None,
    agent_amount: int | None,
    company_amount: int | None,
    currency: str,
) -> Call:
    payload = {
        **_one_of("subscription_id", subscription_id, "reference_no", reference_no),
        "amount": to_wire(_kurus_arg(amount, "amount")),
        **_split_args(amount, agent_amount, company_amount),
        "currency": currency,
        "val_date": format_paynet_datetime(val_date),
        "invoice_no": invoice_no,
    }
    return Call(
        PROVIDER, "create_invoice", "/v1/subscription/create_invoice", payload, idempotent=False
    )


def status_update_call(
    *, status: Any, invoice_no: str | None, invoice_id: str | int | None
) -> Call:
    payload = {
        **_one_of("invoice_id", invoice_id, "invoice_no", invoice_no),
        "status": int(_status_arg(status)),
    }
    # Setting a status is idempotent: the same request twice leaves the same state.
    return Call(
        PROVIDER, "invoice_status_update", "/v1/subscription/invoice_status_update", payload, True
    )


def status_update_all_call(
    *, status: Any, subscription_id: str | None, reference_no: str | None
) -> Call:
    payload = {
        **_one_of("subscription_id", subscription_id, "reference_no", reference_no),
        "status": int(_status_arg(status)),
    }
    return Call(
        PROVIDER,
        "invoices_status_update_all",
        "/v1/subscription/invoices_status_update_all",
        payload,
        True,
    )


def invoice_list_call(
    *,
    subscription_id: str | None,
    reference_no: str | None,
    status: Any = None,
    limit: int = PAGE_SIZE,
    starting_after: int = 0,
) -> Call:
    payload: dict[str, Any] = {
        **_one_of("subscription_id", subscription_id, "reference_no", reference_no),
        "limit": limit,
        "starting_after": starting_after,
    }
    if status is not None:
        payload["invoice_status"] = str(int(_status_arg(status)))  # typed string in the docs
    return Call(PROVIDER, "invoice_list", "/v1/subscription/invoice_list", payload, True)


def invoice_amount_update_call(
    *,
    amount: int,
    invoice_no: str | None,
    invoice_id: str | int | None,
    agent_amount: int | None,
    company_amount: int | None,
) -> Call:
    payload = {
        **_one_of("invoice_id", invoice_id, "invoice_no", invoice_no),
        "amount": to_wire(_kurus_arg(amount, "amount")),
        **_split_args(amount, agent_amount, company_amount),
    }
    return Call(
        PROVIDER, "invoice_amount_update", "/v1/subscription/invoice_amount_update", payload, True
    )


def subscription_list_call(
    *, start: date, end: date, agent_id: str | None, limit: int = PAGE_SIZE, starting_after: int = 0
) -> Call:
    payload: dict[str, Any] = {
        "datab": format_paynet_date(start),
        "datbi": format_paynet_date(end),
        "limit": limit,
        "starting_after": starting_after,
    }
    if agent_id:
        payload["agent_id"] = agent_id
    return Call(PROVIDER, "list", "/v1/subscription/list", payload, True)


def subscription_detail_call(*, subscription_id: str | None, reference_no: str | None) -> Call:
    payload = _one_of("subscription_id", subscription_id, "reference_no", reference_no)
    return Call(
        PROVIDER, "subscription_detail", "/v1/subscription/subscription_detail", payload, True
    )
