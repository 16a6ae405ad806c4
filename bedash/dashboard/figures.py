"""Figures for the dashboard: pure functions of pandas DataFrames (a run folder's CSVs, or a live
job's snapshot as frames) returning plotly figures. No streamlit, no torch.

Every accuracy is labelled for what it is, every model kind keeps one colour on every chart
(bedash.names.MODEL_COLORS), a value that was not measured is left out and said so (never drawn
as a zero), and heatmaps share one 0-1 colour scale so two ensembles can be compared by eye.
Figures are built from plain dicts (validated once by plotly): the live view redraws every
second.
"""

# Size: ~860 lines of one kind of thing, a figure per function, each short; they share the
# layout, palette and "not measured" conventions defined at the top.

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bedash.dashboard.tables import (
    NOT_MEASURED,
    as_float,
    epoch_means,
    interval_means,
    members_of,
    ordered,
    smooth,
)
from bedash.names import ACCURACY_LABELS, model_color, model_label

# the runs of an overlay, one colour each (Paul Tol's "muted": none is a model kind's colour)
RUN_COLORS = ["#332288", "#CC6677", "#117733", "#882255", "#44AA99", "#999933", "#AA4499",
              "#88CCEE", "#DDCC77", "#661100"]  # fmt: skip
# one row above the plot: beside it, a legend squeezes the plot to ~90 px at a phone's width
LEGEND_ABOVE = {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0}
_LAYOUT = {
    "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
    "legend": LEGEND_ABOVE,
    "hovermode": "closest",
}
# subplots: the legend under the plot, where it cannot cover a panel's title
_LEGEND_BELOW = {"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0}
SMOOTHING = 0.6  # TensorBoard's default


def plot_config(name: str, fmt: str = "png") -> dict[str, Any]:
    """st.plotly_chart's config: the modebar's camera saves the figure as `fmt` (png or svg),
    drawn in the browser by plotly.js itself (nothing is fetched)."""
    if fmt not in ("png", "svg"):
        raise ValueError(f"format: {fmt!r} is not png or svg")
    return {
        "displaylogo": False,
        "toImageButtonOptions": {
            "format": fmt,
            "filename": name,
            "scale": 2 if fmt == "png" else 1,
        },
        "modeBarButtonsToRemove": ["lasso2d", "select2d"],
    }


def empty_figure(message: str, height: int = 260) -> go.Figure:
    """A blank chart that says why it is blank."""
    return go.Figure(
        layout={
            **_LAYOUT,
            "height": height,
            "xaxis": {"visible": False},
            "yaxis": {"visible": False},
            "annotations": [
                {
                    "text": message,
                    "showarrow": False,
                    "xref": "paper",
                    "yref": "paper",
                    "x": 0.5,
                    "y": 0.5,
                    "font": {"size": 14},
                }
            ],
        }
    )


def _none_yet(pending: bool, what: str = "model") -> str:
    """The blank chart's message: a run that may still fill it, or one that ended."""
    return f"no {what} has finished yet" if pending else f"{NOT_MEASURED}: no {what} finished"


# -- training: loss curves, epoch times ----------------------------------------------------


def loss_points(history: pd.DataFrame | None, steps: pd.DataFrame | None) -> pd.DataFrame:
    """The loss as interval means (model, member, x, x0, x1, loss, fine): each model's and
    member's step-level intervals (live log points or steps.csv) where it has them, else
    history.csv's per-epoch means, both drawn at the middle of the interval they average."""
    fine = interval_means(steps).assign(fine=True)
    coarse = epoch_means(history).assign(fine=False)
    if len(fine):
        have = set(zip(fine["model"], fine["member"], strict=True))
        keep = [(m, k) not in have for m, k in zip(coarse["model"], coarse["member"], strict=True)]
        coarse = coarse[keep]
    parts = [p for p in (fine, coarse) if len(p)]
    if not parts:
        return pd.DataFrame(columns=["model", "member", "x", "x0", "x1", "loss", "fine"])
    return pd.concat(parts, ignore_index=True).sort_values("x", kind="stable")


def _loss_series(
    rows: pd.DataFrame, name: str, color: str, group: str, smoothing: float, *, main: bool
) -> list[dict[str, Any]]:
    """One curve, smoothed as TensorBoard does (every curve alike, members too): the raw
    interval means faint behind a main curve's smoothed line. Per-epoch means (a handful of
    points) carry markers."""
    x, y = rows["x"].tolist(), rows["loss"].tolist()
    width = 2.5 if main else 1.2
    mode = "lines" if bool(rows["fine"].all()) else "lines+markers"
    line = {
        "type": "scatter", "mode": mode, "x": x, "y": y, "name": name, "legendgroup": group,
        "showlegend": main, "line": {"color": color, "width": width},
        "marker": {"size": 5 if main else 4}, "opacity": 1.0 if main else 0.7,
        "hovertemplate": "epoch %{x:.2f}<br>loss %{y:.4f}<extra>" + name + "</extra>",
    }  # fmt: skip
    if smoothing <= 0:
        return [line]
    line.update(
        y=smooth(y, smoothing), customdata=y,
        hovertemplate="epoch %{x:.2f}<br>smoothed %{y:.4f}<br>raw %{customdata:.4f}<extra>"
        + name + "</extra>",
    )  # fmt: skip
    if not main:
        return [line]
    raw = {
        "type": "scatter", "mode": mode, "x": x, "y": y, "name": f"{name} (raw)",
        "legendgroup": group, "showlegend": False, "opacity": 0.25, "hoverinfo": "skip",
        "line": {"color": color, "width": 1}, "marker": {"size": 4},
    }  # fmt: skip
    return [raw, line]


def loss_figure(
    history: pd.DataFrame | None,
    trace: pd.DataFrame | None = None,
    *,
    members: bool = True,
    smoothing: float = SMOOTHING,
    log: bool = True,
    pending: bool = True,
) -> go.Figure:
    """Training loss (mean member cross-entropy) per model on shared axes, against the epoch
    (fractional: each point is the mean over the batches between two log points).

    history: history.csv rows (whole model: member empty; each member: its index). trace: live
    log points or steps.csv rows (model, member, x, loss: the running mean of the epoch so far).
    smoothing: TensorBoard's EMA weight for the step-level curves. Member lines (thin, the
    model's colour) are drawn when `members` is true."""
    points = loss_points(history, trace)
    if not len(points):
        return empty_figure(
            "the loss curves appear after the first log point"
            if pending
            else f"loss {NOT_MEASURED}: the run stopped before its first log point"
        )
    data: list[dict[str, Any]] = []
    for kind in ordered(points["model"]):
        mine = points[points["model"] == kind]
        color, label = model_color(kind), model_label(kind)
        whole = mine[mine["member"] < 0]
        parts = mine[mine["member"] >= 0]
        if len(whole):
            data += _loss_series(whole, label, color, kind, smoothing, main=True)
        if not members and len(whole):
            continue
        first = True
        for k, rows in parts.groupby("member", sort=True):
            series = _loss_series(rows, f"{label} member {k}", color, kind, smoothing, main=False)
            for s in series:
                s["legendgroup"] = f"{kind} members"
                s["showlegend"] = first and s["name"] == f"{label} member {k}"
                if s["showlegend"]:
                    s["legendgrouptitle"] = None
                    s["name"] = f"{label} members" if len(whole) else s["name"]
                    first = False
            data += series
    return go.Figure(
        data=data,
        layout={
            **_LAYOUT,
            "height": 340,
            "xaxis": {
                "title": {"text": "epoch"},
                "range": [0, float(points["x1"].max())],
                **_epoch_ticks(float(points["x1"].max())),
            },
            "yaxis": {
                "title": {"text": "training loss" + (" (log)" if log else "")},
                **({"type": "log", **_log_ticks(points["loss"])} if log else {"type": "linear"}),
            },
        },
    )


def _epoch_ticks(last: float, *, whole: bool = False) -> dict[str, Any]:
    """Ticks every 1/4, 1/2, 1, 2, 5... epochs: at most about 10 (whole: whole epochs only)."""
    if last <= 0:
        return {}
    for step in (
        (1, 2, 5, 10, 20, 50, 100, 200, 500)
        if whole
        else (0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500)
    ):
        if last / step <= 10:
            return {"dtick": step, "tick0": 0}
    return {}


def _log_ticks(values: pd.Series) -> dict[str, Any]:
    """3 to 10 ticks spanning values on a log axis, labelled in full (plotly's own log ticks
    label 0.05 as '5', and a narrow range gets a single tick): 1-2-5 per decade, 1 per decade
    over many decades, 1..9 over a short range, evenly spaced over a very short one."""
    positive = pd.to_numeric(values, errors="coerce")
    positive = positive[positive > 0]
    if not len(positive):
        return {}
    lo, hi = float(positive.min()) / 1.15, float(positive.max()) * 1.15
    elo, ehi = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    ticks: list[float] = []
    for mantissas in ((1, 2, 5), (1,), (1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9)):
        found = [m * 10.0**e for e in range(elo, ehi + 1) for m in mantissas]
        found = [t for t in found if lo <= t <= hi]
        if 3 <= len(found) <= 10:
            ticks = found
            break
    if not ticks:  # less than a factor 1.5 between the ends: evenly spaced nice numbers
        raw = (hi - lo) / 4
        step = min(
            (m * 10.0 ** math.floor(math.log10(raw)) for m in (1, 2, 2.5, 5, 10)),
            key=lambda s: abs(s - raw),
        )
        ticks = [k * step for k in range(math.ceil(lo / step), math.floor(hi / step) + 1)]
    return {
        "tickvals": ticks,
        "ticktext": [f"{t:.4g}" for t in ticks],
        "range": [math.log10(lo), math.log10(hi)],
    }


def epoch_times(history: pd.DataFrame) -> pd.DataFrame:
    """Seconds per epoch for each model: its whole-model rows, or, while a sequential ensemble
    is still training member after member, the sum of its members' times so far."""
    if history is None or not len(history):
        return pd.DataFrame(columns=["model", "epoch", "epoch_seconds", "samples_per_s"])
    h = history.assign(member=members_of(history["member"]))
    for col in ("epoch", "epoch_seconds", "samples_per_s"):  # words in a damaged file -> NaN
        h[col] = pd.to_numeric(h[col], errors="coerce") if col in h else float("nan")
    h = h.dropna(subset=["epoch", "epoch_seconds"])
    out = []
    for kind, rows in h.groupby("model", sort=False):
        whole = rows[rows["member"] < 0]
        if len(whole):
            out.append(whole[["model", "epoch", "epoch_seconds", "samples_per_s"]])
        else:
            summed = rows.groupby("epoch", as_index=False).agg(
                epoch_seconds=("epoch_seconds", "sum"), samples_per_s=("samples_per_s", "mean")
            )
            out.append(summed.assign(model=kind))
    if not out:
        return pd.DataFrame(columns=["model", "epoch", "epoch_seconds", "samples_per_s"])
    return pd.concat(out, ignore_index=True)[["model", "epoch", "epoch_seconds", "samples_per_s"]]


def epoch_time_figure(history: pd.DataFrame, *, pending: bool = True) -> go.Figure:
    """Seconds per epoch, grouped by epoch, one colour per model."""
    times = epoch_times(history)
    if not len(times):
        return empty_figure(
            "epoch times: after the first epoch"
            if pending
            else f"epoch times {NOT_MEASURED}: no epoch ended"
        )
    data = [
        {
            "type": "bar",
            "x": rows["epoch"].tolist(),
            "y": rows["epoch_seconds"].tolist(),
            "name": model_label(kind),
            "marker": {"color": model_color(kind)},
            "hovertemplate": "epoch %{x}: %{y:.2f} s<extra>" + model_label(kind) + "</extra>",
        }
        for kind in ordered(times["model"])
        for rows in [times[times["model"] == kind]]
    ]
    last = float(times["epoch"].max())
    return go.Figure(
        data=data,
        layout={
            **_LAYOUT,
            "height": 300,
            "barmode": "group",
            "xaxis": {"title": {"text": "epoch"}, **_epoch_ticks(last, whole=True)},
            "yaxis": {"title": {"text": "seconds per epoch"}},
        },
    )


# -- results: accuracy, parameters, time, members ------------------------------------------


def _result(results: pd.DataFrame | None, model: str, column: str) -> float | None:
    """One cell of results.csv (None when the model or the value is missing)."""
    if results is None or not len(results) or column not in results:
        return None
    cells = results.loc[results["model"] == model, column]
    return as_float(cells.iloc[0]) if len(cells) else None


def _num(results: pd.DataFrame, column: str) -> list[float | None]:
    values = pd.to_numeric(results[column], errors="coerce") if column in results else None
    if values is None:
        return [None] * len(results)
    return [None if pd.isna(v) else float(v) for v in values]


def _fit_range(values: Sequence[float | None], *, zero: bool = False) -> list[float] | None:
    """An axis range around the values (with room for the labels above the bars); zero: keep 0
    inside (differences)."""
    v = [x for x in values if x is not None]
    if not v:
        return None
    lo, hi = min(v), max(v)
    if zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    pad = max((hi - lo) * 0.15, 0.005)
    return [lo - pad if zero or lo - pad > 0 else 0.0, hi + 2 * pad]


def accuracy_figure(
    results: pd.DataFrame, *, reference: str | None = None, pending: bool = True
) -> go.Figure:
    """Test accuracy per model for each of the four accuracies (mean member, ensemble, majority
    vote, oracle) side by side, one colour per model kind, on an axis that fits the values; with
    `reference` (a model kind), each model's difference to that model instead. A model whose
    accuracies were not measured is named in the legend and left out."""
    if results is None or not len(results):
        return empty_figure(_none_yet(pending))
    metrics = list(ACCURACY_LABELS)
    ref = {c: _result(results, reference, c) for c in metrics} if reference else {}
    if reference and all(v is None for v in ref.values()):
        reference, ref = None, {}
    data, shown = [], []
    for kind in ordered(results["model"]):
        values = [_result(results, kind, c) for c in metrics]
        if reference:
            values = [
                None if v is None or ref[c] is None else v - ref[c]
                for v, c in zip(values, metrics, strict=True)
            ]
        label = model_label(kind)
        missing = all(v is None for v in values)
        fmt = "%{y:+.3f}" if reference else "%{y:.3f}"
        data.append(
            {
                "type": "bar",
                "x": [_wrap(ACCURACY_LABELS[c]) for c in metrics],
                "y": values,
                "name": f"{label} ({NOT_MEASURED})" if missing else label,
                "marker": {"color": model_color(kind)},
                "texttemplate": fmt,
                "textposition": "outside",
                "cliponaxis": False,
                "hovertemplate": "%{x}<br>" + label + ": " + fmt.replace(".3f", ".4f")
                + "<extra></extra>",
            }
        )  # fmt: skip
        shown += [v for v in values if v is not None]
    title = f"difference to {model_label(reference)}" if reference else "test accuracy"
    return go.Figure(
        data=data,
        layout={
            **_LAYOUT,
            "height": 360,
            "barmode": "group",
            "margin": {**_LAYOUT["margin"], "t": 60},
            # level labels: rotated ones pushed the plot into a corner at a phone's width
            "xaxis": {"tickangle": 0, "tickfont": {"size": 11}},
            "uniformtext": _FIT_TEXT,
            "yaxis": {
                "title": {"text": title},
                "range": _fit_range(shown, zero=bool(reference)),
                "zeroline": True,
            },
        },
    )


def _wrap(label: str, width: int = 14) -> str:
    """A label in lines of at most `width` characters (words kept whole, a bracket on a line
    of its own), so that four fit side by side, unrotated, at a phone's width."""
    lines: list[str] = []
    for word in label.split():
        if lines and not word.startswith("(") and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(lines)


# bar labels all of one size, and none where it would be smaller than 9 px (the bars of a
# phone's width): the hover still gives the value
_FIT_TEXT = {"minsize": 9, "mode": "hide"}


def _not_measured(x: list[str], y: list[float | None]) -> dict[str, Any] | None:
    """A text mark "not measured" where a bar is missing (plotly draws nothing for None)."""
    where = [xi for xi, yi in zip(x, y, strict=True) if yi is None]
    if not where:
        return None
    return {
        "type": "scatter", "mode": "text", "x": where, "y": [0] * len(where),
        "text": [NOT_MEASURED] * len(where), "textposition": "top center", "showlegend": False,
        "hoverinfo": "skip", "textfont": {"color": "#666"},
    }  # fmt: skip


def params_figure(results: pd.DataFrame, *, pending: bool = True) -> go.Figure:
    """Parameter count per model, labelled with its size relative to the single model."""
    if results is None or not len(results):
        return empty_figure(_none_yet(pending))
    rel = _num(results, "params_rel_single")
    mb = _num(results, "param_mb")
    text = [
        f"{r:.2f}× single<br>{m:.1f} MB" if r is not None and m is not None else ""
        for r, m in zip(rel, mb, strict=True)
    ]
    x = [_wrap(model_label(m), 13) for m in results["model"]]
    y = _num(results, "params")
    data = [
        {
            "type": "bar", "x": x, "y": y, "text": text, "textposition": "outside",
            "cliponaxis": False, "marker": {"color": [model_color(m) for m in results["model"]]},
            "hovertemplate": "%{x}<br>%{y:,} parameters<extra></extra>", "showlegend": False,
        }
    ]  # fmt: skip
    if (mark := _not_measured(x, y)) is not None:
        data.append(mark)
    return go.Figure(
        data=data,
        layout={
            **_LAYOUT,
            "height": 360,
            "margin": {**_LAYOUT["margin"], "t": 30},
            "uniformtext": _FIT_TEXT,
            "xaxis": {"tickangle": 0},
            "yaxis": {"title": {"text": "parameters"}, "range": _fit_range(y, zero=True)},
        },
    )


def _spread(history: pd.DataFrame | None) -> dict[str, tuple[float, float]]:
    """Each model's fastest and slowest epoch (seconds): the noise behind the mean."""
    times = epoch_times(history) if history is not None else None
    if times is None or not len(times):
        return {}
    g = times.groupby("model")["epoch_seconds"]
    return {
        k: (float(lo), float(hi)) for k, lo, hi in zip(g.min().index, g.min(), g.max(), strict=True)
    }


def time_figure(
    results: pd.DataFrame,
    history: pd.DataFrame | None = None,
    *,
    cpus: int | None = None,
    pending: bool = True,
) -> go.Figure:
    """Training time, time per epoch (the bar: the mean; the whisker: fastest to slowest epoch)
    and inference time (whole test set; the median of its repeats when the run recorded them)
    per model. Inference measured while the machine was busy (1-min load above `cpus`) says so
    on its bar."""
    if results is None or not len(results):
        return empty_figure(_none_yet(pending))
    from bedash.dashboard.tables import busy

    panels = [
        ("train_seconds", "training time (s)", 1.0),
        ("epoch_seconds", "time per epoch (s)", 1.0),
        ("infer_seconds", "inference, test set (ms)", 1000.0),
    ]
    # stacked, not side by side: three panels across are unreadable at a phone's width
    fig = make_subplots(
        rows=3, cols=1, subplot_titles=[t for _, t, _ in panels], vertical_spacing=0.1
    )
    kinds = list(results["model"])
    labels = [model_label(m) for m in kinds]
    colors = [model_color(m) for m in kinds]
    spread = _spread(history)
    loads = _num(results, "load_avg")
    repeats = _num(results, "infer_repeats")
    for i, (col, title, scale) in enumerate(panels, 1):
        y = [None if v is None else v * scale for v in _num(results, col)]
        text = [None if v is None else f"{v:.3g}" for v in y]
        bar: dict[str, Any] = {"error_y": None}
        if col == "epoch_seconds" and spread:
            lo = [max(0.0, v - spread[k][0]) if v is not None and k in spread else 0 for v, k
                  in zip(y, kinds, strict=True)]  # fmt: skip
            hi = [max(0.0, spread[k][1] - v) if v is not None and k in spread else 0 for v, k
                  in zip(y, kinds, strict=True)]  # fmt: skip
            bar["error_y"] = {"type": "data", "symmetric": False, "array": hi, "arrayminus": lo,
                              "color": "#444", "thickness": 1.2}  # fmt: skip
        if col == "infer_seconds":
            for j, v in enumerate(y):
                if v is None:
                    continue
                if repeats[j] and repeats[j] > 1:
                    text[j] = f"{v:.3g} (median of {repeats[j]:.0f})"
                if busy(loads[j], cpus):
                    text[j] = f"{text[j]} · busy: load {loads[j]:.1f} on {cpus} CPUs"
        fig.add_trace(
            go.Bar(
                x=labels,
                y=y,
                marker={"color": colors},
                showlegend=False,
                text=text,
                textposition="auto",
                hovertemplate="%{x}<br>" + title + ": %{y:.4g}<extra></extra>",
                **{k: v for k, v in bar.items() if v is not None},
            ),
            row=i,
            col=1,
        )
        if (mark := _not_measured(labels, y)) is not None:
            fig.add_trace(go.Scatter(**mark), row=i, col=1)
    fig.update_layout(**_LAYOUT, height=620)
    fig.update_yaxes(rangemode="tozero")
    return fig


def member_accuracy_figure(
    members: pd.DataFrame, results: pd.DataFrame, *, pending: bool = True
) -> go.Figure:
    """Each member's test accuracy, one panel per ensemble kind, with the ensemble's accuracy
    (dashed) and the single model's (dotted) as reference lines, on an axis that fits them."""
    if members is not None and len(members):
        members = members.assign(accuracy=pd.to_numeric(members["accuracy"], errors="coerce"))
        members = members.dropna(subset=["accuracy"])
    if members is None or not len(members):
        return empty_figure(_none_yet(pending, "ensemble"))
    kinds = [k for k in ordered(members["model"]) if (members["model"] == k).sum() > 1]
    if not kinds:
        return empty_figure(_none_yet(pending, "ensemble with several members"))
    fig = make_subplots(
        rows=1, cols=len(kinds), shared_yaxes=True, subplot_titles=[model_label(k) for k in kinds]
    )
    refs = [
        ("ensemble (mean softmax)", None, "#222222", "dash"),
        ("single model", "single", model_color("single"), "dot"),
    ]
    shown: set[str] = set()
    values: list[float | None] = list(members["accuracy"])
    for i, kind in enumerate(kinds, 1):
        rows = members[members["model"] == kind]
        x = [f"member {int(m)}" for m in rows["member"]]
        fig.add_trace(
            go.Bar(
                x=x,
                y=rows["accuracy"].tolist(),
                marker={"color": model_color(kind)},
                showlegend=False,
                texttemplate="%{y:.3f}",
                textposition="inside",
                hovertemplate="%{x}: %{y:.4f}<extra></extra>",
            ),
            row=1,
            col=i,
        )
        for name, who, color, dash in refs:  # flat lines across the bars, named in the legend
            value = _result(results, who or kind, "ensemble_acc")
            if value is None:
                continue
            values.append(value)
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=[value] * len(x),
                    mode="lines",
                    name=name,
                    legendgroup=name,
                    showlegend=name not in shown,
                    line={"color": color, "dash": dash, "width": 2},
                    hovertemplate=f"{name}: {value:.4f}<extra></extra>",
                ),
                row=1,
                col=i,
            )
            shown.add(name)
    fig.update_layout(**{**_LAYOUT, "legend": _LEGEND_BELOW, "margin": {**_LAYOUT["margin"]}})
    fig.update_layout(height=380)
    fig.update_yaxes(range=_fit_range(values))
    fig.update_yaxes(title_text="test accuracy", row=1, col=1)
    return fig


