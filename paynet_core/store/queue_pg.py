"""The PostgreSQL side of distributed workers, beside the queue PgQueuer keeps there.

Four small tables, each a few statements, all on the database the workers share:

* ``paynet_rate_bucket``: one row per provider account, the "theoretical arrival time" of a
  token bucket (GCRA) on the *database's* clock, so workers on machines whose clocks disagree
  still pace as one. A reservation is one ``UPDATE ... RETURNING`` (atomic, no lock held while
  waiting); a 429 pushes the row's time forward, which slows every worker at once.
* ``paynet_workers``: which queue manager is which process (host, pid) and when it was last seen,
  so ``paynet-ops jobs list`` can say who holds which chunk.
* ``paynet_schedule``: when a periodic task (the cache sync) is next due; claiming it is one
  atomic statement, so one worker runs each period. An advisory lock keeps runs from overlapping.
* ``paynet_queued_jobs``: the jobs handed to the queue and their chunk size, so a worker's sweep
  can put back a chunk that should be queued and is not (see :func:`paynet_core.workers.queue.
  requeue_stranded`).

Functions take a psycopg ``AsyncConnection`` in autocommit mode.
"""

from __future__ import annotations

import json
from typing import Any

from psycopg import AsyncConnection, sql

#: ``pg_try_advisory_lock`` keys: (our namespace, task).
_LOCK_NAMESPACE = 0x70AE7
_SCHEMA_LOCK = 1

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS paynet_rate_bucket (
           name text PRIMARY KEY,
           tat_us bigint NOT NULL DEFAULT 0)""",
    """CREATE TABLE IF NOT EXISTS paynet_workers (
           queue_manager_id uuid PRIMARY KEY,
           host text NOT NULL,
           pid integer NOT NULL,
           concurrency integer NOT NULL,
           started_at timestamptz NOT NULL DEFAULT now(),
           seen_at timestamptz NOT NULL DEFAULT now())""",
    """CREATE TABLE IF NOT EXISTS paynet_schedule (
           name text PRIMARY KEY,
           next_run_at timestamptz NOT NULL,
           last_run_by text)""",
    """CREATE TABLE IF NOT EXISTS paynet_queued_jobs (
           job_id text PRIMARY KEY,
           chunk_size integer NOT NULL,
           handed_at timestamptz NOT NULL DEFAULT now())""",
)


async def install(conn: AsyncConnection) -> None:
    """Create the tables (idempotent; serialised by an advisory lock so workers may race)."""
    await conn.execute("SELECT pg_advisory_lock(%s, %s)", (_LOCK_NAMESPACE, _SCHEMA_LOCK))
    try:
        for statement in _SCHEMA:
            await conn.execute(statement)
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s, %s)", (_LOCK_NAMESPACE, _SCHEMA_LOCK))


# -- the shared rate ---------------------------------------------------------------------------

_RESERVE = """
INSERT INTO paynet_rate_bucket AS b (name, tat_us)
VALUES (%(name)s, (extract(epoch FROM clock_timestamp()) * 1e6)::bigint + %(interval)s)
ON CONFLICT (name) DO UPDATE
   SET tat_us = GREATEST(b.tat_us, (extract(epoch FROM clock_timestamp()) * 1e6)::bigint)
                + %(interval)s
RETURNING b.tat_us - %(interval)s - (extract(epoch FROM clock_timestamp()) * 1e6)::bigint
          AS wait_us"""

_SLOW_DOWN = """
INSERT INTO paynet_rate_bucket AS b (name, tat_us)
VALUES (%(name)s, (extract(epoch FROM clock_timestamp()) * 1e6)::bigint + %(pause)s)
ON CONFLICT (name) DO UPDATE
   SET tat_us = GREATEST(b.tat_us, (extract(epoch FROM clock_timestamp()) * 1e6)::bigint
                                    + %(pause)s)"""


async def reserve_slot(conn: AsyncConnection, name: str, interval_us: int) -> float:
    """Take the bucket's next slot; returns the seconds to wait before using it (>= 0)."""
    cur = await conn.execute(_RESERVE, {"name": name, "interval": int(interval_us)})
    row = await cur.fetchone()
    return max(0.0, int(row[0]) / 1e6) if row else 0.0


async def slow_down(conn: AsyncConnection, name: str, pause_s: float) -> None:
    """No slot of the bucket before ``pause_s`` seconds from now, for every worker."""
    await conn.execute(_SLOW_DOWN, {"name": name, "pause": int(pause_s * 1e6)})


# -- who is who --------------------------------------------------------------------------------


async def register_worker(
    conn: AsyncConnection, queue_manager_id: str, host: str, pid: int, concurrency: int
) -> None:
    await conn.execute(
        """INSERT INTO paynet_workers (queue_manager_id, host, pid, concurrency)
           VALUES (%s, %s, %s, %s)
           ON CONFLICT (queue_manager_id) DO UPDATE SET seen_at = now()""",
        (queue_manager_id, host, pid, concurrency),
    )


