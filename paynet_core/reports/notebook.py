"""The cache from a notebook in three lines, with the dashboard's own numbers and figures.

    from paynet_core import open_cache
    cache = open_cache()
    cache.paid_vs_cancelled_figure(day_from="2026-11-01", day_to="2026-11-30")

Every method is a thin call into :mod:`paynet_core.reports` / :mod:`paynet_core.reports.exports` with
the same :class:`~paynet_core.reports.ChartFilters`, so a notebook shows what the dashboard
shows. The cache is opened read-only: a notebook can never change it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from .. import reports
from ..dates import parse_any_date
from ..store import Store
from . import exports
from .filters import ChartFilters


@dataclass
class Cache:
    """A read-only cache with the dashboard's chart functions bound to it."""

    store: Store

    # ---- filters ------------------------------------------------------------------------

    @staticmethod
    def filters(
        day_from: date | str | None = None,
        day_to: date | str | None = None,
        *,
        providers: str | tuple[str, ...] = (),
        institutions: str | tuple[str, ...] = (),
        invoice_types: str | tuple[str, ...] = (),
        agent_id: str | None = None,
    ) -> ChartFilters:
        """The charts page's filters; days as ``date``, ``2026-11-23`` or ``23.11.2026``."""
        return ChartFilters(
            day_from=_as_day(day_from, "day_from"),
            day_to=_as_day(day_to, "day_to"),
            providers=_as_tuple(providers),
            institutions=_as_tuple(institutions),
            invoice_types=_as_tuple(invoice_types),
            agent_id=agent_id,
        )

    def _filters(self, filters: ChartFilters | None, kwargs: dict[str, Any]) -> ChartFilters:
        if filters is not None and kwargs:
            raise TypeError("give filters= or filter keywords, not both")
        return filters if filters is not None else self.filters(**kwargs)

    # ---- the dashboard's numbers --------------------------------------------------------

    def outcomes(
        self,
        *,
        grain: str = "day",
        measure: str = "count",
        filters: ChartFilters | None = None,
        **filter_kwargs: Any,
    ) -> pd.DataFrame:
        """Records per period, provider and outcome: :func:`reports.outcome_series`."""
        return reports.outcome_series(
            self.store, grain=grain, measure=measure, filters=self._filters(filters, filter_kwargs)
        )

    def paid_vs_cancelled_figure(
        self,
        *,
        grain: str = "day",
        measure: str = "count",
        title: str | None = None,
        filters: ChartFilters | None = None,
        **filter_kwargs: Any,
    ) -> go.Figure:
        """The dashboard's paid-vs-cancelled chart for these filters."""
        series = self.outcomes(grain=grain, measure=measure, filters=filters, **filter_kwargs)
        return reports.paid_vs_cancelled_figure(series, measure, title=title)

    def kpis(self, *, filters: ChartFilters | None = None, **filter_kwargs: Any) -> dict:
        """Headline numbers: :func:`reports.kpis`."""
        return reports.kpis(self.store, self._filters(filters, filter_kwargs))

    def breakdown(
        self, by: str = "institution", *, filters: ChartFilters | None = None, **filter_kwargs: Any
    ) -> pd.DataFrame:
        """Counts and sums per institution, bill type, provider or status: :func:`reports.breakdown`."""
        return reports.breakdown(self.store, by, self._filters(filters, filter_kwargs))

    def cancellation_rate(
        self, grain: str = "week", *, filters: ChartFilters | None = None, **filter_kwargs: Any
    ) -> pd.DataFrame:
        """Cancelled share of settled records per period: :func:`reports.cancellation_rate`."""
        return reports.cancellation_rate(self.store, grain, self._filters(filters, filter_kwargs))

    # ---- rows ---------------------------------------------------------------------------

    def records(
        self,
        what: exports.ExportKind = "outcomes",
        *,
        filters: ChartFilters | None = None,
        **filter_kwargs: Any,
    ) -> pd.DataFrame:
        """The rows behind a chart (``invoices``, ``payments`` or ``outcomes``), as exported."""
        return exports.export_frame(self.store, what, self._filters(filters, filter_kwargs))

    def sql(self, query: str, params: Any = ()) -> pd.DataFrame:
        """Any read query on the cache (tables and views: "The cache database" in the README)."""
        return self.store.query(query, params)

    def invoice(self, invoice_no: str) -> dict | None:
        return self.store.get_invoice(invoice_no=invoice_no)

    def invoice_history(self, invoice_no: str) -> pd.DataFrame:
        return self.store.invoice_history(invoice_no)

    def payment(self, invoice_payment_id: int | str) -> dict | None:
        return self.store.get_payment(invoice_payment_id)

    def last_day(self, provider: str = "payofin") -> date | None:
        """The latest day with records of ``provider`` (anchors "the last 30 days" on a stale cache)."""
        return self.store.last_day(provider)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_cache(path: str | os.PathLike[str] | None = None) -> Cache:
    """Open the cache read-only.

    ``path`` defaults to ``$PAYNET_OPS_DB`` (else ``data/paynet_ops.db``). In sandbox mode
    (no credentials), a cache that has never been synced is first filled with the sandbox's
    demo data, as when the dashboard starts.
    """
    if path is None:
        from ..config import Mode, load_settings
        from ..runtime import open_runtime, prepare_demo

        settings = load_settings()
        path = settings.cache_target
        if settings.mode is Mode.SANDBOX:
            runtime = prepare_demo(open_runtime(settings))
            runtime.store.close()
    return Cache(Store.read_only(path))


# ChartFilters would also take these spellings; converting here keeps its field types exact.
def _as_day(value: date | str | None, name: str) -> date | None:
    return value if value is None or isinstance(value, date) else parse_any_date(value, field=name)


def _as_tuple(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else value