def agreement_figure(matrices: Mapping[str, pd.DataFrame], *, pending: bool = True) -> go.Figure:
    """The members' pairwise agreement (share of test images on which two members predict the
    same class), one heatmap per ensemble kind, side by side on ONE shared 0-1 colour scale, the
    value written in every cell."""
    kinds = ordered(k for k, m in matrices.items() if m is not None and len(m))
    if not kinds:
        return empty_figure(_none_yet(pending, "ensemble"))
    fig = make_subplots(
        rows=1,
        cols=len(kinds),
        subplot_titles=[_wrap(model_label(k), 13) for k in kinds],  # side by side on a phone
        horizontal_spacing=0.08,
    )
    for i, kind in enumerate(kinds, 1):
        m = matrices[kind]
        z = m.drop(columns=["member"], errors="ignore").to_numpy(dtype=float)
        labels = [str(j) for j in range(z.shape[1])]  # short: two heatmaps fit a phone
        fig.add_trace(
            go.Heatmap(
                z=z,
                x=labels,
                y=labels,
                coloraxis="coloraxis",
                texttemplate="%{z:.2f}",
                hovertemplate="member %{y} vs member %{x}: %{z:.3f}<extra>"
                + model_label(kind)
                + "</extra>",
            ),
            row=1,
            col=i,
        )
    fig.update_layout(
        **_LAYOUT,
        height=420,
        coloraxis={
            "cmin": 0.0,
            "cmax": 1.0,
            "colorscale": "Blues",
            # under the panels, not beside them: the panels keep the whole width
            "colorbar": {
                "title": {"text": "agreement", "side": "top"}, "tickformat": ".1f",
                "orientation": "h", "y": -0.22, "yanchor": "top", "len": 0.6, "x": 0,
                "xanchor": "left", "thickness": 12,
            },
        },
    )  # fmt: skip
    # member numbers are categories (a numeric axis would tick at 0.5, 1.5...)
    fig.update_yaxes(autorange="reversed", scaleanchor=None, type="category")
    fig.update_yaxes(title_text="member", col=1)
    for i in range(2, len(kinds) + 1):  # the rows are the same members: label them once
        fig.update_yaxes(showticklabels=False, row=1, col=i)
    fig.update_xaxes(title_text="member", type="category")
    fig.update_annotations(font_size=13)
    return fig


