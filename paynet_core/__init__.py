"""paynet-ops: clients, cache, bulk jobs and a sandbox for Paynet invoices and Payofin payments.

What scripts and notebooks use::

    from paynet_core import open_runtime, open_cache, parse_amount, InvoiceStatus

    runtime = open_runtime()              # settings from the environment / secrets.toml
    with runtime.paynet() as paynet:      # the runtime chooses the network (sandbox by default)
        paynet.update_invoice_status(invoice_no="FTR-1", status=InvoiceStatus.CANCEL)
    cache = open_cache()                  # the cache, as DataFrames

Names are imported on first use, so ``import paynet_core`` stays cheap for the CLI and workers.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__all__ = [
    "APIError",
    "AsyncPaynetClient",
    "AuthenticationError",
    "ConfigError",
    "ContractError",
    "DuplicateError",
    "InputError",
    "InvoiceStatus",
    "JobError",
    "MoneyError",
    "NotFoundError",
    "PaynetClient",
    "PaynetOpsError",
    "PayofinClient",
    "ProviderError",
    "RateLimitError",
    "Runtime",
    "ServerError",
    "Settings",
    "TransportError",
    "format_amount",
    "load_settings",
    "open_cache",
    "open_runtime",
    "parse_amount",
]

_WHERE = {
    "AsyncPaynetClient": "paynet_core.paynet",
    "PaynetClient": "paynet_core.paynet",
    "InvoiceStatus": "paynet_core.paynet.models",
    "PayofinClient": "paynet_core.payofin",
    "format_amount": "paynet_core.money",
    "parse_amount": "paynet_core.money",
    "open_cache": "paynet_core.reports.notebook",
    "Runtime": "paynet_core.runtime",
    "open_runtime": "paynet_core.runtime",
    "Settings": "paynet_core.config",
    "load_settings": "paynet_core.config",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(import_module(_WHERE[name]), name)
    elif name in __all__:
        value = getattr(import_module("paynet_core.errors"), name)
    else:
        raise AttributeError(f"module 'paynet_core' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from .config import Settings, load_settings
    from .errors import (
        APIError,
        AuthenticationError,
        ConfigError,
        ContractError,
        DuplicateError,
        InputError,
        JobError,
        MoneyError,
        NotFoundError,
        PaynetOpsError,
        ProviderError,
        RateLimitError,
        ServerError,
        TransportError,
    )
    from .money import format_amount, parse_amount
    from .paynet import AsyncPaynetClient, PaynetClient
    from .paynet.models import InvoiceStatus
    from .payofin import PayofinClient
    from .reports.notebook import open_cache
    from .runtime import Runtime, open_runtime
