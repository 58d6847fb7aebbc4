"""What the sandbox received, told for people and scripts (``paynet-ops sandbox log``)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from .. import dates
from . import paynet_api, payofin_api
from .faults import PRE_KINDS, fault_name
from .state import ReceivedRequest

#: Operations that change the state when they succeed; the others only answer.
WRITE_OPERATIONS = frozenset(
    {
        "create_invoice",
        "invoice_status_update",
        "invoices_status_update_all",
        "invoice_amount_update",
        "invoicepayment",
    }
)
_SUCCESS = {**{op: 0 for op in paynet_api.HANDLERS}, **{op: 1 for op in payofin_api.HANDLERS}}
_RELATIVE = re.compile(r"^\s*(\d+)\s*([smhd])\s*$", re.IGNORECASE)
#: Faults after an applied request that keep the reply from arriving at all.
_LOST = frozenset({"timeout_after", "disconnect"})
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def outcome(r: ReceivedRequest) -> str:
    """``applied`` / ``answered`` (a read), ``refused`` (the API said no, see the code) or
    ``not applied`` (a fault answered first). A fault after an applied request keeps
    ``applied``: the reply was lost, not the change."""
    if not r.handled:
        return "not applied"
    if r.code != _SUCCESS.get(r.operation, 0):
        return "refused"
    return "applied" if r.operation in WRITE_OPERATIONS else "answered"


def entry(r: ReceivedRequest) -> dict[str, Any]:
    """One request as a flat JSON-ready object (times in Istanbul, ISO with offset)."""
    fault = None if r.fault is None else fault_name(r.fault)
    return {
        "seq": r.seq,
        "time": dates.to_istanbul(r.received_at).isoformat(timespec="milliseconds"),
        "operation": r.operation,
        "invoice_no": r.invoice_no,
        "invoice_id": r.invoice_id,
        "subscription": r.subscription,
        "status": r.status,
        "outcome": outcome(r),
        "code": r.code,
        "fault": fault,
        "reply_lost": r.fault in _LOST,
    }


def describe(r: ReceivedRequest) -> str:
    """``applied``, ``refused (code 5)``, ``not applied: 500``, ``applied, reply lost: drop_after``."""
    what = outcome(r)
    if what == "refused":
        what = f"refused (code {r.code})"
    if r.fault is None:
        return what
    name = fault_name(r.fault)
    if not r.handled:
        return f"not applied: {name}"
    if r.fault in PRE_KINDS:
        return f"{what}: {name}"
    return f"{what}, reply {'lost' if r.fault in _LOST else 'garbled'}: {name}"


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``10m`` / ``2h`` / ``1d`` / ``30s`` before now, or an ISO time (``2026-05-01T10:00``,
    ``2026-05-01 10:00``, ``2026-05-01``; without an offset: Istanbul time)."""
    now = dates.to_istanbul(now or dates.now())
    match = _RELATIVE.match(text)
    if match:
        amount, unit = int(match.group(1)), match.group(2).lower()
        return now - timedelta(**{_UNITS[unit]: amount})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--since {text!r}: give a time such as 2026-05-01T10:00 or 2026-05-01, "
            "or a span back from now such as 30s, 10m, 2h, 1d"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dates.ISTANBUL)
    return dates.to_istanbul(moment)
