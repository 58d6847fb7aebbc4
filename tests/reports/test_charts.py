from datetime import date, datetime

import pandas as pd
import pytest

from paynet_core import reports
from paynet_core.dates import ISTANBUL
from paynet_core.errors import InputError
from paynet_core.reports import OUTCOME_COLORS, PROVIDER_COLORS, ChartFilters

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=ISTANBUL)

# (invoice_no, subscription, day, status, amount): S1 belongs to agent AG1, S2 to AG2.
INVOICES = [
    ("I1", "S1", "2026-03-02", 3, 10_000),  # paid (Done succeed), Monday
    ("I2", "S1", "2026-03-03", 5, 2_000),  # cancelled (Cancel)
    ("I3", "S2", "2026-03-03", 4, 3_000),  # failed (Done unsucceed)
    ("I4", "S2", "2026-03-10", 0, 4_000),  # open (Waiting)
    ("I5", "S2", "2026-04-01", 2, 5_000),  # paid (External charged), week of 30.03
    ("I6", "S1", "2026-04-02", 6, 600),  # cancelled (Deleted)
]
# (id, day, institution, bill type, amount, fee, status)
PAYMENTS = [
    (1, "2026-03-02", "İSKİ", "Su Faturası", 12_345, 50, "Paid"),
    (2, "2026-03-03", "BEDAŞ", "Elektrik Faturası", 20_000, 175, "Cancelled"),
    (3, "2026-03-09", "İSKİ", "Su Faturası", 1_000, 50, "Paid"),
    (4, "2026-04-15", "İGDAŞ", "Doğalgaz Faturası", 30_000, 175, "Paid"),
    (5, "2026-04-15", "BEDAŞ", "Elektrik Faturası", 7_000, 175, "Paid"),
]


def fill(s):
    s.upsert_subscriptions(
        [
            {"subscription_id": "S1", "reference_no": "9001", "agent_id": "AG1"},
            {"subscription_id": "S2", "reference_no": "9002", "agent_id": "AG2"},
        ]
    )
    s.upsert_invoices(
        {
            "invoice_no": no,
            "invoice_id": no[1:],
            "subscription_id": sub,
            "amount": amount,
            "val_date": f"{day}T10:00:00",
            "status": status,
        }
        for no, sub, day, status, amount in INVOICES
    )
    s.upsert_payments(
        {
            "invoice_payment_id": pid,
            "invoice_type": kind,
            "institution": institution,
            "subscriber_no": "0100",
            "customer_name": "AY** YI****",
            "invoice_no": f"B{pid}",
            "due_date": day,
            "amount_kurus": amount,
            "fee_kurus": fee,
            "paid_at": f"{day}T14:30:00",
            "status": status,
        }
        for pid, day, institution, kind, amount, fee, status in PAYMENTS
    )


@pytest.fixture
def clock():
    return lambda: NOW


@pytest.fixture(autouse=True)
def _filled(store):
    fill(store)


def records(df, columns):
    out = df[columns].copy()
    if "period" in out:
        out["period"] = out["period"].dt.strftime("%Y-%m-%d")
    return [tuple(r) for r in out.itertuples(index=False)]


# -- outcome series --------------------------------------------------------------------------


def test_outcome_series_by_month_against_hand_totals(store):
    df = reports.outcome_series(store, grain="month", measure="amount")
    assert records(df, ["period", "provider", "outcome", "count", "amount_kurus"]) == [
        ("2026-03-01", "paynet", "cancelled", 1, 2_000),
        ("2026-03-01", "paynet", "failed", 1, 3_000),
        ("2026-03-01", "paynet", "open", 1, 4_000),
        ("2026-03-01", "paynet", "paid", 1, 10_000),
        ("2026-04-01", "paynet", "cancelled", 1, 600),
        ("2026-04-01", "paynet", "paid", 1, 5_000),
        ("2026-03-01", "payofin", "cancelled", 1, 20_000),
        ("2026-03-01", "payofin", "paid", 2, 13_345),
        ("2026-04-01", "payofin", "paid", 2, 37_000),
    ]
    assert df["amount_kurus"].dtype == "int64" and df["count"].dtype == "int64"
    assert df["amount_tl"].tolist()[7] == 133.45
    assert str(df["period"].dtype).startswith("datetime64")


