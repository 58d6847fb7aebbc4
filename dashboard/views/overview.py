"""Overview: the period's headline numbers, the trend, and recent jobs."""

from datetime import timedelta

import streamlit as st

from dashboard import components as ui
from dashboard import services
from paynet_core import reports
from paynet_core.dates import today
from paynet_core.i18n import _
from paynet_core.i18n.formats import format_count, format_percent

services.require("view")
rt = services.runtime()
st.title(_("Overview"))

c1, c2 = st.columns(2)
day_from = c1.date_input(
    _("From"), value=today() - timedelta(days=30), format="DD.MM.YYYY", key="ov_from"
)
day_to = c2.date_input(_("To"), value=today(), format="DD.MM.YYYY", key="ov_to")
with ui.errors_as_banner():
    filters = reports.ChartFilters(day_from=day_from, day_to=day_to)
    k = services.cached_chart("kpis", filters)
    # Two rows of three: six columns cut a 1M cache's fee total ("90.536,…"). Values are
    # strings that fit: counts grouped 4.702, amounts under them, never a cut figure.
    off = {"delta_color": "off", "delta_arrow": "off"}
    top, bottom = st.columns(3), st.columns(3)
    top[0].metric(_("Paid"), format_count(k["paid_count"]), ui.money(k["paid_kurus"]), **off)
    top[1].metric(
        _("Cancelled"), format_count(k["cancelled_count"]), ui.money(k["cancelled_kurus"]), **off
    )
    rate = k["cancellation_rate"]
    top[2].metric(_("Cancellation rate"), "—" if rate is None else format_percent(rate))
    bottom[0].metric(
        _("Open invoices"), format_count(k["open_count"]), ui.money(k["open_kurus"]), **off
    )
    bottom[1].metric(
        _("Failed charges"), format_count(k["failed_count"]), ui.money(k["failed_kurus"]), **off
    )
    bottom[2].metric(_("Fees"), ui.money(k["fee_kurus"]))

    trend = services.cached_figure(
        "paid_vs_cancelled_figure",
        "outcome_series",
        filters,
        grain="day",
        measure="amount",
        figure_kwargs={"measure": "amount", "title": _("Paid vs cancelled per day")},
    )
    st.plotly_chart(trend, key="ov_trend")

st.subheader(_("Recent jobs"))
jobs = rt.store.jobs(limit=10)
if jobs.empty:
    st.caption(_("No bulk job yet."))
else:
    ui.table(
        jobs[
            [
                "job_id",
                "kind",
                "state",
                "total",
                "created_by",
                "created_at",
                "finished_at",
                "source_name",
            ]
        ],
        hide_index=True,
        width="stretch",
    )
