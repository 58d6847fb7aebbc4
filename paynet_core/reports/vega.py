"""The dashboard's charts as Vega-Lite specs (``st.vega_lite_chart``), in the current language.

Why not the plotly figures of :mod:`.figures` (kept for the notebook): in a browser, plotly.js
is a 4.7 MB bundle that each new tab evaluates before drawing anything (~1.5-3 s even for one
chart); Vega-Lite, which Streamlit also ships, draws the same five charts in a fraction of that.

The specs are plain dicts with their data inline, so they cache and compare cheaply. Every text
is built here in the current language (:func:`paynet_core.i18n._`): legend and tooltip names,
period labels (Turkish month names), amounts as :func:`format_amount` writes them, numbers on
the axes the Turkish way (``1.234``, decimal comma) through the spec's ``config.locale``. Each
mark carries a description (its ARIA label) naming provider, outcome, period and value, so a
screen reader — and a browser test — can read what is drawn.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..i18n import N_, _, current_language
from ..i18n.formats import day_names, format_count, month_names
from ..money import format_amount
from ..store.reports import BREAKDOWNS
from ..store.schema import PROVIDERS
from .figures import OUTCOME_COLORS, OUTCOME_LABELS, PROVIDER_COLORS, PROVIDER_LABELS
from .queries import MEASURES, OUTCOMES

Spec = dict[str, Any]

FEE_PARTS = (
    ("paid", "paid_fee_kurus", "Fees on paid payments"),
    ("cancelled", "cancelled_fee_kurus", "Fees on cancelled payments"),
)


def _check(name: str, value: str, allowed: tuple[str, ...] | list[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


def locale_config(language: str | None = None) -> Spec:
    """Vega's number and time locale: grouping dot and decimal comma in both languages (as
    everywhere in the app), month and day names in ``language``."""
    from babel.dates import get_day_names, get_month_names

    language = language or current_language()
    days = get_day_names("wide", context="format", locale=language)
    short_days = get_day_names("abbreviated", context="format", locale=language)
    months = get_month_names("wide", context="format", locale=language)
    short_months = get_month_names("abbreviated", context="format", locale=language)
    sunday_first = [6, 0, 1, 2, 3, 4, 5]  # d3 counts from Sunday, babel from Monday
    return {
        "number": {"decimal": ",", "thousands": ".", "grouping": [3], "currency": ["", " ₺"]},
        "time": {
            "dateTime": "%d.%m.%Y %H:%M:%S",
            "date": "%d.%m.%Y",
            "time": "%H:%M:%S",
            "periods": ["AM", "PM"],
            "days": [days[i] for i in sunday_first],
            "shortDays": [short_days[i] for i in sunday_first],
            "months": [months[i] for i in range(1, 13)],
            "shortMonths": [short_months[i] for i in range(1, 13)],
        },
    }


def period_label(period: pd.Timestamp, grain: str | None) -> str:
    """An axis label: ``Eyl 2026`` for a month, else the period's first day ``dd.mm.yyyy``."""
    if grain == "month":
        return f"{month_names(current_language())[period.month - 1][:3]} {period.year}"
    return period.strftime("%d.%m.%Y")


def period_text(period: pd.Timestamp, grain: str | None) -> str:
    """A tooltip's period: ``Eylül 2026``, ``07.09.2026 haftası``, ``07.09.2026 Pazartesi``."""
    day = period.strftime("%d.%m.%Y")
    if grain == "month":
        return f"{month_names(current_language())[period.month - 1]} {period.year}"
    if grain == "week":
        return _("week of {day}", day=day)
    return f"{day} {day_names(current_language())[period.weekday()]}"


def percent(share: float) -> str:
    """``0.145`` → ``%14,5`` (``%14`` when whole): :func:`~paynet_core.i18n.formats.format_percent`."""
    from ..i18n.formats import format_percent

    return format_percent(share)


def _spec(title: str | None, views: Spec) -> Spec:
    # Data stays inline in the views: Streamlit would move top-level data to Arrow, which the
    # browser then loads and decodes as well (~0.2 s more per new tab, measured).
    # fit-x: the width follows the page's column, the height is the plot's own (Streamlit's
    # default "fit" squeezes the plot into what title, legend and axes leave).
    spec: Spec = {
        **views,
        "autosize": {"type": "fit-x", "contains": "padding"},
        "config": {"locale": locale_config(), "legend": {"labelLimit": 0}},
    }
    if title:
        spec["title"] = {"text": title, "anchor": "start"}
    return spec


def _view(title: str | None, values: list[dict], *, height: Any, **view: Any) -> Spec:
    """One chart: a single layer holding its data (see :func:`_spec`)."""
    return _spec(title, {"layer": [{"data": {"values": values}, **view}], "height": height})


