"""The audit log: append-only (triggers refuse UPDATE and DELETE), read by people.

Who did what, to which records, with what result. Details are JSON and refuse anything that
looks like a credential; provider messages are clipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import MAX_ERROR_MESSAGE, clip_opt
from .rows import _bound, _check_choice, _json, _opt_int
from .schema import MODES
from .statements import insert_returning

if TYPE_CHECKING:
    # Mixins only ever run as parts of Store; this lets mypy see the StoreBase helpers they use
    # without a runtime import (db -> migrations -> rollup would be circular).
    from .db import StoreBase as _StoreBase
else:
    _StoreBase = object

#: The columns of one :meth:`AuditMixin.audit_many` row, in order.
AUDIT_COLUMNS = (
    "at", "actor", "mode", "action", "target_type", "target_ids", "status_before",
    "status_after", "provider_code", "provider_message", "job_id", "details",
)  # fmt: skip
_AUDIT_MANY = (
    f"INSERT INTO audit_log ({', '.join(AUDIT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(AUDIT_COLUMNS))})"
)


class AuditMixin(_StoreBase):
    """Writing and reading ``audit_log``."""

    def audit(
        self,
        actor: str,
        action: str,
        *,
        mode: str,
        target_type: str | None = None,
        target_ids: Iterable[str] | str = (),
        status_before: int | None = None,
        status_after: int | None = None,
        provider_code: int | None = None,
        provider_message: str | None = None,
        job_id: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> int:
        """Append one line to the audit log (who did what, to which records, with what result)."""
        _check_choice("mode", str(mode), MODES)
        ids = [target_ids] if isinstance(target_ids, str) else [str(t) for t in target_ids]
        row = {
            "at": self._now(),
            "actor": actor,
            "mode": str(mode),
            "action": action,
            "target_type": target_type,
            "target_ids": json.dumps(ids, ensure_ascii=False),
            "status_before": _opt_int(status_before),
            "status_after": _opt_int(status_after),
            "provider_code": provider_code,
            # defensive: a caller's message is bounded here too (the full reply is never stored)
            "provider_message": clip_opt(provider_message, MAX_ERROR_MESSAGE),
            "job_id": job_id,
            "details": None if details is None else _json("details", details),
        }
        with self.transaction() as db:
            return int(insert_returning(db.conn, "audit_log", row, "id"))

    def audit_many(self, rows: Sequence[tuple]) -> None:
        """Append many audit lines at once (a job runner's batch), in the caller's transaction.

        Each row holds the columns of :data:`AUDIT_COLUMNS` in that order, already encoded
        (``target_ids`` and ``details`` as JSON text).
        """
        if rows:
            with self.transaction() as db:
                db.conn.executemany(_AUDIT_MANY, rows)

    def audit_rows(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        mode: str | None = None,
        job_id: str | None = None,
        target_id: str | None = None,
        since: datetime | date | str | None = None,
        until: datetime | date | str | None = None,
        limit: int = 1_000,
    ) -> pd.DataFrame:
        """Audit lines matching every given filter, newest first.

        ``since``/``until`` take datetimes or days (a day means the whole day, inclusive).
        """
        where, params = [], []
        for column, value in (("actor", actor), ("action", action), ("job_id", job_id)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if mode is not None:
            where.append("mode = ?")
            params.append(str(mode))
        if target_id is not None:
            elements = (
                "jsonb_array_elements_text(target_ids::jsonb) AS t(value)"
                if self.dialect == "postgresql"
                else "json_each(target_ids)"
            )
            where.append(f"EXISTS (SELECT 1 FROM {elements} WHERE value = ?)")
            params.append(str(target_id))
        if since is not None:
            where.append("at >= ?")
            params.append(_bound(since, end=False))
        if until is not None:
            where.append("at < ?" if not isinstance(until, datetime) else "at <= ?")
            params.append(_bound(until, end=True))
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        return self.query(
            f"SELECT * FROM audit_log {clause} ORDER BY id DESC LIMIT ?", [*params, limit]
        )
