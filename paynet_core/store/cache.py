"""The cached provider rows: invoice, subscription and payment upserts, and the reads pages use.

Upserts compare before they write: a row whose content did not change is not touched at all,
so a second sync with nothing new upstream writes nothing. Each batch keeps the daily rollup in
step in the same transaction (:mod:`.rollup`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import islice
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import pandas as pd
import psycopg
from sqlite_utils import Database

from ..errors import StoreError
from ..paynet.models import Invoice, InvoiceStatus, Subscription
from .postgres import PgConn
from .rollup import (
    LOOKUP_CHUNK,
    apply_rollup,
    invoice_share,
    keeping_rollup,
    payment_share,
    rollup_deltas,
)
from .rows import (
    PAYMENT_COLUMNS,
    BillPaymentLike,
    _as_list,
    _check_choice,
    _day,
    _fold,
    _history,
    _invoice_row,
    _kurus,
    _payment_id,
    _payment_row,
    _status,
    _subscription_row,
)
from .schema import HISTORY_SOURCES
from .statements import insert_rows

if TYPE_CHECKING:
    # Mixins only ever run as parts of Store; this lets mypy see the StoreBase helpers they use
    # without a runtime import (db -> migrations -> rollup would be circular).
    from .db import StoreBase as _StoreBase
else:
    _StoreBase = object

#: Rows per write transaction in bulk upserts. Each commit of a big table pays a WAL checkpoint
#: of the index pages it touched, so fewer, larger batches write far less: at 1,000,000
#: invoices 20,000-row batches spent 7.5 s committing, 50,000-row ones 4.8 s (invoice ingest
#: 1.45x -> 1.19x the raw baseline). Rows are converted before the lock is taken, so another
#: writer (a page recording an action) waits at most one batch's writes: under 2 s at that
#: size on two cores, well inside ``BUSY_TIMEOUT_S``.
BATCH_ROWS = 50_000


@dataclass(frozen=True)
class UpsertResult:
    """How many input rows were new, changed, or identical to the cached row (not written)."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0

    @property
    def written(self) -> int:
        return self.new + self.changed

    def __add__(self, other: UpsertResult) -> UpsertResult:
        return UpsertResult(
            self.new + other.new, self.changed + other.changed, self.unchanged + other.unchanged
        )


