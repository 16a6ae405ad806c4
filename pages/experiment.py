"""Experiment: configure a run, start it in the background, watch it train live, stop it.
The page keeps only the job id (session state and ?job=<id>), so a refresh or a second tab
reattaches; a fragment redraws the live view about once a second from an immutable snapshot."""

from __future__ import annotations

import uuid

import streamlit as st

from bedash.dashboard import common, experiment_form, form
from bedash.dashboard.jobs import submit_run
from bedash.jobs.record import JobSnapshot
from bedash.names import ConfigError
from bedash.settings.config import RunConfig, label
from bedash.store.folders import RunDirError

LIM = common.limits()
LIVE_COLUMNS = [  # the results-so-far peek; the Results page has them all
    "Model",
    "Status",
    "E",
    "Acc ensemble (mean softmax)",
    "Acc mean member",
    "NLL",
    "ECE",
    "Params",
    "× single",
    "Train s",
    "Infer s",
]
KEEP = form.KEEP


def start(cfg: RunConfig) -> bool:
    """Queue the job once (True); a config that cannot run gets a specific error right here."""
    token = st.session_state.get("start_token", "")
    st.session_state["start_token"] = uuid.uuid4().hex[:12]  # before submit: one job per click
    try:
        job_id = submit_run(common.registry(), cfg, key=token)
    except ConfigError as e:
        text = form.plain(form.people(e.field, e.message))
        st.error(f"**{label(e.field)}**: {text}", icon=":material/error:")
        return False
    except RunDirError as e:  # the runs folder is read-only, full or not a folder
        st.error(f"**Runs folder**: {form.plain(e.message)}", icon=":material/error:")
        return False
    except RuntimeError as e:  # the server is shutting down
        st.error(form.plain(form.sentence(e)), icon=":material/error:")
        return False
    st.session_state["job"] = job_id
    st.session_state["form_job"] = job_id  # this form already shows that job's settings
    st.query_params["job"] = job_id
    return True


# -- the live view ----------------------------------------------------------------------------


def show_job(snap: JobSnapshot) -> None:
    """The whole job view, from one snapshot: status, progress, charts, results so far."""
    head, badge = st.columns([5, 1], vertical_alignment="center")
    head.markdown(f"### Run `{snap.run_id}`")
    with badge:
        common.status_badge(snap.status)
    st.caption(f"{common.config_summary(snap.config.to_dict())} · {snap.config.device}")
    if snap.status == "queued":
        waiting = f"Waiting for a free slot: number {snap.queue_position} in the queue."
        st.info(waiting, icon=":material/hourglass_top:")
    elif snap.status == "loading":
        loading(snap)
    elif snap.status == "running":
        progress(snap)
    elif snap.status == "failed":
        st.error(f"The job failed: {snap.error}", icon=":material/error:")
        if snap.traceback:
            with st.expander("Details"):
                st.code(snap.traceback, language=None)
    elif snap.status in ("cancelled", "diverged"):
        st.warning(form.sentence(snap.message), icon=":material/warning:")
    else:
        st.success(f"Finished in {common.duration(snap.elapsed)}.", icon=":material/check:")
    if snap.active and LIM.unwatched_seconds:
        st.caption(
            f"Keep this page open: on this server a job that no page shows for "
            f"{LIM.unwatched_seconds:g} s is stopped."
        )
    stop = "Stop" if snap.status != "queued" else "Cancel"
    if snap.active and st.button(stop, icon=":material/stop:", key="stop"):
        common.registry().cancel(snap.id)
        st.toast("Stopping: what was measured so far is kept.")
    if snap.done and snap.run_dir.exists():
        st.page_link(
            "pages/results.py",
            label="Open the full results",
            icon=":material/analytics:",
            query_params={"run": snap.run_id},
        )
    if snap.history or snap.trace:
        curves(snap)
    if snap.results:
        st.markdown("**Results so far**" if snap.active else "**Results**")
        from bedash.dashboard import tables

        table = tables.results_table(tables.frame(snap.results, list(snap.results[0])))
        table = table[[c for c in LIVE_COLUMNS if c in table]]
        columns = common.result_columns(table)
        st.dataframe(
            table, hide_index=True, column_config=columns, key="live_results", placeholder="—"
        )


