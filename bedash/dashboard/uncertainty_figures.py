"""Figures and tables of a run's uncertainty evaluation: pure functions of pandas frames (the
rows of shift.csv, ood.csv, selective.csv and uncertainty_<model>.csv) returning plotly figures
or display frames. No streamlit.

One colour per model kind (bedash.names), as on every other chart. A value that is missing (an
empty cell: a model that was not evaluated on a set, no temperature scaling) is left out of a
line, never drawn as zero; a model with nothing to draw keeps a legend entry that says
"not measured".
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bedash.names import MODEL_KINDS, model_color, model_label

NOT_MEASURED = "not measured"
ZERO_MI = (
    1e-6  # bedash.uncertainty.evaluation's upper edge of the mutual-information bins when all are 0
)
MEAN = "mean"  # shift.csv: the mean over the corruptions at one severity
CLEAN = "clean"  # shift.csv: the clean test set, severity 0
IN_DISTRIBUTION = "in_distribution"
SCORE_LABELS = {"entropy": "Predictive entropy", "mutual_info": "Mutual information"}
QUANTITY_LABELS = {
    "entropy": "Predictive entropy (nats)",
    "mutual_info": "Mutual information (nats)",
}
# OOD sets against the in-distribution bars: Okabe-Ito colours no model kind uses
SET_COLORS = ["#000000", "#CC79A7", "#56B4E9", "#7f7f7f", "#F0E442"]
OOD_TABLE = {
    "model": "Model", "ood_set": "OOD set", "score": "Score", "auroc": "AUROC",
    "aupr": "AUPR", "fpr95": "FPR at 95% TPR",
}  # fmt: skip
SHIFT_TABLE = {
    "model": "Model", "corruption": "Corruption", "severity": "Severity", "acc": "Accuracy",
    "nll": "NLL", "ece": "ECE", "brier": "Brier", "entropy": "Entropy",
    "mutual_info": "Mutual info", "aurc": "AURC", "acc_ts": "Accuracy (T-scaled)",
    "nll_ts": "NLL (T-scaled)", "ece_ts": "ECE (T-scaled)", "brier_ts": "Brier (T-scaled)",
}  # fmt: skip


def models_in(*frames: pd.DataFrame) -> list[str]:
    """The model kinds found in the frames' "model" column: bedash's order first, then any
    other name in the order met."""
    seen: list[str] = []
    for f in frames:
        if "model" in f:
            for m in f["model"].dropna().astype(str):
                if m not in seen:
                    seen.append(m)
    known = [k for k in MODEL_KINDS if k in seen]
    return known + [m for m in seen if m not in known]


def _num(values: Iterable[Any]) -> list[float | None]:
    """Numbers as floats, anything missing or not finite as None."""
    out: list[float | None] = []
    for v in values:
        try:
            f = float(v)
        except (TypeError, ValueError):
            f = math.nan
        out.append(f if math.isfinite(f) else None)
    return out


def _points(x: Iterable[Any], y: Iterable[Any]) -> tuple[list[float], list[float]]:
    """The (x, y) pairs where both are numbers: a missing value is left out, never zero."""
    pairs = [
        (a, b) for a, b in zip(_num(x), _num(y), strict=True) if a is not None and b is not None
    ]
    return [a for a, _ in pairs], [b for _, b in pairs]


def _not_measured(kind: str, **where: Any) -> go.Scatter:
    """A legend entry for a model with nothing to draw."""
    return go.Scatter(
        x=[None], y=[None], mode="lines", name=f"{model_label(kind)}: {NOT_MEASURED}",
        line={"color": model_color(kind), "dash": "dot"}, legendgroup=kind, **where,
    )  # fmt: skip


def corruptions_in(shift: pd.DataFrame) -> list[str]:
    """The corruptions of shift.csv (without "clean" and "mean"), in the file's order."""
    if shift.empty or "corruption" not in shift:
        return []
    names = list(dict.fromkeys(shift["corruption"].dropna().astype(str)))
    return [n for n in names if n not in (CLEAN, MEAN)]


def severity_rows(shift: pd.DataFrame, kind: str, corruption: str = MEAN) -> pd.DataFrame:
    """One model's rows for one corruption (or the mean), with its clean row as severity 0,
    sorted by severity."""
    if shift.empty or not {"model", "corruption", "severity"} <= set(shift):
        return pd.DataFrame()
    rows = shift[(shift["model"] == kind) & shift["corruption"].isin([CLEAN, corruption])]
    return rows.sort_values("severity", kind="stable")