class CacheMixin(_StoreBase):
    """Invoices, subscriptions and payments in the cache."""

    def _existing(
        self, table: str, key: str, columns: list[str], keys: list[Any]
    ) -> dict[Any, tuple]:
        """The cached values of ``columns`` for the rows with these keys (tuples: cheap to compare)."""
        found: dict[Any, tuple] = {}
        if _none_cached(self.db.conn, table, key, keys):
            return found
        select = ", ".join(f'"{c}"' for c in (key, *columns))
        if isinstance(self.db.conn, PgConn):  # one array parameter: one statement per batch
            rows = self.db.conn.execute(
                f"SELECT {select} FROM {table} WHERE {key} = ANY(?)", (keys,)
            )
            return {row[0]: row[1:] for row in rows}
        for start in range(0, len(keys), LOOKUP_CHUNK):
            chunk = keys[start : start + LOOKUP_CHUNK]
            marks = ", ".join("?" * len(chunk))
            cursor = self.db.conn.execute(
                f"SELECT {select} FROM {table} WHERE {key} IN ({marks})", chunk
            )
            for row in cursor:
                found[row[0]] = row[1:]
        return found

    def _classify(
        self,
        table: str,
        key: str,
        batch: dict[Any, dict],
        *,
        extras: Sequence[str] = (),
        keep_if_none: Sequence[str] = (),
    ) -> tuple[list[dict], list[tuple[dict, dict]]]:
        """Split a batch into new rows and changed ``(row, cached row)`` pairs.

        Unchanged rows are dropped: they are never written. ``extras`` are cached columns the
        caller needs beside the compared ones; ``keep_if_none`` columns keep their cached
        value when the incoming row has None (e.g. a reply that omits Paynet's invoice_id).
        """
        columns = list(next(iter(batch.values())))
        existing = self._existing(table, key, [*columns, *extras], list(batch))
        width = len(columns)
        names = [*columns, *extras]
        keep = [(name, columns.index(name)) for name in keep_if_none]
        new: list[dict] = []
        changed: list[tuple[dict, dict]] = []
        for k, row in batch.items():
            old = existing.get(k)
            if old is None:
                new.append(row)
                continue
            for name, index in keep:
                if row[name] is None:
                    row[name] = old[index]
            if tuple(row.values()) != old[:width]:
                changed.append((row, dict(zip(names, old, strict=True))))
        return new, changed

    def _fill_agents(self, batch: dict[Any, dict]) -> None:
        """Copy each invoice's agent from its cached subscription (triggers keep it in step)."""
        ids = list({row["subscription_id"] for row in batch.values() if row["subscription_id"]})
        cached = self._existing("subscriptions", "subscription_id", ["agent_id"], ids)
        for row in batch.values():
            found = cached.get(row["subscription_id"])
            row["agent_id"] = found[0] if found else None

    # ---- upserts ----------------------------------------------------------------------------

    def upsert_subscriptions(self, subscriptions: Iterable[Subscription | Mapping]) -> UpsertResult:
        """Insert new subscriptions and update changed ones; identical rows are not written."""
        total = UpsertResult()
        for batch in _batches((_subscription_row(s) for s in subscriptions), "subscription_id"):
            with self.transaction() as db:
                new, changed = self._classify("subscriptions", "subscription_id", batch)
                rows = new + [row for row, _ in changed]
                # The agent triggers re-file these subscriptions' invoices under the new agent.
                moved = [r["subscription_id"] for r in new] + [
                    r["subscription_id"] for r, old in changed if r["agent_id"] != old["agent_id"]
                ]
                with keeping_rollup(db.conn, "subscription_id", moved, self.rollup_levels()):
                    _upsert(
                        db, "subscriptions", "subscription_id", rows, {"synced_at": self._now()}
                    )
            total += UpsertResult(len(new), len(changed), len(batch) - len(new) - len(changed))
        return total

    def upsert_invoices(
        self,
        invoices: Iterable[Invoice | Mapping],
        *,
        source: str = "sync",
        actor: str | None = None,
        job_id: str | None = None,
    ) -> UpsertResult:
        """Insert new invoices and update changed ones, recording each status change.

        History rule: every status change of a cached invoice gets an
        ``invoice_status_history`` row. A first sighting gets one (``old_status`` NULL) only
        when we caused it (``source`` 'action' or 'job', e.g. we just created the invoice); a
        sync discovering an invoice records none, so the first full sync does not double the
        table. An ``invoice_id`` once known is kept when a later reply omits it.
        """
        _check_choice("source", source, HISTORY_SOURCES)
        total = UpsertResult()
        for batch in _batches((_invoice_row(i) for i in invoices), "invoice_no"):
            with self.transaction() as db:
                now = self._now()
                stamp = {"updated_at": now} | ({"synced_at": now} if source == "sync" else {})
                self._fill_agents(batch)
                new, changed = self._classify(
                    "invoices",
                    "invoice_no",
                    batch,
                    extras=["created_at"],
                    keep_if_none=["invoice_id"],
                )
                history = [
                    _history(row, old["status"], source, actor, job_id, now)
                    for row, old in changed
                    if old["status"] != row["status"]
                ]
                if source != "sync":
                    history += [_history(row, None, source, actor, job_id, now) for row in new]
                try:
                    _upsert(
                        db, "invoices", "invoice_no", new, {"created_at": now, **stamp}, new=True
                    )
                    # ON CONFLICT checks NOT NULL before the conflict, so created_at comes along.
                    _upsert(
                        db,
                        "invoices",
                        "invoice_no",
                        [r | {"created_at": old["created_at"]} for r, old in changed],
                        stamp,
                    )
                except sqlite3.IntegrityError as exc:
                    raise StoreError(f"invoice batch refused by the cache: {exc}") from exc
                except psycopg.IntegrityError as exc:  # worded as SQLite words it
                    kind = "UNIQUE" if isinstance(exc, psycopg.errors.UniqueViolation) else "CHECK"
                    raise StoreError(
                        f"invoice batch refused by the cache: {kind} constraint failed "
                        f"({exc.diag.constraint_name}: {exc.diag.message_detail or exc})"
                    ) from exc
                if history:
                    insert_rows(db.conn, "invoice_status_history", history)
                apply_rollup(
                    db.conn, rollup_deltas(invoice_share, new, changed), self.rollup_levels()
                )
            total += UpsertResult(len(new), len(changed), len(batch) - len(new) - len(changed))
        return total

    def upsert_payments(self, payments: Iterable[BillPaymentLike | Mapping]) -> UpsertResult:
        """Insert new Payofin payments and update changed ones (e.g. a late cancellation).

        A status change of a cached payment is recorded in ``payment_status_history``. Rows
        stay tuples of :data:`PAYMENT_COLUMNS` from conversion to ``executemany``: a full sync
        writes a million of them.
        """
        total = UpsertResult()
        compared = [*PAYMENT_COLUMNS[1:], "first_seen_at"]  # what the cache holds beside the id
        columns = [*PAYMENT_COLUMNS, "synced_at", "first_seen_at"]
        width = len(PAYMENT_COLUMNS) - 1
        status = PAYMENT_COLUMNS.index("status")
        for batch in _batches((_payment_row(p) for p in payments), 0):
            with self.transaction() as db:
                now = self._now()
                cached = self._existing(
                    "bill_payments", "invoice_payment_id", compared, list(batch)
                )
                new: list[tuple] = []
                changed: list[tuple[tuple, tuple]] = []  # (row, the cached row as one)
                for key, row in batch.items():
                    old = cached.get(key)
                    if old is None:
                        new.append(row)
                    elif row[1:] != old[:width]:
                        changed.append((row, (key, *old)))
                # (synced_at, first_seen_at): a changed row keeps its first sighting. Two writes,
                # so PostgreSQL COPYs the new rows straight in.
                if new:
                    stamped = (row + (now, now) for row in new)
                    _write(db, "bill_payments", "invoice_payment_id", columns, stamped, new=True)
                if changed:
                    stamped = (row + (now, old[-1]) for row, old in changed)
                    _write(db, "bill_payments", "invoice_payment_id", columns, stamped)
                history = [
                    {
                        "invoice_payment_id": row[0],
                        "old_status": old[status],
                        "new_status": row[status],
                        "observed_at": now,
                    }
                    for row, old in changed
                    if old[status] != row[status]
                ]
                if history:
                    insert_rows(db.conn, "payment_status_history", history)
                apply_rollup(
                    db.conn, rollup_deltas(payment_share, new, changed), self.rollup_levels()
                )
            total += UpsertResult(len(new), len(changed), len(batch) - len(new) - len(changed))
        return total

    # ---- queries for pages ------------------------------------------------------------------

    def get_invoice(
        self, invoice_no: str | None = None, invoice_id: str | None = None
    ) -> dict | None:
        """One cached invoice by our number or by Paynet's id."""
        if invoice_no is not None:
            return self._one("SELECT * FROM invoices WHERE invoice_no = ?", (invoice_no,))
        if invoice_id is not None:
            return self._one("SELECT * FROM invoices WHERE invoice_id = ?", (str(invoice_id),))
        raise ValueError("give invoice_no or invoice_id")

    def search_subscriptions(self, text: str, limit: int = 20) -> pd.DataFrame:
        """Subscriptions whose id, reference number or holder's name contains ``text``.

        Matching ignores case and Turkish accents ("ayse" finds "AYŞE"); exact id or
        reference matches come first.
        """
        needle = _fold(text)
        self.db.conn.create_function("paynet_fold", 1, _fold, deterministic=True)
        find = self._find_function()
        return self.query(
            f"""SELECT * FROM subscriptions
               WHERE {find}(paynet_fold(subscription_id), :needle) > 0
                  OR {find}(paynet_fold(reference_no), :needle) > 0
                  OR {find}(paynet_fold(name_surname), :needle) > 0
               ORDER BY (subscription_id = :text OR reference_no = :text) DESC,
                        subscription_id
               LIMIT :limit""",
            {"needle": needle, "text": text.strip(), "limit": limit},
        )

    def find_invoices(
        self,
        status: InvoiceStatus | int | Iterable[InvoiceStatus | int] | None = None,
        day_from: date | str | None = None,
        day_to: date | str | None = None,
        subscription_id: str | None = None,
        min_amount: int | None = None,
        max_amount: int | None = None,
        limit: int = 1_000,
    ) -> pd.DataFrame:
        """Invoices matching every given filter, newest value date first.

        Days are inclusive and compare ``val_day``; amounts are kuruş.
        """
        where: list[str] = []
        params: list[int | str] = []
        if status is not None:
            codes = [int(_status(s)) for s in _as_list(status)]
            where.append(f"status IN ({', '.join('?' * len(codes))})")
            params += codes
        if day_from is not None:
            where.append("val_day >= ?")
            params.append(_day(day_from))
        if day_to is not None:
            where.append("val_day <= ?")
            params.append(_day(day_to))
        if subscription_id is not None:
            where.append("subscription_id = ?")
            params.append(subscription_id)
        if min_amount is not None:
            where.append("amount_kurus >= ?")
            params.append(_kurus(min_amount, "min_amount"))
        if max_amount is not None:
            where.append("amount_kurus <= ?")
            params.append(_kurus(max_amount, "max_amount"))
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        return self.query(
            f"SELECT * FROM invoices {clause} ORDER BY val_date DESC, invoice_no LIMIT ?",
            [*params, limit],
        )

    def open_invoices_of(self, subscription_id: str) -> list[str]:
        """Invoice numbers of a subscription still Waiting (what a bulk cancel would touch)."""
        rows = self.db.conn.execute(
            """SELECT invoice_no FROM invoices WHERE subscription_id = ? AND status = ?
               ORDER BY val_date, invoice_no""",
            (subscription_id, int(InvoiceStatus.WAITING)),
        )
        return [r[0] for r in rows]

    def get_payment(self, invoice_payment_id: int | str) -> dict | None:
        return self._one(
            "SELECT * FROM bill_payments WHERE invoice_payment_id = ?",
            (_payment_id(invoice_payment_id),),
        )


