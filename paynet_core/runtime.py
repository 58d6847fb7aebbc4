"""Everything a caller needs, built once from settings: the store and the provider clients.

The dashboard, the CLI and notebooks all start here, so they see the same cache and the same
mode. In sandbox mode the clients talk to the in-process sandbox (demo data included).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from .config import Mode, Settings, load_settings
from .paynet import AsyncPaynetClient, PaynetClient
from .payofin import PayofinClient
from .store import Store


@dataclass
class Runtime:
    settings: Settings

    @property
    def mode(self) -> Mode:
        return self.settings.mode

    @cached_property
    def store(self) -> Store:
        return Store.open(self.settings.db_path)

    def paynet(self, **kwargs) -> PaynetClient:
        """A new synchronous Paynet client for this mode (close it, or use ``with``)."""
        return PaynetClient(self.settings.paynet_secret_key, environment=self.mode.value, **kwargs)

    def async_paynet(self, **kwargs) -> AsyncPaynetClient:
        return AsyncPaynetClient(self.settings.paynet_secret_key, environment=self.mode.value, **kwargs)

    def payofin(self, **kwargs) -> PayofinClient:
        return PayofinClient(
            self.settings.payofin_api_key,
            self.settings.payofin_secret_key,
            environment=self.mode.value,
            **kwargs,
        )


def open_runtime(settings: Settings | None = None) -> Runtime:
    return Runtime(settings or load_settings())


def prepare_demo(runtime: Runtime | None = None) -> Runtime:
    """Before the dashboard starts: open the cache and, on the sandbox, fill it with demo data
    (the sandbox seeds itself; a first sync copies it into the cache)."""
    runtime = runtime or open_runtime()
    store = runtime.store
    if runtime.mode is Mode.SANDBOX and store.last_sync_time() is None:
        from .sync import sync_all

        sync_all(runtime)
    return runtime
