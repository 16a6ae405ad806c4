"""Runs: every run on disk (they survive a restart) with its config and headline metrics; sort,
filter, compare several against their member count, open, delete, export."""

from __future__ import annotations

import dataclasses

import pandas as pd
import streamlit as st

import bedash.store.annotations as run_notes  # "from bedash import annotations": __future__
from bedash.dashboard import common, tables
from bedash.dashboard.figures import runs as charts
from bedash.dashboard.form import plain
from bedash.store.folders import RunDirError
from bedash.store.runs import RunInfo, delete_run, list_runs
from bedash.sweep.listing import list_cells

ALONE = "(not in a sweep)"
SORTABLE = {
    "started": "Started",
    "run_id": "Run id",
    "status": "Status",
    "members": "Members",
    "hidden": "Hidden width",
    "epochs": "Epochs",
    "train s (all)": "Training time",
    "acc batchensemble": "BatchEnsemble accuracy",
    "acc ensemble": "Ensemble accuracy",
}


def filtered(table: pd.DataFrame) -> pd.DataFrame:
    """The filter and sort widgets applied to the runs table."""
    c1, c2, c3, c4, c5 = st.columns([2, 2, 2, 2, 3])
    statuses = sorted(table["status"].dropna().unique())
    datasets = sorted(table["dataset"].dropna().astype(str).unique())
    pick_status = c1.multiselect("Status", statuses, key="f_status", placeholder="any")
    pick_data = c2.multiselect("Dataset", datasets, key="f_dataset", placeholder="any")
    pick_tags = c3.multiselect(
        "Tags",
        tables.all_tags(table),
        key="f_tags",
        placeholder="any",
        help="Runs carrying every tag picked. Tag a run on its Results page.",
    )
    sweeps = sorted(table["sweep"].dropna().unique()) if "sweep" in table else []
    pick_sweep = c1.multiselect(
        "Sweep", [ALONE, *sweeps], key="f_sweep", placeholder="any",
        help="Runs of their own, or the cells of a sweep (each grouped under its sweep).",
    )  # fmt: skip
    sortable = [c for c in SORTABLE if c in table]
    sort_by = c4.selectbox("Sort by", sortable, key="sort_by", format_func=SORTABLE.get)
    text = c5.text_input("Search", key="f_text", placeholder="run id, model kind, tag, note…")
    descending = c4.toggle("Descending", value=True, key="sort_desc")
    out = tables.tag_filter(table, pick_tags)
    if pick_status:
        out = out[out["status"].isin(pick_status)]
    if pick_data:
        out = out[out["dataset"].astype(str).isin(pick_data)]
    if pick_sweep:
        out = out[out["sweep"].fillna(ALONE).isin(pick_sweep)]
    if text:
        hay = out[["run_id", "models", "tags", "notes", "note"]].astype(str).agg(" ".join, axis=1)
        out = out[hay.str.contains(text, case=False, regex=False)]
    out = out.sort_values(sort_by, ascending=not descending, na_position="last")
    # grouped: runs of their own first, then each sweep's cells together (stable: sorted within)
    return out.sort_values("sweep", kind="stable", na_position="first") if "sweep" in out else out


def all_notes(run: RunInfo) -> run_notes.Annotations:
    """A run's tags and notes, wherever they were written: the note typed on the Experiment form
    (config.json's extra) first, then the Results page's (annotations.json)."""
    ann = run_notes.read(run.path)
    extra = run.config.get("extra")
    typed = str(extra.get("notes") or "") if isinstance(extra, dict) else ""
    both = " · ".join(n for n in (typed, ann.notes) if n)
    return dataclasses.replace(ann, notes=both)


def refuse_reason(run: str, status: str) -> str | None:
    """Why a run must not be deleted now, or None."""
    if "/" in run:  # sweep/cell: its statistics are computed from it
        return f"`{run}` is a cell of its sweep: the sweep's statistics are made from its cells."
    reg = common.registry()
    if run in reg.active_run_ids() or status == "running":
        return f"`{run}` is training right now: stop it on the Experiment page first."
    viewers = reg.viewers(run, exclude=common.session_id())
    if viewers:
        return f"`{run}` is open on the Results page in {viewers} other browser tab(s)."
    return None


def delete_button(selected: pd.DataFrame) -> None:
    ids = selected["run_id"].tolist()
    label = f"Delete {len(ids)} run(s)…" if ids else "Delete…"
    if st.button(label, icon=":material/delete:", key="delete", disabled=not ids):
        st.session_state["confirm_delete"] = ids


def confirm_delete(selected: pd.DataFrame) -> None:
    """Delete after an explicit confirmation; refuse runs that are training or being viewed."""
    ids = selected["run_id"].tolist()
    pending = st.session_state.get("confirm_delete")
    if not pending:
        return
    refused = {
        r: why
        for r, s in zip(selected["run_id"], selected["status"], strict=True)
        if r in pending and (why := refuse_reason(r, s))
    }
    for why in refused.values():
        st.error(f"Not deleted: {why}", icon=":material/block:")
    doomed = [r for r in pending if r not in refused and r in ids]
    if not doomed:
        st.session_state.pop("confirm_delete", None)
        return
    st.warning(
        f"Delete {', '.join(f'`{r}`' for r in doomed)} for good? The folder and every file in "
        "it are removed.",
        icon=":material/warning:",
    )
    yes, no = st.columns([1, 6])
    if yes.button("Yes, delete", type="primary", key="confirm_yes"):
        for r in doomed:
            try:
                delete_run(common.runs_dir(), r)
            except (ValueError, OSError) as e:
                st.error(f"Could not delete `{r}`: {plain(e)}")
        st.session_state.pop("confirm_delete", None)
        st.session_state.pop("runs_table", None)  # the selection pointed at deleted rows
        st.toast(f"Deleted {len(doomed)} run(s).")
        st.rerun()
    if no.button("Cancel", key="confirm_no"):
        st.session_state.pop("confirm_delete", None)
        st.rerun()


