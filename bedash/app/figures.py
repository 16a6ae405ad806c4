"""Figures and tables for the dashboard: pure functions of pandas DataFrames (a run folder's
CSVs, or a live job's snapshot as frames) returning plotly figures. No streamlit, no torch.

Every accuracy is labelled for what it is, every model kind keeps one colour on every chart, and
heatmaps share one 0-1 colour scale so two ensembles can be compared by eye. Figures are built
from plain dicts (validated once by plotly), since the live view rebuilds them every second.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

MODEL_LABELS = {
    "batchensemble": "BatchEnsemble",
    "ensemble": "Ensemble (sequential)",
    "ensemble_parallel": "Ensemble (parallel)",
    "single": "Single model",
}
# Okabe-Ito: distinguishable with the common colour-vision deficiencies
MODEL_COLORS = {
    "batchensemble": "#0072B2",
    "ensemble": "#D55E00",
    "ensemble_parallel": "#E69F00",
    "single": "#009E73",
}
ACCURACY_LABELS = {
    "mean_member_acc": "mean member",
    "ensemble_acc": "ensemble (mean softmax)",
    "vote_acc": "majority vote",
    "oracle_acc": "oracle (any member right)",
}
ACCURACY_COLORS = ["#9ecae1", "#2171b5", "#6baed6", "#08306b"]
HISTORY_COLUMNS = ["model", "member", "epoch", "loss", "epoch_seconds", "samples_per_s"]
TRACE_COLUMNS = ["model", "member", "x", "loss"]
# results.csv column -> the results table's header, in the order the table shows them
RESULT_TABLE = {
    "model": "Model",
    "status": "Status",
    "members": "E",
    "params": "Params",
    "param_mb": "MB",
    "params_rel_single": "× single",
    "train_seconds": "Train s",
    "epoch_seconds": "s / epoch",
    "infer_seconds": "Infer s",
    "mean_member_acc": "Acc mean member",
    "ensemble_acc": "Acc ensemble (mean softmax)",
    "vote_acc": "Acc majority vote",
    "oracle_acc": "Acc oracle",
    "nll": "NLL",
    "ece": "ECE",
    "brier": "Brier",
    "mean_disagreement": "Disagreement",
}
_LAYOUT = {
    "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
    "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
    "hovermode": "closest",
}


def model_label(kind: str) -> str:
    return MODEL_LABELS.get(kind, kind)


def model_color(kind: str) -> str:
    return MODEL_COLORS.get(kind, "#7f7f7f")


def frame(rows: Iterable[Any], columns: Sequence[str]) -> pd.DataFrame:
    """Dataclasses or dicts -> a DataFrame with exactly `columns` (also when rows is empty)."""
    rows = list(rows)
    df = pd.DataFrame(rows) if rows else pd.DataFrame(columns=list(columns))
    return df.reindex(columns=list(columns))


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


def _members(series: pd.Series) -> pd.Series:
    """history.csv leaves member empty for whole-model rows: NaN/None -> -1, else int."""
    return pd.to_numeric(series, errors="coerce").fillna(-1).astype(int)


def _ordered(kinds: Iterable[str]) -> list[str]:
    """Model kinds in the order the charts list them (known kinds first, in MODEL_LABELS order)."""
    kinds = list(dict.fromkeys(kinds))
    known = [k for k in MODEL_LABELS if k in kinds]
    return known + [k for k in kinds if k not in MODEL_LABELS]


# -- training: loss curves, epoch times ----------------------------------------------------


def loss_figure(
    history: pd.DataFrame, trace: pd.DataFrame | None = None, *, members: bool = True
) -> go.Figure:
    """Training loss (mean member cross-entropy) per model on shared axes; x = epoch,
    fractional while an epoch runs.

    history: history.csv rows (whole model: member empty; each member: its index). trace: live
    log points (model, member, x, loss), the running mean loss of the current epoch. Member
    lines (thin, the model's colour) are drawn when `members` is true."""
    parts = []
    if history is not None and len(history):
        # a damaged history.csv may hold words where numbers belong: those points are dropped
        h = history.assign(
            member=_members(history["member"]),
            x=pd.to_numeric(history["epoch"], errors="coerce"),
            loss=pd.to_numeric(history["loss"], errors="coerce"),
        )
        parts.append(h[["model", "member", "x", "loss"]])
    if trace is not None and len(trace):
        t = trace.assign(member=_members(trace["member"]))
        parts.append(t[["model", "member", "x", "loss"]])
    if not parts:
        return empty_figure("the loss curves appear after the first log point")
    points = pd.concat(parts, ignore_index=True).dropna(subset=["x", "loss"])
    points = points.drop_duplicates(["model", "member", "x"], keep="first").sort_values("x")
    data: list[dict[str, Any]] = []
    for kind in _ordered(points["model"]):
        mine = points[points["model"] == kind]
        color = model_color(kind)
        whole = mine[mine["member"] < 0]
        if len(whole):
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers" if len(whole) < 3 else "lines",
                    "x": whole["x"].tolist(),
                    "y": whole["loss"].tolist(),
                    "name": model_label(kind),
                    "legendgroup": kind,
                    "line": {"color": color, "width": 2.5},
                }
            )
        if not members:
            continue
        first = True
        for k, rows in mine[mine["member"] >= 0].groupby("member", sort=True):
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers" if len(rows) < 3 else "lines",
                    "marker": {"size": 4},
                    "x": rows["x"].tolist(),
                    "y": rows["loss"].tolist(),
                    "name": f"{model_label(kind)} members",
                    "legendgroup": kind,
                    "showlegend": first,
                    "opacity": 0.6,
                    "line": {"color": color, "width": 1.2},
                    "hovertemplate": f"member {k}<br>epoch %{{x:.2f}}<br>loss %{{y:.4f}}"
                    "<extra></extra>",
                }
            )
            first = False
    return go.Figure(
        data=data,
        layout={
            **_LAYOUT,
            "height": 340,
            "xaxis": {"title": {"text": "epoch"}, "rangemode": "tozero"},
            # log scale: the models part ways at the end, where the losses are small
            "yaxis": {
                "title": {"text": "training loss (log)"},
                "type": "log",
                **_log_ticks(points["loss"]),
            },
        },
    )


