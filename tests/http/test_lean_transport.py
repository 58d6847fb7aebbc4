"""The bulk engine's lean HTTP/1.1 transport (paynet_core.http.lean) against real sockets:
connections kept alive, the request bytes a server sees, and failures mapped as httpx maps them
(only a request that never left is "surely not sent")."""

from __future__ import annotations

import asyncio
import json
import socket
import threading

import httpx
import pytest

from paynet_core.errors import TransportError
from paynet_core.http.lean import LeanTransport
from paynet_core.jobs.loop import run as run_loop
from paynet_core.paynet import AsyncPaynetClient
from paynet_core.sandbox import Sandbox, serve

KEY = "sck_lean_test_key_0123456789"


class OneShotServer:
    """Accepts connections; ``answer(request_bytes)`` returns what to send back (None: close)."""

    def __init__(self, answer):
        self.answer = answer
        self.requests: list[bytes] = []
        self.connections = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            buf = b""
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                head, sep, rest = buf.partition(b"\r\n\r\n")
                if not sep:
                    continue
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if len(rest) < length:
                    continue
                self.requests.append(head + sep + rest[:length])
                buf = rest[length:]
                reply = self.answer(self.requests[-1])
                if reply is None:
                    return
                conn.sendall(reply)

    def close(self) -> None:
        self._sock.close()


def ok(body: dict, *extra: str) -> bytes:
    data = json.dumps(body).encode()
    head = ["HTTP/1.1 200 OK", "Content-Type: application/json", f"Content-Length: {len(data)}"]
    return ("\r\n".join([*head, *extra]) + "\r\n\r\n").encode() + data


def chunked(body: dict) -> bytes:
    data = json.dumps(body).encode()
    half = len(data) // 2
    parts = [data[:half], data[half:]]
    out = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    for p in parts:
        out += f"{len(p):x}\r\n".encode() + p + b"\r\n"
    return out + b"0\r\n\r\n"


SUCCESS = {"code": 0, "message": "Başarılı işlem", "object_name": "x"}


@pytest.fixture
def server():
    made: list[OneShotServer] = []

    def start(answer) -> OneShotServer:
        made.append(OneShotServer(answer))
        return made[-1]

    yield start
    for s in made:
        s.close()


def updates(url: str, n: int, **options):
    """``n`` status updates in a row over one client with the lean transport; the replies."""

    async def go():
        async with AsyncPaynetClient(
            KEY, environment="test", base_url=url, transport=LeanTransport(), **options
        ) as c:
            return [await c.update_invoice_status(invoice_no=f"N{i}", status=5) for i in range(n)]

    return run_loop(go())


def test_one_connection_carries_every_request_of_a_worker(server):
    s = server(lambda _: ok(SUCCESS))
    replies = updates(s.url, 5)
    assert [r.code for r in replies] == [0] * 5
    assert s.connections == 1 and len(s.requests) == 5


def test_the_request_is_what_httpx_would_send(server):
    s = server(lambda _: ok(SUCCESS))
    updates(s.url, 1)

    async def through_httpx():  # no transport given: the client's own path and transport
        async with AsyncPaynetClient(KEY, environment="test", base_url=s.url) as c:
            await c.update_invoice_status(invoice_no="N0", status=5)

    asyncio.run(through_httpx())
    (lean, plain) = [_parsed(r) for r in s.requests]
    assert lean == plain
    line, headers, body = lean
    assert line == "POST /v1/subscription/invoice_status_update HTTP/1.1"
    assert headers["authorization"] == f"Basic {KEY}" and headers["content-length"] == str(
        len(body)
    )
    assert json.loads(body)["invoice_no"] == "N0"


def _parsed(raw: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    line, *rest = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in rest)}
    assert headers.pop("x-request-id").startswith("req_")
    return line, headers, body


def test_a_chunked_reply_and_a_closing_server_are_read_whole(server):
    answers = iter([chunked(SUCCESS), ok(SUCCESS, "Connection: close"), ok(SUCCESS)])
    s = server(lambda _: next(answers))
    assert [r.code for r in updates(s.url, 3)] == [0, 0, 0]
    assert s.connections == 2  # the reply that said "close" ended its connection


def test_a_connection_dropped_after_the_request_left_may_have_been_applied(server):
    s = server(lambda _: None)  # reads the request, then hangs up
    with pytest.raises(TransportError) as caught:
        updates(s.url, 1, max_retries=0)
    assert caught.value.maybe_applied and "Server disconnected" in str(caught.value)
    assert len(s.requests) == 1


def test_a_reply_that_never_comes_ends_in_a_read_timeout(server):
    s = server(lambda _: b"")  # reads the request, says nothing
    with pytest.raises(TransportError) as caught:
        updates(s.url, 1, max_retries=0, timeout=httpx.Timeout(0.2))
    assert caught.value.maybe_applied and "ReadTimeout" in str(caught.value)


def test_a_garbled_reply_is_a_protocol_error(server):
    s = server(lambda _: b"HTTP/1.1 abc nonsense\r\n\r\n")
    with pytest.raises(TransportError) as caught:
        updates(s.url, 1, max_retries=0)
    assert caught.value.maybe_applied and "RemoteProtocolError" in str(caught.value)


def test_a_header_that_would_split_the_request_is_refused():
    async def go():
        transport = LeanTransport()
        request = httpx.Request("POST", "http://127.0.0.1:9/x", headers={"X-A": "1\r\nX-B: 2"})
        await transport.handle_async_request(request)

    with pytest.raises(httpx.LocalProtocolError):
        asyncio.run(go())


def test_the_served_sandbox_answers_over_kept_connections(tmp_path):
    sandbox = Sandbox(tmp_path / "paynet.db", paynet_keys=[KEY])
    sub = sandbox.add_subscription(amount=1000).subscription_id
    nos = [sandbox.add_invoice(subscription_id=sub, amount=100 + i).invoice_no for i in range(20)]
    opened: list[tuple] = []
    with serve(sandbox) as served:

        async def go():
            transport = LeanTransport()
            real = transport._connect

            async def counting(*args):
                opened.append(args[0])
                return await real(*args)

            transport._connect = counting  # type: ignore[method-assign]
            async with AsyncPaynetClient(
                KEY, environment="sandbox", base_url=served.base_url, transport=transport
            ) as c:
                at_once = c.update_invoice_status
                await asyncio.gather(*(at_once(invoice_no=no, status=4) for no in nos))
                after_burst = len(opened)
                again = [await c.update_invoice_status(invoice_no=no, status=5) for no in nos[:5]]
            return after_burst, again

        after_burst, again = run_loop(go())
    assert [r.code for r in again] == [0] * 5
    assert sorted(i.status for i in sandbox.invoices(subscription_id=sub)) == [4] * 15 + [5] * 5
    assert 1 <= after_burst <= 20 and len(opened) == after_burst  # one after another: reused
    sandbox.close()
