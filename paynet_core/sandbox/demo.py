"""Deterministic demo data: the same seed and day give the same records and ids every time."""

from __future__ import annotations

import json
import random
import unicodedata
import uuid
from datetime import date, datetime, time, timedelta

from ..dates import ISTANBUL
from ..paynet.models import InvoiceStatus
from .core import Sandbox
from .institutions import Institution
from .names import full_name, mask

_META_KEY = "demo_seed"
_AGENTS = ("AG001", "AG002", "AG003")
_GROUPS = ("KURUMSAL", "SITE-A", "SITE-B")

#: A believable mix: most past invoices were charged, some failed or were withdrawn.
_PAST_MIX = (
    (InvoiceStatus.DONE_SUCCEED, 74),
    (InvoiceStatus.DONE_UNSUCCEED, 9),
    (InvoiceStatus.CANCEL, 6),
    (InvoiceStatus.EXTERNAL_CHARGED, 5),
    (InvoiceStatus.DELETED, 3),
    (InvoiceStatus.WAITING, 3),
)
_FUTURE_MIX = ((InvoiceStatus.WAITING, 95), (InvoiceStatus.CANCEL, 3), (InvoiceStatus.DELETED, 2))
#: How often each institution shows up in payments (utilities dominate).
_INSTITUTION_WEIGHTS = {
    1: 18,
    2: 14,
    3: 14,
    4: 8,
    5: 10,
    6: 6,
    7: 8,
    8: 5,
    9: 5,
    10: 5,
    11: 3,
    12: 4,
}
_CANCELLED_SHARE = 0.08
_FIRST_PAYMENT_ID = 1001
_FIRST_INVOICE_NO = 11_400_001


def seed_demo(
    sandbox: Sandbox,
    *,
    seed: int = 42,
    today: date | None = None,
    subscriptions: int = 40,
    payments: int = 600,
) -> bool:
    """Fill an empty sandbox with demo data; returns False (and does nothing) if already seeded."""
    if not 0 <= subscriptions <= 9000:
        raise ValueError("subscriptions must be between 0 and 9000")
    rng = random.Random(seed)
    today = today or sandbox.now().date()
    with sandbox.state.transaction():
        if sandbox.state.get_meta(_META_KEY) is not None:
            return False
        _seed_paynet(sandbox, rng, today, subscriptions)
        _seed_payofin(sandbox, rng, today, payments)
        info = {
            "seed": seed,
            "today": today.isoformat(),
            "subscriptions": subscriptions,
            "payments": payments,
        }
        sandbox.state.set_meta(_META_KEY, json.dumps(info))
    return True


def _at(day: date, rng: random.Random, first_hour: int = 8, last_hour: int = 21) -> datetime:
    moment = time(rng.randint(first_hour, last_hour), rng.randint(0, 59), rng.randint(0, 59))
    return datetime.combine(day, moment, tzinfo=ISTANBUL)


def _pick(rng: random.Random, weighted: tuple[tuple[InvoiceStatus, int], ...]) -> InvoiceStatus:
    return rng.choices([s for s, _ in weighted], weights=[w for _, w in weighted])[0]


def _email(name: str, n: int) -> str:
    ascii_name = unicodedata.normalize("NFKD", name.replace("ı", "i").replace("İ", "I"))
    slug = (
        "".join(c for c in ascii_name if c.isascii() and (c.isalnum() or c == " "))
        .lower()
        .replace(" ", ".")
    )
    return f"{slug}{n}@example.com"


def _seed_paynet(sandbox: Sandbox, rng: random.Random, today: date, count: int) -> None:
    references = rng.sample(range(1000, 10_000), count)
    invoice_no = _FIRST_INVOICE_NO
    for i, ref in enumerate(references):
        name = full_name(rng)
        created = _at(today - timedelta(days=rng.randint(20, 200)), rng)
        weekly = rng.random() < 0.2
        agent = rng.choice(_AGENTS) if rng.random() < 0.3 else None
        base = rng.randint(100, 2500) * 100 + rng.choice((0, 0, 50, 90, 99))
        sub = sandbox.add_subscription(
            subscription_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            reference_no=f"9000{ref:04d}",
            name_surname=name,
            amount=base,
            agent_id=agent,
            interval=1 if weekly else 2,
            interval_count=rng.choice((12, 24, 52)) if weekly else rng.choice((6, 12, 24)),
            begin_date=created + timedelta(days=1),
            is_fixed_price=False,
            group_reference_no=rng.choice(_GROUPS) if rng.random() < 0.2 else None,
            end_user_email=_email(name, i),
            end_user_gsm=f"05{rng.randint(300_000_000, 599_999_999)}",
            created_at=created,
        )
        n = rng.randint(2, 8)
        start = max(created.date() + timedelta(days=1), today - timedelta(days=120))
        first = start + timedelta(days=rng.randint(0, 10))
        # Squeeze the schedule so all n invoices fall between ~120 days ago and a month ahead.
        room = (today + timedelta(days=30) - first).days // n
        step = max(3, min(7 if weekly else 30, room))
        for k in range(n):
            day = first + timedelta(days=k * step)
            status = _pick(rng, _PAST_MIX if day <= today else _FUTURE_MIX)
            amount = rng.randint(base * 8 // 10, base * 12 // 10)
            agent_part = amount // 10 if agent else None
            sandbox.add_invoice(
                subscription_id=sub.subscription_id,
                invoice_no=str(invoice_no),
                amount=amount,
                agent_amount=agent_part,
                company_amount=amount - agent_part if agent_part is not None else None,
                val_date=datetime.combine(day, time(10, 0), tzinfo=ISTANBUL),
                status=status,
                created_at=max(created, _at(day - timedelta(days=10), rng, 9, 9)),
            )
            invoice_no += 1


def _seed_payofin(sandbox: Sandbox, rng: random.Random, today: date, count: int) -> None:
    institutions: dict[int, Institution] = {i.soot_code: i for i in sandbox.state.institutions()}
    codes = [c for c in _INSTITUTION_WEIGHTS if c in institutions]
    weights = [_INSTITUTION_WEIGHTS[c] for c in codes]
    drafts = []
    for _ in range(count if codes else 0):
        inst = institutions[rng.choices(codes, weights=weights)[0]]
        # From yesterday back: a payment later "today" could lie in the future.
        paid = _at(today - timedelta(days=rng.randint(1, 90)), rng, 7, 22)
        low, high = inst.bill_range
        drafts.append(
            dict(
                soot_code=inst.soot_code,
                subscriber_no=f"{rng.randint(0, 10**11 - 1):011d}",
                customer_name=mask(full_name(rng)),
                invoice_no=str(rng.randint(1_000_000, 9_999_999_999)),
                exp_date=paid.date() + timedelta(days=rng.randint(-5, 15)),
                invoice_amount=rng.randint(low, high),
                profit=inst.fee,
                payment_date=paid,
                status="Cancelled" if rng.random() < _CANCELLED_SHARE else "Paid",
            )
        )
    drafts.sort(key=lambda d: d["payment_date"])  # ids grow with time, as a real ledger's do
    first_id = None if sandbox.state.payments_between() else _FIRST_PAYMENT_ID
    for n, draft in enumerate(drafts):
        sandbox.add_payment(**draft, invoice_payment_id=first_id if n == 0 else None)