def chart(fig, key: str, name: str) -> None:
    common.chart(fig, key, name, "runs_figure_format")


def compare(selected: pd.DataFrame, runs: dict) -> None:
    """The selected runs: metrics against the member count, loss curves, reliability diagrams."""
    ids = list(selected["run_id"])
    head, fmt = st.columns([3, 1], vertical_alignment="bottom")
    head.subheader(f"Comparing {len(selected)} runs")
    with fmt:
        common.format_picker("runs_figure_format")
    st.caption(
        "Against the member count E: each point is one model kind (its colour) of one run "
        "(its symbol, named in the legend). Lines join only runs whose other settings (data, "
        "width, depth, epochs, batch, learning rate, seed) are the same."
    )
    chart(charts.compare_figure(tables.compare_rows(runs, ids)), "compare_chart", "compare")
    loaded = {r: common.load_run(runs[r].path) for r in ids}
    st.markdown("**Training loss**")
    weight = common.smoothing_slider("cmp_smoothing")
    log = st.toggle("Log scale", value=True, key="cmp_log", persist_state="session")
    curves = {r: (d.history, d.steps) for r, d in loaded.items()}
    chart(
        charts.loss_overlay_figure(curves, smoothing=weight, log=log),
        "compare_loss_chart",
        "compare_loss",
    )
    st.markdown("**Calibration**")
    fig = charts.reliability_overlay_figure({r: d.reliability for r, d in loaded.items()})
    chart(fig, "compare_reliability_chart", "compare_reliability")


common.visit("runs")
st.title("Runs")
common.set_view(None)
try:
    runs = list_runs(common.runs_dir()) + list_cells(common.runs_dir())
except RunDirError as e:  # a runs folder that cannot be read is no "no runs"
    st.error(f"Runs folder: {plain(e.message)}", icon=":material/error:")
    st.stop()
if not runs:
    st.info(
        f"No runs in {common.runs_dir()} yet: start one on the Experiment page "
        "(or with `python -m bedash train --runs-dir ...`).",
        icon=":material/info:",
    )
    st.page_link("pages/experiment.py", label="Experiment", icon=":material/model_training:")
    st.stop()

notes = {tables.run_key(r): all_notes(r) for r in runs}
table = filtered(tables.runs_frame(runs, notes))
st.caption(f"{len(table)} of {len(runs)} runs in `{common.runs_dir()}` · select rows to act")
number = st.column_config.NumberColumn
headers = {c: st.column_config.Column(tables.runs_header(c)) for c in table}
formats = {"lr": "%.4g", "train s (all)": "%.1f", "BE params × single": "%.2f×"}
formats |= {c: "%.4f" for c in table if c.startswith("acc ")}
headers |= {c: number(tables.runs_header(c), format=f) for c, f in formats.items() if c in table}
headers["run_id"] = st.column_config.TextColumn("Run id", pinned=True)
headers["started"] = st.column_config.DatetimeColumn("Started", format="YYYY-MM-DD HH:mm:ss")
event = st.dataframe(
    table.assign(models=table["models"].map(tables.model_labels)),  # the CSV keeps the names
    key="runs_table",
    on_select="rerun",
    selection_mode="multi-row",
    hide_index=True,
    placeholder="—",  # a metric a run does not have (cancelled before that model)
    column_config=headers,
    column_order=["run_id", "sweep", *(c for c in table if c not in ("run_id", "sweep"))],
)
rows = event.selection.rows if event is not None else []
selected = table.iloc[[i for i in rows if i < len(table)]]
by_id = {tables.run_key(r): r for r in runs}

a, b, c = st.columns([2, 2, 3])
with a:
    one = len(selected) == 1
    if st.button("Open results", icon=":material/analytics:", key="open", disabled=not one):
        sweep, _, cell = selected["run_id"].iloc[0].rpartition("/")  # sweep/cell for a cell
        st.switch_page("pages/results.py", query_params={"run": cell, "sweep": sweep} if sweep
                       else {"run": cell})  # fmt: skip
with b:
    delete_button(selected)
with c:
    csv, look = table.to_csv(index=False), {"on_click": "ignore", "icon": ":material/download:"}
    st.download_button(
        "Download this table (CSV)", csv, "runs.csv", "text/csv", key="dl_runs", **look
    )
confirm_delete(selected)
for run_id in selected["run_id"]:
    job_id = common.registry().job_for_run(run_id)
    snap = common.registry().snapshot(job_id) if job_id else None
    if snap is not None and snap.active:
        st.page_link(
            "pages/experiment.py",
            label=f"Watch `{run_id}` train live",
            icon=":material/visibility:",
            query_params={"job": job_id},
        )
if len(selected) >= 2:
    compare(selected, by_id)
