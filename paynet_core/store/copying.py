"""Moving a whole cache to another backend (``paynet-ops db copy``), with proof that it arrived.

Every table is copied as it is, in primary-key order (history, jobs, the audit log and the
rollup included, ids kept), into a destination at the same schema version that holds no rows
yet. Then each table's rows are counted and digested on both sides: SHA-256 over the rows in
key order, each row as JSON, so the same values give the same digest on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from .postgres import PgConn

if TYPE_CHECKING:
    from . import Store

#: Each copied table and its key, in an order that satisfies the foreign keys.
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "subscriptions": ("subscription_id",),
    "invoices": ("invoice_no",),
    "invoice_status_history": ("id",),
    "bill_payments": ("invoice_payment_id",),
    "payment_status_history": ("id",),
    "sync_state": ("provider", "scope"),
    "sync_windows": ("provider", "scope", "first_day", "last_day"),
    "jobs": ("job_id",),
    "job_items": ("job_id", "seq"),
    "audit_log": ("id",),
    "daily_rollup": (
        "provider", "day", "outcome", "status", "institution", "invoice_type", "agent_id",
    ),
    "daily_rollup_totals": ("provider", "day", "outcome", "status", "institution", "invoice_type"),
    "daily_rollup_days": ("provider", "day", "outcome", "status"),
    "user_settings": ("email",),
}  # fmt: skip
#: Tables whose ids come from a sequence on PostgreSQL (moved past the copied ids).
_IDENTITY_TABLES = ("invoice_status_history", "payment_status_history", "audit_log")
_CHUNK = 10_000


@dataclass(frozen=True)
class TableCheck:
    """One table's rows and digest on both sides (``ok``: they agree)."""

    table: str
    source_rows: int
    target_rows: int
    source_digest: str
    target_digest: str

    @property
    def ok(self) -> bool:
        return (self.source_rows, self.source_digest) == (self.target_rows, self.target_digest)


def row_counts(store: Store) -> dict[str, int]:
    """Rows per copied table (what ``paynet-ops db info`` shows)."""
    return {
        table: store.db.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        for table in TABLE_KEYS
    }


def digest(store: Store, table: str) -> tuple[int, str]:
    """(rows, SHA-256 of the rows in key order): equal on both backends for equal contents."""
    h = hashlib.sha256()
    n = 0
    for row in _rows_in_key_order(store, table):
        h.update(json.dumps(list(row), ensure_ascii=False, default=str).encode())
        h.update(b"\n")
        n += 1
    return n, h.hexdigest()


def copy_cache(
    source: Store, target: Store, *, progress: Callable[[str, int], None] | None = None
) -> list[TableCheck]:
    """Copy every table of ``source`` into the empty ``target``, then check both sides.

    ``progress(table, rows)`` is called after each table. Refuses a target at another schema
    version or with rows in it (a copy never merges into, or overwrites, a cache).
    """
    if source.schema_version() != target.schema_version():
        raise StoreError(
            f"{source.target} has schema version {source.schema_version()} and {target.target} "
            f"{target.schema_version()}: run `paynet-ops db migrate` on both first"
        )
    full = {t: n for t, n in row_counts(target).items() if n}
    if full:
        listed = ", ".join(f"{t} ({n:,} rows)" for t, n in full.items())
        raise StoreError(f"{target.target} is not empty: {listed}. Copy into an empty database.")
    with target.transaction() as db:
        for table in TABLE_KEYS:
            columns = _columns(source, table)
            copied = _write(db.conn, table, columns, _rows_in_key_order(source, table))
            if isinstance(db.conn, PgConn) and table in _IDENTITY_TABLES:
                db.conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                )
            if progress is not None:
                progress(table, copied)
    checks = []
    for table in TABLE_KEYS:
        (n_source, d_source), (n_target, d_target) = digest(source, table), digest(target, table)
        checks.append(TableCheck(table, n_source, n_target, d_source, d_target))
    return checks


def _columns(store: Store, table: str) -> list[str]:
    cursor = store.db.conn.execute(f"SELECT * FROM {table} WHERE 1 = 0")
    return [d[0] for d in cursor.description]


def _rows_in_key_order(store: Store, table: str) -> Iterator[tuple]:
    order = ", ".join(TABLE_KEYS[table])
    columns = ", ".join(f'"{c}"' for c in _columns(store, table))
    cursor = store.db.conn.execute(f"SELECT {columns} FROM {table} ORDER BY {order}")
    while chunk := cursor.fetchmany(_CHUNK):
        yield from chunk


def _write(conn: Any, table: str, columns: list[str], rows: Iterator[tuple]) -> int:
    n = 0
    if isinstance(conn, PgConn):

        def counted() -> Iterator[tuple]:
            nonlocal n
            for row in rows:
                n += 1
                yield row

        conn.copy_rows(table, columns, counted())
        conn._count(n)  # COPY reports no rowcount: the data version must still move
        return n
    names = ", ".join(f'"{c}"' for c in columns)
    sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"
    while chunk := [row for _, row in zip(range(_CHUNK), rows, strict=False)]:
        conn.executemany(sql, chunk)
        n += len(chunk)
    return n
