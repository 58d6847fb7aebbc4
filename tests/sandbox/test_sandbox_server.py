import asyncio
import socket
import time
from datetime import datetime

import httpx
import pytest

from paynet_core.dates import ISTANBUL
from paynet_core.sandbox import create_app, serve

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
def server(sandbox):
    with serve(sandbox) as running:
        yield running


def create_body(invoice_no):
    return {
        "reference_no": "90000600",
        "amount": "1000",
        "val_date": "10.05.2026 09:00:00",
        "invoice_no": invoice_no,
    }


def test_serves_both_apis_on_one_port(server, sandbox):
    assert server.base_url.startswith("http://127.0.0.1:") and server.port > 0
    with httpx.Client(base_url=server.base_url, timeout=5) as c:
        r = c.post("/v1/subscription/create_invoice", json=create_body("S-1"), headers=AUTH)
        assert (r.status_code, r.json()["code"]) == (200, 0)
        assert r.headers["content-type"].startswith("application/json")
        r = c.get("/invoices/sootlist", headers=KEYS)
        assert r.json()["sootList"][0]["sootName"] == "İSKİ"
        assert c.post("/v1/subscription/list", json={}).status_code == 401
        assert c.get("/v1/subscription/list", headers=AUTH).status_code == 405
        assert c.post("/elsewhere", json={}).status_code == 404
    assert sandbox.get_invoice("S-1") is not None
    assert sandbox.request_counts == {"create_invoice": 1, "sootlist": 1, "list": 2}


def test_request_id_is_echoed(server):
    with httpx.Client(base_url=server.base_url, timeout=5) as c:
        r = c.get("/invoices/sootlist", headers={**KEYS, "X-Request-Id": "req_abc"})
        assert r.headers["x-request-id"] == "req_abc"
        assert c.get("/invoices/sootlist", headers=KEYS).headers["x-request-id"].startswith("sbx_")


def test_stop_releases_the_port(sandbox):
    running = serve(sandbox)
    port = running.port
    running.stop()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    # and the same sandbox can be served again
    with serve(sandbox) as again, httpx.Client(base_url=again.base_url, timeout=5) as c:
        assert c.get("/invoices/sootlist", headers=KEYS).status_code == 200


def test_concurrent_requests_wait_side_by_side(server, sandbox):
    # A long latency and few requests: one after another takes 30 s, side by side well under
    # 10 s even on a loaded CI machine (the requests' own CPU time is what grows with load).
    sandbox.faults.set_latency(0.3)

    async def run():
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(
            base_url=server.base_url, timeout=60, limits=limits, headers=AUTH
        ) as c:
            started = time.perf_counter()
            replies = await asyncio.gather(
                *[
                    c.post("/v1/subscription/create_invoice", json=create_body(f"C-{n}"))
                    for n in range(100)
                ]
            )
            return time.perf_counter() - started, replies

    elapsed, replies = asyncio.run(run())
    assert [r.json()["code"] for r in replies] == [0] * 100
    assert len(sandbox.invoices()) == 100
    assert elapsed < 10.0  # one after another: 100 × 0.3 s = 30 s


def test_timeout_holds_the_reply_until_the_client_gives_up(server, sandbox):
    # held longer than the client waits, short enough for a quick stop
    sandbox.faults.timeout_seconds = 0.6
    sandbox.faults.fail_next("create_invoice", "timeout_after")
    with httpx.Client(base_url=server.base_url, timeout=0.3) as c, pytest.raises(httpx.ReadTimeout):
        c.post("/v1/subscription/create_invoice", json=create_body("T-1"), headers=AUTH)
    assert sandbox.get_invoice("T-1") is not None


def test_disconnect_breaks_the_reply(server, sandbox):
    sandbox.faults.fail_next("create_invoice", "disconnect_before")
    with httpx.Client(base_url=server.base_url, timeout=5) as c:
        with pytest.raises(httpx.RemoteProtocolError):
            c.post("/v1/subscription/create_invoice", json=create_body("D-1"), headers=AUTH)
        assert sandbox.get_invoice("D-1") is None
        # the server keeps serving after a dropped connection
        assert (
            c.post("/v1/subscription/create_invoice", json=create_body("D-1"), headers=AUTH).json()[
                "code"
            ]
            == 0
        )


def test_error_pages_over_http(server, sandbox):
    sandbox.faults.fail_next("*", "http_502_html")
    sandbox.faults.fail_next("*", "rate_limit")
    sandbox.faults.fail_next("*", "empty_body")
    with httpx.Client(base_url=server.base_url, timeout=5) as c:
        r = c.get("/invoices/sootlist", headers=KEYS)
        assert r.status_code == 502 and "<html>" in r.text
        r = c.get("/invoices/sootlist", headers=KEYS)
        assert (r.status_code, r.headers["retry-after"]) == (429, "1")
        r = c.get("/invoices/sootlist", headers=KEYS)
        assert (r.status_code, r.content) == (200, b"")


def test_create_app_is_a_plain_asgi_app(sandbox):
    async def run():
        transport = httpx.ASGITransport(app=create_app(sandbox))
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as c:
            return await c.post(
                "/v1/subscription/subscription_detail",
                json={"reference_no": "90000600"},
                headers=AUTH,
            )

    assert asyncio.run(run()).json()["reference_no"] == "90000600"
