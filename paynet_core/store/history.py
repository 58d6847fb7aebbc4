"""Status changes we caused (an action or a job), with their history rows; and the histories.

The invoice row, its history row and its rollup share are written in one transaction. An
invoice not in the cache yet still gets its history row (old_status NULL), because the change
happened at Paynet whatever the cache knows; the next sync fills in the invoice. Setting the
status an invoice already has records nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from ..paynet.models import InvoiceStatus
from .rollup import LOOKUP_CHUNK, keeping_rollup
from .rows import _check_choice, _history, _payment_id, _status
from .schema import HISTORY_SOURCES
from .statements import insert_rows

if TYPE_CHECKING:
    # Mixins only ever run as parts of Store; this lets mypy see the StoreBase helpers they use
    # without a runtime import (db -> migrations -> rollup would be circular).
    from .db import StoreBase as _StoreBase
else:
    _StoreBase = object

_SET_STATUS = """UPDATE invoices SET status = ?, status_label = ?, outcome = ?, updated_at = ?
    WHERE invoice_no = ?"""
_HISTORY = """INSERT INTO invoice_status_history
        (invoice_no, old_status, new_status, source, job_id, actor, observed_at)
    VALUES (?, ?, ?, ?, ?, ?, ?)"""


class HistoryMixin(_StoreBase):
    """Status changes and the ``*_status_history`` tables."""

    def record_status_change(
        self,
        invoice_no: str,
        new_status: InvoiceStatus | int | str,
        *,
        source: str,
        actor: str | None,
        job_id: str | None = None,
    ) -> InvoiceStatus | None:
        """Record a status change we caused; returns the status the cache held before.

        The invoice row and its history row are written together. An invoice not in the
        cache yet still gets its history row (old_status NULL), because the change happened
        at Paynet whatever the cache knows; the next sync fills in the invoice. Setting the
        status an invoice already has records nothing.
        """
        _check_choice("source", source, HISTORY_SOURCES)
        status = _status(new_status)
        with self.transaction() as db:
            now = self._now()
            old = self._one("SELECT status FROM invoices WHERE invoice_no = ?", (invoice_no,))
            before = None if old is None else InvoiceStatus(old["status"])
            if before == status:
                return before
            if old is not None:
                with keeping_rollup(db.conn, "invoice_no", [invoice_no], self.rollup_levels()):
                    db.conn.execute(
                        """UPDATE invoices SET status = ?, status_label = ?, outcome = ?,
                        updated_at = ? WHERE invoice_no = ?""",
                        (int(status), status.label, status.outcome.value, now, invoice_no),
                    )
            row = {"invoice_no": invoice_no, "status": int(status)}
            insert_rows(
                db.conn,
                "invoice_status_history",
                [_history(row, before, source, actor, job_id, now)],
            )
        return before

    def record_status_changes(
        self,
        changes: dict[str, int],
        *,
        source: str,
        actor: str | None,
        job_id: str | None,
        now: str | None = None,
    ) -> dict[str, int]:
        """:meth:`record_status_change` for many invoices at once, inside the caller's
        transaction (a job runner settles dozens per second: a handful of statements per
        batch instead of twenty per item). ``now`` lets the caller stamp its other journal
        rows alike. Returns the cached statuses before, by invoice."""
        _check_choice("source", source, HISTORY_SOURCES)
        with self.transaction() as db:
            now = now or self._now()
            conn = db.conn
            before: dict[str, int] = {}
            names = list(changes)
            for start in range(0, len(names), LOOKUP_CHUNK):
                chunk = names[start : start + LOOKUP_CHUNK]
                marks = ", ".join("?" * len(chunk))
                sql = f"SELECT invoice_no, status FROM invoices WHERE invoice_no IN ({marks})"
                before.update(conn.execute(sql, chunk).fetchall())
            updates, history = [], []
            for invoice_no, new in changes.items():
                old = before.get(invoice_no)
                if old == new:
                    continue
                status = _status(new)
                if invoice_no in before:
                    updates.append(
                        (int(status), status.label, status.outcome.value, now, invoice_no)
                    )
                history.append((invoice_no, old, int(status), source, job_id, actor, now))
            with keeping_rollup(conn, "invoice_no", [u[-1] for u in updates], self.rollup_levels()):
                conn.executemany(_SET_STATUS, updates)
            conn.executemany(_HISTORY, history)
        return before

    def invoice_history(self, invoice_no: str) -> pd.DataFrame:
        """Status changes of one invoice, oldest first, with labels for people."""
        return self.query(
            """SELECT h.id, h.invoice_no, h.old_status, o.label AS old_status_label,
                      h.new_status, n.label AS new_status_label, h.source, h.job_id, h.actor,
                      h.observed_at
               FROM invoice_status_history AS h
               LEFT JOIN invoice_statuses AS o ON o.status = h.old_status
               LEFT JOIN invoice_statuses AS n ON n.status = h.new_status
               WHERE h.invoice_no = ? ORDER BY h.id""",
            (invoice_no,),
        )

    def payment_history(self, invoice_payment_id: int | str) -> pd.DataFrame:
        """Status changes of one Payofin payment, oldest first."""
        return self.query(
            """SELECT observed_at, old_status, new_status FROM payment_status_history
               WHERE invoice_payment_id = ? ORDER BY id""",
            (_payment_id(invoice_payment_id),),
        )