def shift_figure(shift: pd.DataFrame, corruption: str = MEAN, scaled: bool = True) -> go.Figure:
    """Accuracy and ECE against severity (0 = clean) per model kind: the figure of Ovadia et
    al. (2019). corruption: one corruption, or "mean" (over the corruptions). scaled: also the
    temperature-scaled metrics, dashed, where the run has them."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Accuracy", "ECE"), horizontal_spacing=0.1)
    for kind in models_in(shift):
        rows = severity_rows(shift, kind, corruption)
        drawn = False
        for col, metric in ((1, "acc"), (2, "ece")):
            variants = [(metric, "solid", "")]
            if scaled:
                variants.append((f"{metric}_ts", "dash", " (temperature-scaled)"))
            for column, dash, suffix in variants:
                if rows.empty or column not in rows:
                    continue
                x, y = _points(rows["severity"], rows[column])
                if not y:
                    continue
                drawn = True
                fig.add_trace(
                    go.Scatter(
                        x=x, y=y, mode="lines+markers", name=model_label(kind) + suffix,
                        line={"color": model_color(kind), "dash": dash},
                        legendgroup=kind + suffix, showlegend=col == 1,
                        hovertemplate=f"{model_label(kind)}{suffix}<br>severity %{{x}}"
                        f"<br>{metric.upper()} %{{y:.4f}}<extra></extra>",
                    ),
                    row=1, col=col,
                )  # fmt: skip
        if not drawn:
            fig.add_trace(_not_measured(kind), row=1, col=1)
    ticks = {"tickvals": [0, 1, 2, 3, 4, 5], "ticktext": ["clean", "1", "2", "3", "4", "5"]}
    fig.update_xaxes(title_text="severity", range=[-0.3, 5.3], **ticks)
    fig.update_yaxes(title_text="accuracy", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="ECE", rangemode="tozero", row=1, col=2)
    fig.update_layout(height=380, margin={"t": 40, "b": 40}, legend={"orientation": "h", "y": -0.2})
    return fig


def shift_table(shift: pd.DataFrame, corruption: str = MEAN) -> pd.DataFrame:
    """The rows behind shift_figure, labelled for the page (models by name; empty cells stay
    empty, and the temperature-scaled columns only where the run has them)."""
    if shift.empty or "corruption" not in shift:
        return pd.DataFrame(columns=list(SHIFT_TABLE.values()))
    rows = shift[shift["corruption"].isin([CLEAN, corruption])].copy()
    rows["_order"] = rows["model"].map({k: i for i, k in enumerate(models_in(shift))})
    rows = rows.sort_values(["_order", "severity"], kind="stable")
    cols = [
        c for c in SHIFT_TABLE if c in rows and (not c.endswith("_ts") or rows[c].notna().any())
    ]
    out = rows[cols].rename(columns=SHIFT_TABLE)
    out["Model"] = out["Model"].map(model_label)
    return out.reset_index(drop=True)


def ood_table(ood: pd.DataFrame) -> pd.DataFrame:
    """ood.csv for the page: one row per model, OOD set and score, models by name."""
    cols = list(OOD_TABLE)
    if ood.empty or not set(cols) <= set(ood):
        return pd.DataFrame(columns=list(OOD_TABLE.values()))
    order = {k: i for i, k in enumerate(models_in(ood))}
    out = ood[cols].copy()
    out["_order"] = out["model"].map(order)
    out = out.sort_values(["_order"], kind="stable").drop(columns="_order")
    out["model"] = out["model"].map(model_label)
    out["score"] = out["score"].map(lambda s: SCORE_LABELS.get(s, s))
    return out.rename(columns=OOD_TABLE).reset_index(drop=True)


def chart_text(text: str) -> str:
    """A name from a file inside a plotly label: plotly reads <a>, <b>, <br> as markup, so
    '&', '<' and '>' are written as entities (a folder named '<a href=...>' stays text)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def set_label(name: str) -> str:
    """How a histogram's legend names a set."""
    return "in-distribution (clean test)" if name == IN_DISTRIBUTION else f"OOD: {chart_text(name)}"


