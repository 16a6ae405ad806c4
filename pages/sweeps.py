"""Sweeps: configure a grid (comma lists per sweepable field, a seed range), launch it in the
background, watch the cells, then its statistics over seeds, paired verdicts and downloads."""

from __future__ import annotations

import io
import re
from pathlib import Path

import streamlit as st

from bedash.dashboard import common
from bedash.dashboard.form import plain
from bedash.dashboard.session import sweep_jobs
from bedash.dashboard.settings import runs_dir
from bedash.dashboard.sweepform import form
from bedash.dashboard.sweepjobs import submit_sweep
from bedash.dashboard.verdict import paired_verdict
from bedash.sweep.folder import PAIRED_FILE, SUMMARY_FILE, is_sweep_dir, read_sweep_json
from bedash.sweep.grid import SweepError
from bedash.sweep.uncertainty_stats import OOD, SHIFT, UNCERTAINTY_SWEEP_FILES

NAME_RE = re.compile(r"^sweep-[0-9A-Za-z._-]+$")


def sweeps_root() -> Path:
    return runs_dir()


def cells_table(cells: list[dict]) -> None:
    import pandas as pd

    rows = [(c["id"], c["seed"], c["status"], c.get("error", "")) for c in cells]
    frame = pd.DataFrame(rows, columns=["cell", "seed", "status", "error"])
    st.dataframe(frame, hide_index=True, key="sw_cells")


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
    if later:
        where.container(height=int(fig.layout.height or 450), border=False)
    else:
        where.plotly_chart(fig, key=key, **kw)


def results(path: Path) -> None:
    import pandas as pd

    from bedash.dashboard.figures.sweeps import band_figure, scatter_figure
    from bedash.dashboard.sweep_tables import paired_table

    try:  # a damaged sweep folder is a message naming the file, never a traceback
        state = read_sweep_json(path)
        cells_table(state.get("cells", []))
        summary, paired_bytes = path / SUMMARY_FILE, path / PAIRED_FILE
        if not summary.is_file():
            return
        frame = pd.read_csv(summary)
        paired_frame = pd.read_csv(paired_bytes) if paired_bytes.is_file() else None
        for name, table in ((SUMMARY_FILE, frame), (PAIRED_FILE, paired_frame)):
            if table is not None and not {"config", "model", "metric"} <= set(table):
                raise ValueError(f"{name} lacks the config, model and metric columns")
    except SweepError as e:
        st.error(plain(e.message))
        return
    except (OSError, ValueError) as e:  # pandas' ParserError is a ValueError
        st.error(f"The sweep's tables cannot be read: {plain(str(e))}")
        return
    config, config_name = pick_config(frame)
    if paired_frame is not None:
        lines = paired_verdict(paired_frame.to_dict("records"), config=config)
        if lines:
            st.info(
                f"**Paired over seeds** ({plain(config_name)}): " + plain("; ".join(lines)),
                icon=":material/balance:",
            )
    download(st, SUMMARY_FILE, summary.read_bytes(), "dl_summary")
    later = common.charts_later("sweeps")
    for field in state.get("grid", {}):
        for metric in ("ensemble_acc", "nll"):
            chart(st, band_figure(frame, metric, field), f"band_{field}_{metric}", later)
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
        download(st, PAIRED_FILE, paired_bytes.read_bytes(), "dl_paired")
    uncertainty(path, config, config_name, later)
    st.subheader("Cells")
    for c in state.get("cells", []):
        if c["status"] in ("finished", "diverged"):
            st.page_link(
                "pages/results.py",
                label=f"{c['id']} ({c['status']})",
                query_params={"run": c["id"], "sweep": path.name},
            )
    if later:
        common.charts_soon("sweeps")


def uncertainty(
    path: Path, config: int | None = None, config_name: str = "", later: bool = False
) -> None:
    """The cells' shift.csv and ood.csv over seeds for one config (None: the first), if any."""
    import pandas as pd

    from bedash.dashboard.figures.style import plot_config
    from bedash.dashboard.figures.sweeps import SEVERITY_METRICS, shift_severity_figure
    from bedash.dashboard.sweep_tables import ood_table, ood_verdicts, shift_verdicts
    from bedash.dashboard.uncertainty_tables import MEAN_NOTE

    files, frames = {}, {}  # read once: a rewrite while the page draws changes nothing here
    for name in UNCERTAINTY_SWEEP_FILES:
        if not (path / name).is_file():
            continue
        try:
            files[name] = (path / name).read_bytes()
            frames[name] = pd.read_csv(io.BytesIO(files[name]))
        except (OSError, ValueError) as e:  # pandas' ParserError is a ValueError
            st.warning(f"{name} cannot be read: {plain(str(e))}")
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
        for col, metric in zip(st.columns(2), SEVERITY_METRICS, strict=True):
            fig = shift_severity_figure(frames[SHIFT.summary], config, metric)
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
    for col, (name, data) in zip(st.columns(len(files)), files.items(), strict=True):
        download(col, name, data, f"dl_{name}")


common.visit("sweeps")
st.title("Sweeps")
wanted = st.query_params.get("sweep")
known = wanted in sweep_jobs() or is_sweep_dir(sweeps_root() / str(wanted))
if wanted and (not NAME_RE.match(wanted) or not known):
    st.error(f"Sweep not found: {plain(wanted)}")
    wanted = None
if wanted:
    progress(wanted)
    job = sweep_jobs().get(wanted)
    if (job is None or not job.running) and is_sweep_dir(sweeps_root() / wanted):
        results(sweeps_root() / wanted)
form(submit_sweep)
