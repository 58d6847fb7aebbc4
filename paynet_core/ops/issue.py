"""Issue one invoice and change one invoice's status: what a person does from a form.

Each one calls the provider, keeps the cache in step, and leaves an audit line whether it
succeeded or not. Pages and the CLI call these; they never talk HTTP or SQL themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ..auth import Role, User, require_role
from ..errors import InputError, ProviderError
from ..i18n import Message
from ..paynet.client import CreatedInvoice, create_invoice_call, generate_invoice_no
from ..paynet.models import Invoice, InvoiceStatus
from ..runtime import Runtime
from ..vocab import AuditAction


@dataclass(frozen=True)
class InvoiceDraft:
    """An invoice as a person filled it in, validated, with the exact request it will send."""

    amount: int
    val_date: datetime
    invoice_no: str
    subscription_id: str | None = None
    reference_no: str | None = None
    agent_amount: int | None = None
    company_amount: int | None = None
    currency: str = "TRY"

    @property
    def request(self) -> dict[str, Any]:
        """The JSON body ``create_invoice`` will send (no headers: they hold the key)."""
        return dict(
            create_invoice_call(
                amount=self.amount,
                val_date=self.val_date,
                invoice_no=self.invoice_no,
                subscription_id=self.subscription_id,
                reference_no=self.reference_no,
                agent_amount=self.agent_amount,
                company_amount=self.company_amount,
                currency=self.currency,
            ).payload
            or {}
        )


def draft_invoice(
    *,
    amount: int | None,
    val_date: datetime | date | None,
    subscription_id: str | None = None,
    reference_no: str | None = None,
    invoice_no: str | None = None,
    agent_amount: int | None = None,
    company_amount: int | None = None,
) -> InvoiceDraft:
    """Validate a form and fix the invoice number now, so a retry reuses it."""
    if amount is None:
        raise InputError(Message("enter an amount"), field="amount")
    if val_date is None:
        raise InputError(Message("choose the charge date"), field="val_date")
    if isinstance(val_date, date) and not isinstance(val_date, datetime):
        val_date = datetime(val_date.year, val_date.month, val_date.day)
    draft = InvoiceDraft(
        amount=amount,
        val_date=val_date,
        invoice_no=(invoice_no or "").strip() or generate_invoice_no(),
        subscription_id=(subscription_id or "").strip() or None,
        reference_no=(reference_no or "").strip() or None,
        agent_amount=agent_amount,
        company_amount=company_amount,
    )
    draft.request  # noqa: B018 - raises InputError for a bad split or a missing subscription
    return draft


def issue_invoice(runtime: Runtime, draft: InvoiceDraft, *, user: User) -> CreatedInvoice:
    """Send one invoice; cache it as Waiting and audit the outcome (success or refusal)."""
    require_role(user, Role.OPERATOR, action="issue an invoice")
    store = runtime.store
    target = [draft.invoice_no]
    try:
        with runtime.paynet() as paynet:
            created = paynet.create_invoice(
                amount=draft.amount,
                val_date=draft.val_date,
                invoice_no=draft.invoice_no,
                subscription_id=draft.subscription_id,
                reference_no=draft.reference_no,
                agent_amount=draft.agent_amount,
                company_amount=draft.company_amount,
            )
    except ProviderError as err:
        store.audit(
            user.email,
            AuditAction.INVOICE_CREATE,
            mode=runtime.mode.value,
            target_type="invoice",
            target_ids=target,
            provider_code=err.code,
            provider_message=str(err),
            details={"amount_kurus": draft.amount},
        )
        raise
    assert created is not None  # None only with send_if_absent=False, which we do not pass
    subscription_id = created.subscription_id or _subscription_of(runtime, draft.reference_no)
    store.upsert_invoices(
        [
            Invoice(
                invoice_no=created.invoice_no,
                subscription_id=subscription_id,
                reference_no=created.reference_no,
                amount=created.amount,
                agent_amount=draft.agent_amount,
                company_amount=draft.company_amount,
                val_date=created.val_date,
                status=InvoiceStatus.WAITING,
            )
        ],
        source="action",
        actor=user.email,
    )
    store.audit(
        user.email,
        AuditAction.INVOICE_CREATE,
        mode=runtime.mode.value,
        target_type="invoice",
        target_ids=target,
        status_after=int(InvoiceStatus.WAITING),
        provider_code=created.code,
        provider_message=created.message,
        details={
            "amount_kurus": created.amount,
            "recovered": created.recovered,
            "attempts": created.attempts,
        },
    )
    return created


def _subscription_of(runtime: Runtime, reference_no: str | None) -> str | None:
    if not reference_no:
        return None
    found = runtime.store.search_subscriptions(reference_no, limit=1)
    if not found.empty and found.iloc[0]["reference_no"] == reference_no:
        return str(found.iloc[0]["subscription_id"])
    return None


def change_invoice_status(
    runtime: Runtime, invoice_no: str, status: InvoiceStatus, *, user: User
) -> InvoiceStatus | None:
    """Set one invoice's status at Paynet, then in the cache (with history) and the audit log."""
    require_role(user, Role.OPERATOR, action="change an invoice's status")
    store = runtime.store
    cached = store.get_invoice(invoice_no=invoice_no)
    before = None if cached is None else cached["status"]
    try:
        with runtime.paynet() as paynet:
            reply = paynet.update_invoice_status(invoice_no=invoice_no, status=status)
    except ProviderError as err:
        store.audit(
            user.email,
            AuditAction.INVOICE_STATUS,
            mode=runtime.mode.value,
            target_type="invoice",
            target_ids=[invoice_no],
            status_before=before,
            status_after=int(status),
            provider_code=err.code,
            provider_message=str(err),
        )
        raise
    previous = store.record_status_change(invoice_no, status, source="action", actor=user.email)
    store.audit(
        user.email,
        AuditAction.INVOICE_STATUS,
        mode=runtime.mode.value,
        target_type="invoice",
        target_ids=[invoice_no],
        status_before=before,
        status_after=int(status),
        provider_code=reply.code,
        provider_message=reply.message,
    )
    return previous