def test_outcome_series_by_week_starts_weeks_on_monday(store):
    df = reports.outcome_series(store, grain="week", measure="count")
    assert "amount_kurus" not in df.columns
    assert records(df, ["period", "provider", "outcome", "count"]) == [
        ("2026-03-02", "paynet", "cancelled", 1),
        ("2026-03-02", "paynet", "failed", 1),
        ("2026-03-02", "paynet", "paid", 1),
        ("2026-03-09", "paynet", "open", 1),
        ("2026-03-30", "paynet", "cancelled", 1),
        ("2026-03-30", "paynet", "paid", 1),
        ("2026-03-02", "payofin", "cancelled", 1),
        ("2026-03-02", "payofin", "paid", 1),
        ("2026-03-09", "payofin", "paid", 1),
        ("2026-04-13", "payofin", "paid", 2),
    ]


def test_outcome_series_by_day_with_a_day_range(store):
    filters = ChartFilters(day_from=date(2026, 3, 3), day_to=date(2026, 3, 9))
    df = reports.outcome_series(store, grain="day", measure="amount", filters=filters)
    assert records(df, ["period", "provider", "outcome", "count", "amount_kurus"]) == [
        ("2026-03-03", "paynet", "cancelled", 1, 2_000),
        ("2026-03-03", "paynet", "failed", 1, 3_000),
        ("2026-03-03", "payofin", "cancelled", 1, 20_000),
        ("2026-03-09", "payofin", "paid", 1, 1_000),
    ]


def test_filters_on_institution_type_and_agent_keep_only_the_provider_that_has_them(store):
    by_institution = reports.outcome_series(
        store, grain="month", measure="amount", filters=ChartFilters(institutions=["BEDAŞ"])
    )
    assert records(by_institution, ["period", "provider", "outcome", "amount_kurus"]) == [
        ("2026-03-01", "payofin", "cancelled", 20_000),
        ("2026-04-01", "payofin", "paid", 7_000),
    ]
    by_type = reports.kpis(store, ChartFilters(invoice_types=["Su Faturası"]))
    assert (by_type["paid_count"], by_type["paid_kurus"], by_type["fee_kurus"]) == (2, 13_345, 100)
    by_agent = reports.outcome_series(
        store, grain="month", measure="amount", filters=ChartFilters(agent_id="AG1")
    )
    assert records(by_agent, ["period", "provider", "outcome", "amount_kurus"]) == [
        ("2026-03-01", "paynet", "cancelled", 2_000),
        ("2026-03-01", "paynet", "paid", 10_000),
        ("2026-04-01", "paynet", "cancelled", 600),
    ]
    only_paynet = reports.kpis(store, ChartFilters(providers=["paynet"]))
    assert (only_paynet["total_count"], only_paynet["fee_kurus"]) == (6, 0)
    nothing = reports.outcome_series(
        store, filters=ChartFilters(agent_id="AG1", institutions=["İSKİ"])
    )
    assert nothing.empty and list(nothing.columns) == ["period", "provider", "outcome", "count"]


# -- breakdowns ------------------------------------------------------------------------------


def test_breakdown_by_institution_and_by_invoice_type(store):
    df = reports.breakdown(store, by="institution")
    assert records(df, ["institution", "provider", "outcome", "count", "amount_kurus"]) == [
        ("İSKİ", "payofin", "paid", 2, 13_345),
        ("BEDAŞ", "payofin", "cancelled", 1, 20_000),
        ("BEDAŞ", "payofin", "paid", 1, 7_000),
        ("İGDAŞ", "payofin", "paid", 1, 30_000),
    ]
    df = reports.breakdown(store, by="invoice_type")
    assert records(df, ["invoice_type", "outcome", "count", "amount_kurus"]) == [
        ("Su Faturası", "paid", 2, 13_345),
        ("Doğalgaz Faturası", "paid", 1, 30_000),
        ("Elektrik Faturası", "cancelled", 1, 20_000),
        ("Elektrik Faturası", "paid", 1, 7_000),
    ]
    assert reports.breakdown(
        store, by="institution", filters=ChartFilters(providers=["paynet"])
    ).empty


