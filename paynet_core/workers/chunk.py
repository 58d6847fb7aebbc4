"""One chunk of a job: the job runner's machinery, restricted to the chunk's seq range.

The job has no single owner here (``runner_pid`` stays unset): each chunk's runner reconciles
the items *its range* left in 'sending' (a dead worker's), claims the range's pending items,
and re-reads the job's state as often as the one-machine runner does, so a pause, resume or
cancel from any dashboard reaches it within a poll. Whichever chunk settles the job's last item
moves the job to done (or finishes a cancel); a breaker in any chunk pauses the whole job.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from ..errors import JobError
from ..http.ratelimit import Limiter, RateLimitedTransport
from ..jobs.clients import ClientFactory, _skip_missing_sniffio
from ..jobs.control import DEFAULT_CONCURRENCY
from ..jobs.ownership import HEARTBEAT_INTERVAL
from ..jobs.runner import POLL_INTERVAL, _Runner
from ..store import JOB_FINAL_STATES, Store

log = logging.getLogger("paynet_core.workers")


@dataclass(frozen=True)
class ChunkResult:
    job_id: str
    lo: int
    hi: int
    state: str  # the job's state when the chunk ended
    left: int  # items of the range still pending or sending
    note: str | None = None


async def run_chunk(
    store: Store,
    job_id: str,
    lo: int,
    hi: int,
    *,
    client_factory: ClientFactory,
    limiter: Limiter | None,
    mode: str | None = None,
    concurrency: int | None = None,
    poll_interval: float = POLL_INTERVAL,
) -> ChunkResult:
    """Work the items ``lo..hi`` of ``job_id`` until they are final or the job stops."""
    job = _enter(store, job_id, mode)
    if job is None:
        current = store.job(job_id) or {"state": "gone"}
        return ChunkResult(job_id, lo, hi, current["state"], store.range_unfinished(job_id, lo, hi))
    workers = int(concurrency or job["options"].get("concurrency") or DEFAULT_CONCURRENCY)
    _skip_missing_sniffio()
    clients = [client_factory(lambda t: RateLimitedTransport(t, limiter)) for _ in range(workers)]
    try:
        runner = _Runner(
            store, job, clients, None, poll_interval, HEARTBEAT_INTERVAL, seq_range=(lo, hi)
        )
        await runner.run()
    finally:
        await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)
    state = (store.job(job_id) or {"state": "gone"})["state"]
    return ChunkResult(job_id, lo, hi, state, store.range_unfinished(job_id, lo, hi), runner.stop)


def _enter(store: Store, job_id: str, mode: str | None) -> dict | None:
    """The job to work on, moved to 'running' if it was pending; None when it must not run
    (finished, or paused: a resume puts its chunks back on the queue)."""
    with store.transaction():
        job = store.job(job_id)
        if job is None:
            raise JobError(f"no job {job_id}")
        if mode is not None and job["mode"] != mode:
            raise JobError(
                f"job {job_id} was planned for {job['mode']}; this worker talks to {mode}"
            )
        if job["state"] in JOB_FINAL_STATES or job["state"] == "paused":
            return None
        if job["state"] == "pending":
            store.set_job_state(job_id, "running")
        return store.job(job_id)
