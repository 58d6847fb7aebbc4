"""The SQL behind charts, KPIs and exports: small aggregates, never the big tables into pandas.

How it stays fast at a million rows per provider: every chart reads ``daily_rollup`` (counts
and sums per provider, day, outcome, status, institution, bill type and agent, kept in step by
the store's writes; ``daily_rollup_totals``, the same summed over agents, when no agent is
filtered), a few thousand rows instead of millions. Each provider is one *arm* aggregated by day
and outcome; the outer query rolls the daily groups up to weeks, months, institutions... A cache
whose schema predates the rollup (a read-only file from an older version) is read from the base
tables (``invoices``, ``bill_payments``) through their covering indexes, with the same numbers;
``base_tables=True`` forces that path (the tests compare the two). When a chart needs both arms
they run at the same time on two connections (SQLite releases the GIL while it works).

Filters follow the data: institution and bill type exist only for Payofin payments and the
agent only for Paynet invoices, so filtering on one of them leaves the other provider out. The
filters are :class:`paynet_core.reports.ChartFilters`; the store only reads their fields.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from . import migrations
from .schema import PROVIDERS, ROLLUP_DAYS_TABLE, ROLLUP_TABLE, ROLLUP_TOTALS_TABLE

if TYPE_CHECKING:
    # Mixins only ever run as parts of Store; this lets mypy see the StoreBase helpers they use
    # without a runtime import (db -> migrations -> rollup would be circular).
    from .db import StoreBase as _StoreBase
else:
    _StoreBase = object

GRAINS = ("day", "week", "month")
BREAKDOWNS = ("institution", "invoice_type", "provider", "status")


class ReportFilters(Protocol):
    """What the store reads of :class:`paynet_core.reports.ChartFilters`."""

    # read-only properties: a frozen dataclass's fields satisfy them, plain attributes would not
    @property
    def day_from(self) -> date | None: ...
    @property
    def day_to(self) -> date | None: ...
    @property
    def institutions(self) -> tuple[str, ...]: ...
    @property
    def invoice_types(self) -> tuple[str, ...]: ...
    @property
    def agent_id(self) -> str | None: ...

    def wants(self, provider: str) -> bool: ...


@dataclass(frozen=True)
class _Arm:
    provider: str
    table: str
    day: str
    has_fees: bool
    rollup: bool = False  # reads daily_rollup instead of the provider's big table


_ARMS = {
    "paynet": _Arm("paynet", "invoices", "val_day", has_fees=False),
    "payofin": _Arm("payofin", "bill_payments", "paid_day", has_fees=True),
}

# The tables behind each export: (provider, table, day column, order key).
EXPORT_SOURCES = {
    "invoices": [("paynet", "invoices", "val_day", "invoice_no")],
    "payments": [("payofin", "bill_payments", "paid_day", "invoice_payment_id")],
    "outcomes": [
        ("paynet", "outcomes", "day", "record_id"),
        ("payofin", "outcomes", "day", "CAST(record_id AS INTEGER)"),
    ],
}


def filter_sql(provider: str, day_column: str, filters: ReportFilters) -> tuple[str, list[Any]]:
    """The WHERE clause and parameters that apply the charts page's ``filters`` to one
    provider's rows, dated by ``day_column``: so other readers (exports) select exactly the
    rows the charts count."""
    return _where(_Arm(provider, "", day_column, has_fees=False), filters)


def _where(arm: _Arm, filters: ReportFilters) -> tuple[str, list[Any]]:
    if arm.rollup:
        terms, params = ["provider = ?"], [arm.provider]
    else:
        terms, params = [f"{arm.day} IS NOT NULL"], []
    if filters.day_from:
        terms.append(f"{arm.day} >= ?")
        params.append(filters.day_from.isoformat())
    if filters.day_to:
        terms.append(f"{arm.day} <= ?")
        params.append(filters.day_to.isoformat())
    for column, values in (
        ("institution", filters.institutions),
        ("invoice_type", filters.invoice_types),
    ):
        if values and arm.provider == "payofin":
            terms.append(f"{column} IN ({', '.join('?' * len(values))})")
            params += values
    if filters.agent_id and arm.provider == "paynet":
        terms.append("agent_id = ?")
        params.append(filters.agent_id)
    return " AND ".join(terms), params


def _daily(
    arm: _Arm,
    filters: ReportFilters,
    *,
    amounts: bool = True,
    fees: bool = True,
    by: Sequence[str] = (),
) -> tuple[str, list[Any]]:
    """Counts (and sums) per day and outcome (and ``by``), grouped in covering-index order.

    Every aggregate costs a few tens of milliseconds per million rows, so each chart asks only
    for the sums it shows (and Paynet, which has no fees, sums none).
    """
    where, params = _where(arm, filters)
    count = "SUM(count)" if arm.rollup else "COUNT(*)"
    sums = ", SUM(amount_kurus) AS a" if amounts else ""
    if fees:
        sums += ", SUM(fee_kurus) AS f" if arm.has_fees else ", 0 AS f"
    # The rollup keeps NULL as '' (it is part of its primary key): give NULL back.
    picked = "".join(f", NULLIF({c}, '') AS {c}" if arm.rollup else f", {c}" for c in by)
    grouped = "".join(f", {c}" for c in by)
    sql = (
        f"SELECT {arm.day} AS day, outcome{picked}, {count} AS n{sums} FROM {arm.table} "
        f"WHERE {where} GROUP BY {arm.day}, outcome{grouped}"
    )
    return sql, params


def _period(grain: str, dialect: str = "sqlite") -> str:
    # Date functions: the one dialect-specific piece of the chart SQL.
    if grain == "day":
        return "day"
    if grain == "week":  # the Monday of the ISO week
        if dialect == "postgresql":
            return "to_char(date_trunc('week', day::date), 'YYYY-MM-DD')"
        return "date(day, '-6 days', 'weekday 1')"
    if grain == "month":
        return "substr(day, 1, 8) || '01'"
    raise ValueError(f"grain must be one of {', '.join(GRAINS)}, got {grain!r}")


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="paynet-charts")
        return _pool


class ReportsMixin(_StoreBase):
    """Aggregates for charts and KPIs (raw sums; :mod:`paynet_core.reports` types them)."""

    def _arms(
        self,
        filters: ReportFilters,
        base_tables: bool,
        only: Sequence[str] = PROVIDERS,
        by: Sequence[str] = (),
    ) -> list[_Arm]:
        """Where each provider's rows are read: the smallest rollup level that still has every
        column the filters and the grouping (``by``) need, else the base tables."""
        wanted = [_ARMS[p] for p in PROVIDERS if p in only and filters.wants(p)]
        version = self.schema_version()
        if wanted and not base_tables and version >= migrations.ROLLUP_VERSION:
            if filters.agent_id:
                table = ROLLUP_TABLE
            elif by or filters.institutions or filters.invoice_types or version < 7:
                table = ROLLUP_TOTALS_TABLE
            else:  # a few rows per day: full-range charts read thousands of rows, not 100,000s
                table = ROLLUP_DAYS_TABLE
            return [replace(a, table=table, day="day", rollup=True) for a in wanted]
        return wanted

    def _run_arms(self, queries: dict[str, tuple[str, list]]) -> pd.DataFrame:
        """Run each provider's query (two at once when both are wanted); rows in provider order.

        A caller inside a write transaction runs both on its own connection, so it sees its own
        uncommitted rows.
        """
        if not queries:
            return pd.DataFrame()
        items = list(queries.items())
        frames: dict[str, pd.DataFrame] = {}
        if len(items) > 1 and not self.db.conn.in_transaction:
            (first, (sql, params)), rest = items[0], items[1:]
            future = _executor().submit(self.query, sql, params)
            for provider, (other_sql, other_params) in rest:
                frames[provider] = self.query(other_sql, other_params)
            frames[first] = future.result()
        else:
            for provider, (sql, params) in items:
                frames[provider] = self.query(sql, params)
        ordered = []
        for provider, _ in items:
            frame = frames[provider]
            if "provider" not in frame.columns:
                frame.insert(0, "provider", provider)
            ordered.append(frame)
        return pd.concat(ordered, ignore_index=True) if len(ordered) > 1 else ordered[0]

    def outcome_counts(
        self, filters: ReportFilters, *, grain: str, amounts: bool, base_tables: bool = False
    ) -> pd.DataFrame:
        """``provider, period, outcome, count[, amount_kurus]`` per period (text days)."""
        period = _period(grain, self.dialect)
        sums = ", SUM(a) AS amount_kurus" if amounts else ""
        queries = {}
        for arm in self._arms(filters, base_tables):
            inner, params = _daily(arm, filters, amounts=amounts, fees=False)
            queries[arm.provider] = (
                f"SELECT {period} AS period, outcome, SUM(n) AS count{sums} FROM ({inner}) AS t "
                "GROUP BY 1, 2 ORDER BY 1, 2",
                params,
            )
        return self._run_arms(queries)

    def breakdown_counts(
        self, filters: ReportFilters, *, by: str, base_tables: bool = False
    ) -> pd.DataFrame:
        """``<by>, provider, outcome, count, amount_kurus`` (``by``: one of BREAKDOWNS)."""
        if by not in BREAKDOWNS:
            raise ValueError(f"by must be one of {', '.join(BREAKDOWNS)}, got {by!r}")
        queries: dict[str, tuple[str, list]] = {}
        if by in ("institution", "invoice_type"):
            for arm in self._arms(filters, base_tables, only=("payofin",), by=(by,)):
                # Grouping by (day, outcome, institution[, invoice_type]) follows the covering
                # index, so the big scan never sorts; the roll-up sorts a few thousand rows.
                group = ("institution",) if by == "institution" else ("institution", "invoice_type")
                inner, params = _daily(arm, filters, fees=False, by=group)
                queries[arm.provider] = (
                    f"SELECT {by}, outcome, SUM(n) AS count, SUM(a) AS amount_kurus "
                    f"FROM ({inner}) AS t GROUP BY 1, 2",
                    params,
                )
        elif by == "provider":
            for arm in self._arms(filters, base_tables):
                inner, params = _daily(arm, filters, fees=False)
                queries[arm.provider] = (
                    f"SELECT '{arm.provider}' AS {by}, outcome, SUM(n) AS count, "
                    f"SUM(a) AS amount_kurus FROM ({inner}) AS t GROUP BY 2",
                    params,
                )
        else:
            for arm in self._arms(filters, base_tables):
                queries[arm.provider] = _status_breakdown(arm, filters)
        return self._run_arms(queries)

    def cancellation_counts(
        self, filters: ReportFilters, *, grain: str, base_tables: bool = False
    ) -> pd.DataFrame:
        """``provider, period, cancelled, settled`` (counts; open records are not settled)."""
        period = _period(grain, self.dialect)
        queries = {}
        for arm in self._arms(filters, base_tables):
            inner, params = _daily(arm, filters, amounts=False, fees=False)
            queries[arm.provider] = (
                f"""SELECT {period} AS period,
                           SUM(CASE WHEN outcome = 'cancelled' THEN n ELSE 0 END) AS cancelled,
                           SUM(CASE WHEN outcome <> 'open' THEN n ELSE 0 END) AS settled
                    FROM ({inner}) AS t GROUP BY 1 ORDER BY 1""",
                params,
            )
        return self._run_arms(queries)

    def fee_sums(
        self, filters: ReportFilters, *, grain: str, base_tables: bool = False
    ) -> pd.DataFrame:
        """Payofin's ``period, payments, fee_kurus, paid_fee_kurus, cancelled_fee_kurus``."""
        period = _period(grain, self.dialect)
        queries = {}
        for arm in self._arms(filters, base_tables, only=("payofin",)):
            inner, params = _daily(arm, filters, amounts=False)
            queries[arm.provider] = (
                f"""SELECT {period} AS period, SUM(n) AS payments, SUM(f) AS fee_kurus,
                           SUM(CASE WHEN outcome = 'paid' THEN f ELSE 0 END) AS paid_fee_kurus,
                           SUM(CASE WHEN outcome = 'cancelled' THEN f ELSE 0 END)
                               AS cancelled_fee_kurus
                    FROM ({inner}) AS t GROUP BY 1 ORDER BY 1""",
                params,
            )
        return self._run_arms(queries)

    def kpi_sums(self, filters: ReportFilters, *, base_tables: bool = False) -> pd.DataFrame:
        """``provider, outcome, n, a, f``: count, amount and fees per provider and outcome."""
        queries = {}
        for arm in self._arms(filters, base_tables):
            inner, params = _daily(arm, filters)
            queries[arm.provider] = (
                f"SELECT outcome, SUM(n) AS n, SUM(a) AS a, SUM(f) AS f FROM ({inner}) AS t GROUP BY 1",
                params,
            )
        return self._run_arms(queries)

    def filter_options(self) -> dict[str, list[str]]:
        """The institutions and bill types the cache holds (for the charts page's pickers)."""
        if self.schema_version() >= migrations.ROLLUP_VERSION:
            source, where = ROLLUP_TOTALS_TABLE, "provider = 'payofin' AND {c} <> ''"
        else:
            source, where = "bill_payments", "{c} IS NOT NULL"
        out = {}
        for key, column in (("institutions", "institution"), ("invoice_types", "invoice_type")):
            sql = (
                f"SELECT DISTINCT {column} FROM {source} WHERE {where.format(c=column)} ORDER BY 1"
            )
            out[key] = [row[0] for row in self.db.conn.execute(sql)]
        return out

    def export_rows(
        self, what: str, columns: Sequence[str], filters: ReportFilters
    ) -> list[pd.DataFrame]:
        """The ``columns`` of the records of ``what`` (``invoices``, ``payments``, ``outcomes``)
        that ``filters`` select, one frame per provider wanted, sorted by day then id."""
        if what not in EXPORT_SOURCES:
            raise ValueError(f"what must be one of {', '.join(EXPORT_SOURCES)}, got {what!r}")
        parts = []
        for provider, table, day, order in EXPORT_SOURCES[what]:
            if not filters.wants(provider):
                continue
            where, params = filter_sql(provider, day, filters)
            if table == "outcomes":
                where = f"provider = ? AND {where}"
                params = [provider, *params]
            sql = f"SELECT {', '.join(columns)} FROM {table} WHERE {where} ORDER BY {day}, {order}"
            parts.append(self.query(sql, params))
        return parts

    def last_day(self, provider: str = "payofin") -> date | None:
        """The latest day with records of ``provider``."""
        table, column = (
            ("bill_payments", "paid_day") if provider == "payofin" else ("invoices", "val_day")
        )
        value = self.db.conn.execute(f"SELECT MAX({column}) FROM {table}").fetchone()[0]
        return date.fromisoformat(value) if value else None


