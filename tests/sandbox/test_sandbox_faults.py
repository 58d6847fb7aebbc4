import asyncio
import json
import time
from datetime import datetime

import httpx
import pytest

from paynet_core.dates import ISTANBUL
from paynet_core.errors import DuplicateError
from paynet_core.paynet import PaynetClient
from paynet_core.sandbox import (
    PAYNET_BASE_URL,
    PAYOFIN_BASE_URL,
    FaultPlan,
    NetworkFault,
    Sandbox,
    SandboxTransport,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=ISTANBUL)
AUTH = {"Authorization": "Basic sck_test"}
KEYS = {"ApiKey": "a", "SecretKey": "b"}


@pytest.fixture
def clock():
    return lambda: NOW


@pytest.fixture(autouse=True)
def _subscription(sandbox):
    sandbox.add_subscription(reference_no="90000600")


@pytest.fixture
def paynet(sandbox):
    with httpx.Client(
        transport=SandboxTransport(sandbox), base_url=PAYNET_BASE_URL, headers=AUTH
    ) as c:
        yield c


@pytest.fixture
def payofin(sandbox):
    with httpx.Client(
        transport=SandboxTransport(sandbox), base_url=PAYOFIN_BASE_URL, headers=KEYS
    ) as c:
        yield c


def create(client, invoice_no="F-1"):
    body = {
        "reference_no": "90000600",
        "amount": "1000",
        "val_date": "10.05.2026 09:00:00",
        "invoice_no": invoice_no,
    }
    return client.post("/v1/subscription/create_invoice", json=body)


def applied(sandbox, invoice_no="F-1"):
    return sandbox.get_invoice(invoice_no) is not None


# -- network faults: which exception, and was the request applied? -----------------------------
@pytest.mark.parametrize(
    "kind, error, was_applied",
    [
        ("connect_timeout", httpx.ConnectTimeout, False),
        ("timeout_before", httpx.ReadTimeout, False),
        ("timeout_after", httpx.ReadTimeout, True),
        ("disconnect_before", httpx.RemoteProtocolError, False),
        ("disconnect", httpx.RemoteProtocolError, True),
    ],
)
def test_network_faults(sandbox, paynet, kind, error, was_applied):
    sandbox.faults.fail_next("create_invoice", kind)
    with pytest.raises(error) as caught:
        create(paynet)
    assert caught.value.request.url.path == "/v1/subscription/create_invoice"
    assert applied(sandbox) is was_applied
    # the fault is used up: the client's follow-up (a lookup, then maybe a resend) goes through
    reply = create(paynet).json()
    assert reply["code"] == (5 if was_applied else 0)
    assert len(sandbox.invoices()) == 1


def test_timeout_after_is_how_a_duplicate_would_happen(sandbox, paynet):
    sandbox.faults.fail_next("create_invoice", "timeout_after")
    with pytest.raises(httpx.ReadTimeout):
        create(paynet)
    listing = paynet.post("/v1/subscription/invoice_list", json={"reference_no": "90000600"}).json()
    assert [d["invoice_no"] for d in listing["data"]] == ["F-1"]


# -- error replies (request not applied) ------------------------------------------------------
def test_http_500_is_a_json_api_error(sandbox, paynet):
    sandbox.faults.fail_next("create_invoice", "http_500")
    r = create(paynet)
    assert r.status_code == 500
    assert r.json() == {
        "type": "api_error",
        "message": r.json()["message"],
        "code": 500,
        "result_code": 8,
    }
    assert not applied(sandbox)


def test_http_502_is_an_html_page(sandbox, paynet):
    sandbox.faults.fail_next("*", "http_502_html")
    r = create(paynet)
    assert r.status_code == 502 and r.headers["content-type"].startswith("text/html")
    assert r.text.lstrip().startswith("<html>") and "502 Bad Gateway" in r.text
    with pytest.raises(json.JSONDecodeError):
        r.json()
    assert not applied(sandbox)


def test_rate_limit_is_429_with_retry_after(sandbox, paynet, payofin):
    sandbox.faults.fail_next("*", "rate_limit", count=2)
    r = create(paynet)
    assert (r.status_code, r.headers["retry-after"]) == (429, "1")
    r = payofin.get("/invoices/sootlist")
    assert (r.status_code, r.headers["retry-after"]) == (429, "1")
    assert not applied(sandbox)
    assert create(paynet).status_code == 200


