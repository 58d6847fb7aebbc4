"""Who holds which chunk: what ``paynet-ops jobs list`` shows beside the jobs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ..store import queue_pg
from .queue import ENTRYPOINT, connect, install

#: PgQueuer's queue table (its default name; we do not configure another).
QUEUE_TABLE = "pgqueuer"


@dataclass(frozen=True)
class HeldChunk:
    job_id: str
    lo: int
    hi: int
    worker: str  # host:pid, or the queue manager id of a worker that never registered
    heartbeat_s_ago: float
    attempts: int


@dataclass(frozen=True)
class QueueView:
    held: list[HeldChunk]
    queued: dict[str, int]  # job_id -> chunks waiting
    workers: list[dict]  # registered workers: host, pid, concurrency, seen_s_ago


async def queue_view(url: str) -> QueueView:
    async with connect(url) as conn:
        await install(conn)
        rows = await queue_pg.held_chunks(conn, QUEUE_TABLE, ENTRYPOINT)
        queued = await queue_pg.queued_chunks(conn, QUEUE_TABLE, ENTRYPOINT)
        workers = await queue_pg.workers(conn)
    held = [
        HeldChunk(
            str(r["chunk"].get("job_id", "?")),
            int(r["chunk"].get("lo", 0)),
            int(r["chunk"].get("hi", 0)),
            f"{r['host']}:{r['pid']}" if r["host"] else str(r["worker_id"]),
            float(r["heartbeat_s_ago"]),
            int(r["attempts"]),
        )
        for r in rows
    ]
    return QueueView(held, queued, workers)


def queue_view_now(url: str) -> QueueView:
    return asyncio.run(queue_view(url))