def _outcome_colour(outcomes: tuple[str, ...] | list[str]) -> Spec:
    return {
        "field": "outcome_name",
        "type": "nominal",
        "title": None,
        "scale": {
            "domain": [_(OUTCOME_LABELS[o]) for o in outcomes],
            "range": [OUTCOME_COLORS[o] for o in outcomes],
        },
        "legend": {"orient": "top"},
    }


def _tooltip(*fields: tuple[str, str]) -> list[Spec]:
    return [{"field": field, "type": "nominal", "title": title} for field, title in fields]


def _value_axis(money: bool) -> Spec:
    return {"format": "$,.0f" if money else ",d", "tickMinStep": 1}


def _x_periods(labels: list[str]) -> Spec:
    return {
        "field": "when",
        "type": "ordinal",
        "title": None,
        "sort": labels,
        "scale": {"domain": labels},  # one axis for every panel, periods without rows too
        "axis": {"labelAngle": 0, "labelOverlap": True},
    }


def paid_vs_cancelled_chart(df: pd.DataFrame, measure: str = "count", *, title: str | None = None):
    """Stacked bars per period, one panel per provider, coloured by outcome (the page's main
    chart). ``df`` is :func:`outcome_series`; ``measure='amount'`` needs it built with amounts."""
    _check("measure", measure, MEASURES)
    if measure == "amount" and "amount_kurus" not in df.columns:
        raise ValueError("measure='amount' needs outcome_series(..., measure='amount')")
    grain = df.attrs.get("grain")
    providers = [p for p in PROVIDERS if p in set(df["provider"])] or list(PROVIDERS[:1])
    periods = sorted(set(df["period"]))
    labels = [period_label(p, grain) for p in periods]
    values = []
    for row in df.itertuples(index=False):
        provider, outcome = PROVIDER_LABELS[row.provider], _(OUTCOME_LABELS[row.outcome])
        if measure == "amount":
            value, shown = float(row.amount_tl), format_amount(int(row.amount_kurus))
        else:
            value, shown = int(row.count), format_count(int(row.count))
        when = period_text(row.period, grain)
        values.append(
            {
                "provider": row.provider,
                "provider_name": provider,
                "outcome": row.outcome,
                "outcome_name": outcome,
                "rank": OUTCOMES.index(row.outcome),
                "when": period_label(row.period, grain),
                "when_text": when,
                "value": value,
                "shown": shown,
                "description": f"{provider} · {outcome} · {when}: {shown}",
            }
        )
    panels = [
        {
            "data": {"values": [v for v in values if v["provider"] == provider]},
            "title": {"text": PROVIDER_LABELS[provider], "fontSize": 13, "anchor": "middle"},
            "mark": {"type": "bar", "tooltip": True},
            "height": 190,
            "width": "container",
            "encoding": {
                "x": _x_periods(labels),
                "y": {
                    "field": "value",
                    "type": "quantitative",
                    "stack": "zero",
                    "title": None,
                    "axis": _value_axis(measure == "amount"),
                },
                "color": _outcome_colour(OUTCOMES),
                "order": {"field": "rank", "type": "quantitative"},
                "tooltip": _tooltip(
                    ("provider_name", _("Provider")),
                    ("outcome_name", _("Outcome")),
                    ("when_text", _("Period")),
                    ("shown", _(measure)),
                ),
                "description": {"field": "description"},
            },
        }
        for provider in providers
    ]
    return _spec(title, {"vconcat": panels, "resolve": {"scale": {"x": "shared"}}})


_BY_TITLES = {
    "institution": N_("Institution"),
    "invoice_type": N_("Invoice type"),
    "provider": N_("Provider"),
    "status": N_("Status"),
}


def breakdown_chart(
    df: pd.DataFrame, by: str | None = None, measure: str = "count", *, title: str | None = None
):
    """Horizontal stacked bars per ``by`` value (biggest on top), coloured by outcome.
    ``df`` is :func:`breakdown`."""
    _check("measure", measure, MEASURES)
    by = by or next(c for c in df.columns if c in BREAKDOWNS)
    totals: dict[str, float] = {}  # biggest on top by what is measured
    values = []
    for row in df.to_dict("records"):
        raw = row[by]
        label = "—" if raw is None or raw != raw else str(raw)
        label = PROVIDER_LABELS.get(label, label) if by == "provider" else label
        outcome = _(OUTCOME_LABELS[row["outcome"]])
        if measure == "amount":
            value, shown = float(row["amount_tl"]), format_amount(int(row["amount_kurus"]))
        else:
            value, shown = int(row["count"]), format_count(int(row["count"]))
        totals[label] = totals.get(label, 0) + value
        values.append(
            {
                "label": label,
                "outcome": row["outcome"],
                "outcome_name": outcome,
                "rank": OUTCOMES.index(row["outcome"]),
                "value": value,
                "shown": shown,
                "description": f"{label} · {outcome}: {shown}",
            }
        )
    order = sorted(totals, key=lambda k: -totals[k])
    outcomes = [o for o in OUTCOMES if o in set(df["outcome"])] or list(OUTCOMES)
    return _view(
        title,
        values,
        mark={"type": "bar", "tooltip": True},
        height={"step": 22},
        encoding={
            "y": {"field": "label", "type": "nominal", "title": None, "sort": order},
            "x": {
                "field": "value",
                "type": "quantitative",
                "stack": "zero",
                "title": None,
                "axis": _value_axis(measure == "amount") | {"labelFlush": True},  # none cut
            },
            "color": _outcome_colour(outcomes),
            "order": {"field": "rank", "type": "quantitative"},
            "tooltip": _tooltip(("label", _(_BY_TITLES[by])), ("outcome_name", _("Outcome")))
            + _tooltip(("shown", _(measure))),
            "description": {"field": "description"},
        },
    )


