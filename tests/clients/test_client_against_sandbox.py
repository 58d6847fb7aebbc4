"""The real clients against the sandbox: the same contract from both ends, faults included."""

from datetime import date, datetime

import pytest

from paynet_core.errors import APIError, DuplicateError, NotFoundError, ServerError, TransportError
from paynet_core.paynet import InvoiceStatus, PaynetClient
from paynet_core.payofin import PayofinClient
from paynet_core.sandbox import Sandbox, SandboxTransport, seed_demo

FAULTS_THAT_LOSE_THE_REPLY = ["timeout_after", "disconnect", "malformed_json", "empty_body"]
FAULTS_BEFORE_APPLYING = [
    "http_500",
    "http_502_html",
    "rate_limit",
    "timeout_before",
    "disconnect_before",
    "connect_timeout",
]


@pytest.fixture(autouse=True)
def _demo(sandbox):
    seed_demo(sandbox, subscriptions=5, payments=80, today=date(2026, 11, 23))


@pytest.fixture
def paynet(sandbox):
    with PaynetClient(
        "sck_test_key_0001", transport=SandboxTransport(sandbox), sleep=lambda s: None
    ) as c:
        yield c


@pytest.fixture
def payofin(sandbox):
    with PayofinClient(
        "api", "secret", transport=SandboxTransport(sandbox), sleep=lambda s: None
    ) as c:
        yield c


def _sub(sandbox):
    return sandbox.subscriptions()[0]


def test_created_invoice_is_listed_and_its_status_sticks(sandbox, paynet):
    sub = _sub(sandbox)
    created = paynet.create_invoice(
        reference_no=sub.reference_no, amount=28898, val_date=datetime(2026, 12, 1, 10, 0)
    )
    found = paynet.find_invoice(invoice_no=created.invoice_no, reference_no=sub.reference_no)
    assert found is not None and found.amount == 28898 and found.status is InvoiceStatus.WAITING
    paynet.update_invoice_status(invoice_no=created.invoice_no, status=InvoiceStatus.CANCEL)
    paynet.update_invoice_status(
        invoice_no=created.invoice_no, status=InvoiceStatus.CANCEL
    )  # idempotent
    assert sandbox.get_invoice(created.invoice_no).status == InvoiceStatus.CANCEL


def test_duplicate_invoice_no_is_refused(sandbox, paynet):
    sub = _sub(sandbox)
    paynet.create_invoice(
        subscription_id=sub.subscription_id,
        amount=100,
        val_date=datetime(2026, 12, 1),
        invoice_no="DUP-1",
    )
    with pytest.raises(DuplicateError) as exc:
        paynet.create_invoice(
            subscription_id=sub.subscription_id,
            amount=100,
            val_date=datetime(2026, 12, 1),
            invoice_no="DUP-1",
        )
    assert exc.value.code == 5


@pytest.mark.parametrize("fault", FAULTS_THAT_LOSE_THE_REPLY + FAULTS_BEFORE_APPLYING)
def test_create_invoice_survives_every_fault_exactly_once(sandbox, paynet, fault):
    sub = _sub(sandbox)
    sandbox.faults.fail_next("create_invoice", fault)
    created = paynet.create_invoice(
        subscription_id=sub.subscription_id,
        amount=4242,
        val_date=datetime(2026, 12, 2),
        invoice_no=f"F-{fault}",
    )
    matching = [
        i
        for i in sandbox.invoices(subscription_id=sub.subscription_id)
        if i.invoice_no == f"F-{fault}"
    ]
    assert len(matching) == 1
    assert created.recovered is (fault in FAULTS_THAT_LOSE_THE_REPLY)


def test_create_invoice_under_random_faults_never_duplicates(sandbox, paynet):
    sub = _sub(sandbox)
    sandbox.faults.set_random(0.3, operations=["create_invoice"])
    created, failed = [], 0
    for n in range(60):
        try:
            created.append(
                paynet.create_invoice(
                    subscription_id=sub.subscription_id,
                    amount=100 + n,
                    val_date=datetime(2026, 12, 3),
                    invoice_no=f"R-{n}",
                )
            )
        except (TransportError, ServerError):
            failed += 1  # gave up after retries: allowed, but it must not have made two
    sandbox.faults.clear()
    numbers = [
        i.invoice_no
        for i in sandbox.invoices(subscription_id=sub.subscription_id)
        if i.invoice_no.startswith("R-")
    ]
    assert len(numbers) == len(set(numbers))
    assert {c.invoice_no for c in created} <= set(numbers)
    assert len(created) >= 50


