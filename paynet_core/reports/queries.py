"""Chart data from the cache: the store's aggregates, typed into small DataFrames.

The dashboard, the CLI and the support notebook call the same functions, so they show the same
numbers. Every function returns a small DataFrame of aggregates (the SQL is the store's:
:mod:`paynet_core.store.reports`); no function reads the big tables into pandas. Money stays
integer kuruş (``*_kurus`` columns); ``*_tl`` columns are floats for plotting only.

Inside :func:`from_base_tables` the store reads ``invoices`` and ``bill_payments`` instead of the
daily rollup (the tests compare the two).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import pandas as pd

from ..outcomes import Outcome
from ..store import Store
from ..store.reports import BREAKDOWNS, GRAINS
from .filters import ChartFilters

OUTCOMES = tuple(o.value for o in (Outcome.PAID, Outcome.CANCELLED, Outcome.FAILED, Outcome.OPEN))
MEASURES = ("count", "amount")
__all__ = ["BREAKDOWNS", "GRAINS", "MEASURES", "OUTCOMES"]  # re-exported with the functions

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


def filter_options(store: Store) -> dict[str, list[str]]:
    """The institutions and bill types the cache holds (for the charts page's pickers)."""
    return store.filter_options()


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
    _check("grain", grain, GRAINS)
    filters = filters or ChartFilters()
    amounts = measure == "amount"
    frame = store.outcome_counts(
        filters, grain=grain, amounts=amounts, base_tables=_BASE_TABLES.get()
    )
    columns = {"period": "datetime64[us]", "provider": "str", "outcome": "str"}
    columns |= {"count": "int64"} | ({"amount_kurus": "int64"} if amounts else {})
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
    frame = store.breakdown_counts(filters, by=by, base_tables=_BASE_TABLES.get())
    columns = {by: "str", "provider": "str", "outcome": "str", "count": "int64"}
    columns |= {"amount_kurus": "int64"}
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
    _check("grain", grain, GRAINS)
    filters = filters or ChartFilters()
    frame = store.cancellation_counts(filters, grain=grain, base_tables=_BASE_TABLES.get())
    columns = {"period": "datetime64[us]", "provider": "str"}
    columns |= {"cancelled": "int64", "settled": "int64", "rate": "float64"}
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
    _check("grain", grain, GRAINS)
    filters = filters or ChartFilters()
    frame = store.fee_sums(filters, grain=grain, base_tables=_BASE_TABLES.get())
    columns = {"period": "datetime64[us]", "payments": "int64", "fee_kurus": "int64"}
    columns |= {"paid_fee_kurus": "int64", "cancelled_fee_kurus": "int64"}
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
    frame = store.kpi_sums(filters, base_tables=_BASE_TABLES.get())
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

    out["fee_kurus"] = fees(Outcome.PAID)
    out["cancelled_fee_kurus"] = fees(Outcome.CANCELLED)
    return out
