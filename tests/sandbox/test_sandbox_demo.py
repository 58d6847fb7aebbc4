import re
import uuid
from collections import Counter
from datetime import date, datetime, timedelta

import httpx
import pytest

from paynet_core.dates import ISTANBUL
from paynet_core.paynet.models import InvoiceStatus
from paynet_core.sandbox import (
    PAYNET_BASE_URL,
    Sandbox,
    SandboxTransport,
    open_sandbox,
    seed_demo,
    serve,
)

TODAY = date(2026, 5, 1)
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=ISTANBUL)
AUTH = {"Authorization": "Basic sck_test"}
#: The first reference numbers of the default demo (seed 42, TODAY) as generated before the
#: subscription cap went from 9,000 to 10,000: raising it must not change existing sandboxes.
PINNED_FIRST_REFERENCES = ["90007201", "90005861", "90005371"]


def snapshot(sb: Sandbox):
    return sb.subscriptions(), sb.invoices(), sb.payments()


@pytest.fixture(scope="module")
def demo():
    sb = Sandbox(clock=lambda: NOW)
    seed_demo(sb, seed=42, today=TODAY)
    yield sb
    sb.close()


def test_same_seed_same_data_and_ids(demo):
    with Sandbox(clock=lambda: NOW + timedelta(hours=5)) as again:
        seed_demo(again, seed=42, today=TODAY)
        assert snapshot(again) == snapshot(demo)


def test_another_seed_other_data(demo):
    with Sandbox(clock=lambda: NOW) as other:
        seed_demo(other, seed=7, today=TODAY)
        assert [s.subscription_id for s in other.subscriptions()] != [
            s.subscription_id for s in demo.subscriptions()
        ]


def test_seeding_twice_is_a_no_op():
    with Sandbox(clock=lambda: NOW) as sb:
        assert seed_demo(sb, today=TODAY) is True
        before = snapshot(sb)
        assert seed_demo(sb, today=TODAY) is False
        assert seed_demo(sb, seed=1, today=TODAY) is False
        assert snapshot(sb) == before


def test_ten_thousand_subscriptions_get_distinct_reference_numbers():
    with Sandbox(clock=lambda: NOW) as sb:
        seed_demo(sb, today=TODAY, subscriptions=10_000, invoices=10_000, payments=0)
        refs = [s.reference_no for s in sb.subscriptions()]
    assert len(refs) == len(set(refs)) == 10_000
    assert all(re.fullmatch(r"9000\d{4,5}", r) for r in refs)


def test_raising_the_subscription_cap_kept_the_data_of_smaller_sandboxes(demo):
    # the references of up to 9,000 subscriptions come from the same 1000..9999 draw as before
    refs = [s.reference_no for s in demo.subscriptions()]
    assert all(re.fullmatch(r"9000\d{4}", r) for r in refs)
    assert [s.reference_no for s in demo.subscriptions()][:3] == PINNED_FIRST_REFERENCES


def test_subscriptions_look_real(demo):
    subs = demo.subscriptions()
    assert len(subs) == 300
    assert len({s.reference_no for s in subs}) == 300
    for s in subs:
        assert re.fullmatch(r"9000\d{4}", s.reference_no)
        assert uuid.UUID(s.subscription_id).version == 4
        assert len(s.name_surname.split()) == 2
        assert TODAY - timedelta(days=366) <= s.created_at.date() <= TODAY
    assert any(ch in "".join(s.name_surname for s in subs) for ch in "ğüşıöçİŞÖÇÜ")


def test_invoices_have_a_realistic_status_mix(demo):
    per_sub = Counter(i.subscription_id for i in demo.invoices())
    assert set(per_sub) == {s.subscription_id for s in demo.subscriptions()}
    assert min(per_sub.values()) >= 1 and max(per_sub.values()) <= 100
    invoices = demo.invoices()
    assert len(invoices) == 3000
    statuses = Counter(i.status for i in invoices)
    assert statuses[InvoiceStatus.DONE_SUCCEED] > len(invoices) / 2
    assert all(statuses[s] > 0 for s in InvoiceStatus)
    future = [i for i in invoices if i.val_date.date() > TODAY]
    assert (
        future and Counter(i.status for i in future).most_common(1)[0][0] is InvoiceStatus.WAITING
    )
    # a year back and a month ahead, every month with invoices, more in recent months
    assert all(TODAY - timedelta(days=366) <= i.val_date.date() for i in invoices)
    assert max(i.val_date.date() for i in invoices) <= TODAY + timedelta(days=60)
    per_month = Counter((i.val_date.year, i.val_date.month) for i in invoices)
    assert len(per_month) >= 13
    assert per_month[(2026, 4)] > per_month[(2025, 6)] > 0
    assert len({i.invoice_no for i in invoices}) == len(invoices)
    ids = [i.invoice_id for i in sorted(invoices, key=lambda i: (i.created_at, i.invoice_id))]
    assert ids == sorted(ids)  # ids grow with time


