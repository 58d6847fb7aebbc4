"""Charts of paid and cancelled invoices from the cache (never the API while rendering).

Filters live in the URL (st.query_params), so a view can be shared by link.
"""

from datetime import timedelta

import streamlit as st

from dashboard import components as ui
from dashboard import services
from paynet_core import reports
from paynet_core.dates import today
from paynet_core.errors import InputError
from paynet_core.reports.cells import to_csv_bytes

services.require("view")
rt = services.runtime()
st.title("Charts")

try:
    shared = reports.ChartFilters.from_query_params(st.query_params.to_dict())
except InputError as err:
    st.warning(f"The link's filters were ignored: {ui.literal(err)}")
    shared = reports.ChartFilters()
params = st.query_params.to_dict()
options = services.chart_options()

c1, c2, c3, c4 = st.columns([1, 1, 1, 1])
day_from = c1.date_input("From", value=shared.day_from or today() - timedelta(days=90), format="DD.MM.YYYY", key="ch_from")
day_to = c2.date_input("To", value=shared.day_to or today(), format="DD.MM.YYYY", key="ch_to")
grain = c3.segmented_control("Period", ["day", "week", "month"], default=params.get("grain", "week"), key="ch_grain") or "week"
measure = c4.segmented_control("Measure", ["count", "amount"], default=params.get("measure", "count"), key="ch_measure") or "count"
f1, f2, f3 = st.columns(3)
providers = f1.multiselect("Provider", ["paynet", "payofin"], default=list(shared.providers), key="ch_providers")
institutions = f2.multiselect("Institution", options["institutions"], default=[i for i in shared.institutions if i in options["institutions"]], key="ch_institutions")
invoice_types = f3.multiselect("Invoice type", options["invoice_types"], default=[t for t in shared.invoice_types if t in options["invoice_types"]], key="ch_types")

with ui.errors_as_banner():
    filters = reports.ChartFilters(
        day_from=day_from, day_to=day_to, providers=tuple(providers),
        institutions=tuple(institutions), invoice_types=tuple(invoice_types),
    )
    st.query_params.from_dict({**filters.to_query_params(), "grain": grain, "measure": measure})

    series = services.cached_chart("outcome_series", filters, grain=grain, measure=measure)
    main = services.cached_figure(
        "paid_vs_cancelled_figure", "outcome_series", filters, grain=grain, measure=measure,
        figure_kwargs={"measure": measure, "title": f"Paid vs cancelled per {grain}"},
    )
    st.plotly_chart(main, key="ch_main")
    st.download_button("Download chart data (CSV)", to_csv_bytes(series), "paid_vs_cancelled.csv", "text/csv", key="ch_csv")

    left, right = st.columns(2)
    for column, by, title, key in ((left, "institution", "By institution", "ch_inst"), (right, "invoice_type", "By invoice type", "ch_type")):
        figure = services.cached_figure(
            "breakdown_figure", "breakdown", filters, by=by, figure_kwargs={"by": by, "measure": measure, "title": title}
        )
        column.plotly_chart(figure, key=key)
    rate = services.cached_figure("cancellation_rate_figure", "cancellation_rate", filters, grain=grain, figure_kwargs={"title": "Cancellation rate"})
    left.plotly_chart(rate, key="ch_rate")
    fees = services.cached_figure("fee_figure", "fee_totals", filters, grain=grain, figure_kwargs={"title": "Fees"})
    right.plotly_chart(fees, key="ch_fees")
