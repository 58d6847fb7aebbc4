"""A lean HTTP/1.1 transport for the bulk engine: one asyncio protocol per connection, parsed by
httptools (C), kept alive between requests.

httpx's default transport (httpcore + h11 + anyio) costs the engine about a millisecond of CPU
per request on loopback: locks, pool scans, a pure-Python parser, two socket writes per
request. A bulk worker sends one request at a time to one host, so it needs none of that: this
transport keeps a few idle connections per host, writes each request in one ``write`` and hands
the reply body on as it arrives (the sender's :class:`~paynet_core.http.replies.Body` still
bounds it). It speaks plain HTTP/1.1 (no proxy, no HTTP/2); :func:`lean_transport` falls back to
httpx's own when httptools is missing or a proxy is in the way.

What reaches the sender is what httpx's transport raises, so the exactly-once rules read the
same facts: ``ConnectError``/``ConnectTimeout`` only when no byte of the request was written
(surely not sent); any failure after that is a ``ReadError``, ``ReadTimeout`` or
``RemoteProtocolError`` (maybe applied).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import httpx

try:  # a dependency of uvicorn[standard]; without it the engine uses httpx's own transport
    import httptools
except ImportError:  # pragma: no cover - exercised only where httptools is absent
    httptools = None  # type: ignore[assignment]

#: Reply bytes buffered before the socket stops being read (the sender cuts a reply at its cap).
_HIGH_WATER = 256 * 1024
_Key = tuple[str, str, int]


def available() -> bool:
    return httptools is not None


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time; parser callbacks fill the reply."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future | None = None
        self.error: httpx.TransportError | None = None
        self.begin()

    def begin(self) -> None:
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.buffered = 0
        self.paused = False
        self.head_done = False
        self.complete = False
        self.keep_alive = False

    # -- asyncio.Protocol --

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.fail(httpx.RemoteProtocolError(f"malformed reply: {exc}"))
            return
        if self.buffered > _HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self.wake()

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.complete and self.error is None:
            reason = f": {exc}" if exc else ""
            if self.head_done:
                self.error = httpx.RemoteProtocolError(
                    f"peer closed connection without sending complete message body{reason}"
                )
            else:
                self.error = httpx.RemoteProtocolError(
                    f"Server disconnected without sending a response{reason}"
                )
        self.wake()

    # -- httptools callbacks --

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.head_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)
        self.buffered += len(body)

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        self.complete = True

    # -- helpers --

    def fail(self, error: httpx.TransportError) -> None:
        if self.error is None:
            self.error = error
        self.close()
        self.wake()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, timeout: float | None, request: httpx.Request) -> None:
        """Until more of the reply (or its end, or a failure) has arrived."""
        if self.error is not None:
            raise self.error
        waiter = self.waiter = self.loop.create_future()
        timer = None
        if timeout is not None:
            timer = self.loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        except BaseException:
            self.close()  # cancelled mid-reply (a deadline): this connection cannot be reused
            raise
        finally:
            self.waiter = None
            if timer is not None:
                timer.cancel()
        if waiter.result() is _TIMED_OUT:
            self.close()
            raise httpx.ReadTimeout("timed out waiting for the reply", request=request)
        if self.error is not None and not (self.head_done and (self.body or self.complete)):
            raise self.error

    def take_body(self) -> bytes:
        chunk = self.body[0] if len(self.body) == 1 else b"".join(self.body)
        self.body.clear()
        self.buffered = 0
        if self.paused and self.transport is not None and not self.closed:
            self.paused = False
            self.transport.resume_reading()
        return chunk


_TIMED_OUT = object()


def _expire(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(_TIMED_OUT)


class _ReplyStream(httpx.AsyncByteStream):
    """The reply body as it arrives; closing it gives the connection back when it is reusable."""

    def __init__(self, owner: LeanTransport, key: _Key, conn: _Connection, request: httpx.Request):
        self._owner, self._key, self._conn, self._request = owner, key, conn, request
        self._read_timeout = _timeouts(request).get("read")
        self._done = False

    async def __aiter__(self):
        conn = self._conn
        while True:
            if conn.body:
                yield conn.take_body()
            elif conn.complete:
                return
            else:
                await conn.wait(self._read_timeout, self._request)

    async def aclose(self) -> None:
        if self._done:
            return
        self._done = True
        conn = self._conn
        if conn.complete and conn.keep_alive and not conn.closed and not conn.body:
            self._owner._give_back(self._key, conn)
        else:
            conn.close()


class LeanTransport(httpx.AsyncBaseTransport):
    """Plain HTTP/1.1 keep-alive connections (TLS with ``ssl_context``), at most
    ``max_idle`` kept per host between requests."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None, max_idle: int = 2):
        if httptools is None:  # pragma: no cover
            raise RuntimeError("LeanTransport needs httptools; use httpx.AsyncHTTPTransport")
        self._ssl = ssl_context
        self._max_idle = max_idle
        self._idle: dict[_Key, list[_Connection]] = {}
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"request URL has an unsupported scheme {scheme!r}")
        host = url.host
        port = url.port or (443 if scheme == "https" else 80)
        key = (scheme, host, port)
        timeouts = _timeouts(request)
        try:
            body = request.content
        except httpx.RequestNotRead:
            body = await request.aread()
        head = _head(request, body)
        conn = self._take(key)
        if conn is None:
            conn = await self._connect(key, timeouts.get("connect"), request)
        conn.begin()
        assert conn.transport is not None
        conn.transport.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            conn.transport.write(body)
        if request.method == "HEAD":  # no body follows, whatever the headers say
            conn.keep_alive = False
        while not conn.head_done:
            await conn.wait(timeouts.get("read"), request)
        if request.method == "HEAD":
            conn.complete = True
        return httpx.Response(
            conn.status,
            headers=conn.headers,
            stream=_ReplyStream(self, key, conn, request),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": conn.reason},
            request=request,
        )

    def _take(self, key: _Key) -> _Connection | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
        return None

    def _give_back(self, key: _Key, conn: _Connection) -> None:
        idle = self._idle.setdefault(key, [])
        if self._closed or len(idle) >= self._max_idle:
            conn.close()
        else:
            idle.append(conn)

    async def _connect(
        self, key: _Key, timeout: float | None, request: httpx.Request
    ) -> _Connection:
        scheme, host, port = key
        loop = asyncio.get_running_loop()
        tls: dict[str, Any] = {}
        if scheme == "https":
            tls = {"ssl": self._ssl or ssl.create_default_context(), "server_hostname": host}
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(lambda: _Connection(loop), host, port, **tls)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(
                f"connecting to {host}:{port} timed out", request=request
            ) from exc
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        return conn

    async def aclose(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()


def _timeouts(request: httpx.Request) -> dict[str, float | None]:
    return request.extensions.get("timeout") or {}


def _head(request: httpx.Request, body: bytes) -> bytes:
    """The request line and headers, refusing a header that would split the request."""
    lines = [request.method.encode("ascii"), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
    has_length = False
    for name, value in request.headers.raw:
        if b"\r" in value or b"\n" in value or b"\r" in name or b"\n" in name or b":" in name:
            raise httpx.LocalProtocolError(f"illegal header {name!r}")
        lowered = name.lower()
        if lowered == b"transfer-encoding":
            continue  # the body was read whole: it goes with a Content-Length
        has_length = has_length or lowered == b"content-length"
        lines += (name, b": ", value, b"\r\n")
    if body and not has_length:
        lines += (b"Content-Length: ", str(len(body)).encode(), b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


def lean_transport(
    ssl_context: ssl.SSLContext, *, connections: int = 2, proxy: str | None = None
) -> httpx.AsyncBaseTransport:
    """The lean transport where it applies, else httpx's own (a proxy, no httptools)."""
    if proxy is None and available():
        return LeanTransport(ssl_context=ssl_context, max_idle=connections)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncHTTPTransport(verify=ssl_context, proxy=proxy, limits=limits)
