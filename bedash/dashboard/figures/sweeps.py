"""The Sweeps page's charts of a sweep's statistics over seeds, one colour per model kind."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

from bedash.dashboard.figures import style
from bedash.dashboard.sweep_tables import CI, METRIC_NAMES, one_config
from bedash.dashboard.tables import NOT_MEASURED, as_float, ordered
from bedash.dashboard.uncertainty_tables import CLEAN, MEAN, corruption_label
from bedash.names import metric_label, model_color, model_label
from bedash.settings.config import label as field_label
from bedash.sweep.stats import clip_to_range

SEVERITY_METRICS = ("acc", "ece")  # the page's two figures, side by side where it is wide
AXIS_NAMES = {"acc": "accuracy", "ece": "ECE"}


def band_figure(summary: pd.DataFrame, metric: str, x: str) -> go.Figure:
    """metric's mean (line) ± std (band, cut where the metric ends: stats.metric_range)
    against field x, one trace per model kind."""
    rows = summary[summary["metric"] == metric] if not summary.empty else summary
    if rows.empty or x not in rows:
        what = f"{metric_label(metric)} against {field_label(x)}"
        return style.empty_figure(f"{what}: {NOT_MEASURED} (no cell finished)")
    fig = go.Figure()
    for model, g in rows.groupby("model", sort=False):
        g = g.groupby(x, as_index=False)[["mean", "std"]].mean().sort_values(x)
        std = g["std"].fillna(0.0)
        color = model_color(str(model))
        lows, highs = (clip_to_range(metric, list(g["mean"] + k * std)) for k in (-1, 1))
        fig.add_trace(style.band_trace(g[x], lows, highs, color, str(model)))  # within the range
        fig.add_trace(style.model_line(str(model), g[x], g["mean"]))
    y_title = f"{metric_label(metric)}<br>mean ± std over seeds"
    fig.update_layout(xaxis_title=field_label(x), margin={"t": 40}, legend=style.LEGEND_ABOVE)
    fig.update_layout(yaxis_title=y_title)
    values = sorted(rows[x].dropna().unique())
    if values and all(float(v).is_integer() for v in values):  # members 2, 4: no tick at 2.5
        fig.update_xaxes(tickmode="array", tickvals=values, ticktext=[f"{v:g}" for v in values])
    return fig


def scatter_figure(
    summary: pd.DataFrame, x_metric: str, y_metric: str = "ensemble_acc"
) -> go.Figure:
    """Per config and kind: y_metric's mean against x_metric's mean (e.g. accuracy vs params);
    colour the kind, symbol the config (named in the legend: no text on the points to overlap;
    beyond ten configs, the hover alone names them)."""
    what = f"{metric_label(y_metric)} against {metric_label(x_metric)}"
    empty = style.empty_figure(f"{what}: {NOT_MEASURED} (no cell finished)")
    if summary.empty:
        return empty
    index = ["config", "label", "model"] if "label" in summary else ["config", "model"]
    pivot = summary.pivot_table(index=index, columns="metric", values="mean")
    if x_metric not in pivot or y_metric not in pivot:
        return empty
    pivot = pivot.reset_index().dropna(subset=[x_metric, y_metric])
    if not len(pivot):
        return empty
    names = pivot["label"] if "label" in pivot else pivot["config"].astype(str)
    configs = list(dict.fromkeys(names))
    keyed = len(configs) <= len(style.SYMBOLS)
    symbol = {c: style.SYMBOLS[i] if keyed else "circle" for i, c in enumerate(configs)}
    fig = go.Figure()
    for kind in ordered(pivot["model"].astype(str)):
        rows, mine = pivot[pivot["model"].astype(str) == kind], names[pivot["model"] == kind]
        marker = {"color": model_color(kind), "size": 10, "symbol": mine.map(symbol).tolist()}
        fig.add_scatter(
            x=rows[x_metric].tolist(),
            y=rows[y_metric].tolist(),
            mode="markers",
            name=model_label(kind),
            marker=marker,
            customdata=mine.tolist(),
            hovertemplate="%{customdata}<br>%{x:,.4g}, %{y:,.4g}<extra>%{fullData.name}</extra>",
        )
    for c in configs if keyed and len(configs) > 1 else []:  # the legend's key to the symbols
        key = {"color": "#555", "size": 9, "symbol": symbol[c]}
        fig.add_scatter(x=[None], y=[None], mode="markers", marker=key, name=c, showlegend=True)
    fig.update_layout(xaxis_title=metric_label(x_metric), yaxis_title=metric_label(y_metric))
    fig.update_layout(margin={"t": 40}, legend=style.LEGEND_ABOVE)
    return fig


def shift_severity_figure(
    summary: pd.DataFrame, config: Any = None, metric: str = "acc", corruption: str = MEAN
) -> go.Figure:
    """One metric against severity (0 = clean, 1-5: the mean over CIFAR-10-C's corruptions, or
    `corruption`: a category's mean or one corruption) per model kind with its 95% interval over
    seeds as a band (Ovadia et al. 2019); shift_summary.csv, one config (default the first).
    One figure per metric: a narrow page stacks them."""
    name = METRIC_NAMES.get(metric, metric)
    need = {"model", "corruption", "severity", "metric", "mean", "ci_low", "ci_high", "n"}
    rows = one_config(summary, config)
    if rows.empty or not need <= set(rows):
        return style.empty_figure(f"{name} under shift: {NOT_MEASURED}")
    fig = go.Figure()
    rows = rows[rows["corruption"].isin([CLEAN, corruption]) & (rows["metric"] == metric)]
    for kind in ordered(rows["model"].dropna().astype(str)):
        g = rows[rows["model"] == kind]
        g = g.assign(_s=pd.to_numeric(g["severity"], errors="coerce")).sort_values("_s")
        cols = (g["_s"], g["mean"], g["ci_low"], g["ci_high"], g["n"])
        pts = [
            (as_float(s), as_float(m), as_float(lo), as_float(hi), n)
            for s, m, lo, hi, n in zip(*cols, strict=True)
            if as_float(s) is not None and as_float(m) is not None
        ]
        if not pts:
            continue
        band = [(s, lo, hi) for s, _, lo, hi, _ in pts if lo is not None and hi is not None]
        if band:
            xs, lows, highs = zip(*band, strict=True)
            lows, highs = clip_to_range(metric, lows), clip_to_range(metric, highs)
            fig.add_trace(
                style.band_trace(xs, lows, highs, model_color(kind), kind)
            )  # within range
        hover = f"{model_label(kind)}<br>severity %{{x}}<br>{name} %{{y:.4f}}"
        hover += " (n=%{customdata[0]})<extra></extra>"
        n = [[p[4]] for p in pts]
        fig.add_trace(
            style.model_line(
                kind, [p[0] for p in pts], [p[1] for p in pts], customdata=n, hovertemplate=hover
            )
        )
    x_title = f"severity ({corruption_label(corruption)})"
    fig.update_xaxes(title_text=x_title, range=[-0.3, 5.3], **style.SEVERITY_TICKS)
    fig.update_yaxes(title_text=f"{AXIS_NAMES.get(metric, name)},<br>{CI}", rangemode="tozero")
    legend = {**style.LEGEND_UNDER, "y": -0.25}
    fig.update_layout(title=f"{name} under shift", height=380, margin={"t": 50, "b": 40})
    fig.update_layout(legend=legend)
    return fig
