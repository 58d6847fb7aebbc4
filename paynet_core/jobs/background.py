"""Running jobs without Streamlit: a daemon thread, or a process of its own.

``run_job_in_background`` runs a job in a daemon thread with its own event loop;
``run_job_detached`` starts ``python -m paynet_core.cli jobs run JOB_ID`` (a process of its own,
so the job outlives a closed browser tab or a restarted dashboard). ``resume_stale_jobs`` starts
a runner for every job whose runner died.

With a job queue configured (PostgreSQL, :mod:`paynet_core.workers`), all three only enqueue
the job's chunks: ``paynet-ops worker`` processes run them, on this machine or any other.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import JobError
from ..store import Store
from ..vocab import AuditAction
from .control import JobSummary, job_summary
from .loop import run as run_loop
from .ownership import _job, stale_jobs
from .runner import run_job

log = logging.getLogger("paynet_core.jobs")


class JobThread(threading.Thread):
    """A daemon thread running one job on its own event loop; ``summary`` or ``error`` after."""

    def __init__(self, job_id: str, runtime=None, **run_options: Any):
        super().__init__(name=f"paynet-job-{job_id}", daemon=True)
        self.job_id = job_id
        self.runtime = runtime
        self.run_options = run_options
        self.summary: JobSummary | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            url = queue_of(self.runtime)
            if url:
                store = self.run_options.get("store") or self.runtime.store
                enqueue_chunks(url, store, self.job_id)
                self.summary = job_summary(store, self.job_id)
                return
            self.summary = run_loop(run_job(self.job_id, self.runtime, **self.run_options))
        except BaseException as exc:  # a thread has no caller to raise to: keep it and log it
            self.error = exc
            log.error(
                "job %s stopped: %s", self.job_id, exc, exc_info=not isinstance(exc, JobError)
            )


def queue_of(runtime) -> str | None:
    """The job queue's URL when workers run jobs (PostgreSQL), else None (this process does)."""
    settings = getattr(runtime, "settings", None)
    return getattr(settings, "queue_url", None)


def enqueue_chunks(url: str, store: Store, job_id: str) -> int:
    """Hand a job to the workers (its chunks not already queued or running); how many were new."""
    from ..workers.queue import enqueue_job_now

    added = enqueue_job_now(url, store, job_id)
    log.info("job %s: %d chunks enqueued", job_id, added)
    return added


def run_job_in_background(job_id: str, runtime=None, **run_options: Any) -> JobThread:
    """Run a job in a daemon thread of this process (it lives as long as the process does)."""
    thread = JobThread(job_id, runtime, **run_options)
    thread.start()
    return thread


def run_job_detached(
    job_id: str, runtime=None, *, log_dir: Path | None = None, extra_args: Iterable[str] = ()
) -> subprocess.Popen:
    """Run a job in a process of its own (``python -m paynet_core.cli jobs run JOB_ID``).

    It survives the dashboard being closed or restarted; its output goes to
    ``<cache dir>/jobs/<job_id>.log``. The child reads the same settings (environment and
    ``.streamlit/secrets.toml`` from the same working directory); the cache and sandbox paths
    of ``runtime`` are passed on explicitly.
    """
    env = dict(os.environ)
    if runtime is not None:
        s = runtime.settings
        env.update(
            PAYNET_OPS_MODE=s.mode.value,
            PAYNET_OPS_DB=(
                s.db_url.reveal() if s.db_url is not None else str(Path(s.db_path).resolve())
            ),
            PAYNET_OPS_SANDBOX_DB=str(Path(s.sandbox_db_path).resolve()),
            PAYNET_SANDBOX_FAULT_RATE=f"{s.sandbox_fault_rate:g}",
            PAYNET_SANDBOX_FAULTS=",".join(s.sandbox_faults),
        )
        # The child must reach the same endpoints, whatever file or object these came from.
        for name, url in (
            ("PAYNET_BASE_URL", s.paynet_base_url),
            ("PAYOFIN_BASE_URL", s.payofin_base_url),
        ):
            if url:
                env[name] = url
            else:
                env.pop(name, None)
        log_dir = log_dir or Path(s.db_path).resolve().parent / "jobs"
    log_dir = Path(log_dir or "data/jobs")
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / f"{job_id}.log", "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "paynet_core.cli", "jobs", "run", job_id, *extra_args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=os.getcwd(),
            start_new_session=True,
            close_fds=True,
        )


def resume_stale_jobs(
    runtime=None, *, store: Store | None = None, detached: bool = False, **run_options: Any
) -> list[str]:
    """Start a runner for every job whose runner died; returns their ids.

    Paused jobs stay paused (a person paused them), pending ones wait to be started.
    """
    store = store or runtime.store
    url = queue_of(runtime)
    if url:
        # Workers take a dead worker's chunks over by themselves; enqueueing again (deduped)
        # only repairs chunks that fell off the queue.
        active = store.jobs(limit=100_000)
        ids = active[active["state"].isin(("running", "cancelling"))]["job_id"].tolist()
        for job_id in ids:
            enqueue_chunks(url, store, job_id)
        return ids
    started = []
    for job_id in stale_jobs(store, runtime.mode if runtime is not None else None):
        store.audit(
            "system",
            AuditAction.JOB_RESUME,
            mode=_job(store, job_id)["mode"],
            target_type="job",
            target_ids=[job_id],
            job_id=job_id,
            details={"reason": "runner gone"},
        )
        if detached:
            run_job_detached(job_id, runtime)
        else:
            run_job_in_background(job_id, runtime, store=store, **run_options)
        started.append(job_id)
    return started
