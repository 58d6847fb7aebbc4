"""Payofin bill-payment endpoints: a parsed request in, ``(http_status, reply)`` out.

Payofin answers HTTP 200 with ``{result, resultCode, resultMessage}`` for business outcomes.
Amounts go out as ``Decimal`` TL with two decimals (the core serialises them as ``1.00``, never
through float). Request field names are read case-insensitively (the docs' tables write
``InvoicePaymentId``, the samples ``invoicePaymentId``; INFERRED that the server accepts both).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ..dates import PAYOFIN_DATE, format_paynet_date
from ..money import kurus_to_tl
from .institutions import Institution
from .names import masked_name
from .payofin_state import BillRecord, PaymentRecord
from .state import State

Reply = tuple[int, dict[str, Any]]
Handler = Callable[[State, dict[str, Any], datetime], Reply]

SUCCESS_MESSAGE = "İşlem Başarılı"
#: Longest invoicelist range, in calendar days counting both ends.
MAX_REPORT_DAYS = 15
#: "Single transaction of 20,000 TL or more not allowed" (code -5).
MAX_PAYMENT_KURUS = 2_000_000
#: The merchant's prepaid balance at the start (INFERRED: the sample shows 110740.99).
OPENING_BALANCE_KURUS = 25_000_000

#: Result texts. The docs list the codes with English paraphrases; these Turkish texts are
#: INFERRED (only -22's and success's wording were given to us).
MESSAGES: dict[int, str] = {
    -1: "Aboneye ait borç bulunamadı",
    -5: "20.000 TL ve üzeri tek işlem yapılamaz",
    -6: "Kurum ile bağlantı sağlanamadı, lütfen daha sonra tekrar deneyiniz",
    -8: "Kısmi ödeme tutarı tam sayı olmalıdır",
    -9: "Rapor tarih aralığı 15 günden fazla olamaz",
    -10: "Fatura daha önce ödenmiş",
    -11: "Eşleşen kayıt bulunamadı",
    -14: "Geçersiz abone numarası (subscriberNo)",
    -15: "Geçersiz firma referans numarası (firmRefNo)",
    -16: "Geçersiz ek numara (additionalNo)",
    -17: "Geçersiz kurum kodu (sootCode)",
    -18: "Sunucu hatası",
    -19: "Ödenecek fatura bulunamadı",
    -20: "Kısmi ödeme tutarı fatura tutarından büyük olamaz",
    -21: "Fatura numarası (invoicePaymentId) boş olamaz",
    -22: "Kullanıcı bilgileri hatalı",
    -24: "Abone başka bir bankada işlemde, lütfen daha sonra tekrar deneyiniz",
    -26: "Rapor başlangıç ve bitiş tarihi (firstDate, lastDate) boş olamaz",
}


def envelope(code: int = 1, message: str | None = None) -> dict[str, Any]:
    return {
        "result": code == 1,
        "resultCode": code,
        "resultMessage": message
        or (SUCCESS_MESSAGE if code == 1 else MESSAGES.get(code, "İşlem başarısız")),
    }


def ok(**payload: Any) -> Reply:
    return 200, {**payload, **envelope()}


def fail(code: int, message: str | None = None) -> Reply:
    return 200, envelope(code, message)


def dispatch(state: State, op: str, request: dict[str, Any], now: datetime) -> Reply:
    return HANDLERS[op](state, {str(k).lower(): v for k, v in request.items()}, now)


def _tl(kurus: int) -> Decimal:
    return kurus_to_tl(kurus)


def payment_item(p: PaymentRecord) -> dict[str, Any]:
    """``invoiceDetail`` / an ``invoiceList`` row, field for field as the invoicecheck sample."""
    return {
        "invoicePaymentId": p.invoice_payment_id,
        "invoiceType": p.invoice_type,
        "sootName": p.soot_name,
        "subscriberNo": p.subscriber_no,
        "customerName": p.customer_name,
        "invoiceNo": p.invoice_no,
        "expDate": format_paynet_date(p.exp_date),  # the sample writes dd.MM.yyyy in replies
        "invoiceAmount": _tl(p.invoice_amount),
        "profit": _tl(p.profit),
        "paymentDate": format_paynet_date(p.paid_at.date()),
        "status": p.status,
    }


def institution_item(i: Institution) -> dict[str, Any]:
    return {
        "sootCode": i.soot_code,
        "sootName": i.soot_name,
        "invoiceType": i.invoice_type,
        "description": i.description,
        "fields": i.fields,
    }


def _whole_number(value: Any) -> int | None:
    """An int, or a string of digits (ASP.NET-style binding accepts both); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None