def _batches(rows: Iterable[Any], key: str | int) -> Iterator[dict[Any, Any]]:
    """Rows (dicts, or tuples with ``key`` a position) taken ``BATCH_ROWS`` at a time, keyed on
    the primary key (last one wins, so a batch with repeated keys holds fewer rows)."""
    rows = iter(rows)
    while batch := {row[key]: row for row in islice(rows, BATCH_ROWS)}:  # no per-row len()
        yield batch


def _upsert(
    db: Database,
    table: str,
    pk: str,
    rows: list[dict],
    stamps: Mapping[str, Any],
    *,
    new: bool = False,
) -> None:
    """:func:`_write` for dict rows; ``stamps`` are values shared by every row (e.g.
    ``synced_at``). All rows must carry the same columns."""
    if not rows:
        return
    shared = tuple(stamps.values())
    values = itemgetter(*rows[0])
    _write(db, table, pk, [*rows[0], *stamps], (values(row) + shared for row in rows), new=new)


def _write(
    db: Database,
    table: str,
    pk: str,
    columns: Sequence[str],
    rows: Iterable[tuple],
    *,
    new: bool = False,
) -> None:
    """The one write path for cached provider rows: ``INSERT ... ON CONFLICT (pk) DO UPDATE``.

    Deliberately not ``Table.upsert_all``: the same statement through ``executemany`` writes
    three times faster (measured at 200,000 payments), which the ingest target needs.
    """
    if isinstance(db.conn, PgConn):
        _upsert_by_copy(db.conn, table, pk, list(columns), rows, new=new)
        return
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" * len(columns))
    updates = ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c != pk)
    sql = (
        f"INSERT INTO {table} ({names}) VALUES ({marks}) "
        f'ON CONFLICT ("{pk}") DO UPDATE SET {updates}'
    )
    db.conn.executemany(sql, rows)


