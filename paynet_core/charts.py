"""Chart data from the cache, computed in SQL, and the plotly figures the dashboard draws.

The dashboard, the CLI and the support notebook call the same functions, so they show the same
numbers. Every function returns a small DataFrame of aggregates; no function reads the big
tables into pandas. Money stays integer kuruş (``*_kurus`` columns); ``*_tl`` columns are
floats for plotting only, and hover texts are formatted with :func:`money.format_amount`.

How the SQL stays fast at a million rows per provider: every chart reads the store's
``daily_rollup`` (counts and sums per provider, day, outcome, status, institution, bill type and
agent, kept in step by the store's writes; ``daily_rollup_totals``, the same summed over agents,
when no agent is filtered), a few thousand rows instead of millions. Each
provider is one *arm* aggregated by day and outcome; the outer query rolls the daily groups up to
weeks, months, institutions... A cache whose schema predates the rollup (a read-only file from an
older version) is read from the base tables (``invoices``, ``bill_payments``) through their
covering indexes, with the same numbers; :func:`from_base_tables` forces that path (the tests
compare the two). When a chart needs both arms they run at the same
time on two connections (SQLite releases the GIL while it works).

Filters follow the data: institution and bill type exist only for Payofin payments and the
agent only for Paynet invoices, so filtering on one of them leaves the other provider out.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields, replace
from datetime import date
from typing import Any
from urllib.parse import unquote

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .dates import parse_any_date
from .errors import InputError
from .money import format_amount, kurus_to_tl
from .outcomes import Outcome
from .paynet.models import InvoiceStatus
from .store import ROLLUP_TABLE, ROLLUP_TOTALS_TABLE, ROLLUP_VERSION, Store

PROVIDERS = ("paynet", "payofin")
OUTCOMES = tuple(o.value for o in (Outcome.PAID, Outcome.CANCELLED, Outcome.FAILED, Outcome.OPEN))
GRAINS = ("day", "week", "month")
MEASURES = ("count", "amount")
BREAKDOWNS = ("institution", "invoice_type", "provider", "status")

OUTCOME_COLORS = {"paid": "#2e7d32", "cancelled": "#c62828", "failed": "#ef6c00", "open": "#9e9e9e"}
PROVIDER_COLORS = {"paynet": "#1565c0", "payofin": "#6a1b9a"}
OUTCOME_LABELS = {"paid": "Paid", "cancelled": "Cancelled", "failed": "Failed", "open": "Open"}
PROVIDER_LABELS = {"paynet": "Paynet", "payofin": "Payofin"}
#: Statuses as the status breakdown names them, with the outcome each belongs to.
STATUS_OUTCOMES = {s.label: s.outcome.value for s in InvoiceStatus} | {
    "Paid": "paid",
    "Cancelled": "cancelled",
}
#: plotly's number format: decimal comma, thousands dot (1.234,56).
SEPARATORS = ",."


# --------------------------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartFilters:
    """What a chart shows. Empty tuples and None mean "all". Days are inclusive.

    Hashable and normalised (sorted, de-duplicated), so equal filters are equal cache keys.
    """

    day_from: date | None = None
    day_to: date | None = None
    providers: tuple[str, ...] = ()
    institutions: tuple[str, ...] = ()
    invoice_types: tuple[str, ...] = ()
    agent_id: str | None = None

    def __post_init__(self) -> None:
        for name in ("day_from", "day_to"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, date):
                object.__setattr__(self, name, parse_any_date(value, field=name))
        if self.day_from and self.day_to and self.day_from > self.day_to:
            raise InputError("the first day is after the last day", field="day_from")
        for name in ("providers", "institutions", "invoice_types"):
            value = getattr(self, name)
            items = (value,) if isinstance(value, str) else tuple(value or ())
            cleaned = tuple(sorted({str(v).strip() for v in items if str(v).strip()}))
            object.__setattr__(self, name, cleaned)
        unknown = set(self.providers) - set(PROVIDERS)
        if unknown:
            raise InputError(
                f"unknown provider {sorted(unknown)[0]!r} (choose from {', '.join(PROVIDERS)})",
                field="providers",
            )
        agent = (self.agent_id or "").strip() or None
        object.__setattr__(self, "agent_id", agent)

    # Short keys keep shared links readable: ?from=2026-11-01&to=2026-11-30&provider=payofin
    _PARAMS = {
        "day_from": "from",
        "day_to": "to",
        "providers": "provider",
        "institutions": "institution",
        "invoice_types": "invoice_type",
        "agent_id": "agent",
    }

    def to_query_params(self) -> dict[str, str]:
        """The filters as URL query parameters (for ``st.query_params.update(...)``).

        Lists are joined with commas (a comma inside a name is written ``%2C``); empty filters
        are left out, so the default view has a clean URL.
        """
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or value == ():
                continue
            if isinstance(value, date):
                text = value.isoformat()
            elif isinstance(value, tuple):
                text = ",".join(_escape(v) for v in value)
            else:
                text = str(value)
            out[self._PARAMS[f.name]] = text
        return out

    @classmethod
    def from_query_params(cls, params: Mapping[str, str | Sequence[str]]) -> ChartFilters:
        """Filters from query parameters (``st.query_params.to_dict()``, or lists of values).

        Unknown keys are ignored (the page may keep its own); days may be ``2026-11-23`` or
        ``23.11.2026``. Invalid values raise :class:`~paynet_core.errors.InputError`.
        """
        kwargs: dict[str, Any] = {}
        for name, key in cls._PARAMS.items():
            if key not in params:
                continue
            raw = params[key]
            values = [raw] if isinstance(raw, str) else list(raw)
            if name in ("providers", "institutions", "invoice_types"):
                kwargs[name] = tuple(
                    _unescape(item) for value in values for item in value.split(",") if item
                )
            elif values and values[-1]:
                kwargs[name] = values[-1]
        for name in ("day_from", "day_to"):
            if name in kwargs:
                kwargs[name] = parse_any_date(kwargs[name], field=name)
        return cls(**kwargs)

    def wants(self, provider: str) -> bool:
        """Whether rows of ``provider`` can match these filters at all."""
        if self.providers and provider not in self.providers:
            return False
        if provider == "paynet":
            return not (self.institutions or self.invoice_types)
        return self.agent_id is None


def _escape(value: str) -> str:
    return value.replace("%", "%25").replace(",", "%2C")


def _unescape(value: str) -> str:
    return unquote(value)


# --------------------------------------------------------------------------------------------
# SQL: one arm per provider
# --------------------------------------------------------------------------------------------


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


def filter_sql(provider: str, day_column: str, filters: ChartFilters) -> tuple[str, list[Any]]:
    """The WHERE clause and parameters that apply the charts page's ``filters`` to one
    provider's rows, dated by ``day_column``: so other readers (exports) select exactly the
    rows the charts count."""
    return _where(_Arm(provider, "", day_column, has_fees=False), filters)


def _where(arm: _Arm, filters: ChartFilters) -> tuple[str, list[Any]]:
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
    filters: ChartFilters,
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


def _period(grain: str) -> str:
    if grain == "day":
        return "day"
    if grain == "week":
        return "date(day, '-6 days', 'weekday 1')"  # the Monday of the ISO week
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


def _run_arms(store: Store, queries: dict[str, tuple[str, list]]) -> pd.DataFrame:
    """Run each provider's query (two at once when both are wanted); rows in provider order.

    A caller inside a write transaction runs both on its own connection, so it sees its own
    uncommitted rows.
    """
    if not queries:
        return pd.DataFrame()
    items = list(queries.items())
    frames: dict[str, pd.DataFrame] = {}
    if len(items) > 1 and not store.db.conn.in_transaction:
        (first, (sql, params)), rest = items[0], items[1:]
        future = _executor().submit(store.query, sql, params)
        for provider, (other_sql, other_params) in rest:
            frames[provider] = store.query(other_sql, other_params)
        frames[first] = future.result()
    else:
        for provider, (sql, params) in items:
            frames[provider] = store.query(sql, params)
    ordered = []
    for provider, _ in items:
        frame = frames[provider]
        if "provider" not in frame.columns:
            frame.insert(0, "provider", provider)
        ordered.append(frame)
    return pd.concat(ordered, ignore_index=True) if len(ordered) > 1 else ordered[0]


_BASE_TABLES: ContextVar[bool] = ContextVar("paynet_charts_base_tables", default=False)


@contextmanager
def from_base_tables() -> Iterator[None]:
    """Inside this block charts read ``invoices`` and ``bill_payments`` instead of the rollup
    (to compare the two: same numbers, much slower at size)."""
    token = _BASE_TABLES.set(True)
    try:
        yield
    finally:
        _BASE_TABLES.reset(token)


def _arms(store: Store, filters: ChartFilters, only: Sequence[str] = PROVIDERS) -> list[_Arm]:
    wanted = [_ARMS[p] for p in PROVIDERS if p in only and filters.wants(p)]
    if wanted and not _BASE_TABLES.get() and store.schema_version() >= ROLLUP_VERSION:
        # Summed over agents unless the agent matters: far fewer rows to read.
        table = ROLLUP_TABLE if filters.agent_id else ROLLUP_TOTALS_TABLE
        return [replace(a, table=table, day="day", rollup=True) for a in wanted]
    return wanted


def filter_options(store: Store) -> dict[str, list[str]]:
    """The institutions and bill types the cache holds (for the charts page's pickers)."""
    if store.schema_version() >= ROLLUP_VERSION:
        source, where = ROLLUP_TOTALS_TABLE, "provider = 'payofin' AND {c} <> ''"
    else:
        source, where = "bill_payments", "{c} IS NOT NULL"
    out = {}
    for key, column in (("institutions", "institution"), ("invoice_types", "invoice_type")):
        sql = f"SELECT DISTINCT {column} FROM {source} WHERE {where.format(c=column)} ORDER BY 1"
        out[key] = [row[0] for row in store.db.conn.execute(sql)]
    return out


def _ints(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    for column in columns:
        frame[column] = frame[column].fillna(0).astype("int64")
    return frame


def _add_tl(frame: pd.DataFrame, kurus: str, tl: str) -> None:
    # Integer kuruş / 100 in float64 is the correctly rounded TL value (what float(Decimal)
    # gives) for any amount below 2**53 kuruş; vectorised because day series have thousands.
    frame[tl] = frame[kurus].astype("int64") / 100


def _empty(columns: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in columns.items()})


def _check(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


# --------------------------------------------------------------------------------------------
# Chart data
# --------------------------------------------------------------------------------------------


def outcome_series(
    store: Store,
    *,
    grain: str = "day",
    measure: str = "count",
    filters: ChartFilters | None = None,
) -> pd.DataFrame:
    """Records per period, provider and outcome (paid, cancelled, failed, open).

    Columns: ``period`` (first day of the day/week/month, datetime), ``provider``, ``outcome``,
    ``count``; with ``measure='amount'`` also ``amount_kurus`` (int) and ``amount_tl`` (float,
    for plotting). Weeks start on Monday. Periods without records have no rows.
    """
    _check("measure", measure, MEASURES)
    period = _period(grain)
    filters = filters or ChartFilters()
    amounts = measure == "amount"
    sums = ", SUM(a) AS amount_kurus" if amounts else ""
    queries = {}
    for arm in _arms(store, filters):
        inner, params = _daily(arm, filters, amounts=amounts, fees=False)
        queries[arm.provider] = (
            f"SELECT {period} AS period, outcome, SUM(n) AS count{sums} FROM ({inner}) "
            "GROUP BY 1, 2 ORDER BY 1, 2",
            params,
        )
    columns = {"period": "datetime64[us]", "provider": "str", "outcome": "str"}
    columns |= {"count": "int64"} | ({"amount_kurus": "int64"} if amounts else {})
    frame = _run_arms(store, queries)
    if frame.empty:
        out = _empty(columns)
        if amounts:
            out["amount_tl"] = pd.Series(dtype="float64")
        return out
    frame = _ints(frame[list(columns)], ["count", *(["amount_kurus"] if amounts else [])])
    frame["period"] = pd.to_datetime(frame["period"], format="%Y-%m-%d").astype("datetime64[us]")
    if amounts:
        _add_tl(frame, "amount_kurus", "amount_tl")
    frame.attrs["grain"] = grain
    return frame


def breakdown(store: Store, by: str = "institution", filters: ChartFilters | None = None):
    """Counts and sums per ``by`` and outcome: ``institution`` or ``invoice_type`` (Payofin
    payments only), ``provider``, or ``status`` (Paynet's six statuses by label, Payofin's
    ``Paid``/``Cancelled``).

    Columns: ``<by>``, ``provider``, ``outcome``, ``count``, ``amount_kurus``, ``amount_tl``;
    biggest count first. (Fees: :func:`fee_totals` and :func:`kpis`.)
    """
    _check("by", by, BREAKDOWNS)
    filters = filters or ChartFilters()
    queries: dict[str, tuple[str, list]] = {}
    if by in ("institution", "invoice_type"):
        for arm in _arms(store, filters, only=("payofin",)):
            # Grouping by (day, outcome, institution[, invoice_type]) follows the covering
            # index, so the big scan never sorts; the roll-up sorts a few thousand rows.
            group = ("institution",) if by == "institution" else ("institution", "invoice_type")
            inner, params = _daily(arm, filters, fees=False, by=group)
            queries[arm.provider] = (
                f"SELECT {by}, outcome, SUM(n) AS count, SUM(a) AS amount_kurus "
                f"FROM ({inner}) GROUP BY 1, 2",
                params,
            )
    elif by == "provider":
        for arm in _arms(store, filters):
            inner, params = _daily(arm, filters, fees=False)
            queries[arm.provider] = (
                f"SELECT '{arm.provider}' AS {by}, outcome, SUM(n) AS count, "
                f"SUM(a) AS amount_kurus FROM ({inner}) GROUP BY 2",
                params,
            )
    else:
        for arm in _arms(store, filters):
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
                          GROUP BY d.status"""
            else:
                inner, params = _daily(arm, filters, fees=False)
                sql = f"""SELECT CASE outcome WHEN 'cancelled' THEN 'Cancelled' ELSE 'Paid' END
                              AS status, outcome, SUM(n) AS count, SUM(a) AS amount_kurus
                          FROM ({inner}) GROUP BY 2"""
            queries[arm.provider] = (sql, params)
    columns = {by: "str", "provider": "str", "outcome": "str", "count": "int64"}
    columns |= {"amount_kurus": "int64"}
    frame = _run_arms(store, queries)
    if frame.empty:
        out = _empty(columns)
        out["amount_tl"] = pd.Series(dtype="float64")
        return out
    frame = _ints(frame[list(columns)], ["count", "amount_kurus"])
    frame = frame.sort_values(["count", by, "outcome"], ascending=[False, True, True])
    frame = frame.reset_index(drop=True)
    _add_tl(frame, "amount_kurus", "amount_tl")
    return frame


def cancellation_rate(
    store: Store, grain: str = "week", filters: ChartFilters | None = None
) -> pd.DataFrame:
    """Share of settled records that ended cancelled, per period and provider.

    ``rate = cancelled / (paid + cancelled + failed)`` by count; open invoices are not settled
    yet and stay out. Columns: ``period``, ``provider``, ``cancelled``, ``settled``, ``rate``
    (0..1, NaN when nothing settled).
    """
    period = _period(grain)
    filters = filters or ChartFilters()
    queries = {}
    for arm in _arms(store, filters):
        inner, params = _daily(arm, filters, amounts=False, fees=False)
        queries[arm.provider] = (
            f"""SELECT {period} AS period,
                       SUM(CASE WHEN outcome = 'cancelled' THEN n ELSE 0 END) AS cancelled,
                       SUM(CASE WHEN outcome <> 'open' THEN n ELSE 0 END) AS settled
                FROM ({inner}) GROUP BY 1 ORDER BY 1""",
            params,
        )
    columns = {"period": "datetime64[us]", "provider": "str"}
    columns |= {"cancelled": "int64", "settled": "int64", "rate": "float64"}
    frame = _run_arms(store, queries)
    if frame.empty:
        return _empty(columns)
    frame = _ints(frame, ["cancelled", "settled"])
    frame["period"] = pd.to_datetime(frame["period"], format="%Y-%m-%d").astype("datetime64[us]")
    frame["rate"] = frame["cancelled"] / frame["settled"].where(frame["settled"] > 0)
    frame.attrs["grain"] = grain
    return frame[list(columns)]


def fee_totals(
    store: Store, grain: str = "month", filters: ChartFilters | None = None
) -> pd.DataFrame:
    """Payofin service fees per period (Paynet charges none through this API).

    Columns: ``period``, ``payments`` (count), ``fee_kurus`` (all), ``paid_fee_kurus``,
    ``cancelled_fee_kurus``, ``fee_tl``, ``paid_fee_tl``. Whether Payofin refunds the fee of a
    cancelled payment is not documented, so both are shown.
    """
    period = _period(grain)
    filters = filters or ChartFilters()
    queries = {}
    for arm in _arms(store, filters, only=("payofin",)):
        inner, params = _daily(arm, filters, amounts=False)
        queries[arm.provider] = (
            f"""SELECT {period} AS period, SUM(n) AS payments, SUM(f) AS fee_kurus,
                       SUM(CASE WHEN outcome = 'paid' THEN f ELSE 0 END) AS paid_fee_kurus,
                       SUM(CASE WHEN outcome = 'cancelled' THEN f ELSE 0 END)
                           AS cancelled_fee_kurus
                FROM ({inner}) GROUP BY 1 ORDER BY 1""",
            params,
        )
    columns = {"period": "datetime64[us]", "payments": "int64", "fee_kurus": "int64"}
    columns |= {"paid_fee_kurus": "int64", "cancelled_fee_kurus": "int64"}
    frame = _run_arms(store, queries)
    if frame.empty:
        out = _empty(columns)
        out["fee_tl"] = pd.Series(dtype="float64")
        out["paid_fee_tl"] = pd.Series(dtype="float64")
        return out
    frame = _ints(frame[list(columns)], list(columns)[1:])
    frame["period"] = pd.to_datetime(frame["period"], format="%Y-%m-%d").astype("datetime64[us]")
    _add_tl(frame, "fee_kurus", "fee_tl")
    _add_tl(frame, "paid_fee_kurus", "paid_fee_tl")
    frame.attrs["grain"] = grain
    return frame


def kpis(store: Store, filters: ChartFilters | None = None) -> dict[str, int | float | None]:
    """Headline numbers for the filters: counts and kuruş per outcome, the cancellation rate
    (as :func:`cancellation_rate`), open invoices and fees (on paid payments).

    Keys: ``paid_count``, ``paid_kurus``, ``cancelled_count``, ``cancelled_kurus``,
    ``failed_count``, ``failed_kurus``, ``open_count``, ``open_kurus``, ``total_count``,
    ``cancellation_rate`` (None when nothing settled), ``fee_kurus``, ``cancelled_fee_kurus``.
    """
    filters = filters or ChartFilters()
    queries = {}
    for arm in _arms(store, filters):
        inner, params = _daily(arm, filters)
        queries[arm.provider] = (
            f"SELECT outcome, SUM(n) AS n, SUM(a) AS a, SUM(f) AS f FROM ({inner}) GROUP BY 1",
            params,
        )
    frame = _run_arms(store, queries)
    out: dict[str, int | float | None] = {}
    for outcome in OUTCOMES:
        rows = frame[frame["outcome"] == outcome] if not frame.empty else frame
        out[f"{outcome}_count"] = int(rows["n"].sum()) if not rows.empty else 0
        out[f"{outcome}_kurus"] = int(rows["a"].sum()) if not rows.empty else 0
    out["total_count"] = sum(out[f"{o}_count"] for o in OUTCOMES)  # type: ignore[misc]
    settled = out["total_count"] - out["open_count"]  # type: ignore[operator]
    out["cancellation_rate"] = out["cancelled_count"] / settled if settled else None  # type: ignore[operator]

    def fees(outcome: str) -> int:
        if frame.empty:
            return 0
        return int(frame.loc[frame["outcome"] == outcome, "f"].sum())

    out["fee_kurus"] = fees("paid")
    out["cancelled_fee_kurus"] = fees("cancelled")
    return out


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def _count_text(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def _layout(fig: go.Figure, *, title: str | None, money: bool) -> go.Figure:
    fig.update_layout(
        separators=SEPARATORS,
        title=title,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        margin={"l": 10, "r": 10, "t": 60 if title else 30, "b": 10},
        hovermode="closest",
    )
    if money:
        fig.update_yaxes(tickformat=",.0f", ticksuffix=" ₺", rangemode="tozero")
    else:
        fig.update_yaxes(tickformat=",d", rangemode="tozero")
    return fig


def _date_axis(fig: go.Figure, grain: str | None) -> None:
    fig.update_xaxes(tickformat="%m.%Y" if grain == "month" else "%d.%m.%Y")


def _period_text(period: pd.Timestamp, grain: str | None) -> str:
    if grain == "month":
        return period.strftime("%m.%Y")
    if grain == "week":
        return f"week of {period.strftime('%d.%m.%Y')}"
    return period.strftime("%d.%m.%Y")


def paid_vs_cancelled_figure(
    df: pd.DataFrame, measure: str = "count", *, title: str | None = None
) -> go.Figure:
    """Stacked bars per period, one panel per provider, coloured by outcome.

    ``df`` is :func:`outcome_series`; ``measure='amount'`` needs it built with amounts.
    """
    _check("measure", measure, MEASURES)
    if measure == "amount" and "amount_kurus" not in df.columns:
        raise ValueError("measure='amount' needs outcome_series(..., measure='amount')")
    grain = df.attrs.get("grain")
    providers = [p for p in PROVIDERS if p in set(df["provider"])] or list(PROVIDERS[:1])
    fig = make_subplots(
        rows=len(providers),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        subplot_titles=[PROVIDER_LABELS[p] for p in providers],
    )
    in_legend: set[str] = set()
    for row, provider in enumerate(providers, start=1):
        part = df[df["provider"] == provider]
        for outcome in OUTCOMES:
            rows = part[part["outcome"] == outcome]
            if rows.empty:
                continue
            if measure == "amount":
                y = rows["amount_tl"]
                texts = [format_amount(int(k)) for k in rows["amount_kurus"]]
            else:
                y = rows["count"]
                texts = [_count_text(int(n)) for n in rows["count"]]
            when = [_period_text(p, grain) for p in rows["period"]]
            fig.add_trace(
                go.Bar(
                    x=rows["period"],
                    y=y,
                    name=OUTCOME_LABELS[outcome],
                    legendgroup=outcome,
                    showlegend=outcome not in in_legend,
                    marker_color=OUTCOME_COLORS[outcome],
                    customdata=list(zip(when, texts, strict=True)),
                    hovertemplate=(
                        f"{PROVIDER_LABELS[provider]} · {OUTCOME_LABELS[outcome]}<br>"
                        "%{customdata[0]}: <b>%{customdata[1]}</b><extra></extra>"
                    ),
                    meta={"provider": provider, "outcome": outcome},
                ),
                row=row,
                col=1,
            )
            in_legend.add(outcome)
    fig.update_layout(barmode="stack")
    _date_axis(fig, grain)
    return _layout(fig, title=title, money=measure == "amount")


def breakdown_figure(
    df: pd.DataFrame, by: str | None = None, measure: str = "count", *, title: str | None = None
) -> go.Figure:
    """Horizontal stacked bars per ``by`` value, coloured by outcome. ``df`` is :func:`breakdown`."""
    _check("measure", measure, MEASURES)
    by = by or next(c for c in df.columns if c in BREAKDOWNS)
    labels = df[by].map(lambda v: PROVIDER_LABELS.get(v, v) if by == "provider" else v)
    df = df.assign(_label=labels.fillna("—"))
    order = df.groupby("_label", sort=False)["count"].sum().sort_values().index.tolist()
    fig = go.Figure()
    for outcome in OUTCOMES:
        rows = df[df["outcome"] == outcome]
        if rows.empty:
            continue
        if measure == "amount":
            x = rows["amount_tl"]
            texts = [format_amount(int(k)) for k in rows["amount_kurus"]]
        else:
            x = rows["count"]
            texts = [_count_text(int(n)) for n in rows["count"]]
        fig.add_trace(
            go.Bar(
                y=rows["_label"],
                x=x,
                orientation="h",
                name=OUTCOME_LABELS[outcome],
                marker_color=OUTCOME_COLORS[outcome],
                customdata=texts,
                hovertemplate=(
                    f"%{{y}} · {OUTCOME_LABELS[outcome]}: <b>%{{customdata}}</b><extra></extra>"
                ),
                meta={"outcome": outcome},
            )
        )
    fig.update_layout(barmode="stack")
    fig.update_yaxes(categoryorder="array", categoryarray=order)
    _layout(fig, title=title, money=False)
    if measure == "amount":
        fig.update_xaxes(tickformat=",.0f", ticksuffix=" ₺")
    else:
        fig.update_xaxes(tickformat=",d")
    fig.update_yaxes(tickformat=None, ticksuffix=None)
    return fig


def cancellation_rate_figure(df: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """One line per provider (provider colours); ``df`` is :func:`cancellation_rate`."""
    grain = df.attrs.get("grain")
    fig = go.Figure()
    for provider in PROVIDERS:
        rows = df[df["provider"] == provider]
        if rows.empty:
            continue
        customdata = [
            (_period_text(p, grain), _count_text(int(c)), _count_text(int(s)))
            for p, c, s in zip(rows["period"], rows["cancelled"], rows["settled"], strict=True)
        ]
        fig.add_trace(
            go.Scatter(
                x=rows["period"],
                y=rows["rate"],
                mode="lines+markers",
                name=PROVIDER_LABELS[provider],
                line={"color": PROVIDER_COLORS[provider]},
                marker={"color": PROVIDER_COLORS[provider]},
                customdata=customdata,
                hovertemplate=(
                    f"{PROVIDER_LABELS[provider]} · %{{customdata[0]}}<br>"
                    "<b>%{y:.1%}</b> cancelled (%{customdata[1]} of %{customdata[2]})"
                    "<extra></extra>"
                ),
                meta={"provider": provider},
            )
        )
    _date_axis(fig, grain)
    _layout(fig, title=title, money=False)
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    return fig


def fee_figure(df: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Stacked fee bars per period: fees on paid payments, fees on cancelled ones."""
    grain = df.attrs.get("grain")
    fig = go.Figure()
    parts = (
        ("paid", "paid_fee_kurus", "Fees on paid payments"),
        ("cancelled", "cancelled_fee_kurus", "Fees on cancelled payments"),
    )
    for outcome, column, name in parts:
        customdata = [
            (_period_text(p, grain), format_amount(int(k)))
            for p, k in zip(df["period"], df[column], strict=True)
        ]
        fig.add_trace(
            go.Bar(
                x=df["period"],
                y=[float(kurus_to_tl(int(k))) for k in df[column]],
                name=name,
                marker_color=OUTCOME_COLORS[outcome],
                customdata=customdata,
                hovertemplate=f"{name}<br>%{{customdata[0]}}: <b>%{{customdata[1]}}</b><extra></extra>",
                meta={"outcome": outcome, "provider": "payofin"},
            )
        )
    fig.update_layout(barmode="stack")
    _date_axis(fig, grain)
    return _layout(fig, title=title, money=True)