def loading(snap: JobSnapshot) -> None:
    d = snap.data_progress
    if d is None or d.total <= 0:
        st.progress(0.0, text=snap.message or "loading the data")
        return
    stage = {"download": "Downloading CIFAR-10", "extract": "Extracting", "decode": "Decoding"}
    if d.stage == "download":
        text = f"{stage['download']}: {d.done / 2**20:.0f} of {d.total / 2**20:.0f} MB"
    else:
        text = f"{stage.get(d.stage, d.stage)}: {d.done} of {d.total}"
    st.progress(min(1.0, d.done / d.total), text=text)


def progress(snap: JobSnapshot) -> None:
    """Progress bar (model, epoch, batch, the job's ETA) and the live numbers."""
    from bedash.dashboard import tables  # no pandas needed, but the module imports it: once running
    from bedash.names import model_label

    p, n = snap.progress, len(snap.config.models)
    if p is None:
        st.progress(snap.model_index / n, text=snap.message)
        return
    who = f"{model_label(p.model)} ({snap.model_index + 1}/{n})"
    if p.member is not None:
        who += f" · member {p.member + 1}/{snap.config.members}"
    left = f"ETA {common.duration(p.eta)} for the whole job"
    text = f"{who} · epoch {p.epoch}/{p.epochs} · batch {p.step}/{p.steps} · {left}"
    if snap.message.startswith("evaluating"):
        text = f"{who} · evaluating on the test set · {left}"
    st.progress(min(1.0, (snap.model_index + p.fraction) / n), text=text)
    rate = tables.smoothed_throughput(p, snap.history)
    m1, m2, m3 = st.columns(3)
    m1.metric(
        "Throughput",
        "—" if rate is None else f"{rate:,.0f}/s",
        help="Member-samples per second (images × members trained per second): this epoch's "
        "rate, blended with the previous epoch's while this one has few batches.",
    )
    m2.metric("Loss (this epoch)", f"{p.loss:.4f}", help="Running mean member cross-entropy.")
    m3.metric("Elapsed", common.duration(snap.elapsed))


def curves(snap: JobSnapshot) -> None:
    from bedash.dashboard import tables  # pandas, plotly: once there is something to draw
    from bedash.dashboard.figures.training import epoch_time_figure, loss_figure

    history = tables.frame(snap.history, tables.HISTORY_COLUMNS)
    trace = tables.frame(snap.trace, tables.TRACE_COLUMNS)
    weight = common.smoothing_slider("live_smoothing")
    c2, c3, c4 = st.columns(3, vertical_alignment="center")
    log = c2.toggle("Log scale", value=True, key="live_log", persist_state=KEEP)
    show = c3.toggle(
        "Members",
        value=True,
        key="show_members",
        persist_state=KEEP,
        help="Thin lines: each member's loss per epoch (BatchEnsemble and ensembles).",
    )
    camera = "The camera in each chart's toolbar saves it in this format, in the browser."
    common.format_picker("live_figure_format", c4, "Save as", camera)
    left, right = st.columns([3, 2])
    with left:
        st.markdown("**Training loss**")
        fig = loss_figure(
            history, trace, members=show, smoothing=weight, log=log, pending=snap.active
        )
        common.chart(fig, "loss_chart", "training_loss", "live_figure_format")
    with right:
        st.markdown("**Seconds per epoch**")
        fig = epoch_time_figure(history, pending=snap.active)
        common.chart(fig, "epoch_chart", "epoch_seconds", "live_figure_format")


