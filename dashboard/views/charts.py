"""Charts of paid and cancelled invoices from the cache (never the API while rendering),
drawn with Vega-Lite.

Filters live in the URL (st.query_params), so a view can be shared by link.
"""

from datetime import timedelta

import streamlit as st

from dashboard import components as ui
from dashboard import services
from paynet_core import reports
from paynet_core.dates import today
from paynet_core.errors import InputError
from paynet_core.i18n import N_, _, tr_sort_key

services.require("view")
rt = services.runtime()
st.title(_("Charts"))

try:
    shared = reports.ChartFilters.from_query_params(st.query_params.to_dict())
except InputError as err:
    st.warning(_("The link's filters were ignored: {error}", error=ui.literal(err)))
    shared = reports.ChartFilters()
params = st.query_params.to_dict()
options = services.chart_options()

c1, c2, c3, c4 = st.columns([1, 1, 1, 1])
day_from = c1.date_input(
    _("From"),
    value=shared.day_from or today() - timedelta(days=90),
    format="DD.MM.YYYY",
    key="ch_from",
)
day_to = c2.date_input(_("To"), value=shared.day_to or today(), format="DD.MM.YYYY", key="ch_to")
GRAINS = {"day": N_("day"), "week": N_("week"), "month": N_("month")}
MEASURES = {"count": N_("count"), "amount": N_("amount")}
PER = {
    "day": N_("Paid vs cancelled per day"),
    "week": N_("Paid vs cancelled per week"),
    "month": N_("Paid vs cancelled per month"),
}
grain = (
    c3.segmented_control(
        _("Period"),
        list(GRAINS),
        format_func={g: _(name) for g, name in GRAINS.items()}.__getitem__,
        default=params.get("grain", "week"),
        key="ch_grain",
    )
    or "week"
)
measure = (
    c4.segmented_control(
        _("Measure"),
        list(MEASURES),
        format_func={m: _(name) for m, name in MEASURES.items()}.__getitem__,
        default=params.get("measure", "count"),
        key="ch_measure",
    )
    or "count"
)
f1, f2, f3 = st.columns(3)
choose = _("Choose options")
providers = f1.multiselect(
    _("Provider"),
    ["paynet", "payofin"],
    format_func={"paynet": "Paynet", "payofin": "Payofin"}.get,
    default=list(shared.providers),
    key="ch_providers",
    placeholder=choose,
)
# Lists people scan are in Turkish alphabetical order (Ç after C, İ after I).
institution_options = sorted(options["institutions"], key=tr_sort_key)
type_options = sorted(options["invoice_types"], key=tr_sort_key)
institutions = f2.multiselect(
    _("Institution"),
    institution_options,
    default=[i for i in shared.institutions if i in institution_options],
    key="ch_institutions",
    placeholder=choose,
)
invoice_types = f3.multiselect(
    _("Invoice type"),
    type_options,
    default=[t for t in shared.invoice_types if t in type_options],
    key="ch_types",
    placeholder=choose,
)

with ui.errors_as_banner():
    filters = reports.ChartFilters(
        day_from=day_from,
        day_to=day_to,
        providers=tuple(providers),
        institutions=tuple(institutions),
        invoice_types=tuple(invoice_types),
    )
    link_language = {"lang": st.query_params["lang"]} if "lang" in st.query_params else {}
    st.query_params.from_dict(
        {**filters.to_query_params(), "grain": grain, "measure": measure, **link_language}
    )

    series = services.cached_chart("outcome_series", filters, grain=grain, measure=measure)
    # Vega-Lite, not plotly: a new tab draws these five in a fraction of the time plotly.js
    # takes to load (paynet_core/reports/vega.py; bench/dashboard.py measures it).
    main = services.cached_vega(
        "paid_vs_cancelled_chart",
        "outcome_series",
        filters,
        grain=grain,
        measure=measure,
        chart_kwargs={"measure": measure, "title": _(PER[grain])},
    )
    st.vega_lite_chart(main, width="stretch", key="ch_main")
    ui.csv_downloads(
        st,
        _("Download chart data (CSV)"),
        ui.frame_csv(series),
        _("paid_vs_cancelled.csv"),
        key="ch_csv",
    )

    left, right = st.columns(2)
    for column, by, title, key in (
        (left, "institution", _("By institution"), "ch_inst"),
        (right, "invoice_type", _("By invoice type"), "ch_type"),
    ):
        spec = services.cached_vega(
            "breakdown_chart",
            "breakdown",
            filters,
            by=by,
            chart_kwargs={"by": by, "measure": measure, "title": title},
        )
        column.vega_lite_chart(spec, width="stretch", key=key)
    rate = services.cached_vega(
        "cancellation_rate_chart",
        "cancellation_rate",
        filters,
        grain=grain,
        chart_kwargs={"title": _("Cancellation rate")},
    )
    left.vega_lite_chart(rate, width="stretch", key="ch_rate")
    fees = services.cached_vega(
        "fee_chart", "fee_totals", filters, grain=grain, chart_kwargs={"title": _("Fees")}
    )
    right.vega_lite_chart(fees, width="stretch", key="ch_fees")