def _log_ticks(values: pd.Series) -> dict[str, Any]:
    """1-2-5 ticks spanning values, labelled in full (plotly's own log ticks label 0.05 as
    '5')."""
    positive = values[values > 0]
    if not len(positive):
        return {}
    lo, hi = math.floor(math.log10(positive.min())), math.ceil(math.log10(positive.max()))
    ticks = [m * 10.0**e for e in range(lo, hi + 1) for m in (1, 2, 5)]
    ticks = [t for t in ticks if positive.min() / 2 <= t <= positive.max() * 2]
    return {"tickvals": ticks, "ticktext": [f"{t:g}" for t in ticks]}


def epoch_times(history: pd.DataFrame) -> pd.DataFrame:
    """Seconds per epoch for each model: its whole-model rows, or, while a sequential ensemble
    is still training member after member, the sum of its members' times so far."""
    if history is None or not len(history):
        return pd.DataFrame(columns=["model", "epoch", "epoch_seconds", "samples_per_s"])
    h = history.assign(member=_members(history["member"]))
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
    return pd.concat(out, ignore_index=True)[["model", "epoch", "epoch_seconds", "samples_per_s"]]


def epoch_time_figure(history: pd.DataFrame) -> go.Figure:
    """Seconds per epoch, grouped by epoch, one colour per model."""
    times = epoch_times(history)
    if not len(times):
        return empty_figure("epoch times appear when the first epoch ends")
    data = [
        {
            "type": "bar",
            "x": rows["epoch"].tolist(),
            "y": rows["epoch_seconds"].tolist(),
            "name": model_label(kind),
            "marker": {"color": model_color(kind)},
            "hovertemplate": "epoch %{x}: %{y:.2f} s<extra>" + model_label(kind) + "</extra>",
        }
        for kind in _ordered(times["model"])
        for rows in [times[times["model"] == kind]]
    ]
    return go.Figure(
        data=data,
        layout={
            **_LAYOUT,
            "height": 300,
            "barmode": "group",
            "xaxis": {"title": {"text": "epoch"}, "dtick": 1},
            "yaxis": {"title": {"text": "seconds per epoch"}},
        },
    )


