"""Paynet subscription endpoints: a parsed JSON request in, ``(http_status, reply)`` out.

Handlers run inside one state transaction (the caller opens it). Validation problems raise
:class:`BadRequest` (HTTP 400) and unknown records :class:`NoData` (HTTP 404); business refusals
(duplicate, forbidden transition) are HTTP 200 with a non-zero ``code``, as Paynet documents.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from ..dates import format_paynet_datetime, parse_paynet_date, parse_paynet_datetime
from ..errors import DateError
from ..money import MAX_KURUS, from_wire
from ..paynet.models import OBJECT_NAMES, RETURN_CODES, InvoiceStatus
from .paynet_state import InvoiceRecord, SubscriptionRecord
from .state import State

Reply = tuple[int, dict[str, Any]]
Handler = Callable[[State, dict[str, Any], datetime], Reply]

#: The success message as the seed samples spell it (the subscription status_update page writes
#: "Başarılı işlem"; none of the operations served here uses that spelling).
SUCCESS_MESSAGE = "Başarılı Islem"

#: INFERRED (undocumented; §6.2 only says "the same rules apply"): which invoice status changes
#: are allowed. A Waiting invoice may go anywhere; a failed charge (4) may be retried (back to 0),
#: settled outside Paynet (2), cancelled or deleted; a cancelled one may only be deleted.
#: 2 and 3 (paid) and 6 (deleted) are final. Setting the current status again always succeeds,
#: so a resent request is harmless.
ALLOWED_TRANSITIONS: dict[InvoiceStatus, frozenset[InvoiceStatus]] = {
    InvoiceStatus.WAITING: frozenset(
        {
            InvoiceStatus.EXTERNAL_CHARGED,
            InvoiceStatus.DONE_SUCCEED,
            InvoiceStatus.DONE_UNSUCCEED,
            InvoiceStatus.CANCEL,
            InvoiceStatus.DELETED,
        }
    ),
    InvoiceStatus.DONE_UNSUCCEED: frozenset(
        {
            InvoiceStatus.WAITING,
            InvoiceStatus.EXTERNAL_CHARGED,
            InvoiceStatus.CANCEL,
            InvoiceStatus.DELETED,
        }
    ),
    InvoiceStatus.CANCEL: frozenset({InvoiceStatus.DELETED}),
}

#: INFERRED: only invoices not yet charged successfully may change amount.
AMOUNT_EDITABLE = frozenset({InvoiceStatus.WAITING, InvoiceStatus.DONE_UNSUCCEED})

DEFAULT_LIMIT, MAX_LIMIT = 10, 100


def transition_allowed(current: InvoiceStatus, new: InvoiceStatus) -> bool:
    return current == new or new in ALLOWED_TRANSITIONS.get(current, frozenset())


class BadRequest(Exception):
    """HTTP 400 ``invalid_request_error``; the message names the field."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


class NoData(Exception):
    """HTTP 404 ``no_data_error`` (result_code 12)."""


class NoInvoice(NoData):
    """No invoice with the given ``invoice_no``: 12 as documented, or 24 when asked for."""


#: What the sandbox may answer for an unknown invoice_no: 12 (nodata, as the docs show) or 24
#: (InvoiceNoNotFound, a code only an independent client knows).
UNKNOWN_INVOICE_CODES = (12, 24)


def unknown_invoice_reply(message: str) -> Reply:
    """INFERRED shape (the code is not in Paynet's docs): HTTP 200, code 24 and a null
    object_name, like the documented manual-charge failure sample."""
    return 200, {"object_name": None, "code": 24, "message": f"{RETURN_CODES[24]}: {message}"}


def error_reply(status: int, error_type: str, message: str, result_code: int) -> Reply:
    """The documented non-200 body: ``{type, message, code=<http status>, result_code}``."""
    return status, {
        "type": error_type,
        "message": message,
        "code": status,
        "result_code": result_code,
    }