def reliability_figure(
    tables: Mapping[str, pd.DataFrame],
    results: pd.DataFrame | None = None,
    *,
    pending: bool = True,
) -> go.Figure:
    """A reliability diagram per model: accuracy in each confidence bin (bars) against the
    diagonal of perfect calibration; the panel title gives the model's ECE."""
    kinds = ordered(k for k, t in tables.items() if t is not None and len(t))
    if not kinds:
        return empty_figure(_none_yet(pending))
    ece = {}
    if results is not None and len(results) and "ece" in results:
        values = pd.to_numeric(results["ece"], errors="coerce")
        ece = dict(zip(results["model"], values, strict=True))
    titles = [
        model_label(k) + (f"<br>ECE {ece[k]:.3f}" if k in ece and not pd.isna(ece[k]) else "")
        for k in kinds
    ]
    cols = min(2, len(kinds))  # two across at most: readable at a phone's width too
    nrows = math.ceil(len(kinds) / cols)
    fig = make_subplots(
        rows=nrows, cols=cols, subplot_titles=titles, vertical_spacing=0.3 / nrows,
        horizontal_spacing=0.1,
    )  # fmt: skip
    for i, kind in enumerate(kinds, 1):
        r, c = (i - 1) // cols + 1, (i - 1) % cols + 1
        t = tables[kind].apply(pd.to_numeric, errors="coerce")
        t = t[t["count"] > 0]
        fig.add_trace(
            go.Bar(
                x=((t["lower"] + t["upper"]) / 2).tolist(),
                y=t["accuracy"].tolist(),
                width=(t["upper"] - t["lower"]).tolist(),
                marker={"color": model_color(kind)},
                customdata=t[["confidence", "count"]].to_numpy().tolist(),
                showlegend=False,
                hovertemplate="confidence %{customdata[0]:.3f}<br>accuracy %{y:.3f}"
                "<br>%{customdata[1]:.0f} images<extra></extra>",
            ),
            row=r,
            col=c,
        )
        fig.add_trace(
            go.Scatter(
                x=[0, 1],
                y=[0, 1],
                mode="lines",
                showlegend=False,
                name="perfect calibration",
                line={"color": "#555", "dash": "dash", "width": 1},
                hoverinfo="skip",
            ),
            row=r,
            col=c,
        )
        fig.update_xaxes(range=[0, 1], title_text="confidence", row=r, col=c)
        fig.update_yaxes(range=[0, 1], title_text="accuracy" if c == 1 else None, row=r, col=c)
    fig.update_layout(**_LAYOUT, height=60 + 320 * nrows, bargap=0)
    return fig


