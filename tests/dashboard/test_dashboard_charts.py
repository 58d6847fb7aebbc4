"""Charts: Vega-Lite charts from the cache, filters round-trip through the URL, CSV download."""

from __future__ import annotations

import json
from datetime import date

import pytest
from apptest_helpers import (
    assert_clean,
    download_bytes,
    new_app,
    open_page,
    sync_one_new_invoice,
    texts,
)

from paynet_core import reports
from paynet_core.money import format_amount
from paynet_core.reports.cells import to_csv_bytes

PAGE = "views/charts.py"


def chart_specs(at) -> dict[str, dict]:
    """The page's Vega-Lite specs by title (no plotly chart is left on the page)."""
    assert not at.get("plotly_chart")
    specs = [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]
    return {spec["title"]["text"]: spec for spec in specs}


def drawn(spec: dict) -> list[dict]:
    """The records a chart draws: its panels' (or its layer's) inline data."""
    views = spec.get("vconcat") or spec["layer"]
    return [row for view in views for row in view["data"]["values"]]


def test_renders_five_charts_with_the_cache_data_and_default_url(app, store):
    at = open_page(app, PAGE)
    assert_clean(at)
    specs = chart_specs(at)
    assert list(specs) == [
        "Paid vs cancelled per week",
        "By institution",
        "Cancellation rate",
        "By invoice type",
        "Fees",
    ]
    params = dict(at.query_params)
    filters = reports.ChartFilters.from_query_params(params)
    series = reports.outcome_series(store, grain="week", filters=filters)
    assert not series.empty
    main = specs["Paid vs cancelled per week"]
    assert [p["title"]["text"] for p in main["vconcat"]] == ["Paynet", "Payofin"]
    plotted = {(r["provider"], r["outcome"], r["when"]): r["value"] for r in drawn(main)}
    assert plotted == {
        (r.provider, r.outcome, r.period.strftime("%d.%m.%Y")): r.count for r in series.itertuples()
    }
    by_inst = reports.breakdown(store, by="institution", filters=filters)
    assert sum(r["value"] for r in drawn(specs["By institution"])) == by_inst["count"].sum()
    fees = reports.fee_totals(store, grain="week", filters=filters)
    assert round(sum(r["value"] for r in drawn(specs["Fees"])) * 100) == fees["fee_kurus"].sum()
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
    assert len(chart_specs(at)) == 5


@pytest.mark.turkish
def test_charts_in_turkish_name_months_outcomes_and_amounts_the_turkish_way(app, store):
    app.query_params.update(
        {"from": "2026-09-01", "to": "2026-11-30", "grain": "month", "measure": "amount"}
    )
    at = open_page(app, PAGE)
    assert_clean(at)
    specs = chart_specs(at)
    assert "Aylık ödenen ve iptal edilen" in specs
    main = specs["Aylık ödenen ve iptal edilen"]
    rows = drawn(main)
    assert {r["when"] for r in rows} == {"Eyl 2026", "Eki 2026", "Kas 2026"}
    assert {r["when_text"] for r in rows} == {"Eylül 2026", "Ekim 2026", "Kasım 2026"}
    assert {r["outcome_name"] for r in rows} <= {"Ödendi", "İptal edildi", "Başarısız", "Açık"}
    assert main["config"]["locale"]["number"]["decimal"] == ","
    assert main["config"]["locale"]["time"]["months"][0] == "Ocak"
    assert [t["title"] for t in main["vconcat"][0]["encoding"]["tooltip"]] == [
        "Sağlayıcı",
        "Sonuç",
        "Dönem",
        "tutar",
    ]
    # The amount shown is the kuruş of the series, written the Turkish way.
    series = reports.outcome_series(
        store,
        grain="month",
        measure="amount",
        filters=reports.ChartFilters(day_from=date(2026, 9, 1), day_to=date(2026, 11, 30)),
    )
    months = {9: "Eyl", 10: "Eki", 11: "Kas"}
    shown = {(r["provider"], r["outcome"], r["when"]): r["shown"] for r in rows}
    assert shown == {
        (r.provider, r.outcome, f"{months[r.period.month]} 2026"): format_amount(r.amount_kurus)
        for r in series.itertuples()
    }
    assert any("." in text and text.endswith(" ₺") for text in shown.values())  # 1.234,56 ₺


def test_the_page_sends_each_query_it_shows_once_and_again_only_when_the_data_changes(
    app, store, queries
):
    at = open_page(app, PAGE)
    assert_clean(at)
    # One query per thing shown (the filter lists, the main chart with its CSV, two breakdowns,
    # the rate, the fees): the main chart and its CSV share one outcome query.
    shown = ["filter_options", "outcome_counts", "breakdown_counts", "breakdown_counts"]
    shown += ["cancellation_counts", "fee_sums"]
    assert sorted(queries) == sorted(shown)

    queries.clear()
    at.run()  # a rerun of this session, and the same page in another session
    open_page(new_app(), PAGE)
    assert queries == []

    sync_one_new_invoice(store)
    at.run()
    assert_clean(at)
    assert sorted(queries) == sorted(shown)
