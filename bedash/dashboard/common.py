"""What the pages share: widgets and formats used on several pages, and the dashboard services
they call. Nothing here imports torch or pandas at import time: the first page must render fast."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from bedash.dashboard import rundata, session

# re-exported: the services the pages call
from bedash.dashboard.rundata import RunData, file_bytes, run_files, run_zip  # noqa: F401
from bedash.dashboard.session import await_probe, probe_ready, registry, session_id  # noqa: F401
from bedash.dashboard.settings import data_dir, limits, max_jobs, runs_dir  # noqa: F401
from bedash.names import duration  # noqa: F401 (the pages format times with it)
from bedash.sweep.listing import find_sweep

if TYPE_CHECKING:
    import pandas as pd

STATUS_COLORS = {
    "queued": "gray",
    "loading": "blue",
    "running": "blue",
    "finished": "green",
    "cancelled": "orange",
    "interrupted": "orange",
    "diverged": "red",
    "failed": "red",
    "damaged": "red",
}


RESULT_COLUMNS = {  # results table header: (number format, help)
    "E": ("%d", "Members: ensemble size (1 for the single model)."),
    "Params": ("localized", "Parameters of the whole model, all members included."),
    "MB": ("%.2f", "Parameter memory in MB."),
    "× single": ("%.2f×", "Parameters relative to the single model."),
    "Train s": ("%.2f", "Training time, all epochs (and all members)."),
    "s / epoch": ("%.3f", "Mean time per epoch."),
    "Infer s": ("%.4f", "Forward passes over the whole test set."),
    "Infer repeats": ("%d", "Timed passes over the test set; Infer s is their median."),
    "Load": ("%.1f", "The machine's 1-minute load average when inference was timed."),
    "Acc mean member": ("%.4f", "Average test accuracy of the members on their own."),
    "Acc ensemble (mean softmax)": ("%.4f", "Accuracy of the averaged member probabilities."),
    "Acc majority vote": ("%.4f", "Accuracy of the class most members vote for."),
    "Acc oracle": ("%.4f", "Share of images at least one member gets right (an upper bound)."),
    "NLL": ("%.4f", "Negative log-likelihood of the ensemble prediction (lower is better)."),
    "ECE": ("%.4f", "Expected calibration error, 15 bins (lower is better)."),
    "Brier": ("%.4f", "Brier score of the ensemble prediction (lower is better)."),
    "Disagreement": ("%.3f", "Mean share of test images on which two members disagree."),
}


def chart(fig, key: str, name: str, fmt_key: str = "figure_format") -> None:
    """A figure whose modebar camera saves it as PNG or SVG (the format picked on the page by
    format_picker(fmt_key)), named `name`."""
    from bedash.dashboard.figures.style import plot_config  # plotly: once a chart is drawn

    fmt = st.session_state.get(fmt_key, "png")
    st.plotly_chart(fig, key=key, config=plot_config(name, fmt))


def smoothing_slider(key: str, where: Any = st, help: str | None = None) -> float:
    """The loss curves' smoothing weight (bedash.dashboard.tables.smooth)."""
    from bedash.dashboard.figures.training import SMOOTHING  # plotly: once a chart is drawn

    help = help or (
        "A moving average by distance along the epochs (as W&B, debiased as TensorBoard): "
        "one point per epoch is barely moved; the raw values stay faint behind. 0: none."
    )
    keep = {"key": key, "persist_state": "session", "help": help}
    return float(where.slider("Smoothing", 0.0, 0.99, SMOOTHING, 0.01, **keep))


def csv_button(name: str, data: bytes, key: str) -> None:
    """A CSV to download without a rerun, greyed out when it is missing or empty."""
    icon, off = ":material/download:", not data
    st.download_button(
        name, data, name, "text/csv", key=key, on_click="ignore", icon=icon, disabled=off
    )


def format_picker(
    fmt_key: str = "figure_format", where: Any = st, label: str = "Figure downloads", help: str = ""
) -> None:
    """PNG or SVG for the cameras of the page's charts (drawn in the browser)."""
    help = help or (
        "The camera in each chart's toolbar saves the chart in this format, drawn in the "
        "browser (nothing leaves this machine)."
    )
    options = {"default": "png", "required": True, "format_func": str.upper}
    where.segmented_control(
        label, ["png", "svg"], key=fmt_key, persist_state="session", help=help, **options
    )