# -- comparing runs --------------------------------------------------------------------------


def run_label(run_id: str) -> str:
    """A short name for a run on a chart: the random tail of a generated id, else the id."""
    head, _, tail = run_id.rpartition("-")
    return tail if head and len(tail) == 6 and len(run_id) == 22 else run_id


def run_color(i: int) -> str:
    return RUN_COLORS[i % len(RUN_COLORS)]


def compare_figure(rows: pd.DataFrame) -> go.Figure:
    """Several runs against their member count: ensemble accuracy, parameters, training time,
    one colour per model kind, every point labelled with its run. Lines join only the runs of
    one `series` (runs whose settings differ in the member count alone, see
    tables.compare_series); rows: results.csv rows with run_id (and series) columns."""
    if rows is None or not len(rows):
        return empty_figure("select runs that have results")
    panels = [
        ("ensemble_acc", "ensemble accuracy (mean softmax)"),
        ("params", "parameters"),
        ("train_seconds", "training time (s)"),
    ]
    fig = make_subplots(
        rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.1,
        subplot_titles=[t for _, t in panels],
    )  # fmt: skip
    df = rows.copy()
    if "series" not in df:
        df["series"] = range(len(df))  # nothing known about the settings: no lines
    for col in ["members", *[c for c, _ in panels]]:
        df[col] = pd.to_numeric(df[col], errors="coerce") if col in df else float("nan")
    df["label"] = df["run_id"].map(run_label)
    for i, (col, title) in enumerate(panels, 1):
        for kind in ordered(df["model"]):
            first = i == 1
            for _, mine in df[df["model"] == kind].groupby("series", sort=True):
                mine = mine.dropna(subset=[col]).sort_values("members")
                if not len(mine):
                    continue
                line = mine["members"].nunique() > 1
                # runs at the same E: their labels above and below the point, not on each other
                nth = mine.groupby("members").cumcount().tolist()
                where = ["top center" if k % 2 == 0 else "bottom center" for k in nth]
                fig.add_trace(
                    go.Scatter(
                        x=mine["members"].tolist(),
                        y=mine[col].tolist(),
                        mode="lines+markers+text" if line else "markers+text",
                        text=mine["label"].tolist(),
                        textposition=where,
                        textfont={"size": 10, "color": "#444"},
                        cliponaxis=False,  # a label above the top point stays whole
                        name=model_label(kind),
                        legendgroup=kind,
                        showlegend=first,
                        marker={"color": model_color(kind), "size": 8},
                        line={"color": model_color(kind)},
                        customdata=mine[["run_id"]].to_numpy(),
                        hovertemplate="run %{customdata[0]}<br>E = %{x}<br>"
                        + title
                        + ": %{y:.4g}<extra>"
                        + model_label(kind)
                        + "</extra>",
                    ),
                    row=i,
                    col=1,
                )
                first = False
    fig.update_xaxes(title_text="members (E)", row=3, col=1)
    fig.update_xaxes(dtick=1)
    fig.update_layout(**{**_LAYOUT, "legend": {**_LEGEND_BELOW, "y": -0.12}}, height=720)
    return fig


