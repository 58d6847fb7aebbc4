"""Who runs a job, and which jobs may not run side by side.

A runner owns its job: it writes its pid and a heartbeat. ``run_job`` refuses a job whose
runner is alive; a job whose runner died (dead pid or a stale heartbeat) is taken over, and
``resume_stale_jobs`` does that for every such job (e.g. when the dashboard starts). A runner
that stops cleanly sets ``runner_pid`` to 0 ("no runner").

Two jobs never touch the same invoice at once: ``start_job`` refuses a plan that overlaps the
unfinished items of an active job (pending, running, paused or cancelling) and names the job and
the invoices. An ``invoices_status_update_all`` item counts as touching every invoice of its
subscription, and a new invoice for a subscription counts as touching that subscription.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime

from .. import dates
from ..config import Mode
from ..errors import JobConflictError, JobError
from ..i18n import Message, _
from ..i18n.formats import format_count
from ..store import JOB_FINAL_STATES, Store
from ..vocab import ItemState, JobState
from .planner import SET_STATUS_ALL, Plan

log = logging.getLogger("paynet_core.jobs")

#: States of a job that may still send something: they block overlapping jobs.
ACTIVE_STATES = (JobState.PENDING, JobState.RUNNING, JobState.PAUSED, JobState.CANCELLING)
#: A runner writes a heartbeat this often (seconds) ...
HEARTBEAT_INTERVAL = 1.0
#: ... and one silent for this long is presumed dead, even if its pid still exists.
STALE_AFTER = 30.0
#: ``runner_pid`` of a job nobody runs.
NO_RUNNER = 0

_running: set[str] = set()  # jobs run by this process right now
_running_lock = threading.Lock()


def live_runner(store: Store, job_id: str) -> str | None:
    """Who runs the job right now ('this process' or 'process N ...'), or None."""
    return _live_runner(_job(store, job_id))


def _job(store: Store, job_id: str) -> dict:
    job = store.job(job_id)
    if job is None:
        raise JobError(Message("no job {job_id}", job_id=job_id))
    return job


def _take_over(store: Store, job_id: str) -> dict | None:
    """Become the job's runner (atomically); None when the job has nothing left to do."""
    with store.transaction():
        job = _job(store, job_id)
        state = job["state"]
        if state in JOB_FINAL_STATES:
            return None
        if state == JobState.PAUSED:
            raise JobError(
                Message(
                    "job {job_id} is paused; resume it first (paynet-ops jobs resume {job_id})",
                    job_id=job_id,
                )
            )
        live = _live_runner(job)
        if live:
            raise JobError(
                Message("job {job_id} is already being run by {who}", job_id=job_id, who=live)
            )
        store.set_job_state(
            job_id,
            JobState.CANCELLING if state == JobState.CANCELLING else JobState.RUNNING,
            runner_pid=os.getpid(),
        )
        store.job_heartbeat(job_id, os.getpid())
        with _running_lock:
            _running.add(job_id)
        return store.job(job_id)


def _let_go(store: Store, job_id: str) -> None:
    with _running_lock:
        _running.discard(job_id)
    try:
        with store.transaction():
            job = store.job(job_id)
            if job is not None and job["runner_pid"] == os.getpid():
                store.set_job_state(job_id, job["state"], runner_pid=NO_RUNNER)
    except Exception:  # the store may be gone (a crash on the way out); a stale pid is harmless
        log.warning("job %s: could not clear runner_pid", job_id, exc_info=True)


def _live_runner(job: dict, stale_after: float = STALE_AFTER) -> str | None:
    pid = job.get("runner_pid")
    if not pid:
        return None
    if pid == os.getpid():
        with _running_lock:
            return _("this process") if job["job_id"] in _running else None
    if not _pid_alive(pid):
        return None
    beat = job.get("heartbeat_at")
    if not beat:
        return None
    age = (dates.now() - datetime.fromisoformat(beat)).total_seconds()
    if age >= stale_after:
        return None
    return _("process {pid} (heartbeat {age} s ago)", pid=pid, age=round(age))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child not yet reaped is a zombie: dead for our purposes
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


# ----------------------------------------------------------------------------------------------
# Overlapping jobs
# ----------------------------------------------------------------------------------------------


@dataclass
class _Touches:
    # An invoice may be named by its number, its id, or both: each key maps to one display name,
    # so an invoice matches on either and is counted once.
    invoices: dict[str, str] = field(default_factory=dict)
    subscriptions: set[str] = field(default_factory=set)  # subscriptions of the invoices touched
    sweeps: set[str] = field(default_factory=set)  # subscriptions swept whole

    def add(self, operation: str, payload: dict) -> None:
        if operation == SET_STATUS_ALL:
            self.sweeps.add(payload["subscription_id"])
            self.subscriptions.add(payload["subscription_id"])
            for e in payload["invoices"]:
                self._add_invoice(e)
            return
        self._add_invoice(payload)
        for name in ("subscription_id", "reference_no"):
            if payload.get(name):
                self.subscriptions.add(str(payload[name]))

    def _add_invoice(self, payload: dict) -> None:
        no, invoice_id = payload.get("invoice_no"), payload.get("invoice_id")
        name = str(no) if no else f"invoice_id {invoice_id}"
        if no:
            self.invoices[f"no:{no}"] = name
        if invoice_id:
            self.invoices[f"id:{invoice_id}"] = name

    def overlap(self, other: _Touches) -> list[str]:
        found = {self.invoices[k] for k in self.invoices.keys() & other.invoices.keys()}
        found |= {f"all invoices of subscription {s}" for s in self.sweeps & other.subscriptions}
        found |= {f"all invoices of subscription {s}" for s in other.sweeps & self.subscriptions}
        return sorted(found)


def _conflict(store: Store, plan: Plan) -> JobConflictError | None:
    mine = _Touches()
    for call in plan.calls:
        mine.add(call.operation, call.payload)
    active = store.jobs(limit=100_000)
    for job in active[active["state"].isin(ACTIVE_STATES)].to_dict("records"):
        theirs = _Touches()
        for item in store.items_in_state(job["job_id"], ItemState.PENDING) + store.items_in_state(
            job["job_id"], ItemState.SENDING
        ):
            theirs.add(item["operation"], item["payload"])
        found = mine.overlap(theirs)
        if found:
            shown: str | Message = ", ".join(found[:5])
            if len(found) > 5:
                shown = Message("{shown} and {n} more", shown=shown, n=format_count(len(found) - 5))
            started = dates.format_display_datetime(datetime.fromisoformat(job["created_at"]))
            return JobConflictError(
                Message(
                    "refused: job {job_id} ({state}, started by {who} on {started}) has not "
                    "finished with {n} of these invoices ({shown}). Two jobs may not touch the "
                    "same invoices at once: wait for it to finish, or cancel it (Jobs page, or "
                    "paynet-ops jobs cancel {job_id}).",
                    job_id=job["job_id"],
                    state=Message(job["state"]),
                    who=job["created_by"],
                    started=started,
                    n=format_count(len(found)),
                    shown=shown,
                ),
                job_id=job["job_id"],
            )
    return None


def stale_jobs(store: Store, mode: Mode | str | None = None) -> list[str]:
    """Jobs (of ``mode``, if given) that should be running or finishing a cancel but whose
    runner is gone."""
    recent = store.jobs(limit=100_000)
    wanted = recent["state"].isin((JobState.RUNNING, JobState.CANCELLING))
    if mode is not None:
        wanted &= recent["mode"] == str(mode)
    ids = recent[wanted]["job_id"].tolist()
    return [job_id for job_id in ids if _live_runner(_job(store, job_id)) is None]