async def worker_seen(conn: AsyncConnection, queue_manager_id: str) -> None:
    await conn.execute(
        "UPDATE paynet_workers SET seen_at = now() WHERE queue_manager_id = %s",
        (queue_manager_id,),
    )


async def forget_worker(conn: AsyncConnection, queue_manager_id: str) -> None:
    await conn.execute(
        "DELETE FROM paynet_workers WHERE queue_manager_id = %s", (queue_manager_id,)
    )


async def workers(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Registered workers, newest first, with the seconds since each was last seen."""
    cur = await conn.execute(
        """SELECT queue_manager_id::text AS worker_id, host, pid, concurrency, started_at,
                  extract(epoch FROM clock_timestamp() - seen_at)::float AS seen_s_ago
           FROM paynet_workers ORDER BY started_at DESC"""
    )
    names = [d.name for d in cur.description or ()]
    return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]


async def held_chunks(
    conn: AsyncConnection, queue_table: str, entrypoint: str
) -> list[dict[str, Any]]:
    """Chunks picked by a worker right now: the chunk (payload), the worker, its heartbeat age.
    ``entrypoint`` is a prefix (one entrypoint per mode)."""
    query = sql.SQL(
        """SELECT q.id, q.payload, q.attempts,
                  extract(epoch FROM clock_timestamp() - q.heartbeat)::float AS heartbeat_s_ago,
                  q.queue_manager_id::text AS worker_id, w.host, w.pid
           FROM {queue} q LEFT JOIN paynet_workers w USING (queue_manager_id)
           WHERE q.status = 'picked' AND q.entrypoint LIKE %s
           ORDER BY q.id"""
    ).format(queue=sql.Identifier(queue_table))
    cur = await conn.execute(query, (entrypoint + "%",))
    names = [d.name for d in cur.description or ()]
    rows = [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]
    for row in rows:
        row["chunk"] = json.loads(bytes(row.pop("payload") or b"{}"))
    return rows


async def queued_chunks(conn: AsyncConnection, queue_table: str, entrypoint: str) -> dict[str, int]:
    """How many chunks of each job wait in the queue (not yet picked)."""
    query = sql.SQL(
        "SELECT payload FROM {queue} WHERE status = 'queued' AND entrypoint LIKE %s"
    ).format(queue=sql.Identifier(queue_table))
    cur = await conn.execute(query, (entrypoint + "%",))
    counts: dict[str, int] = {}
    for (payload,) in await cur.fetchall():
        job_id = json.loads(bytes(payload or b"{}")).get("job_id", "?")
        counts[job_id] = counts.get(job_id, 0) + 1
    return counts


# -- jobs handed to the queue -----------------------------------------------------------------


async def remember_job(conn: AsyncConnection, job_id: str, chunk_size: int) -> None:
    await conn.execute(
        """INSERT INTO paynet_queued_jobs (job_id, chunk_size) VALUES (%s, %s)
           ON CONFLICT (job_id) DO UPDATE SET chunk_size = EXCLUDED.chunk_size""",
        (job_id, chunk_size),
    )


async def queued_jobs(conn: AsyncConnection) -> list[tuple[str, int]]:
    """``(job_id, chunk_size)`` of every job handed to the queue and not yet forgotten."""
    cur = await conn.execute(
        "SELECT job_id, chunk_size FROM paynet_queued_jobs ORDER BY handed_at, job_id"
    )
    return [(str(job_id), int(size)) for job_id, size in await cur.fetchall()]


async def forget_job(conn: AsyncConnection, job_id: str) -> None:
    await conn.execute("DELETE FROM paynet_queued_jobs WHERE job_id = %s", (job_id,))


# -- periodic tasks ----------------------------------------------------------------------------


async def claim_due(conn: AsyncConnection, name: str, every_s: float, worker: str) -> bool:
    """True for exactly one caller per period: the task is due, and now it is ours."""
    cur = await conn.execute(
        """INSERT INTO paynet_schedule AS s (name, next_run_at, last_run_by)
           VALUES (%(name)s, clock_timestamp() + make_interval(secs => %(every)s), %(by)s)
           ON CONFLICT (name) DO UPDATE
              SET next_run_at = clock_timestamp() + make_interval(secs => %(every)s),
                  last_run_by = %(by)s
              WHERE s.next_run_at <= clock_timestamp()
           RETURNING name""",
        {"name": name, "every": float(every_s), "by": worker},
    )
    return await cur.fetchone() is not None


async def try_lock(conn: AsyncConnection, task: int) -> bool:
    cur = await conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (_LOCK_NAMESPACE, task))
    row = await cur.fetchone()
    return bool(row and row[0])


async def unlock(conn: AsyncConnection, task: int) -> None:
    await conn.execute("SELECT pg_advisory_unlock(%s, %s)", (_LOCK_NAMESPACE, task))
