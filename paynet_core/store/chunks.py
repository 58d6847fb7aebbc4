"""A job's items by seq range: what a distributed worker's chunk claims and settles.

With a queue, several workers share one job, each holding a chunk (a range of item seqs). A
chunk taken over from a dead worker must reconcile only the items *that* worker left in
'sending', never the in-flight items of a live worker in another chunk: hence the range.
Same semantics as :meth:`JournalMixin.claim_items` / ``items_in_state``, one range narrower.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .journal import _decode_item
from .rows import _check_choice
from .schema import ITEM_STATES

if TYPE_CHECKING:
    from .db import StoreBase as _StoreBase
else:
    _StoreBase = object


class ChunksMixin(_StoreBase):
    """``job_items`` within ``lo <= seq <= hi``."""

    def claim_range_items(self, job_id: str, lo: int, hi: int, n: int) -> list[dict]:
        """Move up to ``n`` pending items with ``lo <= seq <= hi`` to 'sending' (lowest seq
        first), committed before returning; concurrent claimers never get the same item."""
        with self.transaction() as db:
            cursor = db.conn.execute(
                """UPDATE job_items
                   SET state = 'sending', attempts = attempts + 1, started_at = ?,
                       finished_at = NULL
                   WHERE job_id = ? AND seq IN (
                       SELECT seq FROM job_items
                       WHERE job_id = ? AND state = 'pending' AND seq BETWEEN ? AND ?
                       ORDER BY seq LIMIT ?)
                   RETURNING *""",
                (self._now(), job_id, job_id, lo, hi, n),
            )
            names = [d[0] for d in cursor.description]
            claimed = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        return sorted((_decode_item(r) for r in claimed), key=lambda r: r["seq"])

    def range_items_in_state(self, job_id: str, lo: int, hi: int, state: str) -> list[dict]:
        """Items of a job in one state within a seq range, payloads decoded."""
        _check_choice("state", state, ITEM_STATES)
        rows = self._rows(
            """SELECT * FROM job_items WHERE job_id = ? AND state = ? AND seq BETWEEN ? AND ?
               ORDER BY seq""",
            (job_id, state, lo, hi),
        )
        return [_decode_item(r) for r in rows]

    def range_unfinished(self, job_id: str, lo: int, hi: int) -> int:
        """How many items in the range are still pending or sending (0: the chunk is done)."""
        row = self._one(
            """SELECT COUNT(*) AS n FROM job_items WHERE job_id = ? AND seq BETWEEN ? AND ?
               AND state IN ('pending', 'sending')""",
            (job_id, lo, hi),
        )
        return int(row["n"]) if row else 0

    def unfinished_chunks(self, job_id: str, size: int) -> set[int]:
        """The first seq of every chunk of ``size`` items that still has an item pending or
        sending: the chunks a queue must still hold."""
        rows = self._rows(
            """SELECT DISTINCT ((seq - 1) / ?) * ? + 1 AS lo FROM job_items
               WHERE job_id = ? AND state IN ('pending', 'sending')""",
            (int(size), int(size), job_id),
        )
        return {int(r["lo"]) for r in rows}
