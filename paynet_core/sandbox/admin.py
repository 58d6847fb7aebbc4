"""Admin helpers of the sandbox: read and write the state directly, bypassing the API.

For test setup, the demo data and the CLI. They skip the API's validation on purpose (e.g. an
invoice can be created in any status) but keep the state consistent (unique numbers, known
subscriptions and institutions).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from .. import dates
from ..paynet.models import InvoiceStatus
from .db import _there
from .paynet_state import InvoiceRecord, SubscriptionRecord
from .payofin_state import PaymentRecord
from .state import State


class SandboxAdmin:
    """Mixed into :class:`~paynet_core.sandbox.core.Sandbox`."""

    state: State

    def now(self) -> datetime:
        raise NotImplementedError

    def add_subscription(
        self,
        *,
        reference_no: str | None = None,
        subscription_id: str | None = None,
        name_surname: str = "Test Abone",
        amount: int = 10_000,
        agent_id: str | None = None,
        agent_amount: int | None = None,
        company_amount: int | None = None,
        interval: int = 2,
        interval_count: int = 12,
        period: int = 0,
        begin_date: datetime | None = None,
        is_fixed_price: bool = False,
        status: int = 0,
        group_reference_no: str | None = None,
        end_user_email: str | None = None,
        end_user_gsm: str | None = None,
        created_at: datetime | None = None,
    ) -> SubscriptionRecord:
        """Create a subscription directly. Missing ids are generated (GUID, ``9xxxxxxx``)."""
        now = self.now()
        with self.state.transaction():
            if reference_no is None:
                total, _ = self.state.page_subscriptions(limit=0)
                n = 90_000_001 + total
                while self.state.find_subscription(reference_no=str(n)) is not None:
                    n += 1
                reference_no = str(n)
            if self.state.find_subscription(reference_no=reference_no) is not None:
                raise ValueError(f"reference_no {reference_no} already exists")
            record = SubscriptionRecord(
                subscription_id=subscription_id or str(uuid.uuid4()),
                reference_no=reference_no,
                name_surname=name_surname,
                amount=amount,
                agent_id=agent_id,
                agent_amount=agent_amount,
                company_amount=company_amount,
                interval=interval,
                interval_count=interval_count,
                period=period,
                begin_date=dates.to_istanbul(begin_date or now),
                is_fixed_price=is_fixed_price,
                status=status,
                group_reference_no=group_reference_no,
                end_user_email=end_user_email,
                end_user_gsm=end_user_gsm,
                created_at=dates.to_istanbul(created_at or now),
            )
            self.state.insert_subscription(record)
        return record

    def add_invoice(
        self,
        *,
        reference_no: str | None = None,
        subscription_id: str | None = None,
        amount: int,
        invoice_no: str | None = None,
        val_date: datetime | None = None,
        status: InvoiceStatus | int = InvoiceStatus.WAITING,
        agent_amount: int | None = None,
        company_amount: int | None = None,
        invoice_id: int | None = None,
        created_at: datetime | None = None,
    ) -> InvoiceRecord:
        """Create an invoice directly, in any status (no duplicate or split checks beyond uniqueness)."""
        with self.state.transaction():
            sub = self.state.find_subscription(
                subscription_id=subscription_id, reference_no=reference_no
            )
            if sub is None:
                raise KeyError(f"no subscription {subscription_id or reference_no!r}")
            if invoice_no is not None and self.state.invoice_no_taken(invoice_no):
                raise ValueError(f"invoice_no {invoice_no} already exists")
            return self.state.insert_invoice(
                subscription_id=sub.subscription_id,
                invoice_no=invoice_no,
                amount=amount,
                agent_amount=agent_amount,
                company_amount=company_amount,
                currency="TRY",
                val_date=dates.to_istanbul(val_date or self.now()),
                status=InvoiceStatus(status),
                now=dates.to_istanbul(created_at or self.now()),
                invoice_id=invoice_id,
            )

    def get_subscription(
        self, subscription_id: str | None = None, reference_no: str | None = None
    ) -> SubscriptionRecord | None:
        return self.state.find_subscription(
            subscription_id=subscription_id, reference_no=reference_no
        )

    def subscriptions(self) -> list[SubscriptionRecord]:
        return self.state.page_subscriptions()[1]

    def get_invoice(self, invoice_no: str) -> InvoiceRecord | None:
        return self.state.find_invoice(invoice_no=invoice_no)

    def invoices(
        self,
        *,
        subscription_id: str | None = None,
        reference_no: str | None = None,
        status: InvoiceStatus | int | None = None,
    ) -> list[InvoiceRecord]:
        """All invoices (of one subscription, in one status), ordered by invoice_id."""
        with self.state.transaction():
            if subscription_id is None and reference_no is not None:
                sub = self.state.find_subscription(reference_no=reference_no)
                if sub is None:
                    return []
                subscription_id = sub.subscription_id
            wanted = None if status is None else InvoiceStatus(status)
            return self.state.page_invoices(subscription_id=subscription_id, status=wanted)[1]

    def set_invoice_status(self, invoice_no: str, status: InvoiceStatus | int) -> InvoiceRecord:
        """Force a status (no transition rules), e.g. to set up a test."""
        with self.state.transaction():
            inv = self.state.find_invoice(invoice_no=invoice_no)
            if inv is None:
                raise KeyError(f"no invoice {invoice_no!r}")
            self.state.set_invoice_status(inv.invoice_id, InvoiceStatus(status), self.now())
            return _there(self.state.find_invoice(invoice_id=inv.invoice_id))

    def add_payment(
        self,
        *,
        subscriber_no: str,
        invoice_amount: int,
        soot_code: int = 1,
        customer_name: str = "TE*** AB***",
        invoice_no: str = "0000000",
        exp_date: date | None = None,
        profit: int | None = None,
        payment_date: date | datetime | None = None,
        status: str = "Paid",
        invoice_payment_id: int | None = None,
        soot_name: str | None = None,
        invoice_type: str | None = None,
    ) -> PaymentRecord:
        """Record a Payofin payment directly (amounts in kuruş; profit defaults to the institution's fee)."""
        if status not in ("Paid", "Cancelled"):
            raise ValueError("status must be 'Paid' or 'Cancelled'")
        with self.state.transaction():
            institution = self.state.institution(soot_code)
            if institution is None:
                raise KeyError(f"no institution with sootCode {soot_code}")
            if (
                invoice_payment_id is not None
                and self.state.payment(invoice_payment_id) is not None
            ):
                raise ValueError(f"invoicePaymentId {invoice_payment_id} already exists")
            paid = payment_date or self.now()
            if not isinstance(paid, datetime):
                paid = datetime(paid.year, paid.month, paid.day, 12, 0, tzinfo=dates.ISTANBUL)
            return self.state.insert_payment(
                institution=institution,
                subscriber_no=subscriber_no,
                customer_name=customer_name,
                invoice_no=invoice_no,
                exp_date=exp_date or paid.date(),
                invoice_amount=invoice_amount,
                profit=institution.fee if profit is None else profit,
                paid_at=dates.to_istanbul(paid),
                status=status,
                invoice_payment_id=invoice_payment_id,
                soot_name=soot_name,
                invoice_type=invoice_type,
            )

    def cancel_payment(self, invoice_payment_id: int) -> PaymentRecord:
        """A late cancellation: the payment keeps its date and shows as ``Cancelled`` from now on."""
        with self.state.transaction():
            if self.state.payment(invoice_payment_id) is None:
                raise KeyError(f"no payment {invoice_payment_id}")
            self.state.cancel_payment(invoice_payment_id, self.now())
            return _there(self.state.payment(invoice_payment_id))

    def get_payment(self, invoice_payment_id: int) -> PaymentRecord | None:
        return self.state.payment(invoice_payment_id)

    def payments(self, first: date | None = None, last: date | None = None) -> list[PaymentRecord]:
        return self.state.payments_between(first, last)