def test_payments_look_real(demo):
    payments = demo.payments()
    assert len(payments) == 3000
    cancelled = sum(p.status == "Cancelled" for p in payments)
    assert 0.04 < cancelled / len(payments) < 0.13
    assert all(TODAY - timedelta(days=366) <= p.paid_at.date() < TODAY for p in payments)
    assert len({(p.paid_at.year, p.paid_at.month) for p in payments}) >= 12
    assert all(
        re.fullmatch(r"[A-ZÇĞİÖŞÜ]{2}\*+ [A-ZÇĞİÖŞÜ]{2}\*+", p.customer_name) for p in payments
    )
    assert all(p.invoice_amount > 0 and p.profit > 0 for p in payments)
    assert len({p.soot_name for p in payments}) >= 8
    ids = [p.invoice_payment_id for p in payments]
    assert ids == sorted(ids) and [p.paid_at for p in payments] == sorted(
        p.paid_at for p in payments
    )


def test_demo_data_is_served_through_the_api(demo):
    sub = demo.subscriptions()[0]
    with httpx.Client(
        transport=SandboxTransport(demo), base_url=PAYNET_BASE_URL, headers=AUTH
    ) as c:
        page = c.post(
            "/v1/subscription/invoice_list", json={"subscription_id": sub.subscription_id}
        ).json()
    assert page["total"] == len(demo.invoices(subscription_id=sub.subscription_id)) and page["data"]


def test_file_backed_state_survives_a_reopen(tmp_path):
    path = tmp_path / "state" / "sandbox.db"
    path.parent.mkdir()
    first = Sandbox(path, clock=lambda: NOW)
    first.add_subscription(reference_no="90000600")
    with (
        serve(first) as server,
        httpx.Client(base_url=server.base_url, headers=AUTH, timeout=5) as c,
    ):
        body = {
            "reference_no": "90000600",
            "amount": "1234",
            "val_date": "10.05.2026 09:00:00",
            "invoice_no": "P-1",
        }
        assert c.post("/v1/subscription/create_invoice", json=body).json()["code"] == 0
        assert (
            c.post(
                "/v1/subscription/invoice_status_update", json={"invoice_no": "P-1", "status": 5}
            ).json()["code"]
            == 0
        )
    first.cancel_payment(
        first.add_payment(subscriber_no="123456", invoice_amount=500).invoice_payment_id
    )
    first.close()

    with Sandbox(path) as reopened:
        invoice = reopened.get_invoice("P-1")
        assert (invoice.amount, invoice.status) == (1234, InvoiceStatus.CANCEL)
        assert [p.status for p in reopened.payments()] == ["Cancelled"]
        assert reopened.request_counts == {"create_invoice": 1, "invoice_status_update": 1}
        # a new invoice continues the id sequence instead of reusing ids
        reopened.add_invoice(reference_no="90000600", amount=1, invoice_no="P-2")
        assert reopened.get_invoice("P-2").invoice_id == invoice.invoice_id + 1


def test_open_sandbox_is_cached_per_path_and_seeded(tmp_path, monkeypatch):
    target = tmp_path / "nested" / "dir" / "sb.db"
    sb = open_sandbox(target)
    assert target.exists()
    assert open_sandbox(str(target)) is sb
    assert open_sandbox(tmp_path / "nested" / ".." / "nested" / "dir" / "sb.db") is sb
    assert len(sb.subscriptions()) == 300 and len(sb.payments()) == 3000
    assert len(sb.invoices()) == 3000
    other = open_sandbox(tmp_path / "other.db")
    assert other is not sb