def result_columns(table: pd.DataFrame) -> dict:
    """Number formats and help texts of the results table's columns (bedash.charts)."""
    return {
        col: st.column_config.NumberColumn(col, format=fmt, help=text)
        for col, (fmt, text) in RESULT_COLUMNS.items()
        if col in table
    }


@st.cache_data(max_entries=64, show_spinner=False)
def _load_run(path: str, signature: tuple) -> RunData:
    return rundata.load_run(Path(path))


def load_run(path: Path) -> RunData:
    """The run folder's tables (bedash.dashboard.rundata.load_run), read once per state of the
    folder: the cache key is its signature (every file's name, inode, size and mtime), so a
    run that writes a file is read again, and a finished one is not, rerun after rerun."""
    return _load_run(str(path), rundata.signature(path))


NOT_FOUND = "results_not_found"  # (the run id asked for in vain, the run shown instead)


def set_view(run_id: str | None) -> None:
    """The run this session shows (None: none; Runs refuses to delete a run shown elsewhere)."""
    session.set_view(run_id)
    if run_id is None:
        st.session_state.pop(NOT_FOUND, None)


# -- charts a moment after the first screen -----------------------------------------------------
# The first chart a page draws makes the browser evaluate plotly's 4.7 MB bundle (1-2 s of its
# one thread on a first visit here) and every chart then costs ~0.3 s to draw: the title,
# verdict and tables of Results and Sweeps would wait behind them. So the first run of a visit
# to such a page leaves its charts out (Sweeps keeps their space), and a fragment's timer then
# reruns the page with them. A visit: the runs of one page in a row.
CHARTS_DRAWN = "charts_drawn_on"  # the page whose visit has had its charts drawn


def visit(page: str) -> None:
    """Every page says which it is at its top: another page ends the last one's visit."""
    if st.session_state.get(CHARTS_DRAWN) not in (None, page):
        st.session_state.pop(CHARTS_DRAWN)


def charts_later(page: str) -> bool:
    """Whether this run of `page` leaves its charts out (the first run of a visit); the page
    then calls charts_soon(page) once it has drawn the rest."""
    return st.session_state.get(CHARTS_DRAWN) != page


# 0.6 s after the first screen's elements arrive: on a first visit the browser is still
# loading the data grid's scripts then, and a rerun at 0.3 s made the table wait behind the
# charts' messages (Results' first screen 2.13 s at 0.3, 1.71 s at 0.6 and 1.0; its last chart
# 3.15 s at 0.3, 3.11 s at 0.6, 3.51 s at 1.0: benchmarks/page_render.py, BENCHMARKS.md)
@st.fragment(run_every=0.6)
def _charts_soon(page: str) -> None:
    """Ticks once the first screen is up (a browser timer): a full rerun then draws the
    charts. Not in the run that draws the first screen (the page is not marked yet)."""
    if st.session_state.get(CHARTS_DRAWN) == page:
        st.rerun()


def charts_soon(page: str) -> None:
    """At the end of a run that left its charts out: the next run of this visit draws them."""
    _charts_soon(page)
    st.session_state[CHARTS_DRAWN] = page


def find_run(run_id: str) -> Path | None:
    """The folder of run_id in the runs folder, or in the sweep the address names (?sweep=, a
    sweep's cells are runs inside its folder); None for a malformed id or no such run."""
    sweep = st.query_params.get("sweep")
    folder = find_sweep(sweep, runs_dir()) if sweep else None  # the home, else ./sweeps
    if folder is not None:
        found = rundata.find_run(folder, run_id)
        if found is not None:
            return found
    return rundata.find_run(runs_dir(), run_id)


# -- small display helpers --------------------------------------------------------------------


def config_summary(cfg: dict) -> str:
    """One line: dataset and sizes, architecture, E, epochs, batch, learning rate, seed (the
    summary bedash.settings.config generates from the fields), as plain text."""
    from bedash.dashboard.form import plain
    from bedash.settings.summary import config_summary as summary

    return plain(summary(cfg))


def status_badge(status: str) -> None:
    st.badge(status, color=STATUS_COLORS.get(status, "gray"))