# -- results: accuracy, parameters, time, members ------------------------------------------


def _result(results: pd.DataFrame | None, model: str, column: str) -> float | None:
    """One cell of results.csv (None when the model or the value is missing)."""
    if results is None or not len(results) or column not in results:
        return None
    cells = results.loc[results["model"] == model, column]
    return _float(cells.iloc[0]) if len(cells) else None


def _num(results: pd.DataFrame, column: str) -> list[float | None]:
    values = pd.to_numeric(results[column], errors="coerce") if column in results else None
    if values is None:
        return [None] * len(results)
    return [None if pd.isna(v) else float(v) for v in values]


def accuracy_figure(results: pd.DataFrame) -> go.Figure:
    """Test accuracy per model, four bars each: mean member, ensemble, majority vote, oracle."""
    if results is None or not len(results):
        return empty_figure("no model has finished yet")
    labels = [model_label(m) for m in results["model"]]
    data = [
        {
            "type": "bar",
            "x": labels,
            "y": _num(results, col),
            "name": name,
            "marker": {"color": color},
            "texttemplate": "%{y:.3f}",
            "textposition": "outside",
            "hovertemplate": "%{x}<br>" + name + ": %{y:.4f}<extra></extra>",
        }
        for (col, name), color in zip(ACCURACY_LABELS.items(), ACCURACY_COLORS, strict=True)
    ]
    return go.Figure(
        data=data,
        layout={
            **_LAYOUT,
            "height": 360,
            "barmode": "group",
            "yaxis": {"title": {"text": "test accuracy"}, "range": [0, 1.08]},
        },
    )


def params_figure(results: pd.DataFrame) -> go.Figure:
    """Parameter count per model, labelled with its size relative to the single model."""
    if results is None or not len(results):
        return empty_figure("no model has finished yet")
    rel = _num(results, "params_rel_single")
    mb = _num(results, "param_mb")
    text = [
        f"{r:.2f}× single · {m:.1f} MB" if r is not None and m is not None else ""
        for r, m in zip(rel, mb, strict=True)
    ]
    return go.Figure(
        data=[
            {
                "type": "bar",
                "x": [model_label(m) for m in results["model"]],
                "y": _num(results, "params"),
                "text": text,
                "textposition": "outside",
                "marker": {"color": [model_color(m) for m in results["model"]]},
                "hovertemplate": "%{x}<br>%{y:,} parameters<extra></extra>",
            }
        ],
        layout={**_LAYOUT, "height": 360, "yaxis": {"title": {"text": "parameters"}}},
    )


def time_figure(results: pd.DataFrame) -> go.Figure:
    """Training time, time per epoch and inference time (whole test set) per model."""
    if results is None or not len(results):
        return empty_figure("no model has finished yet")
    panels = [
        ("train_seconds", "training time (s)", 1.0),
        ("epoch_seconds", "time per epoch (s)", 1.0),
        ("infer_seconds", "inference, test set (ms)", 1000.0),
    ]
    fig = make_subplots(rows=1, cols=3, subplot_titles=[t for _, t, _ in panels])
    labels = [model_label(m) for m in results["model"]]
    colors = [model_color(m) for m in results["model"]]
    for i, (col, title, scale) in enumerate(panels, 1):
        y = [None if v is None else v * scale for v in _num(results, col)]
        fig.add_trace(
            go.Bar(
                x=labels,
                y=y,
                marker={"color": colors},
                showlegend=False,
                texttemplate="%{y:.3g}",
                textposition="outside",
                hovertemplate="%{x}<br>" + title + ": %{y:.4g}<extra></extra>",
            ),
            row=1,
            col=i,
        )
    fig.update_layout(**_LAYOUT, height=360)
    fig.update_yaxes(rangemode="tozero")
    return fig


