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


def open_sandbox(
    path: str | os.PathLike[str] | None = None,
    *,
    fault_rate: float = 0.0,
    faults: tuple[str, ...] | list[str] = (),
    unknown_invoice_code: int | None = None,
) -> Sandbox:
    """The process-wide sandbox for ``path`` (default ``data/sandbox.db``), created and seeded
    with demo data on first use. Callers pass the path from their settings (the runtime does),
    so single actions and bulk jobs share one sandbox. ``fault_rate`` and ``faults`` (names as
    ``paynet-ops sandbox serve --faults`` takes them) switch random faults on;
    ``unknown_invoice_code`` (12 or 24) is how it answers an unknown invoice_no."""
    key = str(path if path is not None else DEFAULT_SANDBOX_DB)
    if key != ":memory:":
        resolved = Path(key).expanduser().resolve()
        resolved.parent.mkdir(parents=True, exist_ok=True)
        key = str(resolved)
    with _open_lock:
        sandbox = _open.get(key)
        if sandbox is None:
            sandbox = Sandbox(key)
            seed_demo(sandbox)
            _open[key] = sandbox
        if fault_rate:
            from .faults import DEFAULT_RANDOM_KINDS, parse_faults

            kinds = parse_faults(",".join(faults)) if faults else DEFAULT_RANDOM_KINDS
            sandbox.faults.set_random(fault_rate, kinds=kinds)
        if unknown_invoice_code is not None:
            sandbox.unknown_invoice_code = unknown_invoice_code
        return sandbox
