"""Sweeps: configure a grid (comma lists per sweepable field, a seed range), launch it in the
background, watch the cells, then its statistics over seeds, paired verdicts and downloads."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from bedash.dashboard import common
from bedash.dashboard.form import plain
from bedash.dashboard.session import sweep_jobs
from bedash.dashboard.settings import runs_dir
from bedash.dashboard.sweep_list import sweep_list
from bedash.dashboard.sweepform import form
from bedash.dashboard.sweepjobs import submit_sweep
from bedash.dashboard.verdict import paired_verdict
from bedash.store.folders import valid_run_id
from bedash.store.readers import FileProblem, safe_text
from bedash.store.sweepfiles import read_stats, stats_schema
from bedash.sweep.folder import PAIRED_FILE, SUMMARY_FILE, read_snapshot, read_sweep_json
from bedash.sweep.grid import DONE_STATUSES, SweepError, SweepSpec
from bedash.sweep.listing import find_sweep
from bedash.sweep.rows import damaged_cells
from bedash.sweep.run import progress_state, progress_text
from bedash.sweep.uncertainty_stats import OOD, SHIFT, TABLES

if TYPE_CHECKING:
    import pandas as pd


def sweeps_root() -> Path:
    return runs_dir()


def cells_table(cells: list[dict], left_out: dict[str, str], key: str = "sw_cells") -> None:
    """Every cell with its status, a running cell's model, epoch and loss; a done cell whose
    results.csv is damaged says so."""
    import pandas as pd

    rows = [
        (c["id"], c["seed"], "damaged" if c["id"] in left_out else c["status"],
         cell_progress(c), left_out.get(c["id"]) or c.get("error", ""))
        for c in cells
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["cell", "seed", "status", "progress", "error"])
    st.dataframe(frame, hide_index=True, key=key)


def cell_progress(cell: dict) -> str:
    """A running cell's last report (sweep.json, checked again: the file is not trusted)."""
    state = cell.get("progress")
    if cell["status"] != "running" or not isinstance(state, dict):
        return ""
    return safe_text(progress_text(progress_state(state)))  # a table cell: no markdown


@st.fragment(run_every=1)
def live_cells(path: Path) -> None:
    """A sweep running elsewhere (the CLI, another dashboard): its cells redrawn every second
    from sweep.json; the whole page again once it ends."""
    snap = read_snapshot(path)
    if snap.status != "running":
        st.rerun()
    st.progress(snap.done / max(1, snap.total), text=f"running: {snap.done} of {snap.total} done")
    running_cells(snap.cells)
    cells_table(snap.cells, {}, key="sw_live_cells")


def running_cells(cells: list[dict]) -> None:
    """One line per running cell: its model, epoch and loss as it last reported."""
    for c in cells:
        if what := cell_progress(c):
            st.caption(plain(f"{c['id']}: {what}"))


def progress(name: str) -> None:
    """The sweep's progress: redrawn every second while its job runs, else drawn once."""
    job = sweep_jobs().get(name)
    if job is None:
        return
    if job.running:
        _live_progress(name)
    else:
        _progress(job)


@st.fragment(run_every=1)
def _live_progress(name: str) -> None:
    job = sweep_jobs()[name]
    _progress(job)
    if not job.running:
        st.rerun()  # the whole page: the results below, and no more polling


def _progress(job) -> None:
    snap = job.snapshot()
    message = getattr(job, "message", "") or f"{snap.done} of {snap.total} cells done"
    st.progress(snap.done / max(1, snap.total), text=plain(f"{snap.status}: {message}"))
    st.caption(" · ".join(f"{k} {v}" for k, v in snap.counts.items() if v))
    if job.running:
        running_cells(snap.cells)
    if job.error:  # the job itself failed (a cell's error is in the cells table)
        st.error(plain(job.error))
    if job.running and st.button("Cancel", key="sw_cancel"):
        job.cancel()


def pick_config(summary) -> tuple[int | None, str]:
    """The config the verdict and the uncertainty section show (a choice when there are several)."""
    from bedash.dashboard.sweep_tables import config_labels

    labels = config_labels(summary)
    if not labels:
        return None, ""
    ids = list(labels)
    if len(ids) > 1:
        why = "The verdict below and the uncertainty section; the other tables show all"
        chosen = st.selectbox("Config", ids, format_func=labels.get, key="sw_config", help=why)
    else:
        chosen = ids[0]
    return chosen, labels[chosen]


def download(where, name: str, data: bytes, key: str) -> None:
    """A CSV of the sweep folder, downloaded without a rerun."""
    where.download_button(name, data, name, "text/csv", key=key, on_click="ignore")


