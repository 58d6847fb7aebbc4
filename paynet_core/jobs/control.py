"""Starting and steering jobs: the LIVE guards, start, pause, resume, cancel.

Control goes through the store, so the dashboard and the CLI can steer a job that another
thread or process runs: ``pause_job`` and ``cancel_job`` set the job's state, and the runner
reads it between claims. Cancel stops claiming, lets in-flight items finish, then marks the
remaining items ``skipped`` and the job ``cancelled``. Pause stops the same way and leaves the
rest ``pending`` until ``resume_job``. Which jobs may be resumed is one rule,
:func:`resume_refusal`, used here and by the pages.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..config import DEFAULT_RATE, Mode
from ..errors import JobError
from ..i18n import Message
from ..store import JOB_FINAL_STATES, Store
from ..vocab import AuditAction, ItemState, JobState
from .ownership import _conflict, _job, _live_runner
from .planner import Plan

DEFAULT_CONCURRENCY = 8
#: First run of a LIVE job: this many items, then a pause for review.
LIVE_FIRST_BATCH = 10


# ----------------------------------------------------------------------------------------------
# Guards for LIVE mode (the UI and the CLI call these)
# ----------------------------------------------------------------------------------------------


def live_requires_confirmation(mode: Mode | str) -> bool:
    """Whether starting a job needs a typed confirmation (only on LIVE: real money)."""
    return Mode(str(mode)) is Mode.LIVE


def confirmation_phrase(plan: Plan) -> str:
    """What a person types to confirm a LIVE job: the number of invoices it touches."""
    return str(plan.invoice_count)


def default_rate(mode: Mode | str, configured: float | None = None) -> float:
    """Requests per second for a new job: the configured limit, else the mode's conservative
    default (:data:`paynet_core.config.DEFAULT_RATE`)."""
    return float(configured) if configured else DEFAULT_RATE[Mode(str(mode))]


def default_first_batch(mode: Mode | str) -> int | None:
    """On LIVE a new job first runs a few items, then pauses for review; elsewhere it runs through."""
    return LIVE_FIRST_BATCH if Mode(str(mode)) is Mode.LIVE else None


# ----------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobSummary:
    """Where a job stands: its state and how many items are in each item state."""

    job_id: str
    state: str
    total: int
    done: int
    failed: int
    skipped: int
    pending: int
    sending: int
    #: Why the last run stopped early (a pause request, a first-batch review, a breaker), if it did.
    note: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in JOB_FINAL_STATES

    @property
    def ok(self) -> bool:
        """Everything was sent and accepted."""
        return self.state == JobState.DONE and self.failed == 0 and self.skipped == 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def job_summary(store: Store, job_id: str, note: str | None = None) -> JobSummary:
    job = _job(store, job_id)
    counts = store.job_progress(job_id)
    return JobSummary(
        job_id,
        job["state"],
        counts["total"],
        counts[ItemState.DONE],
        counts[ItemState.FAILED],
        counts[ItemState.SKIPPED],
        counts[ItemState.PENDING],
        counts[ItemState.SENDING],
        note,
    )


# ----------------------------------------------------------------------------------------------
# Starting and steering jobs
# ----------------------------------------------------------------------------------------------


def start_job(
    plan: Plan,
    *,
    runtime=None,
    store: Store | None = None,
    mode: Mode | str | None = None,
    created_by: str,
    source_name: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    rate: float | None = None,
    first_batch: int | None = None,
    confirmation: str | None = None,
) -> str:
    """Journal ``plan`` as a new job (state 'pending') and return its id; nothing is sent yet.

    ``rate`` None uses the configured/default rate of the mode; 0 means no limit (refused on
    LIVE). On LIVE, ``confirmation`` must equal :func:`confirmation_phrase`. Refused with a
    ``JobError`` naming the job and invoices when the plan overlaps an active job.
    """
    store, mode = _store_and_mode(runtime, store, mode)
    if not plan.calls:
        raise JobError(Message("the plan has no calls to make (no valid rows)"))
    if concurrency < 1:
        raise JobError(Message("concurrency must be at least 1"))
    configured = runtime.settings.rate_limit if runtime is not None else None
    rate = default_rate(mode, configured) if rate is None else float(rate)
    if rate < 0:
        raise JobError(Message("rate must be positive (or 0 for no limit)"))
    if live_requires_confirmation(mode):
        if rate == 0:
            raise JobError(Message("a LIVE job needs a rate limit"))
        if confirmation is None or confirmation.strip() != confirmation_phrase(plan):
            raise JobError(
                Message(
                    "a LIVE job needs a typed confirmation: the number of invoices, {phrase}",
                    phrase=confirmation_phrase(plan),
                )
            )
    if first_batch is not None and first_batch < 1:
        first_batch = None
    if live_requires_confirmation(mode) and first_batch is None:
        first_batch = LIVE_FIRST_BATCH  # a LIVE job always pauses for a review: no way around it
    options = {
        "concurrency": concurrency,
        "rate": rate,
        "first_batch": first_batch,
        "plan": plan.summary(),
        "invalid_rows": plan.invalid_records,
    }
    items = [call.job_item() for call in plan.calls]
    with store.transaction():
        conflict = _conflict(store, plan)
        if conflict:
            raise conflict
        job_id = store.create_job(
            plan.kind,
            items,
            created_by=created_by,
            mode=str(mode),
            source_name=source_name or plan.source_name,
            options=options,
        )
        store.audit(
            created_by,
            AuditAction.JOB_START,
            mode=str(mode),
            target_type="job",
            target_ids=[job_id],
            job_id=job_id,
            details={k: v for k, v in options.items() if k != "invalid_rows"},
        )
    return job_id


def pause_job(job_id: str, *, store: Store, actor: str) -> str:
    """Ask the runner to stop after its in-flight items; the rest stays pending until resumed."""
    with store.transaction():
        job = _job(store, job_id)
        if job["state"] == JobState.PAUSED:
            return JobState.PAUSED
        if job["state"] not in (JobState.PENDING, JobState.RUNNING):
            raise JobError(
                Message(
                    "job {job_id} is {state}; only a pending or running job can pause",
                    job_id=job_id,
                    state=Message(job["state"]),
                )
            )
        store.set_job_state(job_id, JobState.PAUSED)
        store.audit(
            actor,
            AuditAction.JOB_PAUSE,
            mode=job["mode"],
            target_type="job",
            target_ids=[job_id],
            job_id=job_id,
        )
    return JobState.PAUSED


def resume_refusal(job: dict) -> Message | None:
    """Why ``job`` (a row of ``Store.job``) cannot be resumed now, or None when it can: a
    finished job never can, and a job whose runner is alive is that runner's."""
    if job["state"] in JOB_FINAL_STATES:
        return Message(
            "job {job_id} is {state}; it cannot be resumed",
            job_id=job["job_id"],
            state=Message(job["state"]),
        )
    live = _live_runner(job)
    if live:
        return Message("job {job_id} is already being run by {who}", job_id=job["job_id"], who=live)
    return None


