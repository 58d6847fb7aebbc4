"""The daily rollup: what every chart and KPI reads (a few thousand rows instead of millions).

The store keeps it in step inside each write transaction by applying per-batch deltas (old row
values out, new ones in), never by per-row triggers; writes outside the upserts (a status set by
an action or a job) go through :func:`keeping_rollup`. ``paynet-ops db check`` compares it with
a rebuild from the base tables (:meth:`RollupMixin.rollup_differences`). Plain SQL a PostgreSQL
backend can share.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from .postgres import PgConn
from .rows import PAYMENT_COLUMNS
from .schema import (
    ROLLUP_DAYS_KEY,
    ROLLUP_DAYS_TABLE,
    ROLLUP_KEY,
    ROLLUP_TABLE,
    ROLLUP_TOTALS_KEY,
    ROLLUP_TOTALS_TABLE,
)

if TYPE_CHECKING:
    # Mixins only ever run as parts of Store; this lets mypy see the StoreBase helpers they use
    # without a runtime import (db -> migrations -> rollup would be circular).
    from .db import StoreBase as _StoreBase
else:
    _StoreBase = object

#: Bound parameters per ``IN (...)`` lookup (SQLite's default limit is 32,766).
LOOKUP_CHUNK = 900

# Each provider's rollup rows computed from its base table; ``{where}`` narrows the rows and
# ``{sign}`` (1 or -1) turns them into a delta to add or take out.
_ROLLUP_PAYNET = """SELECT 'paynet' AS provider, val_day AS day, outcome, status_label AS status,
    '' AS institution, '' AS invoice_type, COALESCE(agent_id, '') AS agent_id,
    {sign} * COUNT(*) AS count, {sign} * SUM(amount_kurus) AS amount_kurus, 0 AS fee_kurus
FROM invoices WHERE val_day IS NOT NULL{where}
GROUP BY val_day, outcome, status_label, COALESCE(agent_id, '')"""
_ROLLUP_PAYOFIN = """SELECT 'payofin', paid_day, outcome, status, COALESCE(institution, ''),
    COALESCE(invoice_type, ''), '', {sign} * COUNT(*), {sign} * SUM(amount_kurus),
    {sign} * SUM(fee_kurus)
FROM bill_payments WHERE paid_day IS NOT NULL{where}
GROUP BY paid_day, outcome, status, COALESCE(institution, ''), COALESCE(invoice_type, '')"""
#: The whole rollup computed from the base tables (what ``paynet-ops db check`` compares).
ROLLUP_SELECT = (
    _ROLLUP_PAYNET.format(sign=1, where="")
    + "\nUNION ALL\n"
    + _ROLLUP_PAYOFIN.format(sign=1, where="")
)


@dataclass(frozen=True)
class RollupLevel:
    """One rollup table and the statements that apply deltas to it."""

    table: str
    key: tuple[str, ...]

    @property
    def columns(self) -> str:
        return ", ".join((*self.key, "count", "amount_kurus", "fee_kurus"))

    @property
    def merge(self) -> str:
        t = self.table
        return (
            f"ON CONFLICT ({', '.join(self.key)}) DO UPDATE SET count = {t}.count + excluded.count, "
            f"amount_kurus = {t}.amount_kurus + excluded.amount_kurus, "
            f"fee_kurus = {t}.fee_kurus + excluded.fee_kurus"
        )

    @property
    def add(self) -> str:
        marks = ", ".join("?" * (len(self.key) + 3))
        return f"INSERT INTO {self.table} ({self.columns}) VALUES ({marks}) {self.merge}"

    @property
    def drop_empty(self) -> str:
        where = " AND ".join(f"{k} = ?" for k in self.key)
        return f"DELETE FROM {self.table} WHERE count = 0 AND {where}"

    def grouped(self, select: str) -> str:
        """``select`` (full-key rollup rows) summed to this level's key."""
        if self.key == ROLLUP_KEY:
            return select
        key = ", ".join(self.key)
        return (
            f"SELECT {key}, SUM(count) AS count, SUM(amount_kurus) AS amount_kurus, "
            f"SUM(fee_kurus) AS fee_kurus FROM ({select}) AS r GROUP BY {key}"
        )


#: Every rollup table, finest first; each key is a prefix of the one before. Migration 5 made
#: the first two, migration 7 the third (:data:`LEVELS_BY_VERSION`).
ROLLUP_LEVELS = (
    RollupLevel(ROLLUP_TABLE, ROLLUP_KEY),
    RollupLevel(ROLLUP_TOTALS_TABLE, ROLLUP_TOTALS_KEY),
    RollupLevel(ROLLUP_DAYS_TABLE, ROLLUP_DAYS_KEY),
)
#: The schema version from which the third level exists.
DAYS_LEVEL_VERSION = 7


