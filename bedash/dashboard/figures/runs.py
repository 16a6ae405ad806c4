"""The Runs page's charts of several runs, one colour per run."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bedash.dashboard.figures import style
from bedash.dashboard.figures.training import SMOOTHING, loss_points, loss_series
from bedash.dashboard.tables import ordered
from bedash.names import model_color, model_label


def run_label(run_id: str) -> str:
    """A short name for a run on a chart: the random tail of a generated id, else the id."""
    head, _, tail = run_id.rpartition("-")
    return tail if head and len(tail) == 6 and len(run_id) == 22 else run_id


def run_color(i: int) -> str:
    return style.RUN_COLORS[i % len(style.RUN_COLORS)]


def compare_figure(rows: pd.DataFrame) -> go.Figure:
    """Ensemble accuracy, parameters and training time of several runs (results.csv rows with
    run_id, series) against E: colour the model kind, symbol the run (named in the legend,
    never as text on the points, where runs at one E drew their labels on each other); lines
    join one `series` (tables.compare_series) only."""
    if rows is None or not len(rows):
        return style.empty_figure("select runs that have results")
    panels = [
        ("ensemble_acc", "ensemble accuracy (mean softmax)"),
        ("params", "parameters"),
        ("train_seconds", "training time (s)"),
    ]
    titles = [t for _, t in panels]
    fig = make_subplots(
        rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.1, subplot_titles=titles
    )
    df = rows.copy()
    if "series" not in df:
        df["series"] = range(len(df))  # nothing known about the settings: no lines
    for col in ["members", *[c for c, _ in panels]]:
        df[col] = pd.to_numeric(df[col], errors="coerce") if col in df else float("nan")
    runs = list(dict.fromkeys(df["run_id"]))
    symbol = {r: style.SYMBOLS[i % len(style.SYMBOLS)] for i, r in enumerate(runs)}
    for kind in ordered(df["model"]):  # the legend's key to the colours (a plain dot)
        key = {"color": model_color(kind), "size": 9}
        fig.add_scatter(
            x=[None],
            y=[None],
            mode="markers",
            marker=key,
            legendgroup=kind,
            name=model_label(kind),
            showlegend=True,
        )
    for i, (col, title) in enumerate(panels, 1):
        for kind in ordered(df["model"]):
            for _, mine in df[df["model"] == kind].groupby("series", sort=True):
                mine = mine.dropna(subset=[col]).sort_values("members")
                if not len(mine):
                    continue
                color = model_color(kind)
                fig.add_scatter(
                    x=mine["members"].tolist(),
                    y=mine[col].tolist(),
                    mode="lines+markers" if mine["members"].nunique() > 1 else "markers",
                    name=model_label(kind),
                    legendgroup=kind,
                    showlegend=False,
                    marker={"color": color, "size": 9, "symbol": mine["run_id"].map(symbol)},
                    line={"color": color},
                    customdata=mine[["run_id"]].to_numpy(),
                    hovertemplate="run %{customdata[0]}<br>E = %{x}<br>"
                    + title
                    + ": %{y:,.4g}<extra>"
                    + model_label(kind)
                    + "</extra>",
                    row=i,
                    col=1,
                )
    for r in runs:  # the legend's key to the symbols
        key = {"color": "#555", "size": 9, "symbol": symbol[r]}
        name = f"run {run_label(r)}"
        fig.add_scatter(x=[None], y=[None], mode="markers", marker=key, name=name, showlegend=True)
    fig.update_xaxes(title_text="members (E)", row=3, col=1)
    fig.update_xaxes(dtick=1)
    fig.update_layout(**{**style.LAYOUT, "legend": {**style.LEGEND_BELOW, "y": -0.12}}, height=720)
    return fig


def loss_overlay_figure(
    runs: Mapping[str, tuple[pd.DataFrame | None, pd.DataFrame | None]],
    *,
    smoothing: float = SMOOTHING,
    log: bool = True,
) -> go.Figure:
    """Several runs' whole-model training loss, a panel per kind. runs: id -> (history, steps)."""
    per_run = {r: loss_points(h, s) for r, (h, s) in runs.items()}
    per_run = {r: p[p["member"] < 0] for r, p in per_run.items()}
    kinds = ordered(k for p in per_run.values() for k in p["model"])
    if not kinds:
        return style.empty_figure("the selected runs have no training loss")
    titles, rows = [model_label(k) for k in kinds], len(kinds)
    fig = make_subplots(
        rows, 1, shared_xaxes=True, vertical_spacing=0.12 / rows, subplot_titles=titles
    )
    losses: list[float] = []
    span = max(float(p["x1"].max()) for p in per_run.values() if len(p))  # one x axis
    for i, (run_id, points) in enumerate(per_run.items()):
        first = True  # one legend entry per run, on its first panel
        for row, kind in enumerate(kinds, 1):
            mine = points[points["model"] == kind]
            if not len(mine):
                continue
            losses += mine["loss"].tolist()
            extra = f"run {run_id}<br>{model_label(kind)}"
            label, color = run_label(run_id), run_color(i)
            for s in loss_series(
                mine, label, color, run_id, smoothing, main=True, span=span, extra=extra
            ):
                s.showlegend = bool(s.showlegend) and first
                fig.add_trace(s, row=row, col=1)
            first = False
    fig.update_yaxes(
        type="log" if log else "linear", **(style.log_ticks(pd.Series(losses)) if log else {})
    )
    fig.update_yaxes(title_text="training loss" + (" (log)" if log else ""))
    fig.update_xaxes(title_text="epoch", row=len(kinds), col=1)
    fig.update_layout(
        **{**style.LAYOUT, "legend": {**style.LEGEND_BELOW, "y": -0.08 - 0.1 / len(kinds)}},
        height=120 + 230 * len(kinds),
    )
    return fig