def cancellation_rate_chart(df: pd.DataFrame, *, title: str | None = None):
    """One line per provider (provider colours); ``df`` is :func:`cancellation_rate`."""
    grain = df.attrs.get("grain")
    periods = sorted(set(df["period"]))
    labels = [period_label(p, grain) for p in periods]
    present = [p for p in PROVIDERS if p in set(df["provider"])] or list(PROVIDERS)
    values = []
    for row in df.itertuples(index=False):
        if row.rate != row.rate:  # nothing settled in that period: no point
            continue
        provider, when = PROVIDER_LABELS[row.provider], period_text(row.period, grain)
        rate = percent(row.rate)
        shown = _(
            "{rate} cancelled ({cancelled} of {settled})",
            rate=rate,
            cancelled=format_count(int(row.cancelled)),
            settled=format_count(int(row.settled)),
        )
        values.append(
            {
                "provider": row.provider,
                "provider_name": provider,
                "when": period_label(row.period, grain),
                "when_text": when,
                "rate": float(row.rate),
                "shown": shown,
                "description": f"{provider} · {when}: {shown}",
            }
        )
    return _view(
        title,
        values,
        mark={"type": "line", "point": True, "tooltip": True},
        height=220,
        encoding={
            "x": _x_periods(labels),
            "y": {
                "field": "rate",
                "type": "quantitative",
                "title": None,
                "axis": {"labelExpr": "'%' + format(datum.value * 100, '.1~f')"},  # %14,5
            },
            "color": {
                "field": "provider_name",
                "type": "nominal",
                "title": None,
                "scale": {
                    "domain": [PROVIDER_LABELS[p] for p in present],
                    "range": [PROVIDER_COLORS[p] for p in present],
                },
                "legend": {"orient": "top"},
            },
            "tooltip": _tooltip(
                ("provider_name", _("Provider")),
                ("when_text", _("Period")),
                ("shown", _("Cancellation rate")),
            ),
            "description": {"field": "description"},
        },
    )


def fee_chart(df: pd.DataFrame, *, title: str | None = None):
    """Stacked fee bars per period: fees on paid payments, fees on cancelled ones (Payofin)."""
    grain = df.attrs.get("grain")
    labels = [period_label(p, grain) for p in sorted(set(df["period"]))]
    values = []
    for row in df.to_dict("records"):
        when = period_text(row["period"], grain)
        for rank, (outcome, column, name) in enumerate(FEE_PARTS):
            kurus = int(row[column])
            shown = format_amount(kurus)
            values.append(
                {
                    "outcome": outcome,
                    "outcome_name": _(name),
                    "rank": rank,
                    "when": period_label(row["period"], grain),
                    "when_text": when,
                    "value": kurus / 100,
                    "shown": shown,
                    "description": f"{_(name)} · {when}: {shown}",
                }
            )
    return _view(
        title,
        values,
        mark={"type": "bar", "tooltip": True},
        height=220,
        encoding={
            "x": _x_periods(labels),
            "y": {
                "field": "value",
                "type": "quantitative",
                "stack": "zero",
                "title": None,
                "axis": _value_axis(True),
            },
            "color": {
                "field": "outcome_name",
                "type": "nominal",
                "title": None,
                "scale": {
                    "domain": [_(name) for _o, _c, name in FEE_PARTS],
                    "range": [OUTCOME_COLORS[o] for o, _c, _n in FEE_PARTS],
                },
                "legend": {"orient": "top"},
            },
            "order": {"field": "rank", "type": "quantitative"},
            "tooltip": _tooltip(("outcome_name", _("Fee")), ("when_text", _("Period")))
            + _tooltip(("shown", _("amount"))),
            "description": {"field": "description"},
        },
    )
