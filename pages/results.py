"""Results of one run (?run=<run_id>): the side-by-side table, accuracy / parameter / time bars,
per-member accuracy, agreement heatmaps, reliability diagrams, training curves, downloads."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import streamlit as st

import bedash.store.annotations as run_notes  # "from bedash import annotations": __future__
from bedash.dashboard import common, tables
from bedash.dashboard.figures import results as charts
from bedash.dashboard.figures.training import epoch_time_figure, loss_figure
from bedash.dashboard.form import plain
from bedash.dashboard.session import sweep_jobs
from bedash.dashboard.settings import sweep_engine
from bedash.dashboard.uncertainty_view import uncertainty_section
from bedash.dashboard.verdict_view import verdict_section
from bedash.names import FINAL_STATUSES, ConfigError, FieldError, model_label
from bedash.store.folders import RunDirError, valid_run_id
from bedash.store.runs import list_runs
from bedash.sweep.grid import SweepError, SweepSpec


def csv_button(path: Path, name: str, key: str) -> None:
    """A file of the run folder to download (greyed out when it is missing or empty)."""
    common.csv_button(name, common.file_bytes(path / name), key)


def csv_buttons(path: Path, names: list[str]) -> None:
    """One download per file, side by side."""
    for col, name in zip(st.columns(max(1, len(names))), names, strict=False):
        with col:
            csv_button(path, name, f"dl_{name}")


def pick_run() -> str | None:
    """The run in the URL, else a choice among the runs on disk; None when there is none."""
    try:
        runs = list_runs(common.runs_dir())
    except RunDirError as e:  # a runs folder that cannot be read is no "no runs"
        st.error(f"Runs folder: {plain(e.message)}", icon=":material/error:")
        return None
    ids = [r.run_id for r in runs]
    wanted = st.query_params.get("run")
    if wanted is not None and (not valid_run_id(wanted) or common.find_run(wanted) is None):
        st.session_state[common.NOT_FOUND] = (wanted, None)
        wanted = None
    by_id = {r.run_id: r for r in runs}
    if wanted is None and ids:
        finished = [r.run_id for r in runs if r.status == "finished"]
        wanted = finished[0] if finished else ids[0]
    # the id asked for stays reported while the run shown instead of it is (the next reruns,
    # the charts' among them, find that run in the address): until another run is picked
    asked = st.session_state.get(common.NOT_FOUND)
    if asked is not None and asked[1] in (None, wanted):
        st.session_state[common.NOT_FOUND] = (asked[0], wanted)
        bad = asked[0]
        shown = f"`{bad}`" if valid_run_id(bad) else "the id in the address"
        st.error(f"Run not found: {shown} is not a run in {plain(common.runs_dir())}.")
    else:
        st.session_state.pop(common.NOT_FOUND, None)
    if not ids and wanted is None:  # a sweep's cell (?sweep=) is shown with no other run
        st.info("No runs yet: start one on the Experiment page.", icon=":material/info:")
        st.page_link("pages/experiment.py", label="Experiment", icon=":material/model_training:")
        return None
    if wanted not in by_id:  # written after list_runs ran: show it anyway
        ids.insert(0, wanted)
    if st.session_state.get("run_pick") != wanted:
        st.session_state["run_pick"] = wanted  # the URL decides which run the box shows

    def label(run_id: str) -> str:
        if (r := by_id.get(run_id)) is None:
            return run_id
        return (
            f"{run_id} · {r.status} · {tables.model_labels(', '.join(r.config.get('models', [])))}"
        )

    def picked() -> None:
        st.query_params["run"] = st.session_state["run_pick"]

    st.selectbox("Run", ids, key="run_pick", format_func=label, on_change=picked)
    st.query_params["run"] = wanted
    return wanted


def pending(data: common.RunData) -> bool:
    """Whether the run may still fill in what is missing (it has not ended)."""
    return data.info.status not in (*FINAL_STATUSES, "damaged", "interrupted")


def header(data: common.RunData) -> None:
    info, cfg = data.info, data.info.config
    left, right = st.columns([4, 1], vertical_alignment="center")
    left.markdown(f"### Run `{info.run_id}`")
    with right:
        common.status_badge(info.status)
    device = cfg.get("_meta", {}).get("device", cfg.get("device"))
    st.caption(f"{common.config_summary(cfg)} · {plain(device)} · started {plain(info.started)}")
    job_id = common.registry().job_for_run(info.run_id)
    snap = common.registry().watch(job_id) if job_id else None
    if snap is not None and snap.active:
        st.info("This run is still training; the tables fill in as models finish.")
        live = {"label": "Watch it live", "icon": ":material/visibility:"}
        st.page_link("pages/experiment.py", **live, query_params={"job": job_id})
    elif info.status == "damaged":
        st.error(f"This run folder is damaged: {plain(info.reason)}")
    elif info.status in ("failed", "diverged", "interrupted"):
        st.warning(f"{info.status.capitalize()}: {plain(info.reason or 'see status.json')}")
    elif info.status == "cancelled":
        st.warning(
            "Stopped before the end: what was not measured is left out of the charts and "
            "shown as — in the tables."
        )
    extra = [p for p in data.problems if p not in info.reason]  # steps.csv: no listing reads it
    if extra:
        st.warning(f"Left out, damaged: {plain('; '.join(extra))}")


def annotations_section(path: Path, cfg: dict) -> None:
    """Tags and notes, editable after the run (annotations.json)."""
    ann = run_notes.read(path)
    form_notes = (cfg.get("extra") or {}).get("notes") or ""
    tags = ", ".join(ann.tags)
    summary = " · ".join(x for x in (f"Tags: {tags}" if tags else "", ann.notes) if x)
    if form_notes:
        st.caption(f"Notes at start: {plain(form_notes)}")
    title = f"Tags and notes{': ' + plain(summary[:80]) if summary else ''}"
    with st.expander(title, icon=":material/sell:"):
        with st.form(f"annotate_{path.name}", border=False):
            new_tags = st.text_input(
                "Tags",
                tags,
                key=f"ann_tags_{path.name}",
                placeholder="baseline, cifar, lr-sweep",
                help="Comma-separated; the Runs page filters by them.",
            )
            most = run_notes.MAX_NOTES
            notes_key = f"ann_notes_{path.name}"
            new_notes = st.text_area("Notes", ann.notes, key=notes_key, max_chars=most, height=90)
            saved = st.form_submit_button("Save", icon=":material/save:")
        if saved:
            try:
                notes = run_notes.Annotations(run_notes.parse_tags(new_tags), new_notes)
                run_notes.write(path, notes)
            except FieldError as e:
                st.error(f"**{e.field.capitalize()}**: {plain(e.message)}", icon=":material/error:")
            except OSError as e:
                why = f"Could not save in {plain(path)}: {plain(e.strerror or e)}"
                st.error(why, icon=":material/error:")
            else:
                st.toast("Saved the tags and notes.")
                st.rerun()


def asked_but_ended(data: common.RunData) -> bool:
    """The run asked for an uncertainty evaluation and ended before every model finished."""
    cfg = data.info.config
    asked = any(cfg.get(k) for k in ("shift", "ood", "temperature_scaling"))
    return asked and not pending(data) and data.info.status != "finished"


def test_images(data: common.RunData) -> int | None:
    """How many test images the run measured its accuracies on (the intervals' n)."""
    n = (data.info.config.get("_meta") or {}).get("test_images")
    return int(n) if isinstance(n, int | float) and n > 0 else None


def cpus(cfg: dict) -> int | None:
    """The evaluating machine's CPU count, as the run recorded it (else this machine's)."""
    meta = cfg.get("_meta") or {}
    n = meta.get("cpus") or meta.get("cpu_count")
    return int(n) if isinstance(n, int | float) and n > 0 else os.cpu_count()


def results_section(data: common.RunData, path) -> None:
    st.subheader("Side by side")
    if no_results(data):
        return
    table = tables.results_table(data.results)
    st.dataframe(
        table,
        hide_index=True,
        column_config=common.result_columns(table),
        key="results_table",
        placeholder="—",  # a missing value (a model that failed)
    )
    csv_button(path, "results.csv", "dl_results")


def no_results(data: common.RunData) -> bool:
    if data.results.empty:
        st.info("No model has finished yet." if pending(data) else "No model finished in this run.")
    return data.results.empty


def accuracy_section(data: common.RunData, path) -> None:
    if no_results(data):
        return
    kinds = [k for k in data.results["model"] if isinstance(k, str)]
    a, b = st.columns([3, 2])
    with a:
        st.markdown("**Test accuracy**")
        refs = [None, *[k for k in kinds if k == "single"], *[k for k in kinds if k != "single"]]
        ref = st.selectbox(
            "Show",
            refs,
            key="acc_reference",
            format_func=lambda k: "accuracy" if k is None else f"difference to {model_label(k)}",
            help="Points with their 95% interval over the test images on an axis that fits "
            "them; a difference to one model shows the gaps exactly.",
        )
        n = test_images(data)
        fig = charts.accuracy_figure(data.results, reference=ref, pending=pending(data), n_test=n)
        common.chart(fig, "acc_chart", "accuracy")
    with b:
        st.markdown("**Parameters**")
        common.chart(
            charts.params_figure(data.results, pending=pending(data)), "params_chart", "params"
        )


def time_section(data: common.RunData, path) -> None:
    if no_results(data):
        return
    st.caption(
        "Whiskers on the epoch time: the fastest and the slowest epoch (the first one often "
        "pays a warm-up). Inference is flagged when the machine was busy."
    )
    fig = charts.time_figure(
        data.results, data.history, cpus=cpus(data.info.config), pending=pending(data)
    )
    common.chart(fig, "time_chart", "time")


def members_section(data: common.RunData, path) -> None:
    st.caption(
        "Each member's own test accuracy (whiskers: 95% interval over the test images), "
        "against the ensemble's and the single model's."
    )
    n = test_images(data)
    fig = charts.member_accuracy_figure(data.members, data.results, pending=pending(data), n_test=n)
    common.chart(fig, "member_chart", "members")
    csv_button(path, "members.csv", "dl_members")


def agreement_section(data: common.RunData, path) -> None:
    st.caption(
        "Agreement between members: the share of test images on which two members predict "
        "the same class, one colour scale from 0 to 1 for every heatmap. Diverse members "
        "(lower agreement) are what makes an ensemble better than its members."
    )
    fig = charts.agreement_figure(data.agreement, pending=pending(data))
    common.chart(fig, "agreement_chart", "agreement")
    csv_buttons(path, [f"agreement_{kind}.csv" for kind in data.agreement])


def reliability_section(data: common.RunData, path) -> None:
    st.caption(
        "Reliability diagrams: accuracy of the predictions in each confidence bin. Bars on the "
        "diagonal mean the confidence can be trusted; below it, the model is over-confident."
    )
    fig = charts.reliability_figure(data.reliability, data.results, pending=pending(data))
    common.chart(fig, "reliability_chart", "reliability")
    csv_buttons(path, [f"reliability_{kind}.csv" for kind in data.reliability])


def loss_controls(prefix: str) -> tuple[float, bool]:
    """The smoothing slider and a log / linear toggle."""
    a, b = st.columns([3, 1], vertical_alignment="bottom")
    weight = common.smoothing_slider(f"{prefix}_smoothing", a)
    log = b.toggle("Log scale", value=True, key=f"{prefix}_log", persist_state="session")
    return weight, bool(log)


def training_section(data: common.RunData, path) -> None:
    steps = data.steps
    st.caption(
        "Mean loss between log points, against the epoch"
        + (
            "."
            if steps is not None
            else " (this run kept per-epoch means only: one point per epoch, at its middle)."
        )
    )
    weight, log = loss_controls("hist")
    left, right = st.columns([3, 2])
    with left:
        st.markdown("**Training loss**")
        fig = loss_figure(data.history, steps, smoothing=weight, log=log, pending=pending(data))
        common.chart(fig, "history_loss_chart", "training_loss")
    with right:
        st.markdown("**Seconds per epoch**")
        fig = epoch_time_figure(data.history, pending=pending(data))
        common.chart(fig, "history_time_chart", "epoch_seconds")
    csv_button(path, "history.csv", "dl_hist")


def config_section(data: common.RunData, path) -> None:
    st.code(json.dumps(data.info.config, indent=2), language="json")


# the sections below the table, one tab each; only the open tab is drawn, so the first screen
# draws two charts, not every chart of the run (a plotly chart costs the browser ~0.3 s)
SECTIONS = {
    "Accuracy": accuracy_section,
    "Time": time_section,
    "Members": members_section,
    "Agreement": agreement_section,
    "Calibration": reliability_section,
    "Uncertainty": lambda data, path: uncertainty_section(path, asked_but_ended(data)),
    "Training": training_section,
    "Configuration": config_section,
}


def sections(data: common.RunData, path) -> None:
    """The tabs, the open one drawn; none on a visit's first run (common.charts_later)."""
    later = common.charts_later("results")
    tabs = st.tabs(list(SECTIONS), key="results_tab", on_change="rerun")
    for tab, draw in zip(tabs, SECTIONS.values(), strict=True):
        if tab.open and not later:
            with tab:
                draw(data, path)
    if later:
        common.charts_soon("results")


def start_seed_sweep(spec: SweepSpec, name: str) -> None:
    """Queue the verdict's seed sweep on the server's executor; link to its Sweeps page."""
    from bedash.dashboard.sweepjobs import submit_sweep  # the sweep's code: once it is asked for

    try:
        job = submit_sweep(common.registry(), spec, name, engine=sweep_engine())
    except (SweepError, ConfigError) as e:
        st.error(f"**{e.field}**: {plain(e.message)}")
        return
    sweep_jobs()[name] = job
    st.page_link("pages/sweeps.py", label="Watch the sweep", query_params={"sweep": name})


common.visit("results")
st.title("Results")
run_id = pick_run()
if run_id is not None:
    common.set_view(run_id)
    path = common.find_run(run_id)
    if path is None:
        st.error(f"Run not found: `{run_id}`.")
    else:
        data = common.load_run(path)
        header(data)
        sweep = verdict_section(data.results, data.info.config, data.info.run_id)
        if sweep is not None:
            start_seed_sweep(sweep, f"sweep-{data.info.run_id}")
        annotations_section(path, data.info.config)
        a, b = st.columns([3, 2], vertical_alignment="bottom")
        with a:
            look = {"on_click": "ignore", "icon": ":material/folder_zip:", "type": "primary"}
            zipped = functools.partial(common.run_zip, path)  # made only when it is clicked
            label, name = "Download the whole run (zip)", f"{run_id}.zip"
            st.download_button(label, zipped, name, "application/zip", key="dl_zip", **look)
        with b:
            common.format_picker()
        results_section(data, path)
        sections(data, path)
else:
    common.set_view(None)