def resumable(job: dict) -> bool:
    """Whether a person may resume ``job`` now (the Resume button, ``jobs resume``)."""
    return resume_refusal(job) is None


def resume_job(job_id: str, *, store: Store, actor: str) -> str:
    """Make a paused (or abandoned) job runnable again; then run it with ``run_job`` or in the
    background. Returns the state it is left in ('pending', or 'cancelling' to finish a cancel)."""
    with store.transaction():
        job = _job(store, job_id)
        state = job["state"]
        refusal = resume_refusal(job)
        if refusal:
            raise JobError(refusal)
        if state == JobState.PAUSED:
            store.set_job_state(job_id, JobState.PENDING)
            state = JobState.PENDING
        store.audit(
            actor,
            AuditAction.JOB_RESUME,
            mode=job["mode"],
            target_type="job",
            target_ids=[job_id],
            job_id=job_id,
        )
    return state


def cancel_job(job_id: str, *, store: Store, actor: str) -> str:
    """Cancel a job: no new items are sent; in-flight ones finish; the rest end 'skipped'.

    Returns the job's state afterwards: 'cancelled' when it could be finished right away, or
    'cancelling' when a runner must finish it (a live runner does so by itself; a job whose
    runner died with items in flight needs ``run_job`` to reconcile those first).
    """
    with store.transaction():
        job = _job(store, job_id)
        state = job["state"]
        if state in JOB_FINAL_STATES:
            if state == JobState.CANCELLED:
                return state
            raise JobError(
                Message("job {job_id} is already {state}", job_id=job_id, state=Message(state))
            )
        store.audit(
            actor,
            AuditAction.JOB_CANCEL,
            mode=job["mode"],
            target_type="job",
            target_ids=[job_id],
            job_id=job_id,
        )
        if _live_runner(job) or store.items_in_state(job_id, ItemState.SENDING):
            store.set_job_state(job_id, JobState.CANCELLING)
            return JobState.CANCELLING
        skipped = _skip_pending(store, job_id, f"cancelled by {actor}")
        store.set_job_state(job_id, JobState.CANCELLED)
        store.audit(
            actor,
            AuditAction.JOB_CANCELLED,
            mode=job["mode"],
            target_type="job",
            target_ids=[job_id],
            job_id=job_id,
            details={ItemState.SKIPPED: skipped},
        )
    return JobState.CANCELLED


def _skip_pending(store: Store, job_id: str, message: str) -> int:
    pending = store.items_in_state(job_id, ItemState.PENDING)
    with store.transaction():
        for item in pending:
            store.finish_item(job_id, item["seq"], ItemState.SKIPPED, message=message)
    return len(pending)


def _store_and_mode(runtime, store: Store | None, mode) -> tuple[Store, Mode]:
    if runtime is not None:
        return (store or runtime.store), runtime.mode
    if store is None or mode is None:
        raise JobError(Message("give a runtime, or a store and a mode"))
    return store, Mode(str(mode))
