"""Deterministic demo data: the same seed and day give the same records and ids every time."""

from __future__ import annotations

import json
import random
import unicodedata
import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

from ..dates import ISTANBUL
from ..paynet.models import InvoiceStatus
from .core import Sandbox
from .institutions import Institution
from .names import full_name, mask
from .paynet_state import SubscriptionRecord

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
_WEEKLY_SHARE = 0.15
#: Invoices are dated up to this many days ahead (the next period's, still Waiting).
_AHEAD_DAYS = 30

#: The default demo: a year of a small but real operation.
DEMO_SUBSCRIPTIONS = 300
DEMO_INVOICES = 3000
DEMO_PAYMENTS = 3000
DEMO_MONTHS = 12
MAX_SUBSCRIPTIONS = 10_000
#: Reference numbers are drawn from 1000..9999 (8 digits, like Paynet's samples) while that is
#: enough: a sandbox of up to this many subscriptions gets the same data as before the cap rose.
_FOUR_DIGIT_REFERENCES = 9000
MAX_INVOICES_PER_SUBSCRIPTION = 100
MAX_PAYMENTS = 500_000


def seed_demo(
    sandbox: Sandbox,
    *,
    seed: int = 42,
    today: date | None = None,
    subscriptions: int | None = None,
    invoices: int | None = None,
    payments: int | None = None,
    months: int = DEMO_MONTHS,
) -> bool:
    """Fill an empty sandbox with demo data; returns False (and does nothing) if already seeded.

    Defaults: 300 subscriptions with 3,000 invoices over the last 12 months (plus a month
    ahead) and 3,000 Payofin payments over the same months. Given only ``invoices``, the
    subscriptions are one per ten invoices; given only ``subscriptions``, ten invoices each;
    ``payments`` defaults to the number of invoices. The same arguments and ``today`` give the
    same records and ids.
    """
    subscriptions, invoices, payments = demo_sizes(subscriptions, invoices, payments, months)
    rng = random.Random(seed)
    today = today or sandbox.now().date()
    with sandbox.state.transaction():
        if sandbox.state.get_meta(_META_KEY) is not None:
            return False
        days = round(months * 365 / 12)
        subs, drafts = _paynet(rng, today, days, subscriptions, invoices)
        sandbox.state.insert_many(subscriptions=subs, invoices=drafts)
        sandbox.state.insert_many(payments=_payofin(sandbox, rng, today, days, payments))
        info = {
            "seed": seed,
            "today": today.isoformat(),
            "months": months,
            "subscriptions": subscriptions,
            "invoices": invoices,
            "payments": payments,
        }
        sandbox.state.set_meta(_META_KEY, json.dumps(info))
    return True


