"""The charts of a run's uncertainty evaluation (Results' Uncertainty tab). A model with nothing
to draw keeps a legend entry that says "not measured"."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bedash.dashboard import uncertainty_tables as ut
from bedash.dashboard.figures.style import (
    LEGEND_UNDER,
    SEVERITY_TICKS,
    model_line,
    not_measured_entry,
)
from bedash.dashboard.tables import NOT_MEASURED, numbers
from bedash.names import model_color, model_label

# OOD sets against the in-distribution bars: Okabe-Ito colours no model kind uses
SET_COLORS = ["#000000", "#CC79A7", "#56B4E9", "#7f7f7f", "#F0E442"]


def shift_figure(shift: pd.DataFrame, corruption: str = ut.MEAN, scaled: bool = True) -> go.Figure:
    """Accuracy and ECE against severity per model kind (Ovadia et al. 2019) for one corruption
    or "mean"; scaled: the temperature-scaled metrics too, dashed."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Accuracy", "ECE"), horizontal_spacing=0.1)
    variants = [("", "solid", "")] + ([("_ts", "dash", " (temperature-scaled)")] if scaled else [])
    for kind in ut.models_in(shift):
        rows = ut.severity_rows(shift, kind, corruption)
        drawn = False
        for col, metric in ((1, "acc"), (2, "ece")):
            for end, dash, suffix in variants:
                if rows.empty or metric + end not in rows:
                    continue
                x, y = ut.points(rows["severity"], rows[metric + end])
                if not y:
                    continue
                drawn = True
                label = model_label(kind) + suffix
                hover = f"{label}<br>severity %{{x}}<br>{metric.upper()} %{{y:.4f}}<extra></extra>"
                line = {"color": model_color(kind), "dash": dash}
                trace = model_line(kind, x, y, name=label, line=line, legendgroup=kind + suffix)
                trace.update(showlegend=col == 1, hovertemplate=hover)
                fig.add_trace(trace, row=1, col=col)
        if not drawn:
            fig.add_trace(not_measured_entry(kind), row=1, col=1)
    fig.update_xaxes(title_text="severity", range=[-0.3, 5.3], **SEVERITY_TICKS)
    fig.update_yaxes(title_text="accuracy", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="ECE", rangemode="tozero", row=1, col=2)
    fig.update_layout(height=380, margin={"t": 40, "b": 40}, legend=LEGEND_UNDER)
    return fig


def chart_text(text: str) -> str:
    """A file's name as plotly label text: '&', '<', '>' as entities (plotly reads <a> etc.)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def set_label(name: str) -> str:
    """How a histogram's legend names a set."""
    return (
        "in-distribution (clean test)" if name == ut.IN_DISTRIBUTION else f"OOD: {chart_text(name)}"
    )


def histogram_figure(hist: pd.DataFrame, kind: str) -> go.Figure:
    """One model's entropy and mutual-information histograms: the clean test set as bars, each
    OOD set as a step line; heights are fractions of each set, so sizes compare."""
    quantities = list(ut.QUANTITY_LABELS)
    titles = [ut.QUANTITY_LABELS[q] for q in quantities]
    fig = make_subplots(rows=1, cols=2, subplot_titles=titles, horizontal_spacing=0.1)
    sets: list[str] = []
    if not hist.empty and {"set", "quantity", "lower", "upper", "fraction"} <= set(hist):
        sets = list(dict.fromkeys(hist["set"].dropna().astype(str)))
        sets = sorted(sets, key=lambda s: s != ut.IN_DISTRIBUTION)  # the clean bars first
    others = [s for s in sets if s != ut.IN_DISTRIBUTION]
    for col, q in enumerate(quantities, 1):
        for name in sets:
            rows = hist[(hist["set"] == name) & (hist["quantity"] == q)]
            cols = (numbers(rows["lower"]), numbers(rows["upper"]), numbers(rows["fraction"]))
            bins = [b for b in zip(*cols, strict=True) if None not in b]
            if not bins:
                continue
            x = [(a + b) / 2 for a, b, _ in bins]
            y = [f for _, _, f in bins]
            common = dict(name=set_label(name), legendgroup=name, showlegend=col == 1)
            common.update(row=1, col=col)
            if name == ut.IN_DISTRIBUTION:
                width = [b - a for a, b, _ in bins]
                color = model_color(kind)
                fig.add_bar(x=x, y=y, width=width, opacity=0.55, marker_color=color, **common)
            else:
                color = SET_COLORS[others.index(name) % len(SET_COLORS)]
                fig.add_scatter(
                    x=x, y=y, mode="lines", line={"color": color, "shape": "hvh"}, **common
                )
    if not fig.data:
        fig.add_trace(not_measured_entry(kind), row=1, col=1)
    elif all_zero_mi(hist):  # a single model: its bars sit in an invisible bin at zero
        text = "zero for every image<br>(no members to disagree)"
        where = dict(xref="x2 domain", yref="y2 domain", x=0.5, y=0.5)
        fig.add_annotation(text=text, showarrow=False, **where)
    fig.update_yaxes(title_text="fraction of the set", rangemode="tozero", row=1, col=1)
    fig.update_layout(height=340, bargap=0, barmode="overlay", margin={"t": 40, "b": 40})
    fig.update_layout(legend=LEGEND_UNDER)
    return fig


def all_zero_mi(hist: pd.DataFrame) -> bool:
    """Every mutual-information bin ends at (nearly) zero: bedash bins [0, 1e-6] then."""
    upper = numbers(hist.loc[hist["quantity"] == "mutual_info", "upper"])
    upper = [v for v in upper if v is not None]
    return bool(upper) and max(upper) <= ut.ZERO_MI


def coverage_figure(selective: pd.DataFrame, shift: pd.DataFrame | None = None) -> go.Figure:
    """Accuracy against coverage on the clean test set (most confident first) per model kind,
    its AURC (shift.csv) in the legend."""
    fig = go.Figure()
    shift = shift if shift is not None else pd.DataFrame()
    aurc = ut.aurc_by_model(shift)
    ok = not selective.empty and {"model", "coverage", "accuracy"} <= set(selective)
    for kind in ut.models_in(selective, shift):
        x, y = [], []
        if ok:
            rows = selective[selective["model"] == kind].sort_values("coverage", kind="stable")
            x, y = ut.points(rows["coverage"], rows["accuracy"])
        if not y:
            fig.add_trace(not_measured_entry(kind))
            continue
        a = aurc.get(kind)
        tag = f"AURC {a:.4f}" if a is not None else f"AURC {NOT_MEASURED}"
        hover = f"{model_label(kind)}<br>coverage %{{x:.2f}}<br>accuracy %{{y:.4f}}<extra></extra>"
        name = f"{model_label(kind)} ({tag})"
        fig.add_trace(model_line(kind, x, y, mode="lines", name=name, hovertemplate=hover))
    fig.update_xaxes(title_text="coverage (share of test images answered)", range=[0, 1.02])
    fig.update_yaxes(title_text="accuracy on the answered images", rangemode="tozero")
    fig.update_layout(height=360, margin={"t": 20, "b": 40}, legend={**LEGEND_UNDER, "y": -0.25})
    return fig
