"""Splitting a job into chunks and putting them on the queue.

A chunk is a range of item seqs, ``{"job_id", "lo", "hi"}``, with the dedupe key
``job_id:lo``: PgQueuer refuses a second copy while one is queued or picked, so enqueueing a
job again (resume, a repair after a crash, a cancel that must settle items in flight) adds only
the chunks that are not already waiting or running. A chunk whose items are all final ends at
once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from pgqueuer import Queries

from ..errors import JobError
from ..store import JOB_FINAL_STATES, Store, queue_pg
from ..vocab import AuditAction, JobState, spellings

log = logging.getLogger("paynet_core.workers")

#: The queue's entrypoint for a chunk of a bulk job, one per mode (``paynet.chunk.live``): a
#: worker takes only chunks of jobs planned for the provider account it talks to.
ENTRYPOINT = "paynet.chunk"


def entrypoint_for(mode: str) -> str:
    return f"{ENTRYPOINT}.{mode}"


#: Items per chunk: small enough that several workers share a job and a dead worker's chunk is
#: a short reconcile, large enough that the queue is not the bottleneck.
CHUNK_SIZE = 50


def chunk_ranges(total: int, size: int = CHUNK_SIZE) -> list[tuple[int, int]]:
    """``[(1, size), (size + 1, 2 size), ...]`` covering seqs 1..total."""
    if size < 1:
        raise ValueError("chunk size must be at least 1")
    return [(lo, min(lo + size - 1, total)) for lo in range(1, total + 1, size)]


@asynccontextmanager
async def connect(url: str) -> AsyncIterator[psycopg.AsyncConnection]:
    """An autocommit connection to the queue's database (what PgQueuer's driver requires)."""
    try:
        conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    except psycopg.Error as err:
        raise JobError(f"cannot reach the job queue's database: {_one_line(err)}") from err
    try:
        yield conn
    finally:
        await conn.close()


async def install(conn: psycopg.AsyncConnection) -> Queries:
    """PgQueuer's schema and ours, created once (safe when many processes start together)."""
    queries = Queries.from_psycopg_connection(conn)
    async with queries.schema_lock():
        if not await queries.schema_is_installed():
            await queries.install()
    await queue_pg.install(conn)
    return queries


def _unreviewed_first_batch(store: Store, job: dict) -> bool:
    if not job["options"].get("first_batch"):
        return False
    return all(
        store.audit_rows(job_id=job["job_id"], action=spelled, limit=1).empty
        for spelled in spellings(AuditAction.JOB_REVIEW_PAUSE)
    )


async def enqueue_job(url: str, store: Store, job_id: str, *, size: int = CHUNK_SIZE) -> int:
    """Put the chunks of ``job_id`` on the queue; returns how many were new.

    A job whose first batch still awaits review gets only its first chunk (the runner pauses it
    after ``first_batch`` items, as on one machine); after the review every chunk goes on.
    """
    async with connect(url) as conn:
        queries = await install(conn)
        return await put_chunks(queries, conn, store, job_id, size=size)


async def put_chunks(
    queries: Queries,
    conn: psycopg.AsyncConnection,
    store: Store,
    job_id: str,
    *,
    size: int = CHUNK_SIZE,
    unfinished_only: bool = False,
) -> int:
    """:func:`enqueue_job` on an open connection; with ``unfinished_only``, only the chunks
    that still have an item pending or sending (what a sweep puts back)."""
    job = store.job(job_id)
    if job is None:
        raise JobError(f"no job {job_id}")
    ranges = chunk_ranges(int(job["total"]), size)
    if _unreviewed_first_batch(store, job):
        ranges = ranges[:1]
    if unfinished_only:
        open_chunks = store.unfinished_chunks(job_id, size)
        ranges = [(lo, hi) for lo, hi in ranges if lo in open_chunks]
    if not ranges:
        return 0
    await queue_pg.remember_job(conn, job_id, size)
    ids = await queries.enqueue(
        [entrypoint_for(str(job["mode"]))] * len(ranges),
        [json.dumps({"job_id": job_id, "lo": lo, "hi": hi}).encode() for lo, hi in ranges],
        [0] * len(ranges),
        dedupe_key=[f"{job_id}:{lo}" for lo, _ in ranges],
        on_conflict="skip",
    )
    return sum(1 for i in ids if i is not None)


async def requeue_stranded(queries: Queries, conn: psycopg.AsyncConnection, store: Store) -> int:
    """Put back on the queue every chunk that should be there and is not; how many.

    Enqueueing is refused while a copy of a chunk is queued or picked (the dedupe key), and
    PgQueuer lets go of a finished chunk a moment after its handler returns. So a resume
    pressed right after a pause can find the paused chunks still held, add nothing, and leave
    the job waiting forever. Workers run this sweep every few seconds: for each job handed to
    the queue that may still run (pending, running or cancelling), the chunks with items left
    go on again; those still queued or held are skipped by their dedupe key. A finished or
    deleted job is forgotten.
    """
    added = 0
    for job_id, size in await queue_pg.queued_jobs(conn):
        job = store.job(job_id)
        if job is None or job["state"] in JOB_FINAL_STATES:
            await queue_pg.forget_job(conn, job_id)
            continue
        if job["state"] == JobState.PAUSED:
            continue
        n = await put_chunks(queries, conn, store, job_id, size=size, unfinished_only=True)
        if n:
            log.info("job %s: %d chunk(s) put back on the queue", job_id, n)
        added += n
    return added


def enqueue_job_now(url: str, store: Store, job_id: str, *, size: int = CHUNK_SIZE) -> int:
    """:func:`enqueue_job` from code that has no event loop (the dashboard, the CLI)."""
    return asyncio.run(enqueue_job(url, store, job_id, size=size))


def _one_line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