def member_accuracy_figure(members: pd.DataFrame, results: pd.DataFrame) -> go.Figure:
    """Each member's test accuracy, one panel per ensemble kind, with the ensemble's accuracy
    (dashed) and the single model's (dotted) as reference lines."""
    if members is None or not len(members):
        return empty_figure("no ensemble has finished yet")
    kinds = [k for k in _ordered(members["model"]) if (members["model"] == k).sum() > 1]
    if not kinds:
        return empty_figure("no ensemble with several members has finished yet")
    fig = make_subplots(
        rows=1, cols=len(kinds), shared_yaxes=True, subplot_titles=[model_label(k) for k in kinds]
    )
    refs = [
        ("ensemble (mean softmax)", None, "#222222", "dash"),
        ("single model", "single", model_color("single"), "dot"),
    ]
    shown: set[str] = set()
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
    # the legend above the panel titles, not on them
    legend = {**_LAYOUT["legend"], "y": 1.14}
    fig.update_layout(**{**_LAYOUT, "legend": legend, "margin": {**_LAYOUT["margin"], "t": 70}})
    fig.update_layout(height=360)
    fig.update_yaxes(title_text="test accuracy", row=1, col=1)
    return fig


def agreement_figure(matrices: Mapping[str, pd.DataFrame]) -> go.Figure:
    """The members' pairwise agreement (share of test images on which two members predict the
    same class), one heatmap per ensemble kind, side by side on ONE shared 0-1 colour scale, the
    value written in every cell."""
    kinds = _ordered(k for k, m in matrices.items() if m is not None and len(m))
    if not kinds:
        return empty_figure("no ensemble has finished yet")
    fig = make_subplots(
        rows=1,
        cols=len(kinds),
        subplot_titles=[model_label(k) for k in kinds],
        horizontal_spacing=0.08,
    )
    for i, kind in enumerate(kinds, 1):
        m = matrices[kind]
        z = m.drop(columns=["member"], errors="ignore").to_numpy(dtype=float)
        labels = [f"member {j}" for j in range(z.shape[1])]
        fig.add_trace(
            go.Heatmap(
                z=z,
                x=labels,
                y=labels,
                coloraxis="coloraxis",
                texttemplate="%{z:.2f}",
                hovertemplate="%{y} vs %{x}: %{z:.3f}<extra>" + model_label(kind) + "</extra>",
            ),
            row=1,
            col=i,
        )
    fig.update_layout(
        **_LAYOUT,
        height=380,
        coloraxis={
            "cmin": 0.0,
            "cmax": 1.0,
            "colorscale": "Blues",
            "colorbar": {"title": {"text": "agreement"}, "tickformat": ".1f"},
        },
    )
    fig.update_yaxes(autorange="reversed", scaleanchor=None)
    return fig


def reliability_figure(
    tables: Mapping[str, pd.DataFrame], results: pd.DataFrame | None = None
) -> go.Figure:
    """A reliability diagram per model: accuracy in each confidence bin (bars) against the
    diagonal of perfect calibration; the panel title gives the model's ECE."""
    kinds = _ordered(k for k, t in tables.items() if t is not None and len(t))
    if not kinds:
        return empty_figure("no model has finished yet")
    ece = {}
    if results is not None and len(results) and "ece" in results:
        values = pd.to_numeric(results["ece"], errors="coerce")
        ece = dict(zip(results["model"], values, strict=True))
    titles = [
        model_label(k) + (f" · ECE {ece[k]:.3f}" if k in ece and not pd.isna(ece[k]) else "")
        for k in kinds
    ]
    fig = make_subplots(rows=1, cols=len(kinds), shared_yaxes=True, subplot_titles=titles)
    for i, kind in enumerate(kinds, 1):
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
            row=1,
            col=i,
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
            row=1,
            col=i,
        )
        fig.update_xaxes(range=[0, 1], title_text="confidence", row=1, col=i)
    fig.update_yaxes(range=[0, 1], title_text="accuracy", row=1, col=1)
    fig.update_layout(**_LAYOUT, height=340, bargap=0)
    return fig


# -- comparing runs --------------------------------------------------------------------------