def test_status_update_retries_5xx_and_lost_replies(sandbox, paynet):
    inv = sandbox.invoices(status=InvoiceStatus.WAITING)[0]
    sandbox.faults.fail_next("invoice_status_update", "http_502_html")
    sandbox.faults.fail_next("invoice_status_update", "timeout_after")
    paynet.update_invoice_status(invoice_no=inv.invoice_no, status=InvoiceStatus.CANCEL)
    assert sandbox.get_invoice(inv.invoice_no).status == InvoiceStatus.CANCEL


def test_forbidden_transition_is_a_clear_api_error(sandbox, paynet):
    inv = sandbox.invoices(status=InvoiceStatus.DONE_SUCCEED)[0]
    with pytest.raises(APIError) as exc:
        paynet.update_invoice_status(invoice_no=inv.invoice_no, status=InvoiceStatus.WAITING)
    assert exc.value.code == 6


def test_unknown_invoice_is_not_found(paynet):
    with pytest.raises(NotFoundError):
        paynet.update_invoice_status(invoice_no="NO-SUCH", status=5)


def test_update_all_statuses_and_amount(sandbox, paynet):
    sub = _sub(sandbox)
    a = paynet.create_invoice(
        subscription_id=sub.subscription_id, amount=500, val_date=datetime(2026, 12, 9)
    )
    paynet.update_invoice_amount(invoice_no=a.invoice_no, amount=750)
    assert sandbox.get_invoice(a.invoice_no).amount == 750
    paynet.update_all_invoice_statuses(
        subscription_id=sub.subscription_id, status=InvoiceStatus.CANCEL
    )
    waiting = [
        i
        for i in sandbox.invoices(subscription_id=sub.subscription_id)
        if i.status == InvoiceStatus.WAITING
    ]
    assert waiting == []


def test_lists_walk_every_page(sandbox, paynet):
    sub = _sub(sandbox)
    for n in range(23):
        sandbox.add_invoice(
            subscription_id=sub.subscription_id, amount=100 + n, val_date=datetime(2026, 12, 1)
        )
    everything = sandbox.invoices(subscription_id=sub.subscription_id)
    listed = paynet.list_invoices(subscription_id=sub.subscription_id, page_size=10)
    assert [i.invoice_no for i in listed] == [i.invoice_no for i in everything]
    subs = paynet.list_subscriptions(date(2020, 1, 1), date(2030, 1, 1))
    assert {s.subscription_id for s in subs} == {s.subscription_id for s in sandbox.subscriptions()}


def test_payofin_windows_match_the_sandbox_exactly(sandbox, payofin):
    first, last = date(2026, 10, 1), date(2026, 11, 9)  # 40 days
    listed = payofin.list_payments(first, last)
    expected = sandbox.payments(first, last)
    assert sorted(p.invoice_payment_id for p in listed) == sorted(
        p.invoice_payment_id for p in expected
    )
    assert sandbox.request_counts.get("invoicelist") == 3
    assert all(isinstance(p.amount_kurus, int) for p in listed)


def test_payofin_invoice_check_and_late_cancellation(sandbox, payofin):
    pay = sandbox.payments(date(2026, 8, 1), date(2026, 11, 23))[0]
    assert payofin.invoice_check(pay.invoice_payment_id).amount_kurus == pay.invoice_amount
    sandbox.cancel_payment(pay.invoice_payment_id)
    assert payofin.invoice_check(pay.invoice_payment_id).status == "Cancelled"


def test_payofin_transient_codes_are_retried_against_the_sandbox(sandbox, payofin):
    pay = sandbox.payments(date(2026, 8, 1), date(2026, 11, 23))[0]
    sandbox.faults.fail_next("invoicecheck", "payofin_-6")
    sandbox.faults.fail_next("invoicecheck", "payofin_-24")
    assert (
        payofin.invoice_check(pay.invoice_payment_id).invoice_payment_id == pay.invoice_payment_id
    )


def test_wrong_payofin_keys_are_an_authentication_error():
    from paynet_core.errors import AuthenticationError

    sb = Sandbox(payofin_keys={("right", "keys")})
    with (
        PayofinClient("wrong", "keys", transport=SandboxTransport(sb)) as c,
        pytest.raises(AuthenticationError) as exc,
    ):
        c.list_institutions()
    assert exc.value.code == -22
    sb.close()
