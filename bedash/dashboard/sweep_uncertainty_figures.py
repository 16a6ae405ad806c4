"""Figures and tables of a sweep's uncertainty statistics (shift_summary.csv, ood_summary.csv
and their paired files, bedash.sweep.uncertainty_stats): pure functions of pandas frames returning
plotly figures or display frames. No streamlit.

The error bars are 95% Student t intervals of the mean over seeds (the files' ci_low and
ci_high), labelled so, drawn only within what the metric can take (an ECE band stops at 0;
the files keep the interval as computed); a point from one seed has no interval and gets no
band. One colour per
model kind, as on every chart.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

from bedash.dashboard.sweep_figures import band_trace
from bedash.dashboard.tables import as_float as _f  # a number, or None for an empty / NaN cell
from bedash.dashboard.uncertainty_figures import (
    CLEAN,
    MEAN,
    OOD_TABLE,
    SCORE_LABELS,
    SHIFT_TABLE,
    models_in,
)
from bedash.names import model_color, model_label
from bedash.sweep.stats import clip_to_range
from bedash.sweep.uncertainty_stats import OOD_METRICS

CI = "mean ± 95% CI over seeds"
METRIC_NAMES = {**SHIFT_TABLE, **OOD_TABLE}  # acc -> Accuracy, auroc -> AUROC ...


def one_config(frame: pd.DataFrame, config: Any = None) -> pd.DataFrame:
    """The rows of one config of a sweep file (the first one when config is None)."""
    if frame.empty or "config" not in frame:
        return frame
    if config is None:
        config = frame["config"].min()
    return frame[frame["config"] == config]


SEVERITY_METRICS = ("acc", "ece")  # the page's two figures, side by side where it is wide
AXIS_NAMES = {"acc": "accuracy", "ece": "ECE"}


def shift_severity_figure(
    summary: pd.DataFrame, config: Any = None, metric: str = "acc"
) -> go.Figure:
    """One metric (acc, ece, ...) against severity (0 = clean, then the mean over corruptions
    at 1-5) per model kind, each mean with its 95% interval over seeds as a band: the figure of
    Ovadia et al. (2019) with error bars. summary: shift_summary.csv; config: which (default
    the first). One figure per metric, so a narrow page stacks them instead of squeezing."""
    name = METRIC_NAMES.get(metric, metric)
    fig = go.Figure()
    need = {"model", "corruption", "severity", "metric", "mean", "ci_low", "ci_high", "n"}
    rows = one_config(summary, config)
    if rows.empty or not need <= set(rows):
        fig.update_layout(title="no shift statistics")
        return fig
    rows = rows[rows["corruption"].isin([CLEAN, MEAN]) & (rows["metric"] == metric)]
    for kind in models_in(rows):
        color = model_color(kind)
        g = rows[rows["model"] == kind]
        g = g.assign(_s=pd.to_numeric(g["severity"], errors="coerce")).sort_values("_s")
        cols = (g["_s"], g["mean"], g["ci_low"], g["ci_high"], g["n"])
        pts = [
            (s, m, _f(lo), _f(hi), n)
            for s, m, lo, hi, n in zip(*cols, strict=True)
            if _f(s) is not None and _f(m) is not None
        ]
        if not pts:
            continue
        band = [(s, lo, hi) for s, _, lo, hi, _ in pts if lo is not None and hi is not None]
        if band:
            xs, lows, highs = zip(*band, strict=True)
            lows, highs = clip_to_range(metric, lows), clip_to_range(metric, highs)
            fig.add_trace(band_trace(xs, lows, highs, color, kind))  # within the metric's range
        fig.add_trace(go.Scatter(
            x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers",
            name=model_label(kind), line={"color": color}, legendgroup=kind,
            customdata=[[p[4]] for p in pts],
            hovertemplate=f"{model_label(kind)}<br>severity %{{x}}<br>"
            f"{name} %{{y:.4f}} (n=%{{customdata[0]}})<extra></extra>",
        ))  # fmt: skip
    ticks = {"tickvals": [0, 1, 2, 3, 4, 5], "ticktext": ["clean", "1", "2", "3", "4", "5"]}
    fig.update_xaxes(title_text="severity (mean over corruptions)", range=[-0.3, 5.3], **ticks)
    fig.update_yaxes(title_text=f"{AXIS_NAMES.get(metric, name)},<br>{CI}", rangemode="tozero")
    fig.update_layout(title=f"{name} under shift", height=380, margin={"t": 50, "b": 40},
                      legend={"orientation": "h", "y": -0.25})  # fmt: skip
    return fig


def mean_ci(mean: Any, low: Any, high: Any) -> str:
    """ "0.920 ± 0.050" (the interval's half-width); "0.920" without an interval."""
    m, lo, hi = _f(mean), _f(low), _f(high)
    if m is None:
        return "not measured"
    if lo is None or hi is None:
        return f"{m:.3f}"
    return f"{m:.3f} ± {(hi - lo) / 2:.3f}"


def ood_table(summary: pd.DataFrame, config: Any = None) -> pd.DataFrame:
    """ood_summary.csv for the page: per model, OOD set and score, AUROC, AUPR and FPR at 95%
    TPR as mean ± the 95% interval's half-width, and the number of seeds."""
    names = [f"{METRIC_NAMES[m]} ({CI})" for m in OOD_METRICS]
    columns = ["Model", "OOD set", "Score", *names, "Seeds"]
    rows = one_config(summary, config)
    if rows.empty or not {"model", "ood_set", "score", "metric", "mean"} <= set(rows):
        return pd.DataFrame(columns=columns)
    out = []
    order = {k: i for i, k in enumerate(models_in(rows))}
    groups = rows.groupby(["model", "ood_set", "score"], sort=False)
    for (model, ood_set, score), g in sorted(groups, key=lambda kv: order[kv[0][0]]):
        by = {r["metric"]: r for r in g.to_dict("records")}
        line = {"Model": model_label(str(model)), "OOD set": str(ood_set),
                "Score": SCORE_LABELS.get(str(score), str(score))}  # fmt: skip
        for metric, name in zip(OOD_METRICS, names, strict=True):
            r = by.get(metric)
            line[name] = mean_ci(r["mean"], r["ci_low"], r["ci_high"]) if r else "not measured"
        line["Seeds"] = int(max((_f(r.get("n")) or 0) for r in by.values()))
        out.append(line)
    return pd.DataFrame(out, columns=columns)


def verdict_table(paired: pd.DataFrame, key: dict[str, str], config: Any = None) -> pd.DataFrame:
    """A paired file (shift_paired.csv, ood_paired.csv) for the page: its key columns under
    the names in `key`, then the metric, the baseline, BatchEnsemble minus it with its 95%
    interval, n and the verdict."""
    columns = [*key.values(), "Metric", "Baseline", "BatchEnsemble − baseline", "95% CI", "n",
               "Verdict"]  # fmt: skip
    rows = one_config(paired, config)
    if rows.empty or not {*key, "metric", "baseline", "mean_diff", "verdict"} <= set(rows):
        return pd.DataFrame(columns=columns)
    out = []
    for r in rows.to_dict("records"):
        lo, hi, d = _f(r.get("ci_low")), _f(r.get("ci_high")), _f(r.get("mean_diff"))
        line = {name: str(r[k]) for k, name in key.items()}
        line.update({
            "Metric": METRIC_NAMES.get(str(r["metric"]), str(r["metric"])),
            "Baseline": model_label(str(r["baseline"])),
            "BatchEnsemble − baseline": f"{d:+.4f}" if d is not None else "not measured",
            "95% CI": f"[{lo:+.4f}, {hi:+.4f}]" if lo is not None and hi is not None else "none",
            "n": r.get("n"), "Verdict": str(r["verdict"]),
        })  # fmt: skip
        out.append(line)
    return pd.DataFrame(out, columns=columns)


def shift_verdicts(paired: pd.DataFrame, config: Any = None) -> pd.DataFrame:
    """shift_paired.csv's clean and mean-over-corruptions rows (the rest is in the file)."""
    if not paired.empty and "corruption" in paired:
        paired = paired[paired["corruption"].isin([CLEAN, MEAN])]
    return verdict_table(paired, {"corruption": "Corruption", "severity": "Severity"}, config)


def ood_verdicts(paired: pd.DataFrame, config: Any = None) -> pd.DataFrame:
    if not paired.empty and "score" in paired:
        paired = paired.assign(score=paired["score"].map(lambda s: SCORE_LABELS.get(s, s)))
    return verdict_table(paired, {"ood_set": "OOD set", "score": "Score"}, config)