def loss_overlay_figure(
    runs: Mapping[str, tuple[pd.DataFrame | None, pd.DataFrame | None]],
    *,
    smoothing: float = SMOOTHING,
    log: bool = True,
) -> go.Figure:
    """Several runs' training loss, one panel per model kind (stacked), one colour per run:
    the whole model's curve of each. runs: run_id -> (history, steps or None)."""
    per_run = {r: loss_points(h, s) for r, (h, s) in runs.items()}
    per_run = {r: p[p["member"] < 0] for r, p in per_run.items()}
    kinds = ordered(k for p in per_run.values() for k in p["model"])
    if not kinds:
        return empty_figure("the selected runs have no training loss")
    fig = make_subplots(
        rows=len(kinds), cols=1, shared_xaxes=True, vertical_spacing=0.12 / len(kinds),
        subplot_titles=[model_label(k) for k in kinds],
    )  # fmt: skip
    losses: list[float] = []
    seen: set[str] = set()  # one legend entry per run, on its first panel
    for i, (run_id, points) in enumerate(per_run.items()):
        color = run_color(i)
        for row, kind in enumerate(kinds, 1):
            mine = points[points["model"] == kind]
            if not len(mine):
                continue
            losses += mine["loss"].tolist()
            for s in _loss_series(mine, run_label(run_id), color, run_id, smoothing, main=True):
                s["showlegend"] = bool(s["showlegend"]) and run_id not in seen
                if "hovertemplate" in s:
                    extra = f"<extra>run {run_id}<br>{model_label(kind)}</extra>"
                    s["hovertemplate"] = s["hovertemplate"].split("<extra>")[0] + extra
                fig.add_trace(
                    go.Scatter({k: v for k, v in s.items() if k != "type"}), row=row, col=1
                )
            seen.add(run_id)
    ticks = _log_ticks(pd.Series(losses)) if log else {}
    fig.update_yaxes(type="log" if log else "linear", **ticks)
    fig.update_yaxes(title_text="training loss" + (" (log)" if log else ""))
    fig.update_xaxes(title_text="epoch", row=len(kinds), col=1)
    fig.update_layout(**{**_LAYOUT, "legend": {**_LEGEND_BELOW, "y": -0.08 - 0.1 / len(kinds)}})
    fig.update_layout(height=120 + 230 * len(kinds))
    return fig