def test_breakdown_by_provider_and_by_status(store):
    df = reports.breakdown(store, by="provider")
    assert sorted(records(df, ["provider", "outcome", "count", "amount_kurus"])) == [
        ("paynet", "cancelled", 2, 2_600),
        ("paynet", "failed", 1, 3_000),
        ("paynet", "open", 1, 4_000),
        ("paynet", "paid", 2, 15_000),
        ("payofin", "cancelled", 1, 20_000),
        ("payofin", "paid", 4, 50_345),
    ]
    df = reports.breakdown(store, by="status")
    assert sorted(records(df, ["status", "provider", "outcome", "count", "amount_kurus"])) == [
        ("Cancel", "paynet", "cancelled", 1, 2_000),
        ("Cancelled", "payofin", "cancelled", 1, 20_000),
        ("Deleted", "paynet", "cancelled", 1, 600),
        ("Done succeed", "paynet", "paid", 1, 10_000),
        ("Done unsucceed", "paynet", "failed", 1, 3_000),
        ("External charged", "paynet", "paid", 1, 5_000),
        ("Paid", "payofin", "paid", 4, 50_345),
        ("Waiting", "paynet", "open", 1, 4_000),
    ]
    assert df["count"].iloc[0] == 4  # biggest first


# -- rates, fees, KPIs -----------------------------------------------------------------------


def test_cancellation_rate_leaves_open_invoices_out(store):
    df = reports.cancellation_rate(store, grain="month")
    assert records(df, ["period", "provider", "cancelled", "settled"]) == [
        ("2026-03-01", "paynet", 1, 3),
        ("2026-04-01", "paynet", 1, 2),
        ("2026-03-01", "payofin", 1, 3),
        ("2026-04-01", "payofin", 0, 2),
    ]
    assert df["rate"].tolist() == pytest.approx([1 / 3, 1 / 2, 1 / 3, 0.0])
    only_open = reports.cancellation_rate(
        store, "day", ChartFilters(day_from="2026-03-10", day_to="2026-03-10")
    )
    assert only_open["settled"].tolist() == [0] and pd.isna(only_open["rate"][0])


def test_fee_totals_per_month(store):
    df = reports.fee_totals(store, grain="month")
    assert records(
        df, ["period", "payments", "fee_kurus", "paid_fee_kurus", "cancelled_fee_kurus"]
    ) == [
        ("2026-03-01", 3, 275, 100, 175),
        ("2026-04-01", 2, 350, 350, 0),
    ]
    assert df["fee_tl"].tolist() == [2.75, 3.5]
    assert reports.fee_totals(store, filters=ChartFilters(agent_id="AG1")).empty


def test_kpis_against_hand_totals(store):
    assert reports.kpis(store) == {
        "paid_count": 6,
        "paid_kurus": 65_345,
        "cancelled_count": 3,
        "cancelled_kurus": 22_600,
        "failed_count": 1,
        "failed_kurus": 3_000,
        "open_count": 1,
        "open_kurus": 4_000,
        "total_count": 11,
        "cancellation_rate": 0.3,
        "fee_kurus": 450,
        "cancelled_fee_kurus": 175,
    }
    march = reports.kpis(store, ChartFilters(day_from="01.03.2026", day_to="31.03.2026"))
    assert (march["paid_count"], march["paid_kurus"], march["open_count"]) == (3, 23_345, 1)
    assert reports.kpis(store, ChartFilters(day_from="2027-01-01"))["cancellation_rate"] is None


def test_same_numbers_inside_a_write_transaction(store):
    expected = reports.outcome_series(store, grain="month", measure="amount")
    with store.transaction():
        inside = reports.outcome_series(store, grain="month", measure="amount")
    pd.testing.assert_frame_equal(inside, expected)


def test_bad_arguments_are_refused(store):
    with pytest.raises(ValueError, match="grain"):
        reports.outcome_series(store, grain="year")
    with pytest.raises(ValueError, match="measure"):
        reports.outcome_series(store, measure="sum")
    with pytest.raises(ValueError, match="by"):
        reports.breakdown(store, by="agent")


