"""Hostile servers (issue 12, "replies without limits"): a real HTTP server on 127.0.0.1, in a
thread, that answers every request in one bad way: an endless chunked stream, a gzip bomb, a
300 MB body, a body at a byte a tick, headers at a line a tick, a huge provider message, a long
Retry-After. Each client (PaynetClient, AsyncPaynetClient, PayofinClient) must end each case
within its deadline with a typed error, its memory bounded (tracemalloc peak).

The clients run with a 1 s overall deadline and a 5 s per-read timeout, so a case that ends in
about a second was ended by the deadline, not by the read timeout (which a trickle resets).
"""

from __future__ import annotations

import asyncio
import functools
import json
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable
from datetime import date

import httpx
import pytest
from job_helpers import seed

from paynet_core import jobs
from paynet_core.errors import (
    MAX_ERROR_MESSAGE,
    MAX_PROVIDER_TEXT,
    APIError,
    DeadlineExceededError,
    ProviderError,
    RateLimitError,
    ReplyTooLargeError,
    TransportError,
)
from paynet_core.http.lean import LeanTransport
from paynet_core.jobs.loop import run as run_loop
from paynet_core.jobs.planner import plan_status_changes
from paynet_core.paynet import AsyncPaynetClient, PaynetClient
from paynet_core.payofin import PayofinClient
from paynet_core.sandbox import Sandbox
from paynet_core.store import Store

PAYNET_KEY = "sck_hostile_test_key_0123456789"
PAYOFIN_KEYS = ("hostile-api-key-0123456789", "hostile-secret-key-0123456789")
DEADLINE = 1.0
READ_TIMEOUT = httpx.Timeout(5.0)
CAP = 2 * 1024 * 1024
#: tracemalloc peak allowed for one call: a few copies of a capped body, never the whole reply
MEMORY_BOUND = 16 * 1024 * 1024
#: "bulk" is the async client as the bulk engine runs it: the lean transport, on uvloop
CLIENTS = ["sync", "async", "bulk", "payofin"]
#: For the cases a deadline should not be what ends them (size, messages, Retry-After): room for a
#: loaded machine; each still has to end well within it.
ROOMY = dict(deadline=10.0)
SOON = 5.0
TICK = 0.05  # seconds between the bytes (or header lines) a slow server sends

Behaviour = Callable[[socket.socket, threading.Event], None]


# -- the server ------------------------------------------------------------------------------


class HostileServer:
    """Accepts connections on 127.0.0.1, reads one request per connection, then misbehaves."""

    def __init__(self, behaviour: Behaviour):
        self.behaviour = behaviour
        self.requests = 0
        self.stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                _read_request(conn)
                self.requests += 1
                self.behaviour(conn, self.stop)
            except OSError:  # the client hung up: what a bounded client does
                pass

    def close(self) -> None:
        self.stop.set()
        self._listener.close()
        self._accepting.join(5)
        for thread in self._threads:
            thread.join(5)


def _read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionResetError
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += conn.recv(65536)


def _head(status: str = "200 OK", **headers: str | int) -> bytes:
    # One request per connection: say so, or a client may reuse a socket we are closing.
    lines = [
        f"HTTP/1.1 {status}",
        "Content-Type: application/json; charset=utf-8",
        "Connection: close",
    ]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _pause(stop: threading.Event, seconds: float) -> bool:
    """Wait a tick; False when the server is closing."""
    return not stop.wait(seconds)


def endless_stream(conn, stop):
    start = b'{"code": 0, "message": "'
    conn.sendall(_head(Transfer_Encoding="chunked") + b"%x\r\n%s\r\n" % (len(start), start))
    chunk = b"%x\r\n%s\r\n" % (65536, b"a" * 65536)
    while not stop.is_set():
        conn.sendall(chunk)


@functools.cache
def bomb() -> bytes:
    # 128 MiB of zeros inside a 128 kB gzip body: 64 times the cap once inflated
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    return b"".join([z.compress(block) for _ in range(128)] + [z.flush()])


def gzip_bomb(conn, stop):
    conn.sendall(_head(Content_Encoding="gzip", Content_Length=len(bomb())) + bomb())


def gzip_bomb_chunked(conn, stop):
    # no Content-Length to refuse up front: only inflating it tells
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in _pieces(bomb(), 16384)) + b"0\r\n\r\n"
    conn.sendall(_head(Content_Encoding="gzip", Transfer_Encoding="chunked") + body)


def _pieces(data: bytes, size: int):
    return [data[i : i + size] for i in range(0, len(data), size)]


