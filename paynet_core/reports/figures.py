"""The plotly figures the dashboard and the notebook draw from :mod:`.queries`' DataFrames.

Hover texts are formatted for people (decimal comma, ``₺``, ``dd.mm.yyyy``) with
:func:`money.format_amount`; ``*_tl`` columns are floats for plotting only.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

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
OUTCOME_LABELS: dict[str, str] = {o: o.value.capitalize() for o in Outcome}
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
    return f"{n:,}".replace(",", ".")


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


def _date_axis(fig: go.Figure, grain: str | None) -> None:
    fig.update_xaxes(tickformat="%m.%Y" if grain == "month" else "%d.%m.%Y")


def _period_text(period: pd.Timestamp, grain: str | None) -> str:
    if grain == "month":
        return period.strftime("%m.%Y")
    if grain == "week":
        return f"week of {period.strftime('%d.%m.%Y')}"
    return period.strftime("%d.%m.%Y")


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
                    name=OUTCOME_LABELS[outcome],
                    legendgroup=outcome,
                    showlegend=outcome not in in_legend,
                    marker_color=OUTCOME_COLORS[outcome],
                    customdata=list(zip(when, texts, strict=True)),
                    hovertemplate=(
                        f"{PROVIDER_LABELS[provider]} · {OUTCOME_LABELS[outcome]}<br>"
                        "%{customdata[0]}: <b>%{customdata[1]}</b><extra></extra>"
                    ),
                    meta={"provider": provider, "outcome": outcome},
                ),
                row=row,
                col=1,
            )
            in_legend.add(outcome)
    fig.update_layout(barmode="stack")
    _date_axis(fig, grain)
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
                name=OUTCOME_LABELS[outcome],
                marker_color=OUTCOME_COLORS[outcome],
                customdata=texts,
                hovertemplate=(
                    f"%{{y}} · {OUTCOME_LABELS[outcome]}: <b>%{{customdata}}</b><extra></extra>"
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
            (_period_text(p, grain), _count_text(int(c)), _count_text(int(s)))
            for p, c, s in zip(rows["period"], rows["cancelled"], rows["settled"], strict=True)
        ]
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
                    f"{PROVIDER_LABELS[provider]} · %{{customdata[0]}}<br>"
                    "<b>%{y:.1%}</b> cancelled (%{customdata[1]} of %{customdata[2]})"
                    "<extra></extra>"
                ),
                meta={"provider": provider},
            )
        )
    _date_axis(fig, grain)
    _layout(fig, title=title, money=False)
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    return fig


def fee_figure(df: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Stacked fee bars per period: fees on paid payments, fees on cancelled ones."""
    grain = df.attrs.get("grain")
    fig = go.Figure()
    parts = (
        (Outcome.PAID.value, "paid_fee_kurus", "Fees on paid payments"),
        (Outcome.CANCELLED.value, "cancelled_fee_kurus", "Fees on cancelled payments"),
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
    _date_axis(fig, grain)
    return _layout(fig, title=title, money=True)