# -- filters in the URL ----------------------------------------------------------------------


def test_filters_round_trip_through_query_params():
    filters = ChartFilters(
        day_from=date(2026, 3, 1),
        day_to=date(2026, 3, 31),
        providers=["payofin"],
        institutions=["İSKİ", "BEDAŞ", "A, B % C"],
        invoice_types=["Su Faturası"],
    )
    params = filters.to_query_params()
    assert params == {
        "from": "2026-03-01",
        "to": "2026-03-31",
        "provider": "payofin",
        "institution": "A%2C B %25 C,BEDAŞ,İSKİ",
        "invoice_type": "Su Faturası",
    }
    assert ChartFilters.from_query_params(params) == filters
    assert ChartFilters().to_query_params() == {}
    assert ChartFilters.from_query_params({"agent": "AG1", "grain": "week"}) == ChartFilters(
        agent_id="AG1"
    )
    # Repeated keys (st.query_params.get_all) and Turkish day format are read too.
    assert ChartFilters.from_query_params(
        {"provider": ["paynet", "payofin"], "from": "01.03.2026"}
    ) == ChartFilters(providers=("paynet", "payofin"), day_from=date(2026, 3, 1))
    assert hash(filters) == hash(ChartFilters.from_query_params(params))


def test_invalid_filters_are_input_errors():
    with pytest.raises(InputError, match="provider"):
        ChartFilters.from_query_params({"provider": "stripe"})
    with pytest.raises(InputError):
        ChartFilters.from_query_params({"from": "yesterday"})
    with pytest.raises(InputError, match="after"):
        ChartFilters(day_from=date(2026, 3, 2), day_to=date(2026, 3, 1))


# -- figures ---------------------------------------------------------------------------------


def test_paid_vs_cancelled_figure_has_a_trace_per_provider_and_outcome(store):
    df = reports.outcome_series(store, grain="month", measure="amount")
    fig = reports.paid_vs_cancelled_figure(df, "amount")
    traces = [(t.meta["provider"], t.meta["outcome"], t.marker.color) for t in fig.data]
    assert traces == [
        ("paynet", "paid", OUTCOME_COLORS["paid"]),
        ("paynet", "cancelled", OUTCOME_COLORS["cancelled"]),
        ("paynet", "failed", OUTCOME_COLORS["failed"]),
        ("paynet", "open", OUTCOME_COLORS["open"]),
        ("payofin", "paid", OUTCOME_COLORS["paid"]),
        ("payofin", "cancelled", OUTCOME_COLORS["cancelled"]),
    ]
    assert OUTCOME_COLORS == {
        "paid": "#2e7d32",
        "cancelled": "#c62828",
        "failed": "#ef6c00",
        "open": "#9e9e9e",
    }
    assert [t.showlegend for t in fig.data] == [True, True, True, True, False, False]
    payofin_paid = fig.data[4]
    assert list(payofin_paid.y) == [133.45, 370.0]
    assert [c[1] for c in payofin_paid.customdata] == ["133,45 ₺", "370,00 ₺"]
    assert fig.layout.separators == ",." and fig.layout.yaxis.ticksuffix == " ₺"
    assert fig.layout.barmode == "stack"
    counts = reports.paid_vs_cancelled_figure(reports.outcome_series(store, grain="week"))
    assert counts.layout.yaxis.ticksuffix is None and counts.data[0].customdata[0][1] == "1"
    with pytest.raises(ValueError, match="amount"):
        reports.paid_vs_cancelled_figure(reports.outcome_series(store), "amount")


