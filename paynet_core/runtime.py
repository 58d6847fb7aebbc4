"""Everything a caller needs, built once from settings: the store, the sandbox and the clients.

The dashboard, the CLI, job runners and notebooks all start here, so they see the same cache,
the same mode and the same endpoints. This is the one place that chooses the network:

- sandbox mode, no base URL: the in-process sandbox on ``settings.sandbox_db_path``, through
  :class:`~paynet_core.sandbox.SandboxTransport`;
- sandbox mode with a base URL: a ``paynet-ops sandbox serve`` there, over HTTP, so several
  processes share one sandbox;
- test and live: the provider (or ``PAYNET_BASE_URL`` / ``PAYOFIN_BASE_URL``) over HTTPS,
  through the proxy the environment names (``HTTPS_PROXY``, ``NO_PROXY``), the same for every
  client, single actions and bulk jobs alike.
"""

from __future__ import annotations

import ssl
import urllib.request
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

from .config import Mode, Settings, is_loopback, load_settings
from .http.lean import lean_transport
from .paynet import AsyncPaynetClient, PaynetClient
from .payofin import PayofinClient
from .store import Store

if TYPE_CHECKING:
    from .sandbox import Sandbox


@dataclass
class Runtime:
    settings: Settings

    @property
    def mode(self) -> Mode:
        return self.settings.mode

    @cached_property
    def store(self) -> Store:
        return Store.open(self.settings.cache_target)

    @cached_property
    def sandbox(self) -> Sandbox:
        """The in-process sandbox of these settings (one per file and process)."""
        from .sandbox import open_sandbox

        s = self.settings
        if not s.sandbox_in_process:
            raise RuntimeError("these settings talk to a served sandbox or a provider over HTTP")
        return open_sandbox(
            s.sandbox_db_path,
            # only what is configured: faults a test or a person set on the sandbox stay
            fault_rate=s.sandbox_fault_rate or None,
            faults=s.sandbox_faults or None,
            unknown_invoice_code=s.sandbox_unknown_invoice_code,
        )

    # -- transports --------------------------------------------------------------------------

    def transport(self, url: str) -> httpx.BaseTransport:
        if self.settings.sandbox_in_process:
            from .sandbox import SandboxTransport

            return SandboxTransport(self.sandbox)
        return httpx.HTTPTransport(verify=_ssl_context(), proxy=proxy_for(url))

    def async_transport(self, url: str, *, connections: int = 64) -> httpx.AsyncBaseTransport:
        """A transport for async clients (the bulk engine's workers ask for a small pool each):
        the lean HTTP/1.1 transport, or httpx's own behind a proxy (:mod:`.http.lean`)."""
        if self.settings.sandbox_in_process:
            from .sandbox import SandboxTransport

            return SandboxTransport(self.sandbox)
        return lean_transport(_ssl_context(), connections=connections, proxy=proxy_for(url))

    # -- clients -----------------------------------------------------------------------------

    def paynet(self, **kwargs) -> PaynetClient:
        """A new synchronous Paynet client for these settings (close it, or use ``with``)."""
        url = self.settings.paynet_url
        kwargs.setdefault("transport", self.transport(url))
        return PaynetClient(
            self.settings.paynet_secret_key, environment=self.mode.value, base_url=url, **kwargs
        )

    def async_paynet(self, **kwargs) -> AsyncPaynetClient:
        url = self.settings.paynet_url
        if "transport" not in kwargs:
            kwargs["transport"] = self.async_transport(url)
        return AsyncPaynetClient(
            self.settings.paynet_secret_key, environment=self.mode.value, base_url=url, **kwargs
        )

    def payofin(self, **kwargs) -> PayofinClient:
        url = self.settings.payofin_url
        kwargs.setdefault("transport", self.transport(url))
        return PayofinClient(
            self.settings.payofin_api_key,
            self.settings.payofin_secret_key,
            environment=self.mode.value,
            base_url=url,
            **kwargs,
        )


def proxy_for(url: str) -> str | None:
    """The proxy the environment gives for ``url`` (``HTTPS_PROXY``/``HTTP_PROXY``, minus
    ``NO_PROXY``), never for loopback. httpx applies these itself only when it builds its own
    transport; we always pass one, so the rule is applied here, once, for every client."""
    host = urlsplit(url).hostname or ""
    # urllib's own NO_PROXY rule: in the stdlib for years, but missing from typeshed
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    if not host or is_loopback(host) or bypass(host):
        return None
    proxies = urllib.request.getproxies_environment()
    return proxies.get(urlsplit(url).scheme) or proxies.get("all")


_SSL: ssl.SSLContext | None = None


def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~25 ms; every client of the process shares one context.
    global _SSL
    if _SSL is None:
        import certifi

        _SSL = ssl.create_default_context(cafile=certifi.where())
    return _SSL


def open_runtime(settings: Settings | None = None) -> Runtime:
    return Runtime(settings or load_settings())


def prepare_demo(runtime: Runtime | None = None) -> Runtime:
    """Before the dashboard starts: open the cache and, on the sandbox, fill it with demo data
    (the sandbox seeds itself; a first sync copies it into the cache)."""
    runtime = runtime or open_runtime()
    store = runtime.store
    if runtime.mode is Mode.SANDBOX and store.last_sync_time() is None:
        from .ops.sync import sync_all

        sync_all(runtime)
    return runtime