@st.fragment(run_every=1.0)
def live(job_id: str) -> None:
    """Redrawn about once a second while the job is active; a full rerun at its end."""
    snap = common.registry().watch(job_id)  # a heartbeat: someone still looks at it
    if snap is None:
        st.rerun()
    show_job(snap)
    if snap.done:
        st.rerun()


# Scrolls the main area to the live view: after Start (pressed below the fold on a phone, where
# the page was scrolled down to it) the progress bar is in sight. Sent once per job (SCROLLED),
# so the page's later reruns never move it under the reader.
SCROLL = """<script>
(() => {
  const doc = window.frameElement ? window.parent.document : document;
  let tries = 0;
  const go = () => {
    const el = doc.querySelector(".st-key-live_view");
    if (!el) { if (tries++ < 60) setTimeout(go, 50); return; }
    el.style.scrollMarginTop = "4.5rem";  // below the sticky header with the page links
    el.scrollIntoView({block: "start", behavior: "instant"});
  };
  go();
})();
</script>"""


def live_view(snap: JobSnapshot) -> None:
    """The job's view, full width above the form, scrolled to once per job and session."""
    st.query_params["job"] = snap.id  # back in the URL after a visit to another page
    st.session_state["job"] = snap.id
    with st.container(key="live_view"):
        if snap.done:
            show_job(snap)
        else:
            live(snap.id)
    # a slot on every run, filled on one: an element drawn on some runs only would move the
    # form below it in the page's tree, and the browser would show two forms (the old one
    # faded) during the next full rerun, the one at the job's end
    slot = st.empty()
    if st.session_state.get("scrolled_to") != snap.id:
        st.session_state["scrolled_to"] = snap.id
        slot.html(SCROLL, unsafe_allow_javascript=True)


def other_jobs(current: str | None) -> None:
    """Active jobs of other sessions (a job started in a closed tab can be watched again)."""
    others = [s for s in common.registry().jobs() if s.active and s.id != current]
    if not others:
        return
    with st.expander(f"Other jobs on this server ({len(others)})"):
        for s in others:
            where = f"queue position {s.queue_position}" if s.queue_position else s.message
            st.page_link(
                "pages/experiment.py",
                label=f"Run {s.run_id}: {s.status}, {where}",
                query_params={"job": s.id},
                icon=":material/visibility:",
            )


# -- the page ---------------------------------------------------------------------------------

PROBED = common.probe_ready()  # decided once per run: the form and the last line must agree
common.visit("experiment")
st.title("Experiment")
st.caption(
    "Is a BatchEnsemble as good as a real ensemble, and how much does it save? Configure a "
    "run, press Start, and watch every model train on the same batches."
)
common.set_view(None)
job_id = st.query_params.get("job") or st.session_state.get("job")
snap = common.registry().watch(job_id) if job_id else None
if snap is not None:  # a job: its view first, full width, then the form (a phone stacks
    # columns, which would put the view below the whole form)
    experiment_form.load_job_settings(snap.id, snap.config)
    live_view(snap)
    st.divider()
    form_col, side_col = st.container(width=760), None
else:  # no job: the form, and beside it what Start will do
    form_col, side_col = st.columns([2, 3], gap="large")
with form_col:
    cfg, pressed = experiment_form.config_form(LIM, PROBED)
    if cfg is not None and pressed and start(cfg):
        st.rerun()  # the new job's view goes above the form
if side_col is not None:
    with side_col:
        if job_id:
            st.warning(
                "Job not found: it ran in an earlier server process or is too old to be "
                "remembered. Its run, if it wrote one, is on the Runs page.",
                icon=":material/search_off:",
            )
            st.session_state.pop("job", None)
        else:
            st.info(
                "No job yet. The defaults train a BatchEnsemble, a classical ensemble and a "
                "single model on the synthetic set, offline, in "
                f"{experiment_form.about(experiment_form.DEFAULTS)}.",
                icon=":material/rocket_launch:",
            )
        other_jobs(job_id)
else:
    other_jobs(job_id)
if not PROBED:  # the form was drawn without the device list: rerun once it is known
    common.await_probe()
