"""The one style of the dashboard's charts. Every model kind keeps its colour from
bedash.names; a value that was not measured is left out and said so, never drawn as a zero."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from bedash.dashboard.tables import NOT_MEASURED
from bedash.names import model_color, model_label

# the runs of an overlay, one colour each (Paul Tol's "muted": none is a model kind's colour)
RUN_COLORS = ["#332288", "#CC6677", "#117733", "#882255", "#44AA99", "#999933", "#AA4499"]
RUN_COLORS += ["#88CCEE", "#DDCC77", "#661100"]
# the runs of a comparison, or a sweep's configs: one marker symbol each, keyed in the legend
SYMBOLS = ["circle", "square", "diamond", "triangle-up", "x", "star", "triangle-down"]
SYMBOLS += ["pentagon", "hexagon", "cross"]
# one row above the plot: beside it, a legend squeezes the plot to ~90 px at a phone's width
LEGEND_ABOVE = {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0}
LAYOUT = {
    "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
    "legend": LEGEND_ABOVE,
    "hovermode": "closest",
}
# subplots with titles of up to three lines: room above the first
TALL = {"l": 10, "r": 10, "t": 70, "b": 10}
# subplots: a legend row at the top of the figure, the panels (and their titles) below it
LEGEND_TOP = {"orientation": "h", "yref": "container", "y": 1.0, "yanchor": "top", "x": 0}
# subplots: the legend under the plot, where it cannot cover a panel's title
LEGEND_BELOW = {"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0}
# the uncertainty charts: a legend row under the plot (x-axis titles leave it room)
LEGEND_UNDER = {"orientation": "h", "y": -0.2}
# bar labels all of one size, and none where it would be smaller than 9 px (the bars of a
# phone's width): the hover still gives the value
FIT_TEXT = {"minsize": 9, "mode": "hide"}
SEVERITY_TICKS = {"tickvals": [0, 1, 2, 3, 4, 5], "ticktext": ["clean", "1", "2", "3", "4", "5"]}
DIAGONAL = {"color": "#555", "dash": "dash", "width": 1}  # perfect calibration


def plot_config(name: str, fmt: str = "png") -> dict[str, Any]:
    """st.plotly_chart's config: the camera saves the figure as `fmt`, drawn in the browser."""
    if fmt not in ("png", "svg"):
        raise ValueError(f"format: {fmt!r} is not png or svg")
    image = {"format": fmt, "filename": name, "scale": 2 if fmt == "png" else 1}
    remove = ["lasso2d", "select2d"]
    # the toolbar on hover only: always shown, it covered legends and titles on a phone
    return {
        "displayModeBar": "hover",
        "displaylogo": False,
        "toImageButtonOptions": image,
        "modeBarButtonsToRemove": remove,
    }


def panel_gaps(height: int) -> dict[str, float]:
    """Subplot spacing that leaves 150 px between rows (the x title above, a three-line panel
    title below) and 0.12 of the width between columns."""
    plot = height - TALL["t"] - TALL["b"]
    return {"vertical_spacing": min(0.5, 150 / plot), "horizontal_spacing": 0.12}


def calibration_panel(fig: go.Figure, r: int, c: int, name: str | None = None) -> None:
    """A reliability panel's 0-1 axes and its diagonal of perfect calibration."""
    diagonal = dict(x=[0, 1], y=[0, 1], mode="lines", showlegend=False, line=DIAGONAL, name=name)
    fig.add_scatter(**diagonal, hoverinfo="skip", row=r, col=c)
    fig.update_xaxes(range=[0, 1], title_text="confidence", row=r, col=c)
    fig.update_yaxes(range=[0, 1], title_text="accuracy" if c == 1 else None, row=r, col=c)


def model_line(kind: str, x: Any, y: Any, **extra: Any) -> go.Scatter:
    """A model kind's line in its colour and legend group (`extra` overrides or adds)."""
    line = {
        "mode": "lines+markers",
        "name": model_label(kind),
        "line": {"color": model_color(kind)},
    }
    return go.Scatter(**{"x": list(x), "y": list(y), **line, "legendgroup": kind, **extra})