def oversized_body(conn, stop):
    total = 300 * 1024 * 1024
    conn.sendall(_head(Content_Length=total))
    chunk = b" " * 65536
    for _ in range(total // len(chunk)):
        if stop.is_set():
            return
        conn.sendall(chunk)


def slow_body(conn, stop):
    conn.sendall(_head(Content_Length=1000) + b"{")
    while _pause(stop, TICK):
        conn.sendall(b" ")


def slow_headers(conn, stop):
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    n = 0
    while _pause(stop, TICK):
        n += 1
        conn.sendall(f"X-Slow-{n}: still here\r\n".encode())


def json_reply(body: dict, status: str = "200 OK", **headers) -> Behaviour:
    data = json.dumps(body).encode()

    def behaviour(conn, stop):
        conn.sendall(_head(status, Content_Length=len(data), **headers) + data)

    return behaviour


HUGE = "x" * 1_500_000  # under the 2 MiB cap: read, but never stored or shown whole


def huge_message(client: str) -> Behaviour:
    if client == "payofin":
        return json_reply({"result": False, "resultCode": -99, "resultMessage": HUGE})
    return json_reply({"code": 99, "message": HUGE})


def long_retry_after(conn, stop):
    conn.sendall(_head("429 Too Many Requests", Retry_After=59, Content_Length=0))


@pytest.fixture
def serve():
    servers: list[HostileServer] = []

    def start(behaviour: Behaviour) -> HostileServer:
        servers.append(HostileServer(behaviour))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


# -- the clients -----------------------------------------------------------------------------


def call(client: str, url: str, **options):
    """One idempotent call of ``client`` against ``url``; returns what it raised (or returned)."""
    options = {"deadline": DEADLINE, "timeout": READ_TIMEOUT, "max_retries": 0, **options}
    try:
        if client in ("async", "bulk"):
            if client == "bulk":
                options["transport"] = LeanTransport()

            async def go():
                async with AsyncPaynetClient(
                    PAYNET_KEY, environment="test", base_url=url, **options
                ) as c:
                    return await c.update_invoice_status(invoice_no="N1", status=5)

            return asyncio.run(go()) if client == "async" else run_loop(go())
        if client == "payofin":
            with PayofinClient(*PAYOFIN_KEYS, environment="test", base_url=url, **options) as c:
                return c.invoice_check(1)
        with PaynetClient(PAYNET_KEY, environment="test", base_url=url, **options) as c:
            return c.update_invoice_status(invoice_no="N1", status=5)
    except Exception as exc:
        return exc


def measured(fn: Callable[[], object]) -> tuple[object, float, int]:
    """What ``fn`` returned, the seconds it took and its tracemalloc peak in bytes."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        out = fn()
    finally:
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return out, elapsed, peak


def _shows(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


# -- size ------------------------------------------------------------------------------------


@pytest.mark.parametrize("client", CLIENTS)
def test_an_endless_chunked_reply_stops_at_the_byte_cap(serve, client):
    server = serve(endless_stream)
    err, elapsed, peak = measured(lambda: call(client, server.url, max_reply_bytes=CAP, **ROOMY))
    assert isinstance(err, ReplyTooLargeError), _shows(err)
    assert "larger than the 2 MiB" in str(err) and not err.is_retryable
    assert elapsed < SOON and peak < MEMORY_BOUND, (elapsed, peak)


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("behaviour", [gzip_bomb, gzip_bomb_chunked], ids=["length", "chunked"])
def test_a_gzip_bomb_is_not_inflated_past_the_cap(serve, client, behaviour):
    bomb()  # built before measuring
    server = serve(behaviour)
    err, elapsed, peak = measured(lambda: call(client, server.url, max_reply_bytes=CAP, **ROOMY))
    assert isinstance(err, ReplyTooLargeError), _shows(err)
    assert "once inflated" in str(err)
    assert elapsed < SOON and peak < MEMORY_BOUND, (elapsed, peak)


@pytest.mark.parametrize("client", CLIENTS)
def test_a_300_mb_body_is_refused_by_its_content_length(serve, client):
    server = serve(oversized_body)
    err, elapsed, peak = measured(lambda: call(client, server.url, max_reply_bytes=CAP, **ROOMY))
    assert isinstance(err, ReplyTooLargeError), _shows(err)
    assert "Content-Length 314,572,800" in str(err)
    assert elapsed < SOON and peak < MEMORY_BOUND, (elapsed, peak)


@pytest.mark.parametrize("client", CLIENTS)
def test_an_oversized_reply_is_not_asked_for_again(serve, client):
    server = serve(endless_stream)
    err = call(client, server.url, max_retries=3, max_reply_bytes=CAP, **ROOMY)
    assert isinstance(err, ReplyTooLargeError), _shows(err)
    assert server.requests == 1


def test_a_gzip_reply_within_the_cap_is_read(serve):
    data = zlib.compress(json.dumps({"code": 0, "message": "ok"}).encode(), wbits=31)

    def gzipped(conn, stop):
        conn.sendall(_head(Content_Encoding="gzip", Content_Length=len(data)) + data)

    reply = call("sync", serve(gzipped).url)
    assert not isinstance(reply, Exception), _shows(reply)
    assert reply.code == 0 and reply.message == "ok"


# -- time ------------------------------------------------------------------------------------


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("behaviour", [slow_body, slow_headers], ids=["body", "headers"])
def test_a_reply_trickled_slowly_ends_at_the_deadline(serve, client, behaviour):
    server = serve(behaviour)
    err, elapsed, peak = measured(lambda: call(client, server.url))
    assert isinstance(err, DeadlineExceededError), _shows(err)
    assert isinstance(err, TransportError) and err.is_retryable and err.maybe_applied
    assert "within the 1 s deadline" in str(err)
    # the per-read timeout is 5 s (and each tick resets it): only the deadline ends it this soon
    assert DEADLINE * 0.9 <= elapsed < DEADLINE + 2.0, elapsed
    assert peak < MEMORY_BOUND


@pytest.mark.parametrize("client", CLIENTS)
def test_each_try_of_a_retried_call_gets_its_own_deadline(serve, client):
    server = serve(slow_headers)
    sleeps: list[float] = []

    async def record(seconds):
        sleeps.append(seconds)

    sleep = record if client in ("async", "bulk") else sleeps.append
    options = dict(max_retries=2, sleep=sleep, deadline=0.3)
    err, elapsed, _ = measured(lambda: call(client, server.url, **options))
    assert isinstance(err, DeadlineExceededError), _shows(err)
    assert server.requests == 3 and len(sleeps) == 2
    assert 3 * 0.3 <= elapsed < 3 * (0.3 + 1.0), elapsed


@pytest.mark.parametrize("client", ["sync", "bulk"])
def test_a_refused_connection_names_its_cause(client):
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    err = call(client, f"http://127.0.0.1:{port}")
    assert isinstance(err, TransportError) and not err.maybe_applied, _shows(err)
    assert isinstance(err.__cause__, httpx.ConnectError)
    assert "ConnectError: [Errno 111] Connection refused" in str(err), str(err)


# -- messages --------------------------------------------------------------------------------


@pytest.mark.parametrize("client", CLIENTS)
def test_a_huge_provider_message_is_cut_in_the_error(serve, client):
    server = serve(huge_message(client))
    err, elapsed, peak = measured(lambda: call(client, server.url, **ROOMY))
    assert isinstance(err, APIError), _shows(err)
    assert len(str(err)) < MAX_PROVIDER_TEXT + 200, len(str(err))
    assert "… (cut; 1,500,000 characters in all)" in str(err)
    assert elapsed < SOON and peak < MEMORY_BOUND, (elapsed, peak)


def test_an_error_message_is_bounded_however_it_was_built():
    err = APIError("y" * 10_000_000, provider="Paynet", operation="op")
    assert len(err.message) < MAX_ERROR_MESSAGE + 50 and len(str(err)) < MAX_ERROR_MESSAGE + 100


def _status_job(store: Store, n: int = 3) -> str:
    sandbox = Sandbox()
    try:
        _, nos = seed(sandbox, store, n)
    finally:
        sandbox.close()
    plan = plan_status_changes([(no, 5) for no in nos], store=store)
    return jobs.start_job(plan, store=store, mode="sandbox", created_by="ayse@example.com", rate=0)


def _run_job(store: Store, job_id: str, url: str):
    factory = jobs.paynet_over_http(url, secret_key=PAYNET_KEY, timeout=READ_TIMEOUT, **ROOMY)
    return asyncio.run(jobs.run_job(job_id, store=store, client_factory=factory, poll_interval=0))


def test_a_huge_provider_message_is_stored_cut_in_job_items_and_the_audit_log(serve, store):
    server = serve(huge_message("async"))
    job_id = _status_job(store)
    summary = _run_job(store, job_id, server.url)
    assert summary.failed == 3, summary
    items = store.job_items(job_id)
    assert items["message"].str.len().max() < MAX_PROVIDER_TEXT + 200
    audit = store.audit_rows(job_id=job_id)
    stored = audit["provider_message"].dropna()
    assert len(stored) == 3 and stored.str.len().max() < MAX_PROVIDER_TEXT + 200
    assert all("(cut; 1,500,000 characters in all)" in m for m in stored)


def test_the_store_cuts_a_message_it_is_given_whole(store):
    store.audit("ayse@example.com", "note", mode="sandbox", provider_message="z" * 5_000_000)
    stored = store.audit_rows(action="note")["provider_message"].iloc[0]
    assert len(stored) < MAX_ERROR_MESSAGE + 50


# -- waiting ---------------------------------------------------------------------------------


@pytest.mark.parametrize("client", CLIENTS)
def test_a_long_retry_after_is_not_waited_out_by_an_interactive_call(serve, client):
    server = serve(long_retry_after)
    # real sleeps and the default retries (3): waiting 59 s even once would blow the time box
    err, elapsed, _ = measured(lambda: call(client, server.url, max_retries=3, **ROOMY))
    assert isinstance(err, RateLimitError), _shows(err)
    assert err.retry_after == 59 and "try again later" in str(err)
    assert server.requests == 1 and elapsed < SOON


def test_the_waits_of_one_call_stay_within_its_retry_budget(serve):
    server = serve(json_reply({}, "429 Too Many Requests", Retry_After=4))
    sleeps: list[float] = []
    err = call("sync", server.url, max_retries=5, sleep=sleeps.append, max_retry_wait=10, **ROOMY)
    assert isinstance(err, RateLimitError), _shows(err)
    assert sleeps == [4, 4] and server.requests == 3  # a third wait would make 12 s


def test_create_invoice_does_not_wait_out_a_long_retry_after(serve):
    server = serve(long_retry_after)

    def create():
        with PaynetClient(PAYNET_KEY, environment="test", base_url=server.url, **ROOMY) as c:
            return c.create_invoice(subscription_id="s", amount=100, val_date=date(2027, 1, 1))

    with pytest.raises(RateLimitError) as exc:
        create()
    assert exc.value.retry_after == 59 and server.requests == 1


def test_a_bulk_job_pauses_on_a_long_retry_after_instead_of_sleeping(serve, store):
    server = serve(long_retry_after)
    job_id = _status_job(store)
    summary, elapsed, _ = measured(lambda: _run_job(store, job_id, server.url))
    assert summary.state == "paused" and summary.pending == 3 and summary.failed == 0, summary
    assert "rate limiting" in summary.note and "59 s" in summary.note
    reason = store.audit_rows(job_id=job_id, action="job.pause")["details"].iloc[0]
    assert "rate limiting" in reason
    assert elapsed < 10


def test_a_provider_error_chain_keeps_the_transport_cause(serve):
    server = serve(slow_headers)
    err = call("sync", server.url)
    assert isinstance(err, ProviderError) and isinstance(err.__cause__, httpx.TimeoutException)


@pytest.mark.parametrize("client", ["sync", "payofin"])
def test_clients_the_runtime_builds_get_the_deadline_too(serve, client, monkeypatch):
    # The runtime always passes its own transport (with the environment's proxy): the socket
    # deadline must hold for it as for httpx's default one.
    from paynet_core.config import load_settings
    from paynet_core.runtime import open_runtime

    server = serve(slow_headers)
    env = {
        "PAYNET_OPS_MODE": "test",
        "PAYNET_SECRET_KEY": PAYNET_KEY,
        "PAYOFIN_API_KEY": PAYOFIN_KEYS[0],
        "PAYOFIN_SECRET_KEY": PAYOFIN_KEYS[1],
        "PAYNET_BASE_URL": server.url,
        "PAYOFIN_BASE_URL": server.url,
    }
    rt = open_runtime(load_settings(env=env, secrets_file=None))
    options = {"deadline": DEADLINE, "timeout": READ_TIMEOUT, "max_retries": 0}

    def go():
        try:
            if client == "payofin":
                with rt.payofin(**options) as c:
                    return c.invoice_check(1)
            with rt.paynet(**options) as c:
                return c.update_invoice_status(invoice_no="N1", status=5)
        except Exception as exc:
            return exc

    err, elapsed, _ = measured(go)
    assert isinstance(err, DeadlineExceededError), _shows(err)
    assert elapsed < DEADLINE + 2.0, elapsed