def levels_for(schema_version: int) -> tuple[RollupLevel, ...]:
    """The rollup tables a cache at ``schema_version`` has (none before migration 5)."""
    if schema_version >= DAYS_LEVEL_VERSION:
        return ROLLUP_LEVELS
    return ROLLUP_LEVELS[:2] if schema_version >= 5 else ()


class RollupMixin(_StoreBase):
    """The store's rollup checks."""

    def rollup_differences(self) -> list[dict]:
        """Rows where ``daily_rollup`` or ``daily_rollup_totals`` differs from a rebuild from
        the base tables (none: in step). Each: ``table``, the key columns, and ``kept`` and
        ``rebuilt`` as (count, amount, fee) or None."""
        rebuilt = self._rollup_rows(ROLLUP_SELECT, len(ROLLUP_KEY))
        out = []
        for level in self.rollup_levels():
            width = len(level.key)
            kept = self._rollup_rows(f"SELECT {level.columns} FROM {level.table}", width)
            expected: dict[tuple, tuple] = {}
            for key, values in rebuilt.items():
                found = expected.get(key[:width], (0, 0, 0))
                expected[key[:width]] = tuple(a + b for a, b in zip(found, values, strict=True))
            for key in sorted(kept.keys() | expected.keys()):
                if kept.get(key) != expected.get(key):
                    row = {"table": level.table, **dict.fromkeys(ROLLUP_KEY, "")}
                    row |= dict(zip(level.key, key, strict=True))
                    out.append(row | {"kept": kept.get(key), "rebuilt": expected.get(key)})
        return out

    def _rollup_rows(self, sql: str, width: int) -> dict[tuple, tuple]:
        return {row[:width]: row[width:] for row in self.db.conn.execute(sql)}

    def rollup_row_count(self) -> int:
        """Rows held in both rollup tables (what ``paynet-ops db check`` reports)."""
        conn = self.db.conn
        return sum(
            conn.execute(f"SELECT COUNT(*) FROM {level.table}").fetchone()[0]
            for level in self.rollup_levels()
        )


#: A base-table row as the upserts hold it: a dict (invoices) or a tuple (payments).
_Row = TypeVar("_Row")


def invoice_share(row: Mapping[str, Any]) -> tuple[tuple, int, int] | None:
    """An invoice row's rollup key, amount and fee (None: no charge day, not in the rollup)."""
    day = row["val_day"]
    if day is None:
        return None
    key = ("paynet", day, row["outcome"], row["status_label"], "", "", row["agent_id"] or "")
    return key, row["amount_kurus"], 0


_PAID_DAY, _INSTITUTION, _INVOICE_TYPE, _STATUS, _OUTCOME, _AMOUNT, _FEE = map(
    PAYMENT_COLUMNS.index,
    ("paid_day", "institution", "invoice_type", "status", "outcome", "amount_kurus", "fee_kurus"),
)


def payment_share(row: Sequence[Any]) -> tuple[tuple, int, int] | None:
    """A payment row's (a tuple of ``PAYMENT_COLUMNS``) rollup key, amount and fee."""
    day = row[_PAID_DAY]
    if day is None:
        return None
    key = (
        "payofin", day, row[_OUTCOME], row[_STATUS], row[_INSTITUTION] or "",
        row[_INVOICE_TYPE] or "", "",
    )  # fmt: skip
    return key, row[_AMOUNT], row[_FEE]


def rollup_deltas(
    share: Callable[[_Row], tuple[tuple, int, int] | None],
    new: Iterable[_Row],
    changed: Iterable[tuple[_Row, _Row]],
) -> dict[tuple, list[int]]:
    """What a batch does to the rollup: new rows in; changed rows' old values out, new ones in."""
    deltas: dict[tuple, list[int]] = {}

    def add(row: _Row, sign: int) -> None:
        found = share(row)
        if found is None:
            return
        key, amount, fee = found
        delta = deltas.get(key)
        if delta is None:
            deltas[key] = [sign, sign * amount, sign * fee]
        else:
            delta[0] += sign
            delta[1] += sign * amount
            delta[2] += sign * fee

    for row in new:
        add(row, 1)
    for row, old in changed:
        add(old, -1)
        add(row, 1)
    return deltas