def dots(
    kind: str,
    name: str,
    rows: list[str],
    values: list[float | None],
    intervals: list[tuple[float, float] | None],
    fmt: str,
) -> list[go.Scatter]:
    """A dot plot's points of one model (one row each, their 95% intervals as whiskers) and
    their values as text right of the whiskers: points on a zoomed axis, where bars on a cut
    axis would misstate small differences. fmt: the values' format ("%{x:.3f}")."""
    have = [i for i, v in enumerate(values) if v is not None]
    y, x = [rows[i] for i in have], [values[i] for i in have]
    ends = [intervals[i] if intervals[i] is not None else (values[i],) * 2 for i in have]
    whisker = {"type": "data", "symmetric": False, "color": model_color(kind), "thickness": 1.5}
    whisker.update(array=[hi - v for (_, hi), v in zip(ends, x, strict=True)])
    whisker.update(arrayminus=[v - lo for (lo, _), v in zip(ends, x, strict=True)])
    same = {"orientation": "h", "offsetgroup": kind, "legendgroup": kind, "y": y}
    ci = [[lo, hi] for lo, hi in ends]
    hover = f"%{{y}}<br>{name}: " + fmt.replace(".3f", ".4f")
    if any(intervals):
        hover += "<br>95% interval %{customdata[0]:.4f} to %{customdata[1]:.4f}"
    point = go.Scatter(
        x=x,
        mode="markers",
        name=name,
        marker={"color": model_color(kind), "size": 9},
        error_x=whisker if any(intervals) else None,
        customdata=ci,
        hovertemplate=hover + "<extra></extra>",
        **same,
    )
    text = go.Scatter(
        x=[hi for _, hi in ends],
        customdata=x,
        mode="text",
        name=f"{name} (values)",
        texttemplate=fmt.replace("%{x", "  %{customdata"),
        textposition="middle right",
        textfont={"size": 11, "color": "#333"},
        cliponaxis=False,
        showlegend=False,
        hoverinfo="skip",
        **same,
    )
    return [point, text]


def dot_range(lows: Sequence[float], highs: Sequence[float], *, zero: bool = False) -> list[float]:
    """A dot plot's value axis: the intervals, room on the right for the value labels."""
    lo, hi = min(lows), max(highs)
    if zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    span = max(hi - lo, 0.01)
    return [lo - 0.05 * span, hi + 0.4 * span]


def empty_figure(message: str, height: int = 260) -> go.Figure:
    """A blank chart that says why it is blank."""
    fig = go.Figure(layout={**LAYOUT, "height": height})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.add_annotation(
        text=message, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5, font={"size": 14}
    )
    return fig


def none_yet(pending: bool, what: str = "model") -> str:
    """The blank chart's message: a run that may still fill it, or one that ended."""
    return f"no {what} has finished yet" if pending else f"{NOT_MEASURED}: no {what} finished"


def not_measured_entry(kind: str) -> go.Scatter:
    """A legend entry for a model with nothing to draw."""
    line, name = {"color": model_color(kind), "dash": "dot"}, f"{model_label(kind)}: {NOT_MEASURED}"
    return go.Scatter(x=[None], y=[None], mode="lines", name=name, line=line, legendgroup=kind)


def not_measured_marks(x: list[str], y: list[float | None]) -> go.Scatter | None:
    """A text mark "not measured" where a bar is missing (plotly draws nothing for None)."""
    where = [xi for xi, yi in zip(x, y, strict=True) if yi is None]
    if not where:
        return None
    text = {"text": [NOT_MEASURED] * len(where), "textposition": "top center"}
    quiet = {"showlegend": False, "hoverinfo": "skip", "textfont": {"color": "#666"}}
    return go.Scatter(mode="text", x=where, y=[0] * len(where), **text, **quiet)


def wrap(label: str, width: int = 14) -> str:
    """A label in lines of at most `width` characters (words kept whole, a bracket on a line
    of its own), so that four fit side by side, unrotated, at a phone's width."""
    lines: list[str] = []
    for word in label.split():
        if lines and not word.startswith("(") and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(lines)


def rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def band_trace(xs: Sequence, lows: Sequence, highs: Sequence, color: str, group: str) -> go.Scatter:
    """A filled band from lows to highs over xs, in its line's legend group."""
    xs = list(xs)
    fill = {"fill": "toself", "fillcolor": rgba(color, 0.2), "line": {"width": 0}}
    quiet = {"hoverinfo": "skip", "showlegend": False, "legendgroup": group}
    return go.Scatter(
        x=xs + xs[::-1], y=list(highs) + list(lows)[::-1], mode="lines", **fill, **quiet
    )


def epoch_ticks(last: float, *, whole: bool = False) -> dict[str, Any]:
    """Ticks every 1/4, 1/2, 1, 2, 5... epochs: at most about 10 (whole: whole epochs only)."""
    if last <= 0:
        return {}
    steps = (0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500)[2 if whole else 0 :]
    return next(({"dtick": s, "tick0": 0} for s in steps if last / s <= 10), {})


def log_ticks(values: pd.Series) -> dict[str, Any]:
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
