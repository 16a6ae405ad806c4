"""Results of one run (?run=<run_id>): the side-by-side table, accuracy / parameter / time bars,
per-member accuracy, agreement heatmaps, reliability diagrams, training curves, downloads."""

from __future__ import annotations

import json

import streamlit as st

from bedash.app import figures as charts
from bedash.runs import list_runs, valid_run_id
from pages import common


def csv_button(label: str, data: bytes, file_name: str, key: str) -> None:
    st.download_button(
        label, data, file_name=file_name, mime="text/csv", key=key, on_click="ignore",
        icon=":material/download:", disabled=not data,
    )  # fmt: skip


def pick_run() -> str | None:
    """The run in the URL, else a choice among the runs on disk; None when there is none."""
    runs = list_runs(common.runs_dir())
    ids = [r.run_id for r in runs]
    wanted = st.query_params.get("run")
    if wanted is not None and (not valid_run_id(wanted) or common.find_run(wanted) is None):
        shown = f"`{wanted}`" if valid_run_id(wanted) else "the id in the address"
        st.error(f"Run not found: {shown} is not a run in {common.runs_dir()}.")
        wanted = None
    if not ids:
        st.info("No runs yet: start one on the Experiment page.", icon=":material/info:")
        st.page_link("pages/experiment.py", label="Experiment", icon=":material/model_training:")
        return None
    by_id = {r.run_id: r for r in runs}
    if wanted is None:
        finished = [r.run_id for r in runs if r.status == "finished"]
        wanted = finished[0] if finished else ids[0]
    if wanted not in by_id:  # written after list_runs ran: show it anyway
        ids.insert(0, wanted)
    if st.session_state.get("run_pick") != wanted:
        st.session_state["run_pick"] = wanted  # the URL decides which run the box shows

    def label(run_id: str) -> str:
        r = by_id.get(run_id)
        return (
            run_id
            if r is None
            else f"{run_id} · {r.status} · {', '.join(r.config.get('models', []))}"
        )

    def picked() -> None:
        st.query_params["run"] = st.session_state["run_pick"]

    st.selectbox("Run", ids, key="run_pick", format_func=label, on_change=picked)
    st.query_params["run"] = wanted
    return wanted


def header(data: common.RunData) -> None:
    info, cfg = data.info, data.info.config
    left, right = st.columns([4, 1], vertical_alignment="center")
    left.markdown(f"### Run `{info.run_id}`")
    with right:
        common.status_badge(info.status)
    device = cfg.get("_meta", {}).get("device", cfg.get("device"))
    st.caption(f"{common.config_summary(cfg)} · {device} · started {info.started}")
    notes = (cfg.get("extra") or {}).get("notes")
    if notes:
        st.caption(f"Notes: {notes}")
    job_id = common.registry().job_for_run(info.run_id)
    snap = common.registry().watch(job_id) if job_id else None
    if snap is not None and snap.active:
        st.info("This run is still training; the tables fill in as models finish.")
        st.page_link(
            "pages/experiment.py", label="Watch it live", icon=":material/visibility:",
            query_params={"job": job_id},
        )  # fmt: skip
    elif info.status == "damaged":
        st.error(f"This run folder is damaged: {info.reason}")
    elif info.status in ("failed", "diverged", "interrupted"):
        st.warning(f"{info.status.capitalize()}: {info.reason or 'see status.json'}")
    elif info.status == "cancelled":
        st.warning("Stopped before the end: the table holds what was measured until then.")


def results_section(data: common.RunData, path) -> None:
    st.subheader("Side by side")
    if data.results.empty:
        st.info("No model has finished yet.")
        return
    table = charts.results_table(data.results)
    st.dataframe(
        table, hide_index=True, column_config=common.result_columns(table),
        key="results_table", placeholder="—",  # a missing value (a model that failed)
    )  # fmt: skip
    csv_button("results.csv", common.read_bytes(path / "results.csv"), "results.csv", "dl_results")
    a, b = st.columns([3, 2])
    with a:
        st.markdown("**Test accuracy**")
        st.plotly_chart(charts.accuracy_figure(data.results), key="acc_chart")
    with b:
        st.markdown("**Parameters**")
        st.plotly_chart(charts.params_figure(data.results), key="params_chart")
    st.markdown("**Time**")
    st.plotly_chart(charts.time_figure(data.results), key="time_chart")


def members_section(data: common.RunData, path) -> None:
    st.subheader("Members")
    st.caption("Each member's own test accuracy, against the ensemble's and the single model's.")
    st.plotly_chart(charts.member_accuracy_figure(data.members, data.results), key="member_chart")
    csv_button("members.csv", common.read_bytes(path / "members.csv"), "members.csv", "dl_members")


def agreement_section(data: common.RunData, path) -> None:
    st.subheader("Agreement between members")
    st.caption(
        "Share of test images on which two members predict the same class: one colour scale "
        "from 0 to 1 for every heatmap. Diverse members (lower agreement) are what makes an "
        "ensemble better than its members."
    )
    st.plotly_chart(charts.agreement_figure(data.agreement), key="agreement_chart")
    cols = st.columns(max(1, len(data.agreement)))
    for col, kind in zip(cols, data.agreement, strict=False):
        name = f"agreement_{kind}.csv"
        with col:
            csv_button(name, common.read_bytes(path / name), name, f"dl_{name}")


def reliability_section(data: common.RunData, path) -> None:
    st.subheader("Calibration")
    st.caption(
        "Reliability diagrams: accuracy of the predictions in each confidence bin. Bars on the "
        "diagonal mean the confidence can be trusted; below it, the model is over-confident."
    )
    st.plotly_chart(
        charts.reliability_figure(data.reliability, data.results), key="reliability_chart"
    )
    cols = st.columns(max(1, len(data.reliability)))
    for col, kind in zip(cols, data.reliability, strict=False):
        name = f"reliability_{kind}.csv"
        with col:
            csv_button(name, common.read_bytes(path / name), name, f"dl_{name}")


def training_section(data: common.RunData, path) -> None:
    st.subheader("Training")
    left, right = st.columns([3, 2])
    with left:
        st.markdown("**Training loss**")
        st.plotly_chart(charts.loss_figure(data.history), key="history_loss_chart")
    with right:
        st.markdown("**Seconds per epoch**")
        st.plotly_chart(charts.epoch_time_figure(data.history), key="history_time_chart")
    csv_button("history.csv", common.read_bytes(path / "history.csv"), "history.csv", "dl_hist")


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
        st.download_button(
            "Download the whole run (zip)", lambda: common.run_zip(path),
            file_name=f"{run_id}.zip", mime="application/zip", key="dl_zip", on_click="ignore",
            icon=":material/folder_zip:", type="primary",
        )  # fmt: skip
        results_section(data, path)
        members_section(data, path)
        agreement_section(data, path)
        reliability_section(data, path)
        training_section(data, path)
        with st.expander("Configuration (config.json)"):
            st.code(json.dumps(data.info.config, indent=2), language="json")
else:
    common.set_view(None)