def test_breakdown_rate_and_fee_figures_use_the_shared_colours(store):
    fig = reports.breakdown_figure(reports.breakdown(store, by="provider"), measure="amount")
    assert [(t.name, t.marker.color) for t in fig.data] == [
        ("Paid", OUTCOME_COLORS["paid"]),
        ("Cancelled", OUTCOME_COLORS["cancelled"]),
        ("Failed", OUTCOME_COLORS["failed"]),
        ("Open", OUTCOME_COLORS["open"]),
    ]
    assert set(fig.data[0].y) == {"Paynet", "Payofin"}
    assert "200,00 ₺" in fig.data[1].customdata and fig.layout.xaxis.ticksuffix == " ₺"

    rate = reports.cancellation_rate_figure(reports.cancellation_rate(store, "month"))
    assert [(t.name, t.line.color) for t in rate.data] == [
        ("Paynet", PROVIDER_COLORS["paynet"]),
        ("Payofin", PROVIDER_COLORS["payofin"]),
    ]
    assert rate.layout.yaxis.tickformat == ".0%"

    fees = reports.fee_figure(reports.fee_totals(store, "month"))
    assert [(t.meta["outcome"], t.marker.color) for t in fees.data] == [
        ("paid", OUTCOME_COLORS["paid"]),
        ("cancelled", OUTCOME_COLORS["cancelled"]),
    ]
    assert list(fees.data[0].y) == [1.0, 3.5]
    assert [c[1] for c in fees.data[1].customdata] == ["1,75 ₺", "0,00 ₺"]


# -- Vega-Lite charts (the dashboard's) -------------------------------------------------------


def vega_rows(spec):
    views = spec.get("vconcat") or spec["layer"]
    return [row for view in views for row in view["data"]["values"]]


def test_paid_vs_cancelled_chart_has_a_panel_per_provider_on_one_axis(store):
    from paynet_core.reports import vega

    df = reports.outcome_series(store, grain="month", measure="amount")
    spec = vega.paid_vs_cancelled_chart(df, "amount", title="Paid vs cancelled per month")
    assert spec["title"]["text"] == "Paid vs cancelled per month"
    paynet, payofin = spec["vconcat"]
    assert (paynet["title"]["text"], payofin["title"]["text"]) == ("Paynet", "Payofin")
    assert {r["provider"] for r in paynet["data"]["values"]} == {"paynet"}
    for panel in spec["vconcat"]:
        x = panel["encoding"]["x"]
        assert x["scale"]["domain"] == x["sort"] == ["Mar 2026", "Apr 2026"]
        colour = panel["encoding"]["color"]["scale"]
        assert colour == {
            "domain": ["Paid", "Cancelled", "Failed", "Open"],
            "range": [OUTCOME_COLORS[o] for o in ("paid", "cancelled", "failed", "open")],
        }
        assert panel["encoding"]["y"]["axis"]["format"] == "$,.0f"  # 1.234 ₺ by the locale
    payofin_paid = [r for r in payofin["data"]["values"] if r["outcome"] == "paid"]
    assert [(r["when"], r["when_text"], r["value"], r["shown"]) for r in payofin_paid] == [
        ("Mar 2026", "March 2026", 133.45, "133,45 ₺"),
        ("Apr 2026", "April 2026", 370.0, "370,00 ₺"),
    ]
    assert payofin_paid[0]["description"] == "Payofin · Paid · March 2026: 133,45 ₺"
    assert spec["config"]["locale"]["number"] == {
        "decimal": ",",
        "thousands": ".",
        "grouping": [3],
        "currency": ["", " ₺"],
    }
    weekly = vega.paid_vs_cancelled_chart(reports.outcome_series(store, grain="week"))
    rows = vega_rows(weekly)
    assert sum(r["value"] for r in rows) == len(INVOICES) + len(PAYMENTS)
    first = next(r for r in rows if r["provider"] == "paynet" and r["outcome"] == "paid")
    assert (first["when"], first["when_text"], first["shown"]) == (
        "02.03.2026",
        "week of 02.03.2026",
        "1",
    )
    assert weekly["vconcat"][0]["encoding"]["y"]["axis"]["format"] == ",d"
    with pytest.raises(ValueError, match="amount"):
        vega.paid_vs_cancelled_chart(reports.outcome_series(store), "amount")