def compare_figure(rows: pd.DataFrame) -> go.Figure:
    """Several runs against their member count: ensemble accuracy, parameters, training time,
    one colour per model kind (rows: results.csv rows with a run_id column)."""
    if rows is None or not len(rows):
        return empty_figure("select runs that have results")
    panels = [
        ("ensemble_acc", "ensemble accuracy (mean softmax)"),
        ("params", "parameters"),
        ("train_seconds", "training time (s)"),
    ]
    fig = make_subplots(rows=1, cols=3, subplot_titles=[t for _, t in panels])
    df = rows.copy()
    for col in ["members", *[c for c, _ in panels]]:
        df[col] = pd.to_numeric(df[col], errors="coerce")
    for i, (col, title) in enumerate(panels, 1):
        for kind in _ordered(df["model"]):
            mine = df[df["model"] == kind].sort_values("members")
            fig.add_trace(
                go.Scatter(
                    x=mine["members"].tolist(),
                    y=mine[col].tolist(),
                    mode="lines+markers",
                    name=model_label(kind),
                    legendgroup=kind,
                    showlegend=i == 1,
                    line={"color": model_color(kind)},
                    customdata=mine[["run_id"]].to_numpy(),
                    hovertemplate="run %{customdata[0]}<br>E = %{x}<br>"
                    + title
                    + ": %{y:.4g}<extra>"
                    + model_label(kind)
                    + "</extra>",
                ),
                row=1,
                col=i,
            )
        fig.update_xaxes(title_text="members (E)", row=1, col=i)
    fig.update_layout(**_LAYOUT, height=360)
    return fig


# -- tables ----------------------------------------------------------------------------------


def results_table(results: pd.DataFrame) -> pd.DataFrame:
    """results.csv rows -> the side-by-side table (readable headers, numbers kept numeric)."""
    cols = [c for c in RESULT_TABLE if c in results]
    out = results[cols].copy()
    for c in cols:
        if c not in ("model", "status"):
            out[c] = pd.to_numeric(out[c], errors="coerce")
    out["model"] = out["model"].map(model_label)
    return out.rename(columns=RESULT_TABLE)


def runs_frame(runs: Iterable[Any]) -> pd.DataFrame:
    """One row per run (bedash.runs.RunInfo): its config and headline metrics, the ensemble
    accuracy of each model kind and the total training time."""
    records = []
    for r in runs:
        cfg = r.config if isinstance(r.config, dict) else {}
        row: dict[str, Any] = {
            "run_id": r.run_id,
            "status": r.status,
            "started": r.started,
            "dataset": _short_dataset(cfg.get("dataset")),
            "arch": cfg.get("arch"),
            "models": ", ".join(cfg.get("models", []) or []),
            "members": cfg.get("members"),
            "hidden": cfg.get("hidden"),
            "layers": cfg.get("layers"),
            "epochs": cfg.get("epochs"),
            "batch_size": cfg.get("batch_size"),
            "lr": cfg.get("lr"),
            "seed": cfg.get("seed"),
            "device": cfg.get("device"),
            "train_size": cfg.get("train_size"),
        }
        total = 0.0
        for res in r.results:
            kind = res.get("model", "")
            row[f"acc {kind}"] = _float(res.get("ensemble_acc"))
            if kind == "batchensemble":
                row["BE params × single"] = _float(res.get("params_rel_single"))
            total += _float(res.get("train_seconds")) or 0.0
        row["train s (all)"] = total if r.results else None
        row["note"] = r.reason
        records.append(row)
    df = pd.DataFrame(records)
    if not len(df):
        return df
    df["started"] = pd.to_datetime(df["started"], errors="coerce", utc=True)
    acc = [f"acc {k}" for k in MODEL_LABELS if f"acc {k}" in df]
    acc += sorted(c for c in df if c.startswith("acc ") and c not in acc)
    headline = ["run_id", "status", "started", "models", *acc]
    headline += [c for c in ("BE params × single", "train s (all)") if c in df]
    return df[headline + [c for c in df if c not in headline]]


def _short_dataset(value: Any) -> Any:
    """An image folder's path -> its last part (the table stays narrow)."""
    if isinstance(value, str) and ("/" in value or "\\" in value):
        return value.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return value


def _float(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f
