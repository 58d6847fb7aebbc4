"""Paynet clients for a job's workers: one per worker, each behind the job's rate limiter."""

from __future__ import annotations

import ssl
import sys
from collections.abc import Callable
from typing import Any

import httpx

from ..http.lean import lean_transport
from ..paynet.client import AsyncPaynetClient

TransportWrap = Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport]
#: Builds one client per worker; it must pass its transport through ``wrap`` (the rate limiter).
ClientFactory = Callable[[TransportWrap], AsyncPaynetClient]


def paynet_clients(runtime, **client_options: Any) -> ClientFactory:
    """Clients for the runtime's settings: the runtime chooses the network (the in-process
    sandbox shared by every worker, a served sandbox, or Paynet over HTTPS, through the proxy)."""
    if runtime.settings.sandbox_in_process:
        shared = runtime.async_transport(runtime.settings.paynet_url)
        return lambda wrap: runtime.async_paynet(transport=wrap(shared), **client_options)
    url = runtime.settings.paynet_url
    return lambda wrap: runtime.async_paynet(
        transport=wrap(runtime.async_transport(url, connections=2)), **client_options
    )


def paynet_over_http(
    base_url: str,
    *,
    secret_key: str | None = None,
    environment: str = "sandbox",
    **client_options: Any,
) -> ClientFactory:
    """Clients for a Paynet-compatible server at ``base_url`` (e.g. the sandbox on loopback)."""
    context = _ssl_context()
    return lambda wrap: AsyncPaynetClient(
        secret_key,
        environment=environment,
        base_url=base_url,
        transport=wrap(_http_transport(context)),
        **client_options,
    )


def paynet_over(transport: httpx.AsyncBaseTransport, **client_options: Any) -> ClientFactory:
    """Clients sharing one transport (e.g. ``SandboxTransport(sandbox)`` in tests)."""
    client_options.setdefault("environment", "sandbox")
    return lambda wrap: AsyncPaynetClient(transport=wrap(transport), **client_options)


def _http_transport(context: ssl.SSLContext) -> httpx.AsyncBaseTransport:
    # One small pool per worker: a worker sends one request at a time (see http.lean).
    return lean_transport(context, connections=2)


def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~25 ms; workers share one context.
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def _skip_missing_sniffio() -> None:
    # httpcore runs `import sniffio` each time it creates a lock or an event (several times per
    # request); anyio no longer installs sniffio, and a failing import walks sys.path every time
    # (about a third of the client's CPU per request, measured). Recording it as absent gives
    # the same ImportError instantly. The real fix is a dependency on sniffio.
    try:
        import sniffio  # noqa: F401
    except ImportError:
        sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]