def demo_sizes(
    subscriptions: int | None, invoices: int | None, payments: int | None, months: int
) -> tuple[int, int, int]:
    """(subscriptions, invoices, payments) with the defaults filled in; ``ValueError`` naming
    the number out of bounds."""
    if not 1 <= months <= 60:
        raise ValueError(f"months must be between 1 and 60, got {months}")
    if subscriptions is None:
        subscriptions = DEMO_SUBSCRIPTIONS if invoices is None else -(-invoices // 10)
        subscriptions = min(subscriptions, MAX_SUBSCRIPTIONS)
    if not 0 <= subscriptions <= MAX_SUBSCRIPTIONS:
        raise ValueError(
            f"subscriptions must be between 0 and {MAX_SUBSCRIPTIONS}, got {subscriptions}"
        )
    if invoices is None:
        invoices = subscriptions * 10
    most = subscriptions * MAX_INVOICES_PER_SUBSCRIPTION
    if not 0 <= invoices <= most:
        raise ValueError(
            f"invoices must be between 0 and {most:,} for {subscriptions:,} subscriptions "
            f"(at most {MAX_INVOICES_PER_SUBSCRIPTION} each), got {invoices:,}"
        )
    if payments is None:
        payments = invoices
    if not 0 <= payments <= MAX_PAYMENTS:
        raise ValueError(f"payments must be between 0 and {MAX_PAYMENTS:,}, got {payments:,}")
    return subscriptions, invoices, payments


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


def _days_ago(rng: random.Random, days: int, *, least: int = 0) -> int:
    # A growing operation: more activity in recent months than in the first ones.
    return least + int((days - least) * (1 - rng.random() ** 0.75))


def _subscription(
    rng: random.Random, i: int, ref: int, today: date, days: int
) -> SubscriptionRecord:
    name = full_name(rng)
    created = _at(today - timedelta(days=_days_ago(rng, days, least=15)), rng)
    weekly = rng.random() < _WEEKLY_SHARE
    agent = rng.choice(_AGENTS) if rng.random() < 0.3 else None
    base = rng.randint(100, 2500) * 100 + rng.choice((0, 0, 50, 90, 99))
    return SubscriptionRecord(
        subscription_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        reference_no=f"9000{ref:04d}",
        name_surname=name,
        amount=base,
        agent_id=agent,
        agent_amount=None,
        company_amount=None,
        interval=1 if weekly else 2,
        interval_count=rng.choice((12, 24, 52)) if weekly else rng.choice((6, 12, 24)),
        period=0,
        begin_date=created + timedelta(days=1),
        is_fixed_price=False,
        status=0,
        group_reference_no=rng.choice(_GROUPS) if rng.random() < 0.2 else None,
        end_user_email=_email(name, i),
        end_user_gsm=f"05{rng.randint(300_000_000, 599_999_999)}",
        created_at=created,
    )


def _shares(rng: random.Random, weights: list[float], total: int) -> list[int]:
    """``total`` split over ``len(weights)`` slots, each at least 1 when there is enough."""
    if not weights:
        return []
    if total < len(weights):
        picked = set(rng.sample(range(len(weights)), total))
        return [int(i in picked) for i in range(len(weights))]
    counts = [1] * len(weights)
    for i in rng.choices(range(len(weights)), weights=weights, k=total - len(weights)):
        counts[i] += 1
    return counts


def _paynet(
    rng: random.Random, today: date, days: int, count: int, invoice_count: int
) -> tuple[list[SubscriptionRecord], list[dict[str, Any]]]:
    references = rng.sample(range(1000, 1000 + max(count, _FOUR_DIGIT_REFERENCES)), count)
    subs = [_subscription(rng, i, ref, today, days) for i, ref in enumerate(references)]
    subs.sort(key=lambda s: (s.created_at, s.reference_no))
    end = today + timedelta(days=_AHEAD_DAYS)
    firsts = [s.created_at.date() + timedelta(days=rng.randint(1, 10)) for s in subs]
    # A subscription's share of the invoices follows how many periods it has lived.
    weights = [
        ((end - first).days + 1) / (7 if s.interval == 1 else 30) * rng.uniform(0.6, 1.4)
        for s, first in zip(subs, firsts, strict=True)
    ]
    drafts: list[dict[str, Any]] = []
    for sub, first, n in zip(subs, firsts, _shares(rng, weights, invoice_count), strict=True):
        natural = 7 if sub.interval == 1 else 30
        # A subscription with more invoices than periods has them closer together.
        step = max(1, min(natural, ((end - first).days + 1) // max(n, 1)))
        for k in range(n):
            day = first + timedelta(days=k * step)
            status = _pick(rng, _PAST_MIX if day <= today else _FUTURE_MIX)
            amount = rng.randint(sub.amount * 8 // 10, sub.amount * 12 // 10)
            agent_part = amount // 10 if sub.agent_id else None
            drafts.append(
                dict(
                    subscription_id=sub.subscription_id,
                    amount=amount,
                    agent_amount=agent_part,
                    company_amount=amount - agent_part if agent_part is not None else None,
                    val_date=datetime.combine(day, time(10, 0), tzinfo=ISTANBUL),
                    status=status,
                    created_at=max(sub.created_at, _at(day - timedelta(days=10), rng, 9, 9)),
                )
            )
    # Ids and numbers grow with time, as a real ledger's do.
    drafts.sort(key=lambda d: (d["created_at"], d["val_date"], d["subscription_id"]))
    for n, draft in enumerate(drafts):
        draft["invoice_no"] = str(_FIRST_INVOICE_NO + n)
    return subs, drafts


def _payofin(
    sandbox: Sandbox, rng: random.Random, today: date, days: int, count: int
) -> list[dict[str, Any]]:
    institutions: dict[int, Institution] = {i.soot_code: i for i in sandbox.state.institutions()}
    codes = [c for c in _INSTITUTION_WEIGHTS if c in institutions]
    weights = [_INSTITUTION_WEIGHTS[c] for c in codes]
    drafts: list[dict[str, Any]] = []
    for _ in range(count if codes else 0):
        inst = institutions[rng.choices(codes, weights=weights)[0]]
        # From yesterday back: a payment later "today" could lie in the future.
        paid = _at(today - timedelta(days=_days_ago(rng, days, least=1)), rng, 7, 22)
        low, high = inst.bill_range
        drafts.append(
            dict(
                soot_code=inst.soot_code,
                soot_name=inst.soot_name,
                invoice_type=inst.invoice_type,
                subscriber_no=f"{rng.randint(0, 10**11 - 1):011d}",
                customer_name=mask(full_name(rng)),
                invoice_no=str(rng.randint(1_000_000, 9_999_999_999)),
                exp_date=paid.date() + timedelta(days=rng.randint(-5, 15)),
                invoice_amount=rng.randint(low, high),
                profit=inst.fee,
                paid_at=paid,
                status="Cancelled" if rng.random() < _CANCELLED_SHARE else "Paid",
                invoice_payment_id=None,
            )
        )
    drafts.sort(key=lambda d: d["paid_at"])  # ids grow with time, as a real ledger's do
    if drafts and not sandbox.state.payments_between():
        drafts[0]["invoice_payment_id"] = _FIRST_PAYMENT_ID
    return drafts
