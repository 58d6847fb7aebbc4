"""The loopback door: the same :class:`Sandbox` over real HTTP (Starlette + uvicorn).

Both APIs share one port: Paynet under ``/v1/subscription/...``, Payofin under ``/invoices/...``.
Latency is an ``asyncio.sleep`` so hundreds of requests wait side by side. A simulated timeout
holds the request for ``faults.timeout_seconds`` (set the client's timeout lower) and then drops
the connection; a simulated disconnect sends the status line and headers, then closes the
connection before the body, which the client sees as a broken reply.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from .core import NetworkFault, Sandbox

_BROKEN_HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"64")]
_DROP_MESSAGE = "ASGI callable returned without completing response."


def asgi_app(sandbox: Sandbox) -> ASGIApp:
    """The bare ASGI callable: every request goes to ``sandbox.handle``.

    Kept below Starlette's Request/Response layer on purpose: that layer costs a third of the
    server's CPU per request, and the loopback benchmarks are CPU-bound on two cores.
    """

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        delay = sandbox.faults.next_delay()
        if delay > 0:
            await asyncio.sleep(delay)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            reply = sandbox.handle(scope["method"], scope["path"], headers, b"".join(chunks))
        except NetworkFault as fault:
            if fault.kind != "disconnect":
                await asyncio.sleep(sandbox.faults.timeout_seconds)
            # Start a reply and abandon it: uvicorn closes the connection mid-reply.
            await send({"type": "http.response.start", "status": 200, "headers": _BROKEN_HEADERS})
            return
        raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers.items()]
        raw_headers.append((b"content-length", str(len(reply.body)).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": reply.body})

    return app


def create_app(sandbox: Sandbox) -> Starlette:
    """A Starlette app that hands every request, any path and method, to ``sandbox.handle``."""
    return Starlette(routes=[Mount("/", app=asgi_app(sandbox))])


class _QuietDrops(logging.Filter):
    """Our dropped connections are on purpose; keep them out of the error log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != _DROP_MESSAGE


_quiet = _QuietDrops()


class SandboxServer:
    """A running loopback server; ``stop()`` (or leaving the ``with`` block) shuts it down."""

    def __init__(self, sandbox: Sandbox, sock: socket.socket, **uvicorn_options: Any):
        self.sandbox = sandbox
        self._sock = sock
        host, port = sock.getsockname()[:2]
        self.host, self.port = host, port
        self.base_url = f"http://{host}:{port}"
        config = uvicorn.Config(
            create_app(sandbox),
            log_config=None,  # leave the host application's logging alone
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            **uvicorn_options,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"sandbox-server-{port}",
            daemon=True,
        )

    def start(self, timeout: float = 10.0) -> SandboxServer:
        logging.getLogger("uvicorn.error").addFilter(_quiet)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"sandbox server on {self.base_url} did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> SandboxServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"SandboxServer({self.base_url!r})"


def serve(
    sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0, **uvicorn_options: Any
) -> SandboxServer:
    """Start the sandbox on ``host:port`` (0 picks a free port) in a background thread."""
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on sockets that say they are TCP,
    # and without it every reply waits ~40 ms for a delayed ACK (Nagle).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return SandboxServer(sandbox, sock, **uvicorn_options).start()
