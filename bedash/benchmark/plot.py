"""The scaling figure: step time of each model kind as E grows and as the hidden width grows,
in the dashboard's palette (bedash.names). Written as scaling.html and, where Chromium is
installed, scaling.png; without plotly (a bare GPU box) only scaling.csv is written."""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bedash.names import MODEL_KINDS, model_color, model_label

SIZE = (1100, 450)  # the figure's pixels; the screenshot's window is 20 px larger each way


def log_ticks(values: Sequence[float]) -> dict[str, Any]:
    """1-2-5 ticks spanning `values` on a log axis, labelled in full (plotly labels a log
    axis's minor ticks "2", "5"... whatever the decade)."""
    positive = [v for v in values if v > 0]
    if not positive:
        return {}
    lo, hi = min(positive), max(positive)
    decades = range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
    ticks = [m * 10.0**e for e in decades for m in (1, 2, 5) if lo / 2 <= m * 10.0**e <= hi * 2]
    return {"tickvals": ticks, "ticktext": [f"{t:g}" for t in ticks]}


def scaling_figure(rows: list[dict[str, Any]]) -> Any:
    """A plotly figure of the "scaling" rows: step time against E (left) and hidden (right)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    at_hidden = {r["hidden"] for r in rows if r["axis"] == "members"}
    at_members = {r["members"] for r in rows if r["axis"] == "hidden" and r["variant"] != "single"}
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(
            f"step time vs members E (hidden {', '.join(map(str, sorted(at_hidden)))})",
            f"step time vs hidden width (E = {', '.join(map(str, sorted(at_members)))})",
        ),
    )
    for col, axis in ((1, "members"), (2, "hidden")):
        for kind in MODEL_KINDS:
            pts = [r for r in rows if r["axis"] == axis and r["variant"] == kind]
            fig.add_trace(
                go.Scatter(
                    x=[r["value"] for r in pts],
                    y=[r["step_ms"] for r in pts],
                    mode="lines+markers",
                    name=model_label(kind),
                    legendgroup=kind,
                    showlegend=col == 1,
                    line={"color": model_color(kind)},
                ),
                row=1,
                col=col,
            )
        ticks = sorted({r["value"] for r in rows if r["axis"] == axis})
        fig.update_xaxes(type="log", title_text=axis, tickvals=ticks, row=1, col=col)
        ys = [r["step_ms"] for r in rows if r["axis"] == axis]
        fig.update_yaxes(
            type="log", title_text="ms per training step", row=1, col=col, **log_ticks(ys)
        )
    fig.update_layout(width=SIZE[0], height=SIZE[1], template="plotly_white")
    return fig


def plot_scaling(rows: list[dict[str, Any]], out: Path) -> None:
    """scaling.html and, where Chromium is installed, scaling.png in `out`."""
    try:
        fig = scaling_figure(rows)
    except ImportError:
        return
    out.mkdir(parents=True, exist_ok=True)
    html = out / "scaling.html"
    fig.write_html(html, include_plotlyjs=True, config={"displayModeBar": False})
    screenshot(html, out / "scaling.png")


def screenshot(html: Path, png: Path) -> bool:
    """A PNG of `html` by headless Chromium (no kaleido on these machines); False without it."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        return False
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    cmd += ["--disable-background-networking", f"--window-size={SIZE[0] + 20},{SIZE[1] + 20}"]
    subprocess.run(
        [*cmd, f"--screenshot={png}", html.resolve().as_uri()], capture_output=True, timeout=120
    )
    return png.is_file()
