"""Look one thing up at a provider: an invoice at Paynet, a payment at Payofin.

Reading the cache is a view; asking a provider spends the server's keys and writes the cache,
so that part needs an operator. Pages and the CLI call these alike.
"""

from __future__ import annotations

from ..auth import Role, User, require_role
from ..errors import NotFoundError
from ..i18n import Message
from ..payofin.models import BillPayment
from ..runtime import Runtime


def refresh_invoice(
    runtime: Runtime, invoice_no: str | None = None, invoice_id: str | None = None, *, user: User
) -> dict:
    """Ask Paynet for the current state of one cached invoice and update the cache."""
    require_role(user, Role.OPERATOR, action="refresh from the API")
    store = runtime.store
    cached = (
        store.get_invoice(invoice_no=invoice_no)
        if invoice_no
        else store.get_invoice(invoice_id=invoice_id)
    )
    if cached is None:
        raise NotFoundError(
            Message("not in the cache; sync first, or look it up by its subscription"),
            provider="Paynet",
            operation="invoice_list",
        )
    gone = Message("Paynet no longer lists invoice {invoice_no}", invoice_no=cached["invoice_no"])
    try:
        with runtime.paynet() as paynet:
            found = paynet.find_invoice(
                invoice_no=cached["invoice_no"],
                subscription_id=cached["subscription_id"],
                reference_no=cached["reference_no"],
            )
    except NotFoundError as err:  # 12 or 24 alike: an answer that it is not there
        raise NotFoundError(
            Message("{gone} ({why})", gone=gone, why=err.text),
            said=err.said,
            provider=err.provider,
            operation=err.operation,
            http_status=err.http_status,
            code=err.code,
            request_id=err.request_id,
            error_type=err.error_type,
        ) from err
    if found is None:
        raise NotFoundError(gone, provider="Paynet", operation="invoice_list")
    store.upsert_invoices([found], source="sync")
    return store.get_invoice(invoice_no=cached["invoice_no"]) or {}


def lookup_payment(
    runtime: Runtime, invoice_payment_id: int, *, user: User, refresh: bool = False
) -> dict:
    """A Payofin payment from the cache, or from InvoiceCheck (then cached) when asked or absent.

    Reading the cache is a view; asking Payofin spends the server's keys and writes the cache,
    so that part needs an operator."""
    store = runtime.store
    cached = None if refresh else store.get_payment(invoice_payment_id)
    if cached is not None:
        return cached
    require_role(user, Role.OPERATOR, action="look a payment up at Payofin")
    with runtime.payofin() as payofin:
        payment: BillPayment = payofin.invoice_check(invoice_payment_id)
    store.upsert_payments([payment])
    return store.get_payment(invoice_payment_id) or {}
