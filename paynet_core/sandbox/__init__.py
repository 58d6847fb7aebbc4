"""A stateful local simulator of the Paynet subscription and Payofin bill APIs.

One state, two doors: :class:`SandboxTransport` (in-process, for httpx clients) and
:func:`serve` (real HTTP on a loopback port). Without credentials the app talks to
``open_sandbox()``, a file-backed sandbox seeded with demo data.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from ..config import DEFAULT_SANDBOX_DB
from ..errors import ConfigError
from .core import NetworkFault, Sandbox, SandboxResponse
from .demo import seed_demo
from .faults import FaultPlan
from .server import SandboxServer, create_app, serve
from .transport import PAYNET_BASE_URL, PAYOFIN_BASE_URL, SandboxTransport

__all__ = [
    "PAYNET_BASE_URL",
    "PAYOFIN_BASE_URL",
    "FaultPlan",
    "NetworkFault",
    "Sandbox",
    "SandboxResponse",
    "SandboxServer",
    "SandboxTransport",
    "create_app",
    "open_sandbox",
    "seed_demo",
    "serve",
]

_open: dict[str, Sandbox] = {}
_open_lock = threading.Lock()


#: 12 or 24: what the sandbox answers for an unknown invoice_no (see Sandbox).
UNKNOWN_INVOICE_CODE_ENV = "PAYNET_SANDBOX_UNKNOWN_INVOICE_CODE"


def open_sandbox(path: str | os.PathLike[str] | None = None) -> Sandbox:
    """The process-wide sandbox for ``path`` (default ``$PAYNET_OPS_SANDBOX_DB`` or
    ``data/sandbox.db``), created and seeded with demo data on first use.
    ``$PAYNET_SANDBOX_UNKNOWN_INVOICE_CODE``, when set, says how it answers an unknown invoice_no."""
    code = _unknown_invoice_code()
    if path is None:
        path = os.environ.get("PAYNET_OPS_SANDBOX_DB") or DEFAULT_SANDBOX_DB
    key = str(path)
    if key != ":memory:":
        resolved = Path(path).expanduser().resolve()
        resolved.parent.mkdir(parents=True, exist_ok=True)
        key = str(resolved)
    with _open_lock:
        sandbox = _open.get(key)
        if sandbox is None:
            sandbox = Sandbox(key)
            seed_demo(sandbox)
            _open[key] = sandbox
        if code is not None:
            sandbox.unknown_invoice_code = code
        return sandbox


def _unknown_invoice_code() -> int | None:
    raw = os.environ.get(UNKNOWN_INVOICE_CODE_ENV, "").strip()
    if not raw:
        return None
    if raw not in ("12", "24"):
        raise ConfigError(
            f"{UNKNOWN_INVOICE_CODE_ENV} must be 12 (nodata, as Paynet's docs show) or 24 "
            f"(InvoiceNoNotFound), got {raw!r}"
        )
    return int(raw)