def test_breakdown_rate_and_fee_charts_from_the_same_numbers(store):
    from paynet_core.reports import vega

    by_inst = vega.breakdown_chart(reports.breakdown(store, by="institution"), measure="amount")
    assert by_inst["layer"][0]["encoding"]["y"]["sort"] == ["İGDAŞ", "BEDAŞ", "İSKİ"]
    assert sorted((r["label"], r["outcome"], r["shown"]) for r in vega_rows(by_inst)) == [
        ("BEDAŞ", "cancelled", "200,00 ₺"),
        ("BEDAŞ", "paid", "70,00 ₺"),
        ("İGDAŞ", "paid", "300,00 ₺"),
        ("İSKİ", "paid", "133,45 ₺"),
    ]

    rate = vega.cancellation_rate_chart(reports.cancellation_rate(store, "month"))
    colour = rate["layer"][0]["encoding"]["color"]["scale"]
    assert colour == {
        "domain": ["Paynet", "Payofin"],
        "range": [PROVIDER_COLORS["paynet"], PROVIDER_COLORS["payofin"]],
    }
    march = {r["provider"]: r for r in vega_rows(rate) if r["when"] == "Mar 2026"}
    # Paynet in March: I1 paid, I2 cancelled, I3 failed settled; I4 open is left out.
    assert march["paynet"]["rate"] == pytest.approx(1 / 3)
    assert march["paynet"]["shown"] == "%33,3 cancelled (1 of 3)"

    fees = vega.fee_chart(reports.fee_totals(store, "month"))
    assert [(r["outcome"], r["when"], r["value"], r["shown"]) for r in vega_rows(fees)] == [
        ("paid", "Mar 2026", 1.0, "1,00 ₺"),
        ("cancelled", "Mar 2026", 1.75, "1,75 ₺"),
        ("paid", "Apr 2026", 3.5, "3,50 ₺"),
        ("cancelled", "Apr 2026", 0.0, "0,00 ₺"),
    ]


@pytest.mark.turkish
def test_vega_charts_follow_the_language():
    from paynet_core.i18n import using_language
    from paynet_core.reports import vega

    assert (vega.percent(0.145), vega.percent(0.14), vega.percent(1 / 3)) == (
        "%14,5",
        "%14",
        "%33,3",
    )
    day = pd.Timestamp("2026-09-07")
    with using_language("tr"):
        assert vega.period_label(day, "month") == "Eyl 2026"
        assert vega.period_text(day, "month") == "Eylül 2026"
        assert vega.period_text(day, "day") == "07.09.2026 Pazartesi"
        assert vega.period_text(day, "week") != "week of 07.09.2026"
        locale = vega.locale_config()["time"]
        assert locale["months"][0] == "Ocak" and locale["days"][0] == "Pazar"
    with using_language("en"):
        assert vega.period_label(day, "month") == "Sep 2026"
        assert vega.period_text(day, "week") == "week of 07.09.2026"
        assert vega.period_text(day, "day") == "07.09.2026 Monday"
        assert vega.locale_config()["time"]["shortMonths"][8] == "Sep"


# -- the rollup gives the numbers the base tables give ----------------------------------------


def every_chart(store):
    out = {}
    for grain in reports.GRAINS:
        out[f"series_{grain}"] = reports.outcome_series(store, grain=grain, measure="amount")
        out[f"rate_{grain}"] = reports.cancellation_rate(store, grain)
        out[f"fees_{grain}"] = reports.fee_totals(store, grain)
    for by in reports.BREAKDOWNS:
        out[f"by_{by}"] = reports.breakdown(store, by=by)
    out["agent"] = reports.outcome_series(
        store, grain="month", filters=ChartFilters(agent_id="AG9")
    )
    out["kpis"] = pd.DataFrame([reports.kpis(store)])
    return out


def test_rollup_follows_status_agent_and_amount_changes(store):
    store.record_status_change("I4", 3, source="action", actor="a@example.com")
    store.upsert_invoices(
        [{"invoice_no": "I1", "subscription_id": "S1", "amount": 9_999, "status": 5,
          "val_date": "2026-03-20T10:00:00"}]
    )  # fmt: skip
    store.upsert_subscriptions([{"subscription_id": "S2", "agent_id": "AG9"}])
    store.upsert_payments(
        [{"invoice_payment_id": 1, "invoice_type": "Su Faturası", "institution": "İSKİ",
          "amount_kurus": 12_345, "fee_kurus": 50, "paid_at": "2026-03-02T14:30:00",
          "status": "Cancelled"}]
    )  # fmt: skip
    got = every_chart(store)
    with reports.from_base_tables():
        expected = every_chart(store)
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(got[name], frame, obj=name)
    assert reports.kpis(store)["cancelled_count"] == 5
    assert got["agent"]["count"].sum() == 3  # S2's invoices moved to AG9 with their subscription
    assert store.query("SELECT MIN(count) AS m FROM daily_rollup")["m"][0] > 0
    assert store.rollup_differences() == []