def chart(where, fig, key: str, later: bool, **kw) -> None:
    """A chart, or on a visit's first run (common.charts_later) an empty box of its height: so
    nothing below moves when it comes."""
    from bedash.dashboard.figures.style import plot_config

    if later:
        where.container(height=int(fig.layout.height or 450), border=False)
    else:  # the toolbar on hover only, and its camera saves the chart by its own name
        where.plotly_chart(fig, key=key, **{"config": plot_config(key), **kw})


def read_stats_file(
    path: Path, name: str, configs: list[dict], key: tuple[str, ...] = (), paired: bool = False
) -> tuple[bytes, pd.DataFrame] | None:
    """(bytes, frame) of a statistics file of the sweep, through the validated reader
    (bedash.store.sweepfiles); None when it is absent, or refused: the reason is shown."""
    from bedash.dashboard.sweep_tables import stats_frame

    try:
        data, rows = read_stats(path / name, key, paired)
        return data, stats_frame(rows, list(stats_schema(key, paired)), configs)
    except FileNotFoundError:
        return None
    except (OSError, FileProblem, ValueError) as e:
        st.error(f"The sweep's {name} cannot be read: {plain(str(e))}")
        return None


def stopped(name: str, state: dict, left_out: dict[str, str]) -> None:
    """What of the sweep did not run, and which done cells the statistics leave out."""
    from bedash.dashboard.sweep_tables import not_run

    cells, job = state["cells"], sweep_jobs().get(name)
    what = not_run(cells) if state.get("status") != "running" else ""
    if what:
        snap = job.executor.snapshot(job.job_id) if job is not None else None
        who = "Stopped by the user" if snap and snap.status == "cancelled" else "Stopped"
        kept = sum(c["status"] in DONE_STATUSES for c in cells)
        st.warning(
            f"{who}: {what}; {kept} of {len(cells)} cells kept. Start the same sweep again "
            "(or `bedash sweep --out` its folder) to run the rest.",
            icon=":material/stop_circle:",
        )
    if left_out:
        named = "; ".join(f"{cid}: {why}" for cid, why in left_out.items())
        st.warning(f"Left out of the statistics (damaged): {plain(named)}")


def results(path: Path) -> None:
    from bedash.dashboard.figures.sweeps import band_figure, scatter_figure
    from bedash.dashboard.sweep_tables import paired_table

    try:  # a damaged sweep folder is a message naming the file, never a traceback
        state = read_sweep_json(path)
    except SweepError as e:
        st.error(plain(e.message))
        return
    # the lock's word on the statuses: "running" that no live process holds was cut short (a
    # kill -9, a full disk), and is shown stopped, not running
    snap = read_snapshot(path)
    state = {**state, "status": snap.status, "cells": snap.cells or state["cells"]}
    configs, cells = SweepSpec.from_dict(state).configs(), state["cells"]
    done = [c for c in cells if c["status"] in DONE_STATUSES]
    left_out = damaged_cells(path, [c["id"] for c in done])
    stopped(path.name, state, left_out)
    if snap.status == "running" and sweep_jobs().get(path.name) is None:
        live_cells(path)  # the CLI's sweep, say: its cells as they train
    else:
        cells_table(cells, left_out)
    summary = read_stats_file(path, SUMMARY_FILE, configs)
    pairs = read_stats_file(path, PAIRED_FILE, configs, paired=True)
    if summary is None or summary[1].empty:  # a message where the charts and tables would be
        none = not {c["id"] for c in done} - set(left_out)
        st.info(
            "No statistics to show" + (": no cell of this sweep has finished." if none else ".")
        )
        return
    data, frame = summary
    paired_frame = pairs[1] if pairs is not None and not pairs[1].empty else None
    config, config_name = pick_config(frame)
    if paired_frame is not None:
        lines = paired_verdict(paired_frame.to_dict("records"), config=config)
        flags = {t for t in paired_frame.get("timing", []) if isinstance(t, str) and t}
        if flags:
            st.warning(
                "Times not compared: " + plain("; ".join(sorted(flags))) + ". Rerun the "
                "sweep on a quiet machine (at `bedash train`'s priority) for a time verdict.",
                icon=":material/timer_off:",
            )
        if lines:
            st.info(
                f"**Paired over seeds** ({plain(config_name)}): " + plain("; ".join(lines)),
                icon=":material/balance:",
            )
    download(st, SUMMARY_FILE, data, "dl_summary")
    later = common.charts_later("sweeps")
    measured = set(frame["metric"])
    for field in state.get("grid", {}):
        for metric in ("ensemble_acc", "nll"):
            if metric in measured:
                chart(st, band_figure(frame, metric, field), f"band_{field}_{metric}", later)
    if {"ensemble_acc", "params", "train_seconds"} <= measured:
        a, b = st.columns(2)
        chart(a, scatter_figure(frame, "params"), "acc_params", later)
        chart(b, scatter_figure(frame, "train_seconds"), "acc_time", later)
    if paired_frame is not None:
        st.subheader("Paired over seeds")
        st.caption(
            "BatchEnsemble minus each baseline, paired by seed (same seed, same batches): "
            "mean difference, 95% Student t interval and the verdict."
        )
        st.dataframe(paired_table(paired_frame), hide_index=True, key="sw_paired")
        download(st, PAIRED_FILE, pairs[0], "dl_paired")
    uncertainty(path, configs, config, config_name, later)
    done = [c for c in done if c["id"] not in left_out]
    if done:
        st.subheader("Cells")
    for c in done:
        st.page_link(
            "pages/results.py",
            label=f"{c['id']} ({c['status']})",
            query_params={"run": c["id"], "sweep": path.name},
        )
    if later:
        common.charts_soon("sweeps")