def ok(op: str, **extra: Any) -> Reply:
    return 200, {"object_name": OBJECT_NAMES[op], "code": 0, "message": SUCCESS_MESSAGE, **extra}


def refused(op: str, code: int, message: str) -> Reply:
    return 200, {
        "object_name": OBJECT_NAMES[op],
        "code": code,
        "message": f"{RETURN_CODES[code]}: {message}",
    }


def dispatch(
    state: State, op: str, request: dict[str, Any], now: datetime, *, unknown_invoice_code: int = 12
) -> Reply:
    """Run one operation; turns validation and lookup failures into their error replies."""
    try:
        return HANDLERS[op](state, request, now)
    except BadRequest as e:
        return error_reply(400, "invalid_request_error", str(e), 11)
    except NoInvoice as e:
        if unknown_invoice_code == 24:
            return unknown_invoice_reply(str(e))
        return error_reply(404, "no_data_error", str(e), 12)
    except NoData as e:
        return error_reply(404, "no_data_error", str(e), 12)


# -- field readers ----------------------------------------------------------------------------
def _given(req: dict[str, Any], name: str, *aliases: str) -> Any:
    """The value of ``name`` (or an alias); ``None`` and ``""`` both mean "not supplied"."""
    for key in (name, *aliases):
        value = req.get(key)
        if value is not None and value != "":
            return value
    return None


def _text(req: dict[str, Any], name: str, *aliases: str, max_len: int = 50) -> str | None:
    # INFERRED limit: 50 characters, as documented for group_reference_no and payment reference_no.
    value = _given(req, name, *aliases)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # the docs type some ids as int in one place and string in another
    if not isinstance(value, str):
        raise BadRequest(name, f"must be a string, got {type(value).__name__}")
    value = value.strip()
    if len(value) > max_len:
        raise BadRequest(name, f"must be at most {max_len} characters")
    return value or None


def _amount(
    req: dict[str, Any], name: str, *, required: bool, allow_zero: bool = False
) -> int | None:
    value = _given(req, name)
    if value is None:
        if required:
            raise BadRequest(name, 'is required (kuruş as digits, e.g. "1000" for 10,00 TL)')
        return None
    try:
        kurus = from_wire(value)
    except ValueError:
        raise BadRequest(
            name,
            f'{value!r} is not a whole number of kuruş; send digits only ("1050" for 10,50 TL)',
        ) from None
    if kurus == 0 and not allow_zero:
        raise BadRequest(name, "must be greater than zero")
    if kurus > MAX_KURUS:
        raise BadRequest(name, f"{kurus} is larger than the maximum {MAX_KURUS}")
    return kurus


def _int(req: dict[str, Any], name: str, *, low: int, high: int | None = None) -> int | None:
    value = _given(req, name)
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(name, f"{value!r} is not an integer")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise BadRequest(name, f"{value} is out of range; it must be {bound}")
    return value


def _status(req: dict[str, Any], name: str, *, required: bool) -> InvoiceStatus | None:
    value = _given(req, name)
    if value is None:
        if required:
            raise BadRequest(name, "is required")
        return None
    choices = ", ".join(f"{s.value} ({s.label})" for s in InvoiceStatus)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(name, f"{value!r} is not a status code; use one of {choices}")
    try:
        return InvoiceStatus(value)
    except ValueError:
        raise BadRequest(
            name, f"{value} is not a documented status; use one of {choices}"
        ) from None


def _date(req: dict[str, Any], name: str) -> date:
    value = _given(req, name)
    if value is None:
        raise BadRequest(name, "is required (dd.MM.yyyy, e.g. 01.02.2016)")
    if not isinstance(value, str):
        raise BadRequest(name, f"{value!r} must be a date string dd.MM.yyyy")
    try:
        return parse_paynet_date(value, field=name)
    except DateError:
        raise BadRequest(
            name, f"{value!r} is not a date in the form dd.MM.yyyy (e.g. 01.02.2016)"
        ) from None


