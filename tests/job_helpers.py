"""Job test helpers shared by the jobs, hostile-server and return-code tests: a subscription
seeded at the sandbox and in the cache, starting and running a job with no waits."""

from __future__ import annotations

import asyncio

from paynet_core import jobs
from paynet_core.paynet.models import Invoice, Subscription
from paynet_core.sandbox import SandboxTransport


async def instant(_seconds: float) -> None:
    return None


def factory_for(sandbox, transport=None):
    return jobs.paynet_over(transport or SandboxTransport(sandbox), sleep=instant)


def seed(sandbox, store, n: int, *, whole: bool = False) -> tuple[str, list[str]]:
    """A subscription with n open invoices, at the sandbox and in the cache.

    Unless ``whole``, one more open invoice that no test touches keeps plans from collapsing.
    """
    record = sandbox.add_subscription(amount=1000)
    nos = []
    for i in range(n):
        inv = sandbox.add_invoice(subscription_id=record.subscription_id, amount=1000 + i)
        nos.append(inv.invoice_no)
    if n and not whole:
        sandbox.add_invoice(subscription_id=record.subscription_id, amount=999)
    store.upsert_subscriptions(
        [Subscription(subscription_id=record.subscription_id, reference_no=record.reference_no)]
    )
    store.upsert_invoices(
        [
            Invoice(
                invoice_no=inv.invoice_no,
                invoice_id=str(inv.invoice_id),
                subscription_id=inv.subscription_id,
                amount=inv.amount,
                status=inv.status,
                val_date=inv.val_date,
            )
            for inv in sandbox.invoices(subscription_id=record.subscription_id)
        ]
    )
    return record.subscription_id, nos


def start(plan, store, **kw):
    kw.setdefault("rate", 0)
    return jobs.start_job(plan, store=store, mode="sandbox", created_by="ayse@example.com", **kw)


def run(job_id, store, factory, **kw):
    kw.setdefault("poll_interval", 0)
    return asyncio.run(jobs.run_job(job_id, store=store, client_factory=factory, **kw))


def statuses(sandbox, nos):
    return [sandbox.get_invoice(no).status for no in nos]