def apply_rollup(
    conn: sqlite3.Connection,
    deltas: Mapping[tuple, list[int]],
    levels: Sequence[RollupLevel] = ROLLUP_LEVELS,
) -> None:
    """Add a batch's deltas (full-key) to every rollup level, each summed to its key prefix.

    Keys go in sorted order, so two writers could never wait on each other's rows in
    opposite orders (on PostgreSQL writers are serialised anyway; this keeps it true without).
    """
    if isinstance(conn, PgConn):
        _apply_by_copy(conn, deltas, levels)
        return
    for level in levels:
        width = len(level.key)
        if width == len(ROLLUP_KEY):
            level_deltas: Mapping[tuple, list[int]] = deltas
        else:
            summed: dict[tuple, list[int]] = {}
            for key, delta in deltas.items():
                total = summed.setdefault(key[:width], [0, 0, 0])
                for i in range(3):
                    total[i] += delta[i]
            level_deltas = summed
        rows = [
            (*key, *level_deltas[key]) for key in sorted(level_deltas) if any(level_deltas[key])
        ]
        if rows:
            conn.executemany(level.add, rows)
        emptied = [key for key, delta in level_deltas.items() if delta[0] < 0]
        if emptied:
            conn.executemany(level.drop_empty, emptied)


def _apply_by_copy(
    conn: PgConn, deltas: Mapping[tuple, list[int]], levels: Sequence[RollupLevel]
) -> None:
    """PostgreSQL: the full-key deltas COPYed once into a staging table, then each level
    merged by one statement that sums them to its key there (a batch of 50,000 rows can touch
    10,000+ rollup keys: row by row it cost as much as the batch itself)."""
    rows = [(*key, *delta) for key, delta in deltas.items() if any(delta)]
    if not rows or not levels:
        return
    stage = "_stage_rollup_deltas"
    conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {ROLLUP_TABLE}) ON COMMIT DELETE ROWS"
    )
    conn.copy_rows(stage, [*ROLLUP_KEY, "count", "amount_kurus", "fee_kurus"], rows)
    for level in levels:
        key = ", ".join(level.key)
        summed = (
            f"SELECT {key}, SUM(count) AS count, SUM(amount_kurus) AS amount_kurus, "
            f"SUM(fee_kurus) AS fee_kurus FROM {stage} GROUP BY {key}"
        )
        conn.execute(
            f"INSERT INTO {level.table} ({level.columns}) SELECT * FROM ({summed}) AS d "
            f"WHERE count <> 0 OR amount_kurus <> 0 OR fee_kurus <> 0 ORDER BY {key} "
            f"{level.merge}"
        )
        if any(delta[0] < 0 for delta in deltas.values()):
            same = " AND ".join(f"t.{k} = s.{k}" for k in level.key)
            conn.execute(
                f"DELETE FROM {level.table} AS t USING ({summed}) AS s "
                f"WHERE t.count = 0 AND s.count < 0 AND {same}"
            )
    conn.execute(f"TRUNCATE {stage}")


@contextmanager
def keeping_rollup(
    conn: sqlite3.Connection,
    column: str,
    keys: Sequence[Any],
    levels: Sequence[RollupLevel] = ROLLUP_LEVELS,
) -> Iterator[None]:
    """Keep the rollup in step around a write to the invoices whose ``column`` is in ``keys``
    (``invoice_no`` or ``subscription_id``) done outside the upserts: their share is taken out
    before the write and added back after it, in SQL, in the caller's transaction."""
    if column not in ("invoice_no", "subscription_id"):
        raise ValueError(f"cannot follow invoices by {column!r}")
    keys = list(dict.fromkeys(k for k in keys if k is not None))
    _move_invoices(conn, column, keys, -1, levels)
    yield
    _move_invoices(conn, column, keys, 1, levels)
    if keys:
        for level in levels:
            conn.execute(f"DELETE FROM {level.table} WHERE provider = 'paynet' AND count = 0")


def _move_invoices(
    conn: sqlite3.Connection,
    column: str,
    keys: list[Any],
    sign: int,
    levels: Sequence[RollupLevel],
) -> None:
    for start in range(0, len(keys), LOOKUP_CHUNK):
        chunk = keys[start : start + LOOKUP_CHUNK]
        where = f" AND {column} IN ({', '.join('?' * len(chunk))})"
        select = _ROLLUP_PAYNET.format(sign=sign, where=where)
        for level in levels:
            conn.execute(
                f"INSERT INTO {level.table} ({level.columns}) SELECT * FROM "
                f"({level.grouped(select)}) AS d WHERE true {level.merge}",
                chunk,
            )