def _report_date(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        return datetime.strptime(text, PAYOFIN_DATE).date()
    except ValueError:
        try:  # INFERRED: a .NET DateTime binder also takes full ISO timestamps
            return datetime.fromisoformat(text).date() if len(text) > 10 else None
        except ValueError:
            return None


# -- operations -------------------------------------------------------------------------------
def sootlist(state: State, req: dict[str, Any], now: datetime) -> Reply:
    items = state.institutions()
    if not items:
        return fail(-23, "Listelenecek kurum bulunamadı")
    return ok(sootList=[institution_item(i) for i in items])


def invoicecheck(state: State, req: dict[str, Any], now: datetime) -> Reply:
    raw = req.get("invoicepaymentid")
    if raw is None or raw == "" or raw == 0:
        return fail(-21)
    payment_id = _whole_number(raw)
    if payment_id is None:
        return fail(-21, f"invoicePaymentId {raw!r} bir sayı olmalıdır")
    payment = state.payment(payment_id)
    if payment is None:
        return fail(-11, f"{payment_id} numaralı ödeme bulunamadı")
    return ok(invoiceDetail=payment_item(payment))


def invoicelist(state: State, req: dict[str, Any], now: datetime) -> Reply:
    raw_first, raw_last = req.get("firstdate"), req.get("lastdate")
    if raw_first in (None, "") or raw_last in (None, ""):
        return fail(-26)
    first, last = _report_date(raw_first), _report_date(raw_last)
    for name, raw, parsed in (("firstDate", raw_first, first), ("lastDate", raw_last, last)):
        if parsed is None:
            return fail(-26, f"{name} {raw!r} yyyy-mm-dd biçiminde olmalıdır")
    assert first is not None and last is not None
    if last < first:
        return fail(-26, f"lastDate ({last}) firstDate'ten ({first}) önce olamaz")
    # Decided: "range ≤ 15 days" counts calendar days with both ends included.
    if (last - first).days + 1 > MAX_REPORT_DAYS:
        return fail(-9)
    return ok(invoiceList=[payment_item(p) for p in state.payments_between(first, last)])


def invoicequery(state: State, req: dict[str, Any], now: datetime) -> Reply:
    soot_code = _whole_number(req.get("sootcode"))
    institution = state.institution(soot_code) if soot_code is not None else None
    if institution is None:
        return fail(-17)
    subscriber_no = req.get("subscriberno")
    if (
        not isinstance(subscriber_no, str)
        or not subscriber_no.isdigit()
        or not 5 <= len(subscriber_no) <= 15
    ):
        return fail(-14)
    firm_ref = req.get("firmrefno")
    if not isinstance(firm_ref, str) or not firm_ref.strip() or len(firm_ref) > 15:
        return fail(-15)
    additional = req.get("additionalno")
    if institution.fields.get("additionalNoRequired") and not (
        isinstance(additional, str) and additional.strip()
    ):
        return fail(-16)
    bills = state.bills_of(institution.soot_code, subscriber_no) or _invent_bills(
        state, institution, subscriber_no, now
    )
    unpaid = [b for b in bills if b.invoice_payment_id is None]
    if not unpaid:
        return fail(-1)
    return ok(invoiceList=[_bill_item(b, institution) for b in unpaid])


def invoicepayment(state: State, req: dict[str, Any], now: datetime) -> Reply:
    query_id = _whole_number(req.get("invoicequeryid"))
    bill = state.bill(query_id) if query_id is not None else None
    if bill is None:
        return fail(-19)
    if bill.invoice_payment_id is not None:
        return fail(-10)
    institution = state.institution(bill.soot_code)
    assert institution is not None
    amount = bill.invoice_amount
    partial = req.get("partialamount")
    if partial not in (None, "", 0):
        lira = _whole_number(partial)
        if lira is None or lira < 0:
            return fail(-8)
        if lira * 100 > bill.invoice_amount:
            return fail(-20)
        amount = lira * 100
    if amount >= MAX_PAYMENT_KURUS:
        return fail(-5)
    payment = state.insert_payment(
        institution=institution,
        subscriber_no=bill.subscriber_no,
        customer_name=bill.customer_name,
        invoice_no=bill.invoice_no,
        exp_date=bill.exp_date,
        invoice_amount=amount,
        profit=institution.fee,
        paid_at=now,
    )
    state.settle_bill(
        bill.invoice_query_id, paid=amount, invoice_payment_id=payment.invoice_payment_id
    )
    balance = int(state.get_meta("payofin_balance") or OPENING_BALANCE_KURUS) - amount
    state.set_meta("payofin_balance", str(balance))
    return ok(
        payofinPaymentDetails={
            "invoicePaymentId": payment.invoice_payment_id,
            "balance": _tl(balance),
            "paymentAmount": _tl(amount),
            "profit": _tl(payment.profit),
            "paymentDate": format_paynet_date(now.date()),  # INFERRED: same form as invoicecheck
        }
    )


def _bill_item(b: BillRecord, institution: Institution) -> dict[str, Any]:
    return {
        "invoiceQueryId": b.invoice_query_id,
        "subscriberNo": b.subscriber_no,
        "customerName": b.customer_name,
        "invoiceNo": b.invoice_no,
        "expDate": format_paynet_date(b.exp_date),
        "invoiceAmount": _tl(b.invoice_amount),
        "merchantProfit": _tl(institution.fee),
    }


def _invent_bills(
    state: State, institution: Institution, subscriber_no: str, now: datetime
) -> list[BillRecord]:
    """A subscriber seen for the first time gets 0-2 open bills, the same ones every time."""
    digest = hashlib.sha256(f"{institution.soot_code}:{subscriber_no}".encode()).digest()
    rng = random.Random(digest)
    name = masked_name(rng)
    bills = []
    for _ in range(rng.choice((0, 1, 1, 1, 2))):
        low, high = institution.bill_range
        bills.append(
            state.insert_bill(
                soot_code=institution.soot_code,
                subscriber_no=subscriber_no,
                customer_name=name,
                invoice_no=str(rng.randint(10_000_000, 99_999_999)),
                exp_date=now.date() + timedelta(days=rng.randint(-10, 20)),
                amount=rng.randint(low, high),
            )
        )
    return bills


HANDLERS: dict[str, Handler] = {
    "sootlist": sootlist,
    "invoicecheck": invoicecheck,
    "invoicelist": invoicelist,
    "invoicequery": invoicequery,
    "invoicepayment": invoicepayment,
}
#: The HTTP method each operation answers to (sootlist is the one GET, per the docs).
METHODS = {op: ("GET" if op == "sootlist" else "POST") for op in HANDLERS}
