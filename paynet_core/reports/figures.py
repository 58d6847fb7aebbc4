"""The plotly figures the dashboard and the notebook draw from :mod:`.queries`' DataFrames.

Built in the current language (:mod:`paynet_core.i18n`): trace names, legends, hover texts and
month and day names come from the catalogs and Babel's locale data, so a figure reads
``Kasım 2026`` and ``%14,5`` in Turkish, ``November 2026`` in English. Numbers are Turkish in both
(decimal comma, ``₺``, ``dd.mm.yyyy``), like every other figure the team reads; ``*_tl`` columns
are floats for plotting only.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..i18n import N_, _, current_language
from ..i18n.formats import day_names, format_count, format_day, format_percent, month_names
from ..money import format_amount, kurus_to_tl
from ..outcomes import Outcome
from ..paynet.models import InvoiceStatus
from ..store.reports import BREAKDOWNS
from ..store.schema import PROVIDERS
from .queries import MEASURES, OUTCOMES

OUTCOME_COLORS: dict[str, str] = {
    Outcome.PAID: "#2e7d32",
    Outcome.CANCELLED: "#c62828",
    Outcome.FAILED: "#ef6c00",
    Outcome.OPEN: "#9e9e9e",
}
PROVIDER_COLORS = {"paynet": "#1565c0", "payofin": "#6a1b9a"}
#: Message ids: translated where a figure is built.
OUTCOME_LABELS = {
    "paid": N_("Paid"),
    "cancelled": N_("Cancelled"),
    "failed": N_("Failed"),
    "open": N_("Open"),
}
PROVIDER_LABELS = {"paynet": "Paynet", "payofin": "Payofin"}
#: Statuses as the status breakdown names them, with the outcome each belongs to.
STATUS_OUTCOMES = {s.label: s.outcome.value for s in InvoiceStatus} | {
    "Paid": Outcome.PAID.value,
    "Cancelled": Outcome.CANCELLED.value,
}
#: plotly's number format: decimal comma, thousands dot (1.234,56).
SEPARATORS = ",."


def _check(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


def _count_text(n: int) -> str:
    return format_count(n)


def _outcome(outcome: str) -> str:
    return _(OUTCOME_LABELS[outcome])


def _layout(fig: go.Figure, *, title: str | None, money: bool) -> go.Figure:
    fig.update_layout(
        separators=SEPARATORS,
        title=title,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        margin={"l": 10, "r": 10, "t": 60 if title else 30, "b": 10},
        hovermode="closest",
    )
    if money:
        fig.update_yaxes(tickformat=",.0f", ticksuffix=" ₺", rangemode="tozero")
    else:
        fig.update_yaxes(tickformat=",d", rangemode="tozero")
    return fig


#: At most this many labelled ticks on a month axis (a long range labels every n-th month).
_MAX_MONTH_TICKS = 12


def _date_axis(fig: go.Figure, grain: str | None, periods: Sequence | None = None) -> None:
    """Days as ``dd.MM.yyyy``; months by name in the current language (plotly's own month
    names are English only, so the ticks are ours)."""
    months = sorted({pd.Timestamp(p) for p in periods}) if periods is not None else []
    if grain != "month" or not months:
        fig.update_xaxes(tickformat="%m.%Y" if grain == "month" else "%d.%m.%Y")
        return
    step = -(-len(months) // _MAX_MONTH_TICKS)
    shown = months[::step]
    fig.update_xaxes(
        tickmode="array",
        tickvals=shown,
        ticktext=[_month_text(p, short=True) for p in shown],
    )


def _month_text(period: pd.Timestamp, *, short: bool = False) -> str:
    name = month_names(current_language())[period.month - 1]
    return f"{name[:3] if short else name} {period.year}"


def _period_text(period: pd.Timestamp, grain: str | None) -> str:
    """What a hover text calls a period: ``Kasım 2026``, ``23.11.2026 haftası``,
    ``23.11.2026 Pazartesi``."""
    if grain == "month":
        return _month_text(period)
    if grain == "week":
        return _("week of {day}", day=format_day(period))
    weekday = day_names(current_language())[period.weekday()]
    return f"{format_day(period)} {weekday}"


def _percent_axis(fig: go.Figure, rates: Sequence[float]) -> None:
    """Percent ticks the Turkish way (``%10``; plotly writes ``10%``)."""
    top = max([r for r in rates if r == r] or [0.0])
    top = max(top, 0.01)
    step = next(s for s in (0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5) if top / s <= 6)
    ticks = [i * step for i in range(int(top / step + 0.999) + 1)]
    fig.update_yaxes(
        tickmode="array",
        tickvals=ticks,
        ticktext=[format_percent(t, 0) for t in ticks],
        rangemode="tozero",
    )


def paid_vs_cancelled_figure(
    df: pd.DataFrame, measure: str = "count", *, title: str | None = None
) -> go.Figure:
    """Stacked bars per period, one panel per provider, coloured by outcome.

    ``df`` is :func:`outcome_series`; ``measure='amount'`` needs it built with amounts.
    """
    _check("measure", measure, MEASURES)
    if measure == "amount" and "amount_kurus" not in df.columns:
        raise ValueError("measure='amount' needs outcome_series(..., measure='amount')")
    grain = df.attrs.get("grain")
    providers = [p for p in PROVIDERS if p in set(df["provider"])] or list(PROVIDERS[:1])
    fig = make_subplots(
        rows=len(providers),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        subplot_titles=[PROVIDER_LABELS[p] for p in providers],
    )
    in_legend: set[str] = set()
    for row, provider in enumerate(providers, start=1):
        part = df[df["provider"] == provider]
        for outcome in OUTCOMES:
            rows = part[part["outcome"] == outcome]
            if rows.empty:
                continue
            if measure == "amount":
                y = rows["amount_tl"]
                texts = [format_amount(int(k)) for k in rows["amount_kurus"]]
            else:
                y = rows["count"]
                texts = [_count_text(int(n)) for n in rows["count"]]
            when = [_period_text(p, grain) for p in rows["period"]]
            fig.add_trace(
                go.Bar(
                    x=rows["period"],
                    y=y,
                    name=_outcome(outcome),
                    legendgroup=outcome,
                    showlegend=outcome not in in_legend,
                    marker_color=OUTCOME_COLORS[outcome],
                    customdata=list(zip(when, texts, strict=True)),
                    hovertemplate=(
                        f"{PROVIDER_LABELS[provider]} · {_outcome(outcome)}<br>"
                        "%{customdata[0]}: <b>%{customdata[1]}</b><extra></extra>"
                    ),
                    meta={"provider": provider, "outcome": outcome},
                ),
                row=row,
                col=1,
            )
            in_legend.add(outcome)
    fig.update_layout(barmode="stack")
    _date_axis(fig, grain, df["period"])
    return _layout(fig, title=title, money=measure == "amount")


def breakdown_figure(
    df: pd.DataFrame, by: str | None = None, measure: str = "count", *, title: str | None = None
) -> go.Figure:
    """Horizontal stacked bars per ``by`` value, coloured by outcome. ``df`` is :func:`breakdown`."""
    _check("measure", measure, MEASURES)
    by = by or next(c for c in df.columns if c in BREAKDOWNS)
    labels = df[by].map(lambda v: PROVIDER_LABELS.get(v, v) if by == "provider" else v)
    df = df.assign(_label=labels.fillna("—"))
    order = df.groupby("_label", sort=False)["count"].sum().sort_values().index.tolist()
    fig = go.Figure()
    for outcome in OUTCOMES:
        rows = df[df["outcome"] == outcome]
        if rows.empty:
            continue
        if measure == "amount":
            x = rows["amount_tl"]
            texts = [format_amount(int(k)) for k in rows["amount_kurus"]]
        else:
            x = rows["count"]
            texts = [_count_text(int(n)) for n in rows["count"]]
        fig.add_trace(
            go.Bar(
                y=rows["_label"],
                x=x,
                orientation="h",
                name=_outcome(outcome),
                marker_color=OUTCOME_COLORS[outcome],
                customdata=texts,
                hovertemplate=(
                    f"%{{y}} · {_outcome(outcome)}: <b>%{{customdata}}</b><extra></extra>"
                ),
                meta={"outcome": outcome},
            )
        )
    fig.update_layout(barmode="stack")
    fig.update_yaxes(categoryorder="array", categoryarray=order)
    _layout(fig, title=title, money=False)
    if measure == "amount":
        fig.update_xaxes(tickformat=",.0f", ticksuffix=" ₺")
    else:
        fig.update_xaxes(tickformat=",d")
    fig.update_yaxes(tickformat=None, ticksuffix=None)
    return fig


def cancellation_rate_figure(df: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """One line per provider (provider colours); ``df`` is :func:`cancellation_rate`."""
    grain = df.attrs.get("grain")
    fig = go.Figure()
    for provider in PROVIDERS:
        rows = df[df["provider"] == provider]
        if rows.empty:
            continue
        customdata = [
            (_period_text(p, grain), _count_text(int(c)), _count_text(int(s)), format_percent(r))
            for p, c, s, r in zip(
                rows["period"], rows["cancelled"], rows["settled"], rows["rate"], strict=True
            )
        ]
        cancelled_of = _(
            "{rate} cancelled ({cancelled} of {settled})",
            rate="<b>%{customdata[3]}</b>",
            cancelled="%{customdata[1]}",
            settled="%{customdata[2]}",
        )
        fig.add_trace(
            go.Scatter(
                x=rows["period"],
                y=rows["rate"],
                mode="lines+markers",
                name=PROVIDER_LABELS[provider],
                line={"color": PROVIDER_COLORS[provider]},
                marker={"color": PROVIDER_COLORS[provider]},
                customdata=customdata,
                hovertemplate=(
                    f"{PROVIDER_LABELS[provider]} · %{{customdata[0]}}<br>{cancelled_of}"
                    "<extra></extra>"
                ),
                meta={"provider": provider},
            )
        )
    _date_axis(fig, grain, df["period"])
    _layout(fig, title=title, money=False)
    fig.update_yaxes(tickformat=".0%")
    _percent_axis(fig, list(df["rate"]) if "rate" in df else [])
    return fig


def fee_figure(df: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Stacked fee bars per period: fees on paid payments, fees on cancelled ones."""
    grain = df.attrs.get("grain")
    fig = go.Figure()
    parts = (
        ("paid", "paid_fee_kurus", _("Fees on paid payments")),
        ("cancelled", "cancelled_fee_kurus", _("Fees on cancelled payments")),
    )
    for outcome, column, name in parts:
        customdata = [
            (_period_text(p, grain), format_amount(int(k)))
            for p, k in zip(df["period"], df[column], strict=True)
        ]
        fig.add_trace(
            go.Bar(
                x=df["period"],
                y=[float(kurus_to_tl(int(k))) for k in df[column]],
                name=name,
                marker_color=OUTCOME_COLORS[outcome],
                customdata=customdata,
                hovertemplate=f"{name}<br>%{{customdata[0]}}: <b>%{{customdata[1]}}</b><extra></extra>",
                meta={"outcome": outcome, "provider": "payofin"},
            )
        )
    fig.update_layout(barmode="stack")
    _date_axis(fig, grain, df["period"])
    return _layout(fig, title=title, money=True)
