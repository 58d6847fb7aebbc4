"""Reports: what the charts, KPIs, exports and the support notebook show, from the cache.

- :mod:`.filters` :class:`ChartFilters` and their URL form (a shared link)
- :mod:`.queries` chart data as small DataFrames (the SQL is the store's)
- :mod:`.vega` the charts page's Vega-Lite specs from those DataFrames (``reports.vega``)
- :mod:`.figures` the plotly figures drawn from them (the overview, the notebook)
- :mod:`.exports` the records behind a chart and a job's failed rows, as files
- :mod:`.cells` the CSV/XLSX/parquet writers they share (formula-safe cells)
- :mod:`.notebook` the support team's view (``paynet_core.open_cache``)

``from paynet_core import reports; reports.outcome_series(store, ...)`` reaches them all.
"""

from __future__ import annotations

from .figures import (
    OUTCOME_COLORS,
    OUTCOME_LABELS,
    PROVIDER_COLORS,
    PROVIDER_LABELS,
    SEPARATORS,
    STATUS_OUTCOMES,
    breakdown_figure,
    cancellation_rate_figure,
    fee_figure,
    paid_vs_cancelled_figure,
)
from .filters import PROVIDERS, ChartFilters
from .queries import (
    BREAKDOWNS,
    GRAINS,
    MEASURES,
    OUTCOMES,
    breakdown,
    cancellation_rate,
    fee_totals,
    filter_options,
    from_base_tables,
    kpis,
    outcome_series,
)

__all__ = [
    "BREAKDOWNS",
    "GRAINS",
    "MEASURES",
    "OUTCOMES",
    "OUTCOME_COLORS",
    "OUTCOME_LABELS",
    "PROVIDERS",
    "PROVIDER_COLORS",
    "PROVIDER_LABELS",
    "SEPARATORS",
    "STATUS_OUTCOMES",
    "ChartFilters",
    "breakdown",
    "breakdown_figure",
    "cancellation_rate",
    "cancellation_rate_figure",
    "fee_figure",
    "fee_totals",
    "filter_options",
    "from_base_tables",
    "kpis",
    "outcome_series",
    "paid_vs_cancelled_figure",
]
