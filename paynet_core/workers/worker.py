"""``paynet-ops worker``: takes chunks of bulk jobs from the queue and runs them.

Any number of workers on any machines that reach the database and the provider. PgQueuer hands
each chunk to one worker and keeps a heartbeat on it; a worker that dies (SIGKILL, a lost
machine) stops beating and its chunks are picked again by the others after
``heartbeat_timeout``, where they resume from the journal. Every request of every worker takes a
slot of the one shared rate (:mod:`.shared_rate`). With ``PAYNET_OPS_SYNC_EVERY`` set, workers
also run the cache sync: one worker per period, never two at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
from collections.abc import Callable
from datetime import timedelta

from pgqueuer import Queries, QueueManager, RetryRequested
from pgqueuer.models import Job

from ..errors import JobError, PaynetOpsError, reason
from ..jobs.clients import ClientFactory, paynet_clients
from ..store import queue_pg
from .chunk import run_chunk
from .queue import connect, entrypoint_for, install, requeue_stranded
from .shared_rate import SharedRateLimiter, bucket_name

log = logging.getLogger("paynet_core.workers")

#: A worker silent this long (seconds) loses its chunks to the others. Shorter means a faster
#: takeover, but a worker whose event loop is blocked that long (a store write waiting for the
#: SQLite lock on a loaded machine) loses a chunk it still runs: safe (the journal refuses the
#: second result, the chunk runs again and reconciles) but wasted work.
HEARTBEAT_TIMEOUT = 4.0
#: Chunks a worker holds per chunk it runs (see ``slots`` in :func:`run_worker`).
HELD_PER_SLOT = 2
#: How often an idle worker looks for stale chunks and new work (seconds).
DEQUEUE_TIMEOUT = 1.0
#: How often the registry row is refreshed, and the sync schedule looked at (seconds).
SEEN_EVERY = 2.0
#: Advisory-lock task numbers of the scheduled sync and of the sweep (one worker at a time).
SYNC_TASK = 2
SWEEP_TASK = 3
#: Tries per request of a worker's clients, and the seconds of waiting between them: a worker is a
#: batch process, more patient with a flaky provider than a page click (a status change sent
#: twice leaves the same state; creations keep their own exactly-once budget).
WORKER_TRIES = 10
WORKER_RETRY_WAIT = 30.0
#: A failed chunk (a bug, the store unreachable) goes back on the queue after this delay.
RETRY_DELAY = timedelta(seconds=2)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def run_worker(
    runtime,
    *,
    concurrency: int = 2,
    heartbeat_timeout: float = HEARTBEAT_TIMEOUT,
    client_factory: ClientFactory | None = None,
    stop: asyncio.Event | None = None,
    sync: Callable[[], object] | None = None,
) -> None:
    """Run chunks until ``stop`` is set (or SIGTERM/SIGINT). ``sync`` overrides the scheduled
    task (default: :func:`paynet_core.ops.sync.sync_all` on the runtime)."""
    settings = runtime.settings
    url = settings.queue_url
    if not url:
        raise JobError(
            "no job queue is configured: set PAYNET_OPS_QUEUE (or PAYNET_OPS_DB) to a "
            "postgresql:// URL shared by the dashboards and the workers"
        )
    if concurrency < 2:
        raise JobError("--concurrency must be at least 2 (PgQueuer's smallest batch rule)")
    store, mode = runtime.store, runtime.mode.value
    factory = client_factory or paynet_clients(
        runtime, max_retries=WORKER_TRIES - 1, max_retry_wait=WORKER_RETRY_WAIT
    )
    async with connect(url) as qconn, connect(url) as rate_conn, connect(url) as admin_conn:
        queries = await install(qconn)
        qm = QueueManager(queries)
        me = str(qm.queue_manager_id)
        await queue_pg.register_worker(
            admin_conn, me, socket.gethostname(), os.getpid(), concurrency
        )
        limiters: dict[float, SharedRateLimiter] = {}

        def limiter_for(rate: float) -> SharedRateLimiter | None:
            if not rate:
                return None
            if rate not in limiters:
                limiters[rate] = SharedRateLimiter(rate_conn, bucket_name(mode), rate)
            return limiters[rate]

        # PgQueuer hands a worker its next chunk only 0.5-1.5 s after a slot frees (seen with
        # PgQueuer 1.6 alone: 0.5 s jobs, two at a time, start on a one-second beat), which
        # idles a worker half the time at 40 ms a request. So it may hold one chunk more than
        # it runs per slot: the next one waits here, beating, and starts the moment a slot
        # frees. A worker that dies loses those to the others like any held chunk.
        slots = asyncio.Semaphore(concurrency)

        @qm.entrypoint(entrypoint_for(mode))
        async def chunk(job: Job) -> None:
            spec = json.loads(job.payload or b"{}")
            job_id, lo, hi = spec["job_id"], int(spec["lo"]), int(spec["hi"])
            row = store.job(job_id)
            if row is None:
                log.warning("chunk %s:%d-%d: the job is gone; dropped", job_id, lo, hi)
                return
            try:
                async with slots:
                    result = await run_chunk(
                        store,
                        job_id,
                        lo,
                        hi,
                        client_factory=factory,
                        limiter=limiter_for(float(row["options"].get("rate") or 0)),
                        mode=mode,
                    )
            except JobError as err:
                log.error("chunk %s:%d-%d refused: %s", job_id, lo, hi, reason(err))
                return
            except Exception as err:
                log.exception("chunk %s:%d-%d failed; back on the queue", job_id, lo, hi)
                raise RetryRequested(RETRY_DELAY, reason(err)) from err
            log.info(
                "chunk %s:%d-%d (attempt %d): job %s, %d left%s",
                job_id,
                lo,
                hi,
                job.attempts + 1,
                result.state,
                result.left,
                f" ({result.note})" if result.note else "",
            )

        done = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, done.set)

        async def housekeeping() -> None:
            sweeper = Queries.from_psycopg_connection(admin_conn)
            while not done.is_set():
                await queue_pg.worker_seen(admin_conn, me)
                await _sweep(sweeper, admin_conn, store)
                if settings.sync_every:
                    await _maybe_sync(admin_conn, settings.sync_every, runtime, sync)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), SEEN_EVERY)
            qm.shutdown.set()

        log.info("worker %s (%s) started, %d chunks at once", worker_name(), me, concurrency)
        keeper = asyncio.create_task(housekeeping())
        try:
            await qm.run(
                dequeue_timeout=timedelta(seconds=DEQUEUE_TIMEOUT),
                batch_size=1,
                max_concurrent_tasks=concurrency * HELD_PER_SLOT,
                heartbeat_timeout=timedelta(seconds=heartbeat_timeout),
            )
        finally:
            done.set()
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await keeper
            with contextlib.suppress(Exception):
                await queue_pg.forget_worker(admin_conn, me)
        log.info("worker %s stopped", worker_name())


async def _sweep(queries: Queries, conn, store) -> None:
    """Chunks that should be queued and are not go back on (one worker at a time)."""
    if not await queue_pg.try_lock(conn, SWEEP_TASK):
        return
    try:
        await requeue_stranded(queries, conn, store)
    except PaynetOpsError as err:
        log.error("sweep failed: %s", reason(err))
    except Exception:  # the next round tries again; housekeeping must go on
        log.exception("sweep failed")
    finally:
        await queue_pg.unlock(conn, SWEEP_TASK)


async def _maybe_sync(conn, every: float, runtime, sync: Callable[[], object] | None) -> None:
    """The cache sync, when this period's turn is ours and no other worker is still syncing."""
    if not await queue_pg.try_lock(conn, SYNC_TASK):
        return
    try:
        if not await queue_pg.claim_due(conn, "sync", every, worker_name()):
            return
        log.info("scheduled sync: starting")
        task = sync or _default_sync(runtime)
        try:
            await asyncio.to_thread(task)
        except PaynetOpsError as err:
            log.error("scheduled sync failed: %s", reason(err))
        except Exception:
            log.exception("scheduled sync failed")
        else:
            log.info("scheduled sync: done")
    finally:
        await queue_pg.unlock(conn, SYNC_TASK)


def _default_sync(runtime) -> Callable[[], object]:
    from ..ops.sync import sync_all

    return lambda: sync_all(runtime, actor=f"worker:{worker_name()}")