def _status_breakdown(arm: _Arm, filters: ReportFilters) -> tuple[str, list[Any]]:
    """Paynet's six statuses by label, Payofin's ``Paid``/``Cancelled``."""
    where, params = _where(arm, filters)
    if arm.rollup:
        sql = f"""SELECT status, outcome, SUM(count) AS count, SUM(amount_kurus) AS amount_kurus
                  FROM {arm.table} WHERE {where} GROUP BY status, outcome"""
    elif arm.provider == "paynet":
        sql = f"""SELECT s.label AS status, s.outcome AS outcome, SUM(n) AS count,
                      SUM(a) AS amount_kurus
                  FROM (SELECT val_day, status, COUNT(*) AS n, SUM(amount_kurus) AS a
                        FROM invoices WHERE {where} GROUP BY val_day, status) AS d
                  JOIN invoice_statuses AS s USING (status)
                  GROUP BY s.status, s.label, s.outcome"""
    else:
        inner, params = _daily(arm, filters, fees=False)
        sql = f"""SELECT CASE outcome WHEN 'cancelled' THEN 'Cancelled' ELSE 'Paid' END
                      AS status, outcome, SUM(n) AS count, SUM(a) AS amount_kurus
                  FROM ({inner}) AS t GROUP BY 2"""
    return sql, params