def _val_date(req: dict[str, Any]) -> datetime:
    value = _given(req, "val_date")
    if value is None:
        raise BadRequest("val_date", "is required (dd.MM.yyyy HH:mm:ss, e.g. 03.10.2017 10:32:24)")
    if not isinstance(value, str):
        raise BadRequest("val_date", f"{value!r} must be a string dd.MM.yyyy HH:mm:ss")
    try:
        return parse_paynet_datetime(value)
    except DateError:
        raise BadRequest(
            "val_date",
            f"{value!r} is not a date and time in the form dd.MM.yyyy HH:mm:ss (e.g. 03.10.2017 10:32:24)",
        ) from None


def _split(req: dict[str, Any], amount: int) -> tuple[int | None, int | None]:
    agent = _amount(req, "agent_amount", required=False, allow_zero=True)
    company = _amount(req, "company_amount", required=False, allow_zero=True)
    # INFERRED from the create_invoice sample (2926 + 25972 = 28898): the split adds up to amount.
    if agent is not None and company is not None and agent + company != amount:
        raise BadRequest(
            "agent_amount",
            f"agent_amount ({agent}) + company_amount ({company}) must equal amount ({amount})",
        )
    for name, part in (("agent_amount", agent), ("company_amount", company)):
        if part is not None and part > amount:
            raise BadRequest(name, f"{name} ({part}) cannot be larger than amount ({amount})")
    return agent, company


def _currency(req: dict[str, Any]) -> str:
    value = _text(req, "currency", max_len=3)
    # INFERRED: the detail page says only TL is supported; the sample sends "TRY".
    if value is None or value.upper() in ("TRY", "TL"):
        return "TRY"
    raise BadRequest("currency", f"{value!r} is not supported; only TRY")


def _subscription(state: State, req: dict[str, Any]) -> SubscriptionRecord:
    sub_id = _text(
        req, "subscription_id", "subcription_id", max_len=64
    )  # the docs' typo as an alias
    ref = _text(req, "reference_no")
    if sub_id is None and ref is None:
        raise BadRequest("subscription_id", "one of subscription_id or reference_no is required")
    sub = state.find_subscription(subscription_id=sub_id, reference_no=ref)
    if sub is None or (sub_id is not None and ref is not None and sub.reference_no != ref):
        shown = " and ".join(
            f"{k} {v!r}" for k, v in (("subscription_id", sub_id), ("reference_no", ref)) if v
        )
        raise NoData(f"no subscription with {shown}")
    return sub


def _invoice(state: State, req: dict[str, Any]) -> InvoiceRecord:
    invoice_id = _int(req, "invoice_id", low=1)
    invoice_no = _text(req, "invoice_no")
    if invoice_id is None and invoice_no is None:
        raise BadRequest("invoice_id", "one of invoice_id or invoice_no is required")
    inv = state.find_invoice(invoice_id=invoice_id, invoice_no=invoice_no)
    if inv is None or (
        invoice_id is not None and invoice_no is not None and inv.invoice_no != invoice_no
    ):
        shown = " and ".join(
            f"{k} {v!r}" for k, v in (("invoice_id", invoice_id), ("invoice_no", invoice_no)) if v
        )
        raise (NoData if invoice_no is None else NoInvoice)(f"no invoice with {shown}")
    return inv


def _page(req: dict[str, Any], total: int) -> tuple[int, int, dict[str, Any]]:
    """Index cursors as documented: ``starting_after`` S → rows S..S+limit (0-based offset),
    ``ending_before`` E → rows E-limit..E. Returns (offset, row count, paging fields for the reply)."""
    limit = _int(req, "limit", low=1, high=MAX_LIMIT) or DEFAULT_LIMIT
    after = _int(req, "starting_after", low=0)
    before = _int(req, "ending_before", low=0)
    if after is not None and before is not None:
        raise BadRequest("ending_before", "send either starting_after or ending_before, not both")
    if before is not None:
        end = min(before, total)
        start = max(0, end - limit)
        has_more = start > 0  # INFERRED: "more" in the direction of travel
        count = end - start
    else:
        start = after or 0
        count = max(0, min(limit, total - start))
        has_more = start + limit < total
    fields = {
        "limit": limit,
        "starting_after": start if before is None else None,
        "ending_before": before,
    }
    return start, count, {**fields, "has_more": has_more}


