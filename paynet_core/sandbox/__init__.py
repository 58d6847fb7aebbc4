"""A stateful local simulator of the Paynet subscription and Payofin bill APIs.

One state, two doors: :class:`SandboxTransport` (in-process, for httpx clients) and
:func:`serve` (real HTTP on a loopback port). Without credentials the app talks to
``open_sandbox()``, a file-backed sandbox seeded with demo data.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path

from ..config import DEFAULT_SANDBOX_DB
from .core import NetworkFault, Sandbox, SandboxResponse
from .demo import seed_demo
from .faults import FAULT_NAMES, FaultPlan, fault_plan, fault_plan_from_env, parse_faults
from .server import SandboxServer, create_app, serve
from .transport import PAYNET_BASE_URL, PAYOFIN_BASE_URL, SandboxTransport

__all__ = [
    "FAULT_NAMES",
    "PAYNET_BASE_URL",
    "PAYOFIN_BASE_URL",
    "FaultPlan",
    "NetworkFault",
    "Sandbox",
    "SandboxResponse",
    "SandboxServer",
    "SandboxTransport",
    "create_app",
    "fault_plan",
    "fault_plan_from_env",
    "open_sandbox",
    "parse_faults",
    "seed_demo",
    "serve",
]

_open: dict[str, Sandbox] = {}
_open_lock = threading.Lock()


def open_sandbox(
    path: str | os.PathLike[str] | None = None,
    *,
    fault_rate: float | None = None,
    faults: Iterable[str] | str | None = None,
    latency_ms: float | None = None,
    jitter_ms: float | None = None,
    unknown_invoice_code: int | None = None,
) -> Sandbox:
    """The process-wide sandbox for ``path`` (default ``data/sandbox.db``), created and seeded
    with demo data on first use. Callers pass the path from their settings (the runtime does),
    so single actions and bulk jobs share one sandbox.

    It records every request it receives (``paynet-ops sandbox log`` reads them). The fault
    settings, when given, replace those of the sandbox (also of one already open): ``fault_rate``
    a share 0..1, ``faults`` short names or kinds (see :func:`parse_faults`), latency and jitter
    in milliseconds; ``unknown_invoice_code`` (12 or 24) how it answers an unknown invoice_no.
    ``ValueError`` on a bad setting, before anything changes.
    """
    if path is None:
        path = DEFAULT_SANDBOX_DB
    given = (fault_rate, faults, latency_ms, jitter_ms) != (None, None, None, None)
    plan = (
        fault_plan(
            fault_rate=fault_rate or 0.0,
            faults=faults,
            latency_ms=latency_ms or 0.0,
            jitter_ms=jitter_ms or 0.0,
        )
        if given
        else None
    )
    key = str(path)
    if key != ":memory:":
        resolved = Path(key).expanduser().resolve()
        resolved.parent.mkdir(parents=True, exist_ok=True)
        key = str(resolved)
    with _open_lock:
        sandbox = _open.get(key)
        if sandbox is None:
            sandbox = Sandbox(key, record_requests=True)
            seed_demo(sandbox)
            _open[key] = sandbox
        if plan is not None:
            _apply(sandbox.faults, plan, fault_rate, faults, latency_ms, jitter_ms)
        if unknown_invoice_code is not None:
            sandbox.unknown_invoice_code = unknown_invoice_code
        return sandbox


def _apply(
    target: FaultPlan,
    plan: FaultPlan,
    fault_rate: float | None,
    faults: object,
    latency_ms: float | None,
    jitter_ms: float | None,
) -> None:
    """Copy only the settings that were given (faults alone keep the rate, and so on)."""
    if latency_ms is not None or jitter_ms is not None:
        latency = plan.latency if latency_ms is not None else target.latency
        jitter = plan.jitter if jitter_ms is not None else target.jitter
        target.set_latency(latency, jitter)
    if fault_rate is not None or faults is not None:
        rate = plan.rate if fault_rate is not None else target.rate
        kinds = plan.random_kinds if faults is not None else target.random_kinds
        target.set_random(rate, kinds)