def reliability_overlay_figure(runs: Mapping[str, Mapping[str, pd.DataFrame]]) -> go.Figure:
    """Several runs' reliability diagrams, a panel per kind. runs: id -> {kind: table}."""
    kinds = ordered(k for tables in runs.values() for k, t in tables.items() if len(t))
    if not kinds:
        return style.empty_figure("the selected runs have no reliability diagrams")
    cols = min(2, len(kinds))
    nrows = math.ceil(len(kinds) / cols)
    titles = [style.wrap(model_label(k), 13) for k in kinds]
    height = 80 + 340 * nrows
    gaps = style.panel_gaps(height)
    fig = make_subplots(rows=nrows, cols=cols, subplot_titles=titles, shared_yaxes=True, **gaps)
    where = [(j // cols + 1, j % cols + 1) for j in range(len(kinds))]
    for i, (run_id, tables) in enumerate(runs.items()):
        first = True
        for kind, (r, c) in zip(kinds, where, strict=True):
            t = tables.get(kind)
            if t is None or not len(t):
                continue
            t = t.apply(pd.to_numeric, errors="coerce")
            t = t[t["count"] > 0]
            fig.add_scatter(
                x=t["confidence"].tolist(),
                y=t["accuracy"].tolist(),
                mode="lines+markers",
                name=run_label(run_id),
                legendgroup=run_id,
                showlegend=first,
                line={"color": run_color(i)},
                marker={"size": 6},
                customdata=t["count"].tolist(),
                hovertemplate="confidence %{x:.3f}<br>accuracy %{y:.3f}<br>%{customdata:.0f}"
                f" images<extra>run {run_id}</extra>",
                row=r,
                col=c,
            )
            first = False
    for r, c in where:
        style.calibration_panel(fig, r, c)
    legend = {**style.LEGEND_BELOW, "y": -0.12}
    fig.update_layout(**{**style.LAYOUT, "legend": legend, "margin": style.TALL}, height=height)
    return fig