def test_charts_read_the_rollup_not_the_base_tables(store):
    """A row changed behind the store's back shows in the base-table path only: so the
    charts really read the rollup."""
    store.db.conn.execute("UPDATE invoices SET amount_kurus = 1 WHERE invoice_no = 'I1'")
    paynet = ChartFilters(providers=("paynet",))
    assert reports.kpis(store, paynet)["paid_kurus"] == 10_000 + 5_000
    with reports.from_base_tables():
        assert reports.kpis(store, paynet)["paid_kurus"] == 1 + 5_000
    assert [
        (d["table"], d["day"], d["kept"], d["rebuilt"]) for d in store.rollup_differences()
    ] == [
        ("daily_rollup", "2026-03-02", (1, 10_000, 0), (1, 1, 0)),
        ("daily_rollup_totals", "2026-03-02", (1, 10_000, 0), (1, 1, 0)),
        ("daily_rollup_days", "2026-03-02", (1, 10_000, 0), (1, 1, 0)),
    ]
    institutions = ChartFilters(providers=("payofin",), institutions=("İSKİ",))
    assert store._arms(institutions, False)[0].table == "daily_rollup_totals"
    assert store._arms(ChartFilters(), False)[0].table == "daily_rollup_days"
    agent = ChartFilters(agent_id="AG1")  # read from daily_rollup, the one with agents
    assert reports.kpis(store, agent)["paid_kurus"] == 10_000


def test_filter_options_list_what_the_cache_holds(store):
    assert reports.filter_options(store) == {
        "institutions": ["BEDAŞ", "İGDAŞ", "İSKİ"],
        "invoice_types": ["Doğalgaz Faturası", "Elektrik Faturası", "Su Faturası"],
    }


# -- figures in the current language ------------------------------------------------------------


def _month_figures(store):
    return (
        reports.paid_vs_cancelled_figure(reports.outcome_series(store, grain="month")),
        reports.cancellation_rate_figure(reports.cancellation_rate(store, "month")),
        reports.paid_vs_cancelled_figure(reports.outcome_series(store, grain="day")),
    )


@pytest.mark.turkish
def test_figures_speak_turkish_with_turkish_months_days_and_percents(store):
    months, rate, days = _month_figures(store)
    assert [t.name for t in months.data][:4] == ["Ödendi", "İptal edildi", "Başarısız", "Açık"]
    assert list(months.layout.xaxis.ticktext)[:2] == ["Mar 2026", "Nis 2026"]
    assert months.data[0].customdata[0][0] in ("Mart 2026", "Nisan 2026")
    assert " · Ödendi<br>" in months.data[0].hovertemplate
    texts = [row[3] for trace in rate.data for row in trace.customdata]
    assert "%33,3" in texts and "%50" in texts  # the sign first, a decimal comma
    assert list(rate.layout.yaxis.ticktext)[:2] == ["%0", "%10"]
    assert "iptal (" in rate.data[0].hovertemplate
    weekdays = {row[0].rsplit(" ", 1)[1] for trace in days.data for row in trace.customdata}
    assert weekdays <= {"Pazartesi", "Salı", "Çarşamba", "Perşembe", "Cuma", "Cumartesi", "Pazar"}
    assert months.layout.separators == ",."


def test_figures_speak_english_in_english(store):
    months, rate, days = _month_figures(store)
    assert [t.name for t in months.data][:2] == ["Paid", "Cancelled"]
    assert list(months.layout.xaxis.ticktext)[:2] == ["Mar 2026", "Apr 2026"]
    assert "%33,3" in [row[3] for trace in rate.data for row in trace.customdata]
    assert "cancelled (" in rate.data[0].hovertemplate
    assert any(
        row[0].endswith(
            ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
        )
        for trace in days.data
        for row in trace.customdata
    )
