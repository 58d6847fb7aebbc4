"""The in-process door: an httpx transport (sync and async) that talks to a :class:`Sandbox`.

Plug it into a client with ``httpx.Client(transport=SandboxTransport(sandbox))`` and base URL
``http://paynet.sandbox`` or ``http://payofin.sandbox`` (the sandbox routes by path only).
"""

from __future__ import annotations

import time

import anyio
import httpx

from .core import NetworkFault, Sandbox, SandboxResponse

PAYNET_BASE_URL = "http://paynet.sandbox"
PAYOFIN_BASE_URL = "http://payofin.sandbox"


class SandboxTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Latency is a real sleep (``time.sleep`` sync, ``anyio.sleep`` async); timeouts and dropped
    connections raise the httpx exceptions a real network would, with the request attached."""

    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        delay = self.sandbox.faults.next_delay()
        if delay > 0:
            time.sleep(delay)
        return self._answer(request, body)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        delay = self.sandbox.faults.next_delay()
        if delay > 0:
            await anyio.sleep(delay)
        return self._answer(request, body)

    def _answer(self, request: httpx.Request, body: bytes) -> httpx.Response:
        try:
            reply: SandboxResponse = self.sandbox.handle(
                request.method, request.url.path, request.headers, body
            )
        except NetworkFault as fault:
            # a real network failure has no Python cause: the fault is the sandbox's bookkeeping
            raise _as_httpx_error(fault, request) from None
        return httpx.Response(
            reply.status, headers=reply.headers, content=reply.body, request=request
        )


def _as_httpx_error(fault: NetworkFault, request: httpx.Request) -> httpx.TransportError:
    if fault.kind == "connect_timeout":
        return httpx.ConnectTimeout("sandbox: timed out while connecting", request=request)
    if fault.kind == "read_timeout":
        return httpx.ReadTimeout("sandbox: timed out waiting for the reply", request=request)
    return httpx.RemoteProtocolError(
        "sandbox: server disconnected without sending a response", request=request
    )