def reliability_overlay_figure(runs: Mapping[str, Mapping[str, pd.DataFrame]]) -> go.Figure:
    """Several runs' reliability diagrams, one panel per model kind, one colour per run: the
    accuracy in each confidence bin (points at the bin's mean confidence) against the
    diagonal. runs: run_id -> {kind: reliability table}."""
    kinds = ordered(k for tables in runs.values() for k, t in tables.items() if len(t))
    if not kinds:
        return empty_figure("the selected runs have no reliability diagrams")
    cols = min(2, len(kinds))
    nrows = math.ceil(len(kinds) / cols)
    fig = make_subplots(
        rows=nrows, cols=cols, subplot_titles=[model_label(k) for k in kinds],
        vertical_spacing=0.35 / nrows, horizontal_spacing=0.1,
    )  # fmt: skip
    seen: set[str] = set()
    for i, (run_id, tables) in enumerate(runs.items()):
        for j, kind in enumerate(kinds):
            t = tables.get(kind)
            if t is None or not len(t):
                continue
            t = t.apply(pd.to_numeric, errors="coerce")
            t = t[t["count"] > 0]
            r, c = j // cols + 1, j % cols + 1
            fig.add_trace(
                go.Scatter(
                    x=t["confidence"].tolist(), y=t["accuracy"].tolist(), mode="lines+markers",
                    name=run_label(run_id), legendgroup=run_id, showlegend=run_id not in seen,
                    line={"color": run_color(i)}, marker={"size": 6},
                    customdata=t["count"].tolist(),
                    hovertemplate="confidence %{x:.3f}<br>accuracy %{y:.3f}<br>%{customdata:.0f}"
                    f" images<extra>run {run_id}</extra>",
                ),
                row=r, col=c,
            )  # fmt: skip
            seen.add(run_id)
    for j in range(len(kinds)):
        r, c = j // cols + 1, j % cols + 1
        fig.add_trace(
            go.Scatter(
                x=[0, 1], y=[0, 1], mode="lines", showlegend=False, hoverinfo="skip",
                line={"color": "#555", "dash": "dash", "width": 1},
            ),
            row=r, col=c,
        )  # fmt: skip
        fig.update_xaxes(range=[0, 1], title_text="confidence", row=r, col=c)
        fig.update_yaxes(range=[0, 1], title_text="accuracy" if c == 1 else None, row=r, col=c)
    fig.update_layout(**{**_LAYOUT, "legend": {**_LEGEND_BELOW, "y": -0.12}})
    fig.update_layout(height=80 + 320 * nrows)
    return fig