def test_error_in_200(sandbox, paynet, payofin):
    sandbox.faults.fail_next("create_invoice", "error_in_200")
    sandbox.faults.fail_next("invoicecheck", "error_in_200")
    r = create(paynet)
    assert (
        r.status_code == 200
        and r.json()["code"] == 8
        and r.json()["object_name"] == "subscription_invoice"
    )
    assert not applied(sandbox)
    r = payofin.post("/invoices/invoicecheck", json={"invoicePaymentId": 1})
    assert r.status_code == 200 and r.json()["result"] is False and r.json()["resultCode"] == -18


def test_generic_result_code(sandbox, paynet, payofin):
    sandbox.faults.fail_next("create_invoice", ("result_code", 10))
    sandbox.faults.fail_next("sootlist", ("result_code", -3))
    assert create(paynet).json()["code"] == 10
    assert payofin.get("/invoices/sootlist").json()["resultCode"] == -3
    assert not applied(sandbox)


@pytest.mark.parametrize("code", [-6, -18, -24])
def test_payofin_transient_codes(sandbox, payofin, code):
    sandbox.faults.fail_next("invoicelist", f"payofin_{code}")
    reply = payofin.post(
        "/invoices/invoicelist", json={"firstDate": "2026-04-01", "lastDate": "2026-04-02"}
    ).json()
    assert (reply["result"], reply["resultCode"]) == (False, code)
    assert reply["resultMessage"] and "invoiceList" not in reply


def test_payofin_kinds_leave_paynet_requests_alone(sandbox, paynet, payofin):
    sandbox.faults.fail_next("*", "payofin_-6")
    assert create(paynet).json()["code"] == 0
    assert sandbox.faults.pending == [("*", "payofin_-6", 1)]
    assert payofin.get("/invoices/sootlist").json()["resultCode"] == -6


# -- broken replies (request applied) ---------------------------------------------------------
def test_malformed_json(sandbox, paynet):
    sandbox.faults.fail_next("create_invoice", "malformed_json")
    r = create(paynet)
    assert r.status_code == 200 and r.content
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)
    assert applied(sandbox)


def test_empty_body(sandbox, paynet):
    sandbox.faults.fail_next("create_invoice", "empty_body")
    r = create(paynet)
    assert (r.status_code, r.content) == (200, b"")
    assert applied(sandbox)


def test_wrong_types(sandbox, paynet, payofin):
    sandbox.faults.fail_next("create_invoice", "wrong_types")
    sandbox.faults.fail_next("sootlist", "wrong_types")
    assert create(paynet).json()["code"] == [0]
    assert payofin.get("/invoices/sootlist").json()["resultCode"] == [1]
    assert applied(sandbox)


# -- the plan itself --------------------------------------------------------------------------
def test_fail_next_counts_and_matches_operations(sandbox, paynet):
    sandbox.faults.fail_next("invoice_list", "http_500", count=2)
    assert create(paynet).status_code == 200  # a different operation is untouched
    body = {"reference_no": "90000600"}
    codes = [paynet.post("/v1/subscription/invoice_list", json=body).status_code for _ in range(3)]
    assert codes == [500, 500, 200]
    assert sandbox.faults.pending == []


def test_faults_are_used_in_order_and_counted_as_requests(sandbox, paynet):
    sandbox.faults.fail_next("*", "http_500")
    sandbox.faults.fail_next("*", "rate_limit")
    assert [create(paynet, f"O{n}").status_code for n in range(3)] == [500, 429, 200]
    assert sandbox.request_counts == {"create_invoice": 3}


@pytest.mark.parametrize("kind", ["nope", ("result_code", "x"), ("other", 1)])
def test_unknown_fault_kinds_are_refused(kind):
    with pytest.raises(ValueError):
        FaultPlan().fail_next("*", kind)


def test_random_faults_are_seeded():
    def draws(seed):
        plan = FaultPlan(rate=0.3, seed=seed)
        return [plan.take("create_invoice", provider="paynet") for _ in range(200)]

    first = draws(7)
    assert first == draws(7)
    assert first != draws(8)
    share = sum(k is not None for k in first) / len(first)
    assert 0.15 < share < 0.45
    assert {k for k in first if k} <= {
        "http_500",
        "http_502_html",
        "rate_limit",
        "timeout_before",
        "timeout_after",
        "disconnect",
    }


def test_random_faults_limited_to_operations_and_kinds(sandbox, paynet):
    sandbox.faults.set_random(1.0, kinds=["http_500"], operations=["invoice_list"])
    assert create(paynet).status_code == 200
    assert (
        paynet.post("/v1/subscription/invoice_list", json={"reference_no": "90000600"}).status_code
        == 500
    )
    sandbox.faults.clear()
    assert (
        paynet.post("/v1/subscription/invoice_list", json={"reference_no": "90000600"}).status_code
        == 200
    )


