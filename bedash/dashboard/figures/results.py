"""The Results page's charts of one run: pure functions of the run's frames."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bedash.dashboard.figures import style
from bedash.dashboard.figures.training import epoch_times
from bedash.dashboard.tables import (
    accuracy_interval,
    as_float,
    busy,
    column,
    for_people,
    ordered,
)
from bedash.names import ACCURACY_LABELS, model_color, model_label


def result(results: pd.DataFrame | None, model: str | None, name: str) -> float | None:
    """One cell of results.csv (None when the model or the value is missing)."""
    if results is None or not len(results) or name not in results:
        return None
    cells = results.loc[results["model"] == model, name]
    return as_float(cells.iloc[0]) if len(cells) else None


def accuracy_figure(
    results: pd.DataFrame,
    *,
    reference: str | None = None,
    pending: bool = True,
    n_test: int | None = None,
) -> go.Figure:
    """The four accuracies per model as a dot plot on an axis zoomed to them, each with its 95%
    Wilson interval over the n_test test images; with `reference` (a model kind), each model's
    difference to it around a zero line. A model with none measured is named in the legend."""
    if results is None or not len(results):
        return style.empty_figure(style.none_yet(pending))
    metrics = list(ACCURACY_LABELS)
    ref = [result(results, reference, c) for c in metrics] if reference else []
    if all(v is None for v in ref):
        reference, ref = None, []
    rows = [style.wrap(ACCURACY_LABELS[c]) for c in metrics]
    fmt = "%{x:+.3f}" if reference else "%{x:.3f}"
    data: list[go.Scatter] = []
    lows: list[float] = []
    highs: list[float] = []
    kinds = ordered(results["model"])
    for kind in kinds:
        values = [result(results, kind, c) for c in metrics]
        intervals = [None if reference else accuracy_interval(v, n_test) for v in values]
        if reference:
            values = [None if None in (v, r) else v - r for v, r in zip(values, ref, strict=True)]
        label = model_label(kind)
        if all(v is None for v in values):
            data.append(style.not_measured_entry(kind))
            continue
        data += style.dots(kind, label, rows, values, intervals, fmt)
        for v, ci in zip(values, intervals, strict=True):
            if v is not None:
                lows.append(ci[0] if ci else v)
                highs.append(ci[1] if ci else v)
    if not lows:
        return style.empty_figure(style.none_yet(pending))
    title = f"difference to {model_label(reference)}" if reference else "test accuracy"
    height = 90 + len(metrics) * (22 * len(kinds) + 18)
    fig = go.Figure(data=data, layout={**style.LAYOUT, "height": height})
    fig.update_layout(scattermode="group", scattergap=0.35)
    fig.update_xaxes(title_text=title, range=style.dot_range(lows, highs, zero=bool(reference)))
    fig.update_xaxes(zeroline=bool(reference), zerolinecolor="#888")
    fig.update_yaxes(type="category", categoryarray=rows, autorange="reversed")
    return fig


def params_figure(results: pd.DataFrame, *, pending: bool = True) -> go.Figure:
    """Parameter count per model, labelled with its size relative to the single model."""
    if results is None or not len(results):
        return style.empty_figure(style.none_yet(pending))
    if not any(v is not None for v in column(results, "params")):
        return style.empty_figure(style.none_yet(pending))
    rel, mb = column(results, "params_rel_single"), column(results, "param_mb")
    text = [
        f"{r:.2f}× single<br>{m:.1f} MB" if r is not None and m is not None else ""
        for r, m in zip(rel, mb, strict=True)
    ]
    x, y = [style.wrap(model_label(m), 13) for m in results["model"]], column(results, "params")
    margin = {**style.LAYOUT["margin"], "t": 30}
    fig = go.Figure(layout={**style.LAYOUT, "height": 360, "margin": margin})
    fig.update_layout(uniformtext=style.FIT_TEXT)
    fig.add_bar(
        x=x,
        y=y,
        text=text,
        textposition="outside",
        cliponaxis=False,
        showlegend=False,
        marker={"color": [model_color(m) for m in results["model"]]},
        hovertemplate="%{x}<br>%{y:,} parameters<extra></extra>",
    )
    if (mark := style.not_measured_marks(x, y)) is not None:
        fig.add_trace(mark)
    fig.update_xaxes(tickangle=0, tickfont={"size": 11})
    top = max(v for v in y if v is not None)
    fig.update_yaxes(title_text="parameters", range=[0, top * 1.3])  # from zero, room for labels
    return fig


def time_figure(
    results: pd.DataFrame,
    history: pd.DataFrame | None = None,
    *,
    cpus: int | None = None,
    pending: bool = True,
) -> go.Figure:
    """Training, per-epoch (whisker: fastest to slowest epoch) and inference time per model, bars
    from zero labelled for people; inference measured while busy (1-min load above `cpus`) is
    hatched, its load and the number of timed passes in the hover."""
    panels = [
        ("train_seconds", "training time (s)", 1.0, " s"),
        ("epoch_seconds", "time per epoch (s)", 1.0, " s"),
        ("infer_seconds", "inference, test set (ms)", 1000.0, " ms"),
    ]
    if results is None or not any(v is not None for c, *_ in panels for v in column(results, c)):
        return style.empty_figure(style.none_yet(pending))
    kinds = list(results["model"])
    loads, repeats = column(results, "load_avg"), column(results, "infer_repeats")
    hot = [busy(load, cpus) for load in loads]
    titles = [t for _, t, _, _ in panels]
    if any(hot):
        titles[2] += "<br>hatched: the machine was busy"
    # stacked, not side by side: three panels across are unreadable at a phone's width
    fig = make_subplots(rows=3, cols=1, subplot_titles=titles, vertical_spacing=0.14)
    labels = [style.wrap(model_label(m), 13) for m in kinds]
    times = epoch_times(history) if history is not None else pd.DataFrame()
    # each model's fastest and slowest epoch (seconds): the noise behind the mean
    spread = times.groupby("model")["epoch_seconds"].agg(["min", "max"]) if len(times) else None
    for i, (col, title, scale, unit) in enumerate(panels, 1):
        y = [None if v is None else v * scale for v in column(results, col)]
        whisker, notes = None, [""] * len(y)
        if col == "epoch_seconds" and spread is not None:
            lo, hi = [0.0] * len(y), [0.0] * len(y)
            for j, (v, k) in enumerate(zip(y, kinds, strict=True)):
                if v is not None and k in spread.index:
                    lo[j] = max(0.0, v - spread.at[k, "min"])
                    hi[j] = max(0.0, spread.at[k, "max"] - v)
            whisker = dict(type="data", symmetric=False, array=hi, arrayminus=lo, color="#444")
            whisker["thickness"] = 1.2
        if col == "infer_seconds":
            for j, (n, load) in enumerate(zip(repeats, loads, strict=True)):
                notes[j] = f"<br>median of {n:.0f} passes" if n and n > 1 else ""
                if hot[j]:
                    notes[j] += f"<br>busy: load {load:.1f} on {cpus} CPUs"
        fig.add_bar(
            x=labels,
            y=y,
            marker={"color": [model_color(m) for m in kinds]},
            marker_pattern={
                "shape": ["/" if h and col == "infer_seconds" else "" for h in hot],
                "fillmode": "overlay",
                "fgcolor": "white",
                "fgopacity": 0.6,
            },
            showlegend=False,
            text=for_people(y, unit),
            # above the bar; at its foot where a whisker rises from the top
            textposition="inside" if whisker else "outside",
            insidetextanchor="start",
            cliponaxis=False,
            error_y=whisker,
            customdata=notes,
            row=i,
            col=1,
            hovertemplate="%{x}<br>" + title + ": %{text}%{customdata}<extra></extra>",
        )
        if (mark := style.not_measured_marks(labels, y)) is not None:
            fig.add_trace(mark, row=i, col=1)
    fig.update_layout(**style.LAYOUT, height=680, uniformtext=style.FIT_TEXT)
    fig.update_xaxes(tickangle=0, tickfont={"size": 11})
    fig.update_yaxes(rangemode="tozero")
    fig.update_annotations(font_size=13)
    return fig


def member_accuracy_figure(
    members: pd.DataFrame,
    results: pd.DataFrame,
    *,
    pending: bool = True,
    n_test: int | None = None,
) -> go.Figure:
    """Each member's test accuracy per ensemble kind as a dot plot (95% Wilson intervals over the
    n_test test images) on a zoomed axis, the ensemble's (dashed) and the single model's
    (dotted) accuracy as reference lines; one panel per kind, one axis for all."""
    if members is not None and len(members):
        members = members.assign(accuracy=pd.to_numeric(members["accuracy"], errors="coerce"))
        members = members.dropna(subset=["accuracy"])
    if members is None or not len(members):
        return style.empty_figure(style.none_yet(pending, "ensemble"))
    kinds = [k for k in ordered(members["model"]) if (members["model"] == k).sum() > 1]
    if not kinds:
        return style.empty_figure(style.none_yet(pending, "ensemble with several members"))
    sizes = [int((members["model"] == k).sum()) for k in kinds]
    spacing = 0.3 / len(kinds)
    fig = make_subplots(
        rows=len(kinds),
        cols=1,
        shared_xaxes=True,
        subplot_titles=[model_label(k) for k in kinds],
        row_heights=[n + 1 for n in sizes],
        vertical_spacing=spacing,
    )
    refs = [
        ("ensemble (mean softmax)", None, "#222222", "dash"),
        ("single model", "single", model_color("single"), "dot"),
    ]
    shown: set[str] = set()
    lows: list[float] = []
    highs: list[float] = []
    for i, kind in enumerate(kinds, 1):
        rows = members[members["model"] == kind]
        names = [f"member {int(m)}" for m in rows["member"]]
        acc = rows["accuracy"].tolist()
        cis = [accuracy_interval(a, n_test) for a in acc]
        for trace in style.dots(kind, model_label(kind), names, acc, cis, "%{x:.3f}"):
            fig.add_trace(trace.update(showlegend=False), row=i, col=1)
        lows += [c[0] if c else a for a, c in zip(acc, cis, strict=True)]
        highs += [c[1] if c else a for a, c in zip(acc, cis, strict=True)]
        for name, who, color, dash in refs:  # vertical lines through the members, in the legend
            value = result(results, who or kind, "ensemble_acc")
            if value is None:
                continue
            lows.append(value)
            highs.append(value)
            fig.add_scatter(
                x=[value, value],
                y=[names[0], names[-1]],
                mode="lines",
                name=name,
                legendgroup=name,
                showlegend=name not in shown,
                line={"color": color, "dash": dash, "width": 2},
                hovertemplate=f"{name}: {value:.4f}<extra>{model_label(kind)}</extra>",
                row=i,
                col=1,
            )
            shown.add(name)
    height = 110 + sum(24 * n + 50 for n in sizes)
    margin = {**style.LAYOUT["margin"], "t": 90}  # the legend's row(s), then the first title
    fig.update_layout(**{**style.LAYOUT, "legend": style.LEGEND_TOP, "margin": margin})
    fig.update_layout(height=height)
    fig.update_xaxes(range=style.dot_range(lows, highs))
    fig.update_xaxes(title_text="test accuracy", row=len(kinds), col=1)
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_annotations(font_size=13)
    return fig


def agreement_figure(matrices: Mapping[str, pd.DataFrame], *, pending: bool = True) -> go.Figure:
    """The members' pairwise agreement, one heatmap per ensemble kind on ONE 0-1 colour scale."""
    kinds = ordered(k for k, m in matrices.items() if m is not None and len(m))
    if not kinds:
        return style.empty_figure(style.none_yet(pending, "ensemble"))
    titles = [style.wrap(model_label(k), 13) for k in kinds]  # side by side on a phone
    fig = make_subplots(rows=1, cols=len(kinds), horizontal_spacing=0.08, subplot_titles=titles)
    for i, kind in enumerate(kinds, 1):
        z = matrices[kind].drop(columns=["member"], errors="ignore").to_numpy(dtype=float)
        labels = [str(j) for j in range(z.shape[1])]  # short: two heatmaps fit a phone
        hover = f"member %{{y}} vs member %{{x}}: %{{z:.3f}}<extra>{model_label(kind)}</extra>"
        cells = {"coloraxis": "coloraxis", "texttemplate": "%{z:.2f}", "hovertemplate": hover}
        fig.add_heatmap(z=z, x=labels, y=labels, **cells, row=1, col=i)
    # the colour bar under the panels, not beside them: the panels keep the whole width
    bar = dict(title={"text": "agreement", "side": "top"}, tickformat=".1f", thickness=12)
    bar.update(orientation="h", y=-0.22, yanchor="top", len=0.6, x=0, xanchor="left")
    scale = {"cmin": 0.0, "cmax": 1.0, "colorscale": "Blues", "colorbar": bar}
    fig.update_layout(**style.LAYOUT, height=420, coloraxis=scale)
    # member numbers are categories (a numeric axis would tick at 0.5, 1.5...)
    fig.update_yaxes(autorange="reversed", scaleanchor=None, type="category")
    fig.update_yaxes(title_text="member", col=1)
    for i in range(2, len(kinds) + 1):  # the rows are the same members: label them once
        fig.update_yaxes(showticklabels=False, row=1, col=i)
    fig.update_xaxes(title_text="member", type="category")
    fig.update_annotations(font_size=13)
    return fig