def _upsert_by_copy(
    conn: PgConn, table: str, pk: str, columns: list[str], rows: Iterable[tuple], *, new: bool
) -> None:
    """PostgreSQL's fast path. Rows known to be ``new`` are COPYed straight into the table:
    the batch was classified inside this write transaction, under the writers' lock, so no
    one else can have inserted them since. Others are COPYed into a session-private staging
    table and merged by one ``INSERT ... SELECT ... ON CONFLICT`` (SQLite's statement, set-wise).
    """
    if new:
        conn.copy_rows(table, columns, _counted(conn, rows))
        return
    stage = f"_stage_{table}"
    conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table} INCLUDING DEFAULTS) "
        "ON COMMIT DELETE ROWS"
    )
    conn.copy_rows(stage, columns, rows)
    names = ", ".join(f'"{c}"' for c in columns)
    updates = ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c != pk)
    conn.execute(
        f"INSERT INTO {table} ({names}) SELECT {names} FROM {stage} "
        f'ON CONFLICT ("{pk}") DO UPDATE SET {updates}'
    )
    conn.execute(f"TRUNCATE {stage}")


def _counted(conn: PgConn, rows: Iterable[tuple]) -> Iterator[tuple]:
    """The rows, counted as changes (COPY reports none, and the data version must move)."""
    n = 0
    for row in rows:
        n += 1
        yield row
    conn._count(n)


def _none_cached(conn: sqlite3.Connection | PgConn, table: str, key: str, keys: list[Any]) -> bool:
    """Whether no cached row has a key between the smallest and the largest of ``keys``: then
    none of them is cached, and one index probe replaces a lookup per key.

    A first sync or a backfill of growing numbers (Payofin's payment ids, a merchant's invoice
    numbers) lands here. Python orders text by code point, as both backends compare the cache's
    keys: SQLite's BINARY collation, and ``COLLATE "C"`` on every PostgreSQL text column
    (:func:`.postgres.ddl`) over UTF-8.
    """
    if not keys:
        return True
    kind = type(keys[0])
    if kind not in (int, str) or any(type(k) is not kind for k in keys):
        return False
    probe = f"SELECT 1 FROM {table} WHERE {key} BETWEEN ? AND ? LIMIT 1"
    return conn.execute(probe, (min(keys), max(keys))).fetchone() is None
