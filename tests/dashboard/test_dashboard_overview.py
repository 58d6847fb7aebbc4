"""Overview: KPIs for the chosen period, the trend chart, recent jobs."""

from __future__ import annotations

from datetime import date

from apptest_helpers import assert_clean, new_app, open_page, sync_one_new_invoice, texts

from paynet_core import reports
from paynet_core.money import format_amount

PAGE = "views/overview.py"


def test_kpis_match_the_cache_for_the_chosen_period(app, store):
    at = open_page(app, PAGE)
    assert_clean(at)
    at.date_input(key="ov_from").set_value(date(2026, 9, 1))
    at.date_input(key="ov_to").set_value(date(2026, 10, 31)).run()
    assert_clean(at)
    k = reports.kpis(
        store, reports.ChartFilters(day_from=date(2026, 9, 1), day_to=date(2026, 10, 31))
    )
    assert k["paid_count"] > 0
    metrics = {m.label: m for m in at.metric}
    assert metrics["Paid"].value == f"{k['paid_count']:,}".replace(",", ".")
    assert metrics["Paid"].delta == format_amount(k["paid_kurus"])
    assert metrics["Cancelled"].value == f"{k['cancelled_count']:,}".replace(",", ".")
    assert metrics["Fees"].value == format_amount(k["fee_kurus"])
    assert len(at.get("plotly_chart")) == 1
    assert "No bulk job yet." in texts(at.caption)


def test_recent_jobs_listed(app, store):
    from dashboard import services
    from paynet_core.jobs import start_job
    from paynet_core.jobs.planner import plan_status_changes
    from paynet_core.paynet import InvoiceStatus

    no = store.find_invoices(status=[0], limit=1).iloc[0]["invoice_no"]
    plan = plan_status_changes([(no, InvoiceStatus.DONE_SUCCEED)], store=store)
    job_id = start_job(plan, runtime=services.runtime(), created_by="tester@example.com")
    at = open_page(app, PAGE)
    assert_clean(at)
    assert job_id in at.dataframe[-1].value["job_id"].tolist()


def test_the_page_sends_each_query_it_shows_once_and_again_only_when_the_data_changes(
    queries, app, store
):
    # `queries` before `app`: the app's first run, on this (the default) page, is counted too.
    assert_clean(app)
    shown = ["kpi_sums", "outcome_counts"]  # the KPIs, the trend chart
    assert sorted(queries) == sorted(shown)

    queries.clear()
    app.run()
    open_page(new_app(), PAGE)
    assert queries == []

    store.upsert_payments([])  # writes nothing: the data version stays, nothing recomputes
    app.run()
    assert queries == []
    sync_one_new_invoice(store)
    app.run()
    assert_clean(app)
    assert sorted(queries) == sorted(shown)
