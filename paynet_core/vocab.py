"""The words the store holds, as StrEnums: one spelling each, compared by name, not by literal.

Values equal what the store's columns hold (a StrEnum is its value, so rows need no migration).
Audit actions are dotted (``job.pause``, like ``invoice.create``); rows written before that
carry the legacy spelling (``job_pause``), so filters read both (:func:`spellings`). Item audit
lines use Paynet's operation name (``create_invoice``) as their action, and stay so.
"""

from __future__ import annotations

from enum import StrEnum

from .outcomes import Outcome  # paid / cancelled / open / failed: defined with its rules

__all__ = [
    "AuditAction",
    "ItemState",
    "JobKind",
    "JobState",
    "Outcome",
    "LEGACY_ACTIONS",
    "spellings",
]


class JobKind(StrEnum):
    CREATE_INVOICES = "create_invoices"
    SET_STATUS = "set_status"


class JobState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    DONE = "done"
    FAILED = "failed"


class ItemState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


class AuditAction(StrEnum):
    INVOICE_CREATE = "invoice.create"
    INVOICE_STATUS = "invoice.status"
    SYNC_RUN = "sync.run"
    JOB_START = "job.start"
    JOB_PAUSE = "job.pause"
    JOB_RESUME = "job.resume"
    JOB_CANCEL = "job.cancel"
    JOB_CANCELLED = "job.cancelled"
    JOB_REVIEW_PAUSE = "job.review_pause"
    JOB_FINISH = "job.finish"


#: Legacy spellings of job actions (rows written before actions were dotted).
LEGACY_ACTIONS: dict[AuditAction, str] = {
    a: a.value.replace(".", "_") for a in AuditAction if a.value.startswith("job.")
}


def spellings(action: AuditAction | str) -> tuple[str, ...]:
    """Every spelling of ``action`` the audit log may hold: the current one first."""
    action = AuditAction(action) if action in AuditAction._value2member_map_ else action
    legacy = LEGACY_ACTIONS.get(action) if isinstance(action, AuditAction) else None
    return (str(action), legacy) if legacy else (str(action),)