def histogram_figure(hist: pd.DataFrame, kind: str) -> go.Figure:
    """One model's histograms of predictive entropy and mutual information: the clean test set
    as bars in the model's colour, each OOD set as a step line over the same bins. Heights are
    fractions of each set, so sets of different sizes compare."""
    quantities = list(QUANTITY_LABELS)
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=[QUANTITY_LABELS[q] for q in quantities],
        horizontal_spacing=0.1,
    )  # fmt: skip
    need = {"set", "quantity", "lower", "upper", "fraction"}
    if not hist.empty and need <= set(hist):
        sets = list(dict.fromkeys(hist["set"].dropna().astype(str)))
        sets = [s for s in sets if s == IN_DISTRIBUTION] + [s for s in sets if s != IN_DISTRIBUTION]
    else:
        sets = []
    for col, q in enumerate(quantities, 1):
        others = 0
        for name in sets:
            rows = hist[(hist["set"] == name) & (hist["quantity"] == q)]
            lo, hi, frac = _num(rows["lower"]), _num(rows["upper"]), _num(rows["fraction"])
            bins = [
                (a, b, f) for a, b, f in zip(lo, hi, frac, strict=True) if None not in (a, b, f)
            ]
            if name != IN_DISTRIBUTION:
                others += 1
            if not bins:
                continue
            centers = [(a + b) / 2 for a, b, _ in bins]
            widths = [b - a for a, b, _ in bins]
            heights = [f for _, _, f in bins]
            common = {"name": set_label(name), "legendgroup": name, "showlegend": col == 1}
            if name == IN_DISTRIBUTION:
                trace: Any = go.Bar(
                    x=centers, y=heights, width=widths, marker_color=model_color(kind),
                    opacity=0.55, **common,
                )  # fmt: skip
            else:
                color = SET_COLORS[(others - 1) % len(SET_COLORS)]
                trace = go.Scatter(
                    x=centers, y=heights, mode="lines", line={"color": color, "shape": "hvh"},
                    **common,
                )  # fmt: skip
            fig.add_trace(trace, row=1, col=col)
    if not fig.data:
        fig.add_trace(_not_measured(kind), row=1, col=1)
    elif _all_zero_mi(hist):  # a single model: its bars sit in an invisible bin at zero
        fig.add_annotation(
            text="zero for every image<br>(no members to disagree)", showarrow=False,
            xref="x2 domain", yref="y2 domain", x=0.5, y=0.5,
        )  # fmt: skip
    fig.update_yaxes(title_text="fraction of the set", rangemode="tozero", row=1, col=1)
    fig.update_layout(
        height=340, bargap=0, barmode="overlay", margin={"t": 40, "b": 40},
        legend={"orientation": "h", "y": -0.2},
    )  # fmt: skip
    return fig


def _all_zero_mi(hist: pd.DataFrame) -> bool:
    """Every mutual-information bin ends at (nearly) zero: bedash bins [0, 1e-6] then."""
    upper = [v for v in _num(hist.loc[hist["quantity"] == "mutual_info", "upper"]) if v is not None]
    return bool(upper) and max(upper) <= ZERO_MI


def aurc_by_model(shift: pd.DataFrame) -> dict[str, float | None]:
    """Each model's AURC on the clean test set (shift.csv's clean row; None when missing)."""
    out: dict[str, float | None] = {}
    if shift.empty or not {"model", "corruption", "aurc"} <= set(shift):
        return out
    for kind in models_in(shift):
        rows = shift[(shift["model"] == kind) & (shift["corruption"] == CLEAN)]
        vals = [v for v in _num(rows["aurc"]) if v is not None]
        out[kind] = vals[0] if vals else None
    return out


def coverage_figure(selective: pd.DataFrame, shift: pd.DataFrame | None = None) -> go.Figure:
    """Accuracy against coverage on the clean test set (the most confident images kept first),
    one line per model kind; the legend gives each model's area under the risk-coverage curve
    (AURC, lower is better) from shift.csv."""
    fig = go.Figure()
    aurc = aurc_by_model(shift if shift is not None else pd.DataFrame())
    ok = not selective.empty and {"model", "coverage", "accuracy"} <= set(selective)
    for kind in models_in(selective, shift if shift is not None else pd.DataFrame()):
        rows = selective[selective["model"] == kind] if ok else pd.DataFrame()
        a = aurc.get(kind)
        tag = f"AURC {a:.4f}" if a is not None else f"AURC {NOT_MEASURED}"
        if rows.empty:
            fig.add_trace(_not_measured(kind))
            continue
        rows = rows.sort_values("coverage", kind="stable")
        x, y = _points(rows["coverage"], rows["accuracy"])
        if not y:
            fig.add_trace(_not_measured(kind))
            continue
        fig.add_trace(
            go.Scatter(
                x=x, y=y, mode="lines", name=f"{model_label(kind)} ({tag})",
                line={"color": model_color(kind)}, legendgroup=kind,
                hovertemplate=f"{model_label(kind)}<br>coverage %{{x:.2f}}"
                "<br>accuracy %{y:.4f}<extra></extra>",
            )
        )  # fmt: skip
    fig.update_xaxes(title_text="coverage (share of test images answered)", range=[0, 1.02])
    fig.update_yaxes(title_text="accuracy on the answered images", rangemode="tozero")
    fig.update_layout(
        height=360, margin={"t": 20, "b": 40}, legend={"orientation": "h", "y": -0.25}
    )
    return fig