def uncertainty(
    path: Path,
    configs: list[dict],
    config: int | None = None,
    config_name: str = "",
    later: bool = False,
) -> None:
    """The cells' shift.csv and ood.csv over seeds for one config (None: the first), if any."""
    from bedash.dashboard.figures.style import plot_config
    from bedash.dashboard.figures.sweeps import SEVERITY_METRICS, shift_severity_figure
    from bedash.dashboard.sweep_tables import (
        left_out,
        one_config,
        ood_table,
        ood_verdicts,
        shift_verdicts,
    )
    from bedash.dashboard.uncertainty_tables import (
        MEAN,
        MEAN_NOTE,
        corruption_label,
        corruptions_in,
    )

    files, frames = {}, {}  # read once: a rewrite while the page draws changes nothing here
    for table in TABLES:
        for name, paired in ((table.summary, False), (table.paired, True)):
            got = read_stats_file(path, name, configs, table.key, paired)
            if got is not None and not got[1].empty:
                files[name], frames[name] = got
    if not files:
        return
    st.subheader("Uncertainty under shift")
    st.caption(
        "The cells' shift.csv and ood.csv over seeds: means with 95% Student t intervals, and "
        "BatchEnsemble minus each baseline paired by seed. Entropy and mutual information have "
        "no better direction: their verdict says higher or lower. "
        + (
            f"Config **{plain(config_name)}**; every config is in the files."
            if config_name
            else "Every config is in the files."
        )
    )
    if SHIFT.summary in frames:  # two columns: side by side when wide, stacked on a phone
        summary = frames[SHIFT.summary]
        picked = st.selectbox(
            "Corruption",
            [MEAN, *corruptions_in(one_config(summary, config))],
            format_func=corruption_label,
            key="sw_shift_corruption",
            help="The charts' severities 1-5: the mean over CIFAR-10-C's corruptions, a "
            "category's mean, or one corruption.",
        )
        for col, metric in zip(st.columns(2), SEVERITY_METRICS, strict=True):
            fig = shift_severity_figure(summary, config, metric, picked)
            camera = plot_config(f"sweep_shift_{metric}")
            chart(col, fig, f"sw_shift_{metric}", later, config=camera)
    if SHIFT.paired in frames:
        st.caption(
            "**Paired under shift**: clean, the mean over CIFAR-10-C's corruptions and each "
            f"category's (mean_noise, ...) per severity. {MEAN_NOTE}"
        )
        table = shift_verdicts(frames[SHIFT.paired], config)
        st.dataframe(table, hide_index=True, key="sw_shift_paired")
    if OOD.summary in frames:
        st.caption("**Out-of-distribution detection**: mean ± half-width of the 95% interval.")
        st.dataframe(ood_table(frames[OOD.summary], config), hide_index=True, key="sw_ood")
    if OOD.paired in frames:
        st.caption("**Paired OOD detection**: BatchEnsemble minus each baseline.")
        st.dataframe(ood_verdicts(frames[OOD.paired], config), hide_index=True, key="sw_ood_paired")
    for note in left_out(*(frames[t.summary] for t in TABLES if t.summary in frames)):
        st.caption(note)
    for col, (name, data) in zip(st.columns(len(files)), files.items(), strict=True):
        download(col, name, data, f"dl_{name}")


common.visit("sweeps")
st.title("Sweeps")
wanted = st.query_params.get("sweep")
folder = find_sweep(str(wanted), sweeps_root()) if wanted else None
if wanted and not (wanted in sweep_jobs() and valid_run_id(wanted)) and folder is None:
    st.error(f"Sweep not found: {plain(wanted)}")
    wanted = None
if wanted:
    st.subheader(f"Sweep {plain(wanted)}", anchor=False)  # which one this is
    progress(wanted)
    job = sweep_jobs().get(wanted)
    if (job is None or not job.running) and folder is not None:
        results(folder)
else:
    sweep_list()
form(submit_sweep)
