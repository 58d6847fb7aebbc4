"""Overview: the period's headline numbers, the trend, and recent jobs."""

from datetime import timedelta

import streamlit as st

from dashboard import components as ui
from dashboard import services
from paynet_core import reports
from paynet_core.dates import today

services.require("view")
rt = services.runtime()
st.title("Overview")

c1, c2 = st.columns(2)
day_from = c1.date_input("From", value=today() - timedelta(days=30), format="DD.MM.YYYY", key="ov_from")
day_to = c2.date_input("To", value=today(), format="DD.MM.YYYY", key="ov_to")
with ui.errors_as_banner():
    filters = reports.ChartFilters(day_from=day_from, day_to=day_to)
    k = services.cached_chart("kpis", filters)
    cols = st.columns(6)
    cols[0].metric("Paid", f"{k['paid_count']:,}".replace(",", "."), ui.money(k["paid_kurus"]), delta_color="off", delta_arrow="off")
    cols[1].metric("Cancelled", f"{k['cancelled_count']:,}".replace(",", "."), ui.money(k["cancelled_kurus"]), delta_color="off", delta_arrow="off")
    rate = k["cancellation_rate"]
    cols[2].metric("Cancellation rate", "—" if rate is None else f"%{rate * 100:.1f}".replace(".", ","))
    cols[3].metric("Open invoices", k["open_count"], ui.money(k["open_kurus"]), delta_color="off", delta_arrow="off")
    cols[4].metric("Failed charges", k["failed_count"], ui.money(k["failed_kurus"]), delta_color="off", delta_arrow="off")
    cols[5].metric("Fees", ui.money(k["fee_kurus"]))

    trend = services.cached_figure(
        "paid_vs_cancelled_figure", "outcome_series", filters, grain="day", measure="amount",
        figure_kwargs={"measure": "amount", "title": "Paid vs cancelled per day"},
    )
    st.plotly_chart(trend, key="ov_trend")

st.subheader("Recent jobs")
jobs = rt.store.jobs(limit=10)
if jobs.empty:
    st.caption("No bulk job yet.")
else:
    st.dataframe(
        jobs[["job_id", "kind", "state", "total", "created_by", "created_at", "finished_at", "source_name"]],
        hide_index=True, width="stretch",
    )
