"""Charts: plotly figures from the cache, filters round-trip through the URL, CSV download."""

from __future__ import annotations

from datetime import date

from apptest_helpers import assert_clean, download_bytes, open_page, texts

from paynet_core import reports
from paynet_core.reports.cells import to_csv_bytes

PAGE = "views/charts.py"


def test_renders_five_plotly_charts_and_default_url(app, store):
    at = open_page(app, PAGE)
    assert_clean(at)
    assert len(at.get("plotly_chart")) == 5
    params = dict(at.query_params)
    assert params["grain"] == "week" and params["measure"] == "count"
    assert "from" in params and "to" in params


def test_query_params_in_drive_the_filters_and_round_trip(app, store, sb):
    inst = store.query(
        "SELECT DISTINCT institution FROM bill_payments WHERE institution IS NOT NULL ORDER BY 1"
    )["institution"][0]
    app.query_params.update(
        {
            "from": "2026-09-01",
            "to": "2026-10-31",
            "grain": "month",
            "measure": "amount",
            "provider": "payofin",
            "institution": inst,
        }
    )
    requests_before = dict(sb.request_counts)
    at = open_page(app, PAGE)
    assert_clean(at)
    assert at.date_input(key="ch_from").value == date(2026, 9, 1)
    assert at.date_input(key="ch_to").value == date(2026, 10, 31)
    assert at.segmented_control(key="ch_grain").value == "month"
    assert at.segmented_control(key="ch_measure").value == "amount"
    assert at.multiselect(key="ch_providers").value == ["payofin"]
    assert at.multiselect(key="ch_institutions").value == [inst]
    params = dict(at.query_params)
    assert params == {
        **params,
        "from": "2026-09-01",
        "to": "2026-10-31",
        "grain": "month",
        "measure": "amount",
        "provider": "payofin",
        "institution": inst,
    }
    assert dict(sb.request_counts) == requests_before, "charts must read the cache only"

    # The CSV offered for download is exactly the series reports.outcome_series computes.
    filters = reports.ChartFilters(
        day_from=date(2026, 9, 1),
        day_to=date(2026, 10, 31),
        providers=("payofin",),
        institutions=(inst,),
    )
    series = reports.outcome_series(store, grain="month", measure="amount", filters=filters)
    assert not series.empty
    assert download_bytes(at, "ch_csv") == to_csv_bytes(series, delimiter=",")


def test_changing_a_widget_updates_the_url(app, store):
    at = open_page(app, PAGE)
    at.segmented_control(key="ch_grain").set_value("day").run()
    at.multiselect(key="ch_providers").set_value(["paynet"]).run()
    assert_clean(at)
    assert at.query_params["grain"] == "day"
    assert at.query_params["provider"] == "paynet"
    filters = reports.ChartFilters.from_query_params(dict(at.query_params))
    series = reports.outcome_series(store, grain="day", measure="count", filters=filters)
    assert set(series["provider"]) <= {"paynet"}
    assert download_bytes(at, "ch_csv") == to_csv_bytes(series, delimiter=",")


def test_bad_link_filters_are_ignored_with_a_warning(app):
    app.query_params.update({"from": "not-a-date"})
    at = open_page(app, PAGE)
    assert not at.exception and not at.error
    assert any("ignored" in w for w in texts(at.warning))
    assert len(at.get("plotly_chart")) == 5
