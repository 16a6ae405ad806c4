"""Training curves, live on the Experiment page and from a run's files on Results' Training tab."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from bedash.dashboard import tables
from bedash.dashboard.figures.style import LAYOUT, empty_figure, epoch_ticks, log_ticks
from bedash.names import model_color, model_label

SMOOTHING = 0.6  # TensorBoard's default
TIME_COLUMNS = ["model", "epoch", "epoch_seconds", "samples_per_s"]


def loss_points(history: pd.DataFrame | None, steps: pd.DataFrame | None) -> pd.DataFrame:
    """The loss as interval means (model, member, x, x0, x1, loss, fine): step-level intervals
    (live log points or steps.csv) where a model or member has them, else per-epoch means."""
    fine = tables.interval_means(steps).assign(fine=True)
    coarse = tables.epoch_means(history).assign(fine=False)
    if len(fine):
        have = set(zip(fine["model"], fine["member"], strict=True))
        keep = [(m, k) not in have for m, k in zip(coarse["model"], coarse["member"], strict=True)]
        coarse = coarse[keep]
    parts = [p for p in (fine, coarse) if len(p)]
    if not parts:
        return pd.DataFrame(columns=["model", "member", "x", "x0", "x1", "loss", "fine"])
    return pd.concat(parts, ignore_index=True).sort_values("x", kind="stable")


def loss_series(
    rows: pd.DataFrame,
    name: str,
    color: str,
    group: str,
    smoothing: float,
    *,
    main: bool,
    span: float | None = None,
    extra: str | None = None,
) -> list[go.Scatter]:
    """One curve smoothed by distance along x (tables.smooth over `span`, the chart's x range),
    its raw means faint behind it (members too), the hover giving both; per-epoch means carry
    markers. extra: the hover's side text (default: the name)."""
    x, y = rows["x"].tolist(), rows["loss"].tolist()
    mode = "lines" if bool(rows["fine"].all()) else "lines+markers"
    tail = "<extra>" + (name if extra is None else extra) + "</extra>"
    both = {"x": x, "y": y, "mode": mode, "legendgroup": group}
    line = go.Scatter(
        **both,
        name=name,
        showlegend=main,
        line={"color": color, "width": 2.5 if main else 1.2},
        marker={"size": 5 if main else 4},
        opacity=1.0 if main else 0.7,
        hovertemplate="epoch %{x:.2f}<br>loss %{y:.4f}" + tail,
    )
    if smoothing <= 0:
        return [line]
    hover = "epoch %{x:.2f}<br>smoothed %{y:.4f}<br>raw %{customdata:.4f}"
    line.update(y=tables.smooth(x, y, smoothing, span), customdata=y, hovertemplate=hover + tail)
    raw = go.Scatter(
        **both,
        name=f"{name} (raw)",
        showlegend=False,
        opacity=0.25 if main else 0.15,
        hoverinfo="skip",
        line={"color": color, "width": 1},
        marker={"size": 4 if main else 3},
    )
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
    """Training loss (mean member cross-entropy) per model against the (fractional) epoch, from
    history.csv rows and the trace (live log points or steps.csv rows); with `members`, thin
    member lines in the model's colour under one legend entry."""
    points = loss_points(history, trace)
    if not len(points):
        stopped = f"loss {tables.NOT_MEASURED}: the run stopped before its first log point"
        return empty_figure(
            "the loss curves appear after the first log point" if pending else stopped
        )
    data: list[go.Scatter] = []
    last = float(points["x1"].max())
    for kind in tables.ordered(points["model"]):
        mine = points[points["model"] == kind]
        color, label = model_color(kind), model_label(kind)
        whole, parts = mine[mine["member"] < 0], mine[mine["member"] >= 0]
        if len(whole):
            data += loss_series(whole, label, color, kind, smoothing, main=True, span=last)
            if not members:
                continue
        for i, (k, rows) in enumerate(parts.groupby("member", sort=True)):
            name, group = f"{label} member {k}", f"{kind} members"
            *raw, line = loss_series(rows, name, color, group, smoothing, main=False, span=last)
            if i == 0:
                line.update(showlegend=True, name=f"{label} members" if len(whole) else line.name)
            data += [*raw, line]
    fig = go.Figure(data=data, layout={**LAYOUT, "height": 340})
    fig.update_xaxes(title_text="epoch", range=[0, last], **epoch_ticks(last))
    scale = {"type": "log", **log_ticks(points["loss"])} if log else {"type": "linear"}
    fig.update_yaxes(title_text="training loss" + (" (log)" if log else ""), **scale)
    return fig


def epoch_times(history: pd.DataFrame) -> pd.DataFrame:
    """Seconds per epoch per model: its whole-model rows, else (a sequential ensemble still
    training) the sum of its members' times so far."""
    if history is None or not len(history):
        return pd.DataFrame(columns=TIME_COLUMNS)
    h = history.assign(member=tables.members_of(history["member"]))
    for col in ("epoch", "epoch_seconds", "samples_per_s"):  # words in a damaged file -> NaN
        h[col] = pd.to_numeric(h[col], errors="coerce") if col in h else float("nan")
    h = h.dropna(subset=["epoch", "epoch_seconds"])
    out = []
    for kind, rows in h.groupby("model", sort=False):
        whole = rows[rows["member"] < 0]
        if len(whole):
            out.append(whole[TIME_COLUMNS])
        else:
            summed = rows.groupby("epoch", as_index=False).agg(
                epoch_seconds=("epoch_seconds", "sum"), samples_per_s=("samples_per_s", "mean")
            )
            out.append(summed.assign(model=kind))
    if not out:
        return pd.DataFrame(columns=TIME_COLUMNS)
    return pd.concat(out, ignore_index=True)[TIME_COLUMNS]


def epoch_time_figure(history: pd.DataFrame, *, pending: bool = True) -> go.Figure:
    """Seconds per epoch, grouped by epoch, one colour per model."""
    times = epoch_times(history)
    if not len(times):
        stopped = f"epoch times {tables.NOT_MEASURED}: no epoch ended"
        return empty_figure("epoch times: after the first epoch" if pending else stopped)
    kinds = tables.ordered(times["model"])
    fig = px.bar(
        times.assign(name=times["model"].map(model_label)),
        x="epoch",
        y="epoch_seconds",
        color="name",
        barmode="group",
        height=300,
        category_orders={"name": [model_label(k) for k in kinds]},
        color_discrete_map={model_label(k): model_color(k) for k in kinds},
    )
    fig.update_traces(hovertemplate="epoch %{x}: %{y:.2f} s<extra>%{fullData.name}</extra>")
    fig.update_layout(**LAYOUT, legend_title_text=None)
    fig.update_xaxes(title_text="epoch", **epoch_ticks(float(times["epoch"].max()), whole=True))
    fig.update_yaxes(title_text="seconds per epoch")
    return fig
