"""A bulk upload as a person runs it: read and plan a file by kind, retry failed items, resume.

The dashboard's upload widgets and the CLI (``paynet-ops invoices create|set-status``,
``jobs resume``) call these same functions, so a file is read, planned and judged the same
way wherever it comes from. Pages and the CLI keep only the asking and the showing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..auth import Role, User, require_role
from ..errors import JobError
from ..i18n import Message
from ..importing import ImportKind, ImportResult, StatusRow, read_rows
from ..jobs import confirmation_phrase, resumable, start_job
from ..jobs.planner import Plan, plan_invoices, plan_status_changes
from ..vocab import ItemState, JobKind, JobState

if TYPE_CHECKING:
    from ..runtime import Runtime
    from ..store import Store

#: A job's kind (as the store keeps it) → the kind of upload its rows came from.
_UPLOAD_KIND: dict[str, ImportKind] = {JobKind.CREATE_INVOICES: "invoices"}
#: Job states that never change again: nothing to pause, cancel or resume.
_FINAL = frozenset({JobState.DONE, JobState.CANCELLED, JobState.FAILED})


def read_upload(data: bytes, filename: str, kind: ImportKind) -> ImportResult:
    """Read an uploaded file of ``kind``; raises InputError only when the file cannot be used."""
    return read_rows(data, filename, kind)


def plan_upload(result: ImportResult, store: Store) -> Plan:
    """The calls the valid rows of ``result`` need, checked against the cache."""
    if result.kind == "invoices":
        return plan_invoices(result, store=store)
    return plan_status_changes(result, store=store)


def is_destructive(result: ImportResult) -> bool:
    """True when a row sets a status that cannot be undone (Cancel, Deleted)."""
    return any(isinstance(r, StatusRow) and r.status.is_destructive for r in result.rows)


def upload_kind(job: dict[str, Any]) -> ImportKind:
    """The kind of upload a job's rows were read as."""
    return _UPLOAD_KIND.get(job["kind"], "statuses")


def retry_plan(store: Store, job_id: str) -> Plan:
    """A plan for a job's failed items, read back through the importer (same checks, same numbers)."""
    # Imported here: reports pulls in the chart code, which the CLI's upload path never needs.
    from ..reports.exports import export_failed_rows

    job = store.job(job_id)
    if job is None:
        raise JobError(Message("no job {job_id}", job_id=job_id))
    data = export_failed_rows(store, job)
    result = read_upload(data, f"retry_{job_id}.csv", upload_kind(job))
    return plan_upload(result, store)


def retry_failed(runtime: Runtime, job_id: str, *, user: User) -> str:
    """Start a new job for the failed items of ``job_id``; returns the new job's id (not run yet)."""
    require_role(user, Role.OPERATOR, action="retry failed items")
    plan = retry_plan(runtime.store, job_id)
    return start_job(
        plan,
        runtime=runtime,
        created_by=user.email,
        source_name=f"retry of {job_id}",
        confirmation=confirmation_phrase(plan),
    )


def may_resume(job: dict[str, Any]) -> bool:
    """Not finished and no live runner: the one rule ``resume_job`` applies too."""
    return resumable(job)


def may_pause(job: dict[str, Any]) -> bool:
    return job["state"] in (JobState.RUNNING, JobState.PENDING)


def may_cancel(job: dict[str, Any]) -> bool:
    return job["state"] not in _FINAL


def items_left(store: Store, job_id: str) -> int:
    """Items not finished yet: what a LIVE resume asks the person to type."""
    progress = store.job_progress(job_id)
    return progress[ItemState.PENDING] + progress[ItemState.SENDING]