def _wire_amount(kurus: int | None) -> str | None:
    return None if kurus is None else str(kurus)


def invoice_item(inv: InvoiceRecord) -> dict[str, Any]:
    """One ``invoice_list`` row. INFERRED shape: the docs' response table is cut off."""
    return {
        "invoice_id": inv.invoice_id,
        "invoice_no": inv.invoice_no,
        "subscription_id": inv.subscription_id,
        "reference_no": inv.reference_no,
        "amount": str(inv.amount),
        "agent_amount": _wire_amount(inv.agent_amount),
        "company_amount": _wire_amount(inv.company_amount),
        "currency": inv.currency,
        "val_date": format_paynet_datetime(inv.val_date),
        "status": int(inv.status),
    }


def subscription_item(sub: SubscriptionRecord) -> dict[str, Any]:
    """One ``list`` row (INFERRED shape: the docs show no item)."""
    return {
        "subscription_id": sub.subscription_id,
        "reference_no": sub.reference_no,
        "name_surname": sub.name_surname,
        "amount": str(sub.amount),
        "agent_id": sub.agent_id,
        "interval": sub.interval,
        "interval_count": sub.interval_count,
        "begin_date": format_paynet_datetime(sub.begin_date),
        "is_fixed_price": sub.is_fixed_price,
        "status": sub.status,
        "group_reference_no": sub.group_reference_no,
        "created_at": format_paynet_datetime(sub.created_at),
    }


# -- operations -------------------------------------------------------------------------------
def create_invoice(state: State, req: dict[str, Any], now: datetime) -> Reply:
    val_date = _val_date(req)
    amount = _amount(req, "amount", required=True)
    assert amount is not None
    agent, company = _split(req, amount)
    currency = _currency(req)
    invoice_no = _text(req, "invoice_no")
    sub = _subscription(state, req)
    # INFERRED: code 5 (duplicatedata) for a reused invoice_no, checked merchant-wide.
    if invoice_no is not None and state.invoice_no_taken(invoice_no):
        return refused("create_invoice", 5, f"invoice_no {invoice_no} already exists")
    state.insert_invoice(
        subscription_id=sub.subscription_id,
        invoice_no=invoice_no,
        amount=amount,
        agent_amount=agent,
        company_amount=company,
        currency=currency,
        val_date=val_date,
        status=InvoiceStatus.WAITING,
        now=now,
    )
    return ok("create_invoice")  # documented: no id in the reply


def invoice_list(state: State, req: dict[str, Any], now: datetime) -> Reply:
    sub = _subscription(state, req)
    status = _status(req, "invoice_status", required=False)
    agent_id = _text(req, "agent_id")
    if agent_id is not None and agent_id != sub.agent_id:
        total = 0
    else:
        total, _ = state.page_invoices(subscription_id=sub.subscription_id, status=status, limit=0)
    offset, count, paging = _page(req, total)
    rows: list[InvoiceRecord] = []
    if count:
        _, rows = state.page_invoices(
            subscription_id=sub.subscription_id, status=status, offset=offset, limit=count
        )
    # INFERRED reply shape beyond total/total_count/limit (the docs' table is cut off).
    return ok(
        "invoice_list",
        total=total,
        total_count=len(rows),
        **paging,
        data=[invoice_item(i) for i in rows],
    )