def reliability_figure(
    tables: Mapping[str, pd.DataFrame], results: pd.DataFrame | None = None, *, pending: bool = True
) -> go.Figure:
    """A reliability diagram per model (bins against the diagonal), its ECE in the title."""
    kinds = ordered(k for k, t in tables.items() if t is not None and len(t))
    if not kinds:
        return style.empty_figure(style.none_yet(pending))
    ece = {k: result(results, k, "ece") for k in kinds}
    titles = [
        style.wrap(model_label(k), 13) + ("" if ece[k] is None else f"<br>ECE {ece[k]:.3f}")
        for k in kinds
    ]
    cols = min(2, len(kinds))  # two across at most: readable at a phone's width too
    nrows = math.ceil(len(kinds) / cols)
    height = 60 + 340 * nrows
    fig = make_subplots(
        rows=nrows, cols=cols, subplot_titles=titles, shared_yaxes=True, **style.panel_gaps(height)
    )
    for i, kind in enumerate(kinds):
        r, c = i // cols + 1, i % cols + 1
        t = tables[kind].apply(pd.to_numeric, errors="coerce")
        t = t[t["count"] > 0]
        fig.add_bar(
            x=((t["lower"] + t["upper"]) / 2).tolist(),
            y=t["accuracy"].tolist(),
            width=(t["upper"] - t["lower"]).tolist(),
            marker={"color": model_color(kind)},
            customdata=t[["confidence", "count"]].to_numpy().tolist(),
            showlegend=False,
            hovertemplate="confidence %{customdata[0]:.3f}<br>accuracy %{y:.3f}"
            "<br>%{customdata[1]:.0f} images<extra></extra>",
            row=r,
            col=c,
        )
        style.calibration_panel(fig, r, c, "perfect calibration")
    fig.update_layout(**{**style.LAYOUT, "margin": style.TALL}, height=height, bargap=0)
    return fig