def test_handle_raises_network_fault_with_applied_flag(sandbox):
    sandbox.faults.fail_next("*", "timeout_after")
    body = json.dumps(
        {
            "reference_no": "90000600",
            "amount": 5,
            "val_date": "10.05.2026 09:00:00",
            "invoice_no": "H",
        }
    ).encode()
    with pytest.raises(NetworkFault) as caught:
        sandbox.handle("POST", "/v1/subscription/create_invoice", AUTH, body)
    assert (caught.value.kind, caught.value.applied, caught.value.operation) == (
        "read_timeout",
        True,
        "create_invoice",
    )


# -- latency ----------------------------------------------------------------------------------
def test_latency_and_seeded_jitter():
    a, b = (
        FaultPlan(latency=0.04, jitter=0.02, seed=3),
        FaultPlan(latency=0.04, jitter=0.02, seed=3),
    )
    delays = [a.next_delay() for _ in range(50)]
    assert delays == [b.next_delay() for _ in range(50)]
    assert all(0.04 <= d <= 0.06 for d in delays) and len(set(delays)) > 1
    assert FaultPlan(latency=0.5).next_delay() == 0.5
    with pytest.raises(ValueError):
        FaultPlan(latency=-1)


def test_sync_transport_sleeps_for_the_latency(sandbox, paynet):
    sandbox.faults.set_latency(0.05)
    started = time.perf_counter()
    create(paynet)
    assert time.perf_counter() - started >= 0.05


def test_async_transport_latency_does_not_block(sandbox):
    sandbox.faults.set_latency(0.1)

    async def run():
        async with httpx.AsyncClient(
            transport=SandboxTransport(sandbox), base_url=PAYNET_BASE_URL, headers=AUTH
        ) as c:
            started = time.perf_counter()
            replies = await asyncio.gather(
                *[
                    c.post(
                        "/v1/subscription/subscription_detail", json={"reference_no": "90000600"}
                    )
                    for _ in range(30)
                ]
            )
            return time.perf_counter() - started, replies

    elapsed, replies = asyncio.run(run())
    assert all(r.json()["code"] == 0 for r in replies)
    assert 0.1 <= elapsed < 1.0  # 30 × 0.1 s one after another would take 3 s


def test_async_transport_raises_network_faults(sandbox):
    sandbox.faults.fail_next("*", "disconnect")

    async def run():
        async with httpx.AsyncClient(
            transport=SandboxTransport(sandbox), base_url=PAYNET_BASE_URL, headers=AUTH
        ) as c:
            await c.post("/v1/subscription/subscription_detail", json={"reference_no": "90000600"})

    with pytest.raises(httpx.RemoteProtocolError):
        asyncio.run(run())


def test_a_recording_sandbox_keeps_what_it_received_handled_and_answered():
    with Sandbox(record_requests=True) as sb:
        sub = sb.add_subscription(amount=1000)
        client = PaynetClient(
            "sck_test_key_0001", transport=SandboxTransport(sb), sleep=lambda s: None
        )
        sb.faults.fail_next("create_invoice", "http_500")
        sb.faults.fail_next("create_invoice", "disconnect")
        client.create_invoice(
            subscription_id=sub.subscription_id,
            amount=100,
            val_date=datetime(2026, 12, 1),
            invoice_no="REC-1",
        )
        with pytest.raises(DuplicateError):
            client.create_invoice(
                subscription_id=sub.subscription_id,
                amount=100,
                val_date=datetime(2026, 12, 1),
                invoice_no="REC-1",
            )
        got = [(r.operation, r.invoice_no, r.handled, r.code, r.fault) for r in sb.received()]
        assert got == [
            ("create_invoice", "REC-1", False, None, "http_500"),  # a fault answered: not applied
            ("invoice_list", None, True, 0, None),  # the client looks before it resends
            ("create_invoice", "REC-1", True, 0, "disconnect"),  # applied, reply lost
            ("invoice_list", None, True, 0, None),  # found: no resend
            ("create_invoice", "REC-1", True, 5, None),  # a second creation: refused, on record
        ]
        assert [r.seq for r in sb.received("create_invoice")] == [1, 3, 5]
        sb.reset()
        assert sb.received() == []


def test_a_sandbox_that_does_not_record_says_so(sandbox):
    with pytest.raises(RuntimeError, match="record_requests=True"):
        sandbox.received()
