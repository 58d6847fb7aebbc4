"""A request's overall deadline, however the server paces its reply.

httpx's per-read timeout restarts on every byte, so a server that trickles a byte a second
would never time out. Async: the whole request runs under ``asyncio.timeout`` (restarted once a
rate limiter lets the request go, see :func:`restart_deadline`). Sync: the default transport's
sockets never wait past the deadline (:func:`bounded_transport`), and the sender's body loop
checks the clock per chunk. Either ends in ``DeadlineExceededError``.
"""

from __future__ import annotations

import asyncio
import time
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx

#: Seconds one request may take from sending to the last byte of its reply, however the
#: server paces it (the per-read timeout restarts on every byte).
DEFAULT_DEADLINE = 30.0


#: The monotonic time the current (sync) request must end by; read by :class:`_DeadlineStream`.
sync_deadline: ContextVar[float | None] = ContextVar("paynet_core_sync_deadline", default=None)
#: The asyncio timeout of the current async request and its length in seconds.
async_deadline: ContextVar[tuple[asyncio.Timeout, float] | None] = ContextVar(
    "paynet_core_async_deadline", default=None
)


def restart_deadline() -> None:
    """Start the current async request's deadline again from now. For a transport that waits
    before passing a request on (the bulk engine's rate limiter): waiting for a slot is not
    the provider being slow."""
    held = async_deadline.get()
    if held is not None:
        scope, seconds = held
        scope.reschedule(asyncio.get_running_loop().time() + seconds)


def _left(timeout: float | None) -> float | None:
    """A socket timeout cut to what is left of the request's deadline."""
    deadline = sync_deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("the request's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket whose every read and write waits no longer than the request's deadline allows."""

    def __init__(self, stream: httpcore.NetworkStream):
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _left(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, _left(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend):
        self._backend = backend

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        return _DeadlineStream(
            self._backend.connect_tcp(host, port, _left(timeout), local_address, socket_options)
        )

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        return _DeadlineStream(
            self._backend.connect_unix_socket(path, _left(timeout), socket_options)
        )

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def bounded_transport(transport: httpx.BaseTransport | None) -> httpx.BaseTransport:
    """The transport for a sync client, whose sockets never wait past the request's deadline
    (httpx's read timeout restarts on every byte, so a server trickling its headers would
    otherwise never time out). Applies to httpx's own network transport, given (the runtime
    builds one per client, with the proxy) or not; other transports (the in-process sandbox, a
    test's mock) keep the per-chunk deadline check of the body."""
    if transport is None:
        transport = httpx.HTTPTransport()
    pool = getattr(transport, "_pool", None) if isinstance(transport, httpx.HTTPTransport) else None
    backend = getattr(pool, "_network_backend", None)
    # httpcore's layout (direct and proxy pools alike); checked by the tests
    if (
        pool is not None
        and isinstance(backend, httpcore.NetworkBackend)
        and not isinstance(backend, _DeadlineBackend)
    ):
        pool._network_backend = _DeadlineBackend(backend)
    return transport