def invoice_status_update(state: State, req: dict[str, Any], now: datetime) -> Reply:
    inv = _invoice(state, req)
    new = _status(req, "status", required=True)
    assert new is not None
    if not transition_allowed(inv.status, new):
        return refused(
            "invoice_status_update",
            6,
            f"invoice {inv.invoice_no} is {inv.status.value} ({inv.status.label}) and cannot change to "
            f"{new.value} ({new.label})",
        )
    if new != inv.status:
        state.set_invoice_status(inv.invoice_id, new, now)
    return ok("invoice_status_update")


def invoices_status_update_all(state: State, req: dict[str, Any], now: datetime) -> Reply:
    sub = _subscription(state, req)
    new = _status(req, "status", required=True)
    assert new is not None
    _, invoices = state.page_invoices(subscription_id=sub.subscription_id)
    # INFERRED: invoices whose transition is not allowed are skipped, not an error for the call.
    for inv in invoices:
        if inv.status != new and transition_allowed(inv.status, new):
            state.set_invoice_status(inv.invoice_id, new, now)
    return ok("invoices_status_update_all")


def invoice_amount_update(state: State, req: dict[str, Any], now: datetime) -> Reply:
    inv = _invoice(state, req)
    amount = _amount(req, "amount", required=True)
    assert amount is not None
    agent, company = _split(req, amount)
    if inv.status not in AMOUNT_EDITABLE:
        return refused(
            "invoice_amount_update",
            6,
            f"invoice {inv.invoice_no} is {inv.status.value} ({inv.status.label}); only Waiting (0) or "
            "Done unsucceed (4) invoices can change amount",
        )
    # INFERRED: without a new split the old one is kept if it still adds up, else dropped
    # (Paynet's default split applies).
    old_split = (inv.agent_amount or 0) + (inv.company_amount or 0)
    if agent is None and company is None and inv.agent_amount is not None and old_split == amount:
        agent, company = inv.agent_amount, inv.company_amount
    state.set_invoice_amount(inv.invoice_id, amount, agent, company, now)
    return ok("invoice_amount_update")


def subscription_list(state: State, req: dict[str, Any], now: datetime) -> Reply:
    first, last = _date(req, "datab"), _date(req, "datbi")
    if last < first:
        raise BadRequest(
            "datbi", f"end date {last:%d.%m.%Y} is before start date datab {first:%d.%m.%Y}"
        )
    # INFERRED: datab/datbi filter on the subscription's creation day, both ends inclusive.
    filters: dict[str, Any] = {
        "created_from": first,
        "created_to": last,
        "agent_id": _text(req, "agent_id"),
        "group_reference_no": _text(req, "group_reference_no"),
    }
    total, _ = state.page_subscriptions(**filters, limit=0)
    offset, count, paging = _page(req, total)
    rows: list[SubscriptionRecord] = []
    if count:
        _, rows = state.page_subscriptions(**filters, offset=offset, limit=count)
    return ok(
        "list",
        total=total,
        total_count=len(rows),
        **paging,
        data=[subscription_item(s) for s in rows],
    )


def subscription_detail(state: State, req: dict[str, Any], now: datetime) -> Reply:
    sub = _subscription(state, req)
    # INFERRED: amounts as kuruş digit strings (the detail page types them decimal, every other
    # page says ×100 strings); fields at the top level of the reply.
    return ok(
        "subscription_detail",
        **subscription_item(sub),
        agent_amount=_wire_amount(sub.agent_amount),
        company_amount=_wire_amount(sub.company_amount),
        period=sub.period,
        currency="TRY",
        end_user_email=sub.end_user_email,
        end_user_gsm=sub.end_user_gsm,
    )


HANDLERS: dict[str, Handler] = {
    "create_invoice": create_invoice,
    "invoice_list": invoice_list,
    "invoice_status_update": invoice_status_update,
    "invoices_status_update_all": invoices_status_update_all,
    "invoice_amount_update": invoice_amount_update,
    "list": subscription_list,
    "subscription_detail": subscription_detail,
}
