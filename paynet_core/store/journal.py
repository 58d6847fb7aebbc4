"""The job journal: bulk jobs and their items, claimed, settled and counted.

Every state change is committed before the runner acts on it, so a crash leaves a visible
trail: an item left 'sending' must be checked with the provider before it is sent again.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import MAX_ERROR_MESSAGE, StoreError, clip_opt
from ..vocab import ItemState, JobState
from .rows import _check_choice, _json, _opt_int
from .schema import (
    ITEM_FINAL_STATES,
    ITEM_OPERATIONS,
    ITEM_STATES,
    JOB_FINAL_STATES,
    JOB_KINDS,
    JOB_STATES,
    MODES,
)
from .statements import insert_rows

if TYPE_CHECKING:
    # Mixins only ever run as parts of Store; this lets mypy see the StoreBase helpers they use
    # without a runtime import (db -> migrations -> rollup would be circular).
    from .db import StoreBase as _StoreBase
else:
    _StoreBase = object

_FINISH_SENDING = """UPDATE job_items SET state = ?, provider_code = ?, message = ?, status_before = ?,
       status_after = ?, finished_at = ?
   WHERE job_id = ? AND seq = ? AND state = 'sending'"""


@dataclass(frozen=True)
class JobItem:
    """One planned request of a bulk job. ``target_key`` is the invoice_no or subscription_id."""

    operation: str
    target_key: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    source_row: int | None = None


# --------------------------------------------------------------------------------------------


class JournalMixin(_StoreBase):
    """``jobs`` and ``job_items``."""

    def create_job(
        self,
        kind: str,
        items: Iterable[JobItem | Mapping[str, Any]],
        *,
        created_by: str,
        mode: str,
        source_name: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> str:
        """Write a job and all its items (state 'pending') in one transaction; return its id."""
        _check_choice("kind", kind, JOB_KINDS)
        _check_choice("mode", str(mode), MODES)
        job_id = uuid.uuid4().hex[:12]
        rows = [_job_item_row(job_id, seq, item) for seq, item in enumerate(items, start=1)]
        with self.transaction() as db:
            insert_rows(
                db.conn,
                "jobs",
                [
                    {
                        "job_id": job_id,
                        "kind": kind,
                        "state": JobState.PENDING,
                        "created_by": created_by,
                        "created_at": self._now(),
                        "mode": str(mode),
                        "source_name": source_name,
                        "total": len(rows),
                        "options": _json("options", options or {}),
                    }
                ],
            )
            insert_rows(db.conn, "job_items", rows)
        return job_id

    def claim_items(self, job_id: str, n: int) -> list[dict]:
        """Move up to ``n`` pending items (lowest seq first) to 'sending' and return them.

        Committed before returning, so a crash after this point leaves the items visibly
        'sending': the runner must check with the provider before sending them again.
        Concurrent claimers never get the same item.
        """
        with self.transaction() as db:
            cursor = db.conn.execute(
                """UPDATE job_items
                   SET state = 'sending', attempts = attempts + 1, started_at = ?,
                       finished_at = NULL
                   WHERE job_id = ? AND seq IN (
                       SELECT seq FROM job_items WHERE job_id = ? AND state = 'pending'
                       ORDER BY seq LIMIT ?)
                   RETURNING *""",
                (self._now(), job_id, job_id, n),
            )
            names = [d[0] for d in cursor.description]
            claimed = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        return sorted((_decode_item(r) for r in claimed), key=lambda r: r["seq"])

    def finish_item(
        self,
        job_id: str,
        seq: int,
        state: str,
        provider_code: int | None = None,
        message: str | None = None,
        status_before: int | None = None,
        status_after: int | None = None,
    ) -> None:
        """Record an item's result. 'pending' puts it back in the queue (known not sent).

        Items already done, failed or skipped are final: changing them raises ``StoreError``,
        so a confused runner cannot overwrite a recorded result.
        """
        _check_choice("state", state, (ItemState.PENDING, *ITEM_FINAL_STATES))
        with self.transaction() as db:
            item = self._one(
                "SELECT state FROM job_items WHERE job_id = ? AND seq = ?", (job_id, seq)
            )
            if item is None:
                raise StoreError(f"job {job_id} has no item {seq}")
            if item["state"] in ITEM_FINAL_STATES:
                raise StoreError(f"item {seq} of job {job_id} is already {item['state']}")
            db.conn.execute(
                """UPDATE job_items SET state = ?, provider_code = ?, message = ?,
                       status_before = ?, status_after = ?, finished_at = ?
                   WHERE job_id = ? AND seq = ?""",
                (
                    state,
                    provider_code,
                    clip_opt(message, MAX_ERROR_MESSAGE),
                    _opt_int(status_before),
                    _opt_int(status_after),
                    None if state == ItemState.PENDING else self._now(),
                    job_id,
                    seq,
                ),
            )

    def finish_sending_items(self, rows: Sequence[tuple]) -> None:
        """Record the results of many items this runner holds in 'sending', in one statement;
        all or none.

        Each row is ``(state, provider_code, message, status_before, status_after,
        finished_at, job_id, seq)``. Refuses (``StoreError``) when any item is no longer
        'sending': another runner settled it, and its result stands.
        """
        with self.transaction() as db:
            changed = db.conn.executemany(_FINISH_SENDING, rows).rowcount if rows else 0
            if changed != len(rows):  # inside: the whole batch rolls back
                raise StoreError(
                    f"{len(rows) - changed} items were no longer in 'sending' "
                    "(another runner settled them)"
                )

    def job(self, job_id: str) -> dict | None:
        row = self._one("SELECT * FROM jobs WHERE job_id = ?", (job_id,))
        if row is not None:
            row["options"] = json.loads(row["options"])
        return row

    def jobs(self, limit: int = 50) -> pd.DataFrame:
        """Most recent jobs first."""
        # Same-instant jobs in the order they were written (PostgreSQL has no rowid: job_id).
        tiebreak = "rowid" if self.dialect == "sqlite" else "job_id"
        return self.query(
            f"SELECT * FROM jobs ORDER BY created_at DESC, {tiebreak} DESC LIMIT ?", (limit,)
        )

    def job_items(self, job_id: str, state: str | None = None) -> pd.DataFrame:
        if state is None:
            sql = "SELECT * FROM job_items WHERE job_id = ? ORDER BY seq"
            params: tuple[str, ...] = (job_id,)
        else:
            _check_choice("state", state, ITEM_STATES)
            sql = "SELECT * FROM job_items WHERE job_id = ? AND state = ? ORDER BY seq"
            params = (job_id, state)
        return self.query(sql, params)

    def items_in_state(self, job_id: str, state: str) -> list[dict]:
        """Items of a job in one state, payloads decoded (e.g. 'sending' after a crash)."""
        _check_choice("state", state, ITEM_STATES)
        rows = self._rows(
            "SELECT * FROM job_items WHERE job_id = ? AND state = ? ORDER BY seq", (job_id, state)
        )
        return [_decode_item(r) for r in rows]

    def job_progress(self, job_id: str) -> dict[str, int]:
        """``{'total': n, 'pending': .., 'sending': .., 'done': .., 'failed': .., 'skipped': ..}``."""
        job = self._one("SELECT total FROM jobs WHERE job_id = ?", (job_id,))
        if job is None:
            raise StoreError(f"no job {job_id}")
        counts = {str(state): 0 for state in ITEM_STATES}  # plain keys: rows and JSON alike
        rows = self.db.conn.execute(
            "SELECT state, COUNT(*) FROM job_items WHERE job_id = ? GROUP BY state", (job_id,)
        )
        counts.update(dict(rows.fetchall()))
        return {"total": job["total"], **counts}

    def jobs_progress(self, job_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """:meth:`job_progress` of many jobs in one query per 500 ids (a page listing jobs);
        ids of no job are left out."""
        out: dict[str, dict[str, int]] = {}
        ids = list(dict.fromkeys(job_ids))
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = self.db.conn.execute(
                f"""SELECT j.job_id, j.total, i.state, COUNT(i.seq)
                    FROM jobs j LEFT JOIN job_items i ON i.job_id = j.job_id
                    WHERE j.job_id IN ({marks})
                    GROUP BY j.job_id, j.total, i.state""",
                chunk,
            )
            for job_id, total, state, n in rows.fetchall():
                counts = out.setdefault(job_id, {"total": total, **dict.fromkeys(ITEM_STATES, 0)})
                if state is not None:
                    counts[state] = n
        return out

    def set_job_state(self, job_id: str, state: str, *, runner_pid: int | None = None) -> None:
        """Move a job to ``state``; 'running' stamps started_at once, final states finished_at.

        A job that is cancelled, done or failed stays so.
        """
        _check_choice("state", state, JOB_STATES)
        with self.transaction() as db:
            job = self._one("SELECT state FROM jobs WHERE job_id = ?", (job_id,))
            if job is None:
                raise StoreError(f"no job {job_id}")
            if job["state"] in JOB_FINAL_STATES and job["state"] != state:
                raise StoreError(f"job {job_id} is already {job['state']}")
            now = self._now()
            db.conn.execute(
                """UPDATE jobs SET state = :state,
                       started_at = CASE WHEN :state = 'running'
                                         THEN COALESCE(started_at, :now) ELSE started_at END,
                       finished_at = CASE WHEN :final THEN COALESCE(finished_at, :now)
                                          ELSE finished_at END,
                       runner_pid = COALESCE(:pid, runner_pid)
                   WHERE job_id = :job_id""",
                {
                    "state": state,
                    "now": now,
                    "final": state in JOB_FINAL_STATES,
                    "pid": runner_pid,
                    "job_id": job_id,
                },
            )

    def job_heartbeat(self, job_id: str, runner_pid: int | None = None) -> None:
        """A runner's sign of life; a stale heartbeat means the runner died."""
        with self.transaction() as db:
            db.conn.execute(
                """UPDATE jobs SET heartbeat_at = ?, runner_pid = COALESCE(?, runner_pid)
                   WHERE job_id = ?""",
                (self._now(), runner_pid, job_id),
            )


def _job_item_row(job_id: str, seq: int, item: JobItem | Mapping[str, Any]) -> dict:
    if isinstance(item, Mapping):
        item = JobItem(**item)
    _check_choice("operation", item.operation, ITEM_OPERATIONS)
    if not item.target_key:
        raise StoreError(f"job item {seq} has no target_key")
    return {
        "job_id": job_id,
        "seq": seq,
        "operation": item.operation,
        "target_key": str(item.target_key),
        "payload": _json("payload", item.payload),
        "state": ItemState.PENDING,
        "attempts": 0,
        "source_row": item.source_row,
    }


def _decode_item(row: dict) -> dict:
    return {**row, "payload": json.loads(row["payload"])}
