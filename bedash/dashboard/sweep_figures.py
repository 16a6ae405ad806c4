"""Figures of a sweep's summary.csv: a metric against a grid field with mean ± std bands per
model kind (one colour per kind), and accuracy against parameters / training time."""

from __future__ import annotations

from typing import TYPE_CHECKING

import plotly.graph_objects as go

from bedash.dashboard.figures import LEGEND_ABOVE
from bedash.names import metric_label, model_color, model_label
from bedash.settings.config import label as field_label
from bedash.sweep.stats import clip_to_range

if TYPE_CHECKING:
    import pandas as pd


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def band_trace(xs: list, lows: list, highs: list, color: str, group: str) -> go.Scatter:
    """A filled band from lows to highs over xs in a model's colour: no markers, no hover, no
    legend entry of its own (its line's legend group)."""
    xs = list(xs)
    return go.Scatter(
        x=xs + xs[::-1], y=list(highs) + list(lows)[::-1], mode="lines", fill="toself",
        fillcolor=_rgba(color, 0.2), line={"width": 0}, hoverinfo="skip", showlegend=False,
        legendgroup=group,
    )  # fmt: skip


def band_figure(summary: pd.DataFrame, metric: str, x: str) -> go.Figure:
    """metric's mean (line) ± std (band, cut where the metric ends: stats.metric_range)
    against field x, one trace per model kind."""
    fig = go.Figure()
    rows = summary[summary["metric"] == metric] if not summary.empty else summary
    if rows.empty or x not in rows:
        fig.update_layout(title=f"{metric_label(metric)}: no data against {field_label(x)}")
        return fig
    for model, g in rows.groupby("model", sort=False):
        g = g.groupby(x, as_index=False)[["mean", "std"]].mean().sort_values(x)
        std = g["std"].fillna(0.0)
        color = model_color(str(model))
        xs = list(g[x])
        lows, highs = (clip_to_range(metric, list(g["mean"] + k * std)) for k in (-1, 1))
        fig.add_trace(band_trace(xs, lows, highs, color, str(model)))  # within the metric's range
        fig.add_trace(go.Scatter(
            x=xs, y=list(g["mean"]), mode="lines+markers", name=model_label(str(model)),
            line={"color": color}, legendgroup=str(model),
        ))  # fmt: skip
    fig.update_layout(xaxis_title=field_label(x), margin={"t": 40}, legend=LEGEND_ABOVE,
                      yaxis_title=f"{metric_label(metric)}<br>mean ± std over seeds")  # fmt: skip
    values = sorted(rows[x].dropna().unique())
    if values and all(float(v).is_integer() for v in values):  # members 2, 4: no tick at 2.5
        fig.update_xaxes(tickmode="array", tickvals=values, ticktext=[f"{v:g}" for v in values])
    return fig


def scatter_figure(
    summary: pd.DataFrame, x_metric: str, y_metric: str = "ensemble_acc"
) -> go.Figure:
    """Per config and kind: y_metric's mean against x_metric's mean (e.g. accuracy vs params)."""
    fig = go.Figure()
    if summary.empty:
        return fig
    index = ["config", "label", "model"] if "label" in summary else ["config", "model"]
    pivot = summary.pivot_table(index=index, columns="metric", values="mean")
    if x_metric not in pivot or y_metric not in pivot:
        return fig
    pivot = pivot.reset_index()
    for model, g in pivot.groupby("model", sort=False):
        fig.add_trace(go.Scatter(
            x=g[x_metric], y=g[y_metric], mode="markers", name=model_label(str(model)),
            marker={"color": model_color(str(model)), "size": 10},
            text=list(g["label"]) if "label" in g else None,  # which config a point is
            hovertemplate="%{text}<br>%{x:.4g}, %{y:.4g}<extra>" + model_label(str(model))
            + "</extra>",
        ))  # fmt: skip
    fig.update_layout(xaxis_title=metric_label(x_metric), yaxis_title=metric_label(y_metric),
                      margin={"t": 40}, legend=LEGEND_ABOVE)  # fmt: skip
    return fig
