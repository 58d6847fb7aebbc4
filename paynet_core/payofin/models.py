"""Payofin reply shapes, converted exactly: decimal TL → kuruş ints, dates → ``date``/``datetime``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ..dates import parse_any_datetime
from ..errors import PaynetOpsError
from ..http import shown
from ..i18n import N_, Message
from ..money import tl_to_kurus
from ..outcomes import Outcome, payofin_outcome

#: Result codes from the "API response and request" page (meanings paraphrased; list cut after -27).
RESULT_CODES: dict[int, str] = {
    1: N_("success"),
    -1: N_("subscriber has no debt on record"),
    -2: N_("balance information unavailable"),
    -3: N_("outside the institution's processing hours"),
    -4: N_("the institution does not allow debt inquiry on holidays"),
    -5: N_("a single transaction of 20,000 TL or more is not allowed"),
    -6: N_("connection problem with the institution; try again later"),
    -7: N_("dealer not permitted to transact"),
    -8: N_("partial amount must be an integer"),
    -9: N_("report date range is longer than 15 days"),
    -10: N_("bill already paid"),
    -11: N_("no matching record"),
    -12: N_("wrong national ID / tax number"),
    -13: N_("contract under legal follow-up; inquiry not possible"),
    -14: N_("invalid subscriberNo"),
    -15: N_("invalid firmRefNo"),
    -16: N_("invalid additionalNo"),
    -17: N_("invalid sootCode"),
    -18: N_("internal server error"),
    -19: N_("bill to pay not found"),
    -20: N_("partial amount larger than the bill"),
    -21: N_("invoice id must not be blank"),
    -22: N_("user information incorrect"),
    -23: N_("no institutions to list"),
    -24: N_("subscriber is mid-transaction at another bank; try again later"),
    -25: N_("not authorised to view this subscriber's debt"),
    -26: N_("report start or end date missing"),
    -27: N_("an instruction already exists"),  # text cut in the docs (INFERRED)
}
#: Codes that say "later": retried for the read-only calls we make.
TRANSIENT_CODES = frozenset({-6, -18, -24})
AUTH_CODES = frozenset({-22})
NOT_FOUND_CODES = frozenset({-11, -19})


@dataclass(frozen=True)
class BillPayment:
    """One collected bill (InvoiceCheck's ``invoiceDetail`` / an InvoiceList item)."""

    invoice_payment_id: int
    invoice_type: str
    institution: str
    subscriber_no: str
    customer_name: str  # masked by Payofin ("DE*** ÖZ****"); stored as received
    invoice_no: str
    due_date: date | None
    amount_kurus: int
    fee_kurus: int
    paid_at: datetime | None
    status: str  # "Paid" | "Cancelled"

    @property
    def outcome(self) -> Outcome:
        return payofin_outcome(self.status)

    @property
    def paid_day(self) -> date | None:
        return self.paid_at.date() if self.paid_at else None

    @classmethod
    def from_wire(cls, item: dict[str, Any]) -> BillPayment:
        """Build from a reply item; raises ``ValueError``/``KeyError``/``TypeError`` naming the field."""
        status = _text(item, "status")
        if status not in ("Paid", "Cancelled"):
            raise ValueError(
                Message(
                    "field 'status': {status!r} is neither 'Paid' nor 'Cancelled'", status=status
                )
            )
        return cls(
            invoice_payment_id=_int(item, "invoicePaymentId"),
            invoice_type=_text(item, "invoiceType"),
            institution=_text(item, "sootName"),
            subscriber_no=_text(item, "subscriberNo"),
            customer_name=_text(item, "customerName", required=False),
            invoice_no=_text(item, "invoiceNo", required=False),
            due_date=_when(item, "expDate").date() if item.get("expDate") else None,
            amount_kurus=_money(item, "invoiceAmount"),
            fee_kurus=_money(item, "profit", required=False),
            paid_at=_when(item, "paymentDate") if item.get("paymentDate") else None,
            status=status,
        )


@dataclass(frozen=True)
class Institution:
    soot_code: int
    name: str
    invoice_type: str
    description: str = ""

    @classmethod
    def from_wire(cls, item: dict[str, Any]) -> Institution:
        """Build from a ``sootList`` item; raises ``ValueError`` naming the field."""
        return cls(
            soot_code=_int(item, "sootCode"),
            name=_text(item, "sootName"),
            invoice_type=_text(item, "invoiceType", required=False),
            description=_text(item, "description", required=False),
        )


def wire_problem(exc: BaseException) -> Any:
    """What ``exc`` says, rendered when read: its message when it carries one (a ValueError
    raised here, a MoneyError, a DateError), else its text as it is now."""
    if isinstance(exc, PaynetOpsError):
        return exc
    if isinstance(exc, ValueError) and len(exc.args) == 1 and isinstance(exc.args[0], Message):
        return exc.args[0]
    return str(exc)


def _int(item: dict, key: str) -> int:
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, int):  # JSON true is not an id
        raise ValueError(
            Message("field {key!r}: {value} is not an integer", key=key, value=shown(value))
        )
    return value


def _text(item: dict, key: str, *, required: bool = True) -> str:
    value = item.get(key)
    if value is None:
        if required:
            raise ValueError(Message("field {key!r} is missing", key=key))
        return ""
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise ValueError(Message("field {key!r}: {value} is not text", key=key, value=shown(value)))
    return str(value)


def _money(item: dict, key: str, *, required: bool = True) -> int:
    value = item.get(key)
    if value is None:
        if required:
            raise ValueError(Message("field {key!r} is missing", key=key))
        return 0
    try:
        return tl_to_kurus(value)
    except ValueError as exc:
        raise ValueError(
            Message("field {key!r}: {problem}", key=key, problem=wire_problem(exc))
        ) from exc


def _when(item: dict, key: str) -> datetime:
    try:
        return parse_any_datetime(item[key], field=key)
    except ValueError as exc:  # DateError is a ValueError
        raise ValueError(
            Message("field {key!r}: {problem}", key=key, problem=wire_problem(exc))
        ) from exc
