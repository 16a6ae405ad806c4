"""Experiment: configure a run, start it in the background, watch it train live, stop it.

The page keeps only the job id (session state and ?job=<id>), so a refresh or a second tab
reattaches; a fragment redraws the live view about once a second from an immutable snapshot.
"""

from __future__ import annotations

import streamlit as st

from bedash.app.jobs import JobSnapshot
from bedash.config import ARCHS, MODEL_KINDS, ConfigError, RunConfig
from bedash.runs import RunDirError
from pages import common

LIM = common.limits()
DEFAULTS = RunConfig(
    dataset="synthetic", train_size=10_000, test_size=2_000, epochs=5, members=5, hidden=128
)  # 20-40 s on two CPU cores (benchmarks/dashboard_vs_cli.py), and the kinds separate
# the charts' names for the kinds (bedash.charts.MODEL_LABELS): importing charts would import
# pandas, half a second of the first render, so the live view imports it when it draws
KIND_LABELS = {
    "batchensemble": "BatchEnsemble", "ensemble": "Ensemble (sequential)",
    "ensemble_parallel": "Ensemble (parallel)", "single": "Single model",
}  # fmt: skip
DATASETS = {"synthetic": "Synthetic", "cifar10": "CIFAR-10", "folder": "Image folder"}
ARCH_LABELS = {"mlp": "MLP (the seed's)", "cnn": "CNN (3 conv blocks)"}
FIELD_LABELS = {
    "dataset": "Dataset", "members": "Members", "hidden": "Hidden width", "layers": "Layers",
    "channels": "Channels", "epochs": "Epochs", "batch_size": "Batch size", "lr": "Learning rate",
    "device": "Device", "train_size": "Training images", "test_size": "Test images",
    "models": "Models", "seed": "Seed", "weight_decay": "Weight decay",
    "fast_lr_mult": "Fast-weight LR multiplier", "fast_init_std": "Fast-weight init sigma",
    "eval_batch_size": "Evaluation batch size",
}  # fmt: skip
LIVE_COLUMNS = [  # the results-so-far peek; the Results page has them all
    "Model", "Status", "E", "Params", "× single", "Train s", "Infer s",
    "Acc ensemble (mean softmax)", "Acc mean member", "NLL", "ECE",
]  # fmt: skip
KEEP = "session"  # widget values survive a visit to another page


def config_form() -> RunConfig | None:
    """Every RunConfig field as a bounded widget; returns the config when Start is pressed."""
    st.subheader("Configure")
    st.markdown("**Models**")
    models = st.pills(
        "Model kinds", MODEL_KINDS, selection_mode="multi", default=list(DEFAULTS.models),
        key="models", format_func=KIND_LABELS.get, persist_state=KEEP, wrap=True,
        help="Trained one after the other on the same batches in the same order. "
        "BatchEnsemble: one shared weight + rank-1 factors per member. Ensemble (sequential): "
        "E independent models trained one after the other, as the seed. Ensemble (parallel): "
        "the same E models stacked and trained at once. Single: one model (E = 1).",
    )  # fmt: skip
    arch = st.radio(
        "Architecture", ARCHS, key="arch", horizontal=True, format_func=ARCH_LABELS.get,
        persist_state=KEEP, help="MLP: the seed notebook's network; CNN: a small conv net.",
    )  # fmt: skip
    c1, c2 = st.columns(2)
    members = c1.number_input(
        "Members (E)", 1, LIM.max_members, DEFAULTS.members, key="members", persist_state=KEEP,
        help=f"Ensemble size, 1 to {LIM.max_members}. The seed uses 5.",
    )  # fmt: skip
    hidden = c2.number_input(
        "Hidden width", 1, LIM.max_hidden, DEFAULTS.hidden, key="hidden", persist_state=KEEP,
        help="MLP hidden units per layer / CNN classifier width. The seed uses 128.",
    )  # fmt: skip
    layers = c1.number_input(
        "Hidden layers", 1, LIM.max_layers, DEFAULTS.layers, key="layers", persist_state=KEEP,
        disabled=arch != "mlp", help="Hidden layers of the MLP (the seed has 2).",
    )  # fmt: skip
    channels = c2.number_input(
        "CNN channels", 1, 1024, DEFAULTS.channels, key="channels", persist_state=KEEP,
        disabled=arch != "cnn", help="Channels of the first conv block, doubled per block.",
    )  # fmt: skip
    epochs = c1.number_input(
        "Epochs", 1, LIM.max_epochs, DEFAULTS.epochs, key="epochs", persist_state=KEEP,
        help="Passes over the training images, per model (the seed trains 20).",
    )  # fmt: skip
    batch = c2.number_input(
        "Batch size", 1, LIM.max_batch_size, DEFAULTS.batch_size, key="batch_size",
        persist_state=KEEP, help="Images per step; every member sees the whole batch unless "
        "'split' is chosen under Advanced. The seed uses 32.",
    )  # fmt: skip
    lr = c1.number_input(
        "Learning rate", 1e-6, 10.0, DEFAULTS.lr, step=1e-4, format="%.4g", key="lr",
        persist_state=KEEP, help="Adam's learning rate (the seed: 0.001).",
    )  # fmt: skip
    seed = c2.number_input(
        "Seed", 0, 2**31 - 1, DEFAULTS.seed, key="seed", persist_state=KEEP,
        help="Seeds initialisation and batch order; ensemble member k uses seed + k.",
    )  # fmt: skip

    st.markdown("**Data**")
    dataset, train_size, test_size = data_widgets()

    st.markdown("**Hardware**")
    device = device_picker()

    with st.expander("Advanced: the BatchEnsemble recipe and evaluation"):
        a1, a2 = st.columns(2)
        fast_init = a1.radio(
            "Fast-weight init", ["signs", "normal"], key="fast_init", persist_state=KEEP,
            help="r and s factors: random ±1 signs (the seed), or N(1, sigma).",
        )  # fmt: skip
        fast_init_std = a2.number_input(
            "Init sigma", 0.001, 10.0, DEFAULTS.fast_init_std, key="fast_init_std",
            persist_state=KEEP, disabled=fast_init != "normal",
            help="Standard deviation of the normal fast-weight init.",
        )  # fmt: skip
        bias = a1.radio(
            "Bias", ["shared", "member"], key="bias", persist_state=KEEP,
            help="One bias shared by all members (the seed), or one per member (the paper).",
        )  # fmt: skip
        member_batch = a2.radio(
            "Member batch", ["tiled", "split"], key="member_batch", persist_state=KEEP,
            help="tiled: every member sees the whole batch (the seed); split: each member "
            "sees its own 1/E slice.",
        )  # fmt: skip
        fast_lr_mult = a1.number_input(
            "Fast-weight LR ×", 0.001, 1000.0, DEFAULTS.fast_lr_mult, key="fast_lr_mult",
            persist_state=KEEP, help="Learning-rate multiplier of the r and s factors.",
        )  # fmt: skip
        weight_decay = a2.number_input(
            "Weight decay", 0.0, 1.0, DEFAULTS.weight_decay, step=1e-4, format="%.4g",
            key="weight_decay", persist_state=KEEP,
            help="L2 on shared weights and biases; never on the fast weights.",
        )  # fmt: skip
        eval_cap = LIM.eval_batch_size or 100_000
        eval_batch = a1.number_input(
            "Evaluation batch", 1, eval_cap, min(DEFAULTS.eval_batch_size, eval_cap),
            key="eval_batch_size", persist_state=KEEP,
            help="Images per evaluation forward pass (memory vs speed).",
        )  # fmt: skip
        compile_ = a2.checkbox(
            "torch.compile", key="compile", persist_state=KEEP,
            help="Compile the models first: pays off on CUDA for long runs, costs minutes "
            "on a CPU.",
        )  # fmt: skip
        cuda_graphs = a1.checkbox(
            "CUDA graphs", value=DEFAULTS.cuda_graphs, key="cuda_graphs", persist_state=KEEP,
            help="On CUDA, replay each training step as one CUDA graph (the same math, less "
            "launch overhead). Ignored on the CPU.",
        )  # fmt: skip
        notes = st.text_input(
            "Notes", key="notes", max_chars=500, persist_state=KEEP,
            help="Free text saved with the run (config.json, 'extra').",
        )  # fmt: skip

    start = st.button("Start", type="primary", icon=":material/play_arrow:", key="start")
    if not start:
        return None
    return RunConfig(
        dataset=dataset, data_dir=str(common.data_dir()), models=tuple(models), arch=arch,
        members=int(members), hidden=int(hidden), layers=int(layers), channels=int(channels),
        epochs=int(epochs), batch_size=int(batch), lr=float(lr),
        weight_decay=float(weight_decay), seed=int(seed), device=device, fast_init=fast_init,
        fast_init_std=float(fast_init_std), fast_lr_mult=float(fast_lr_mult), bias=bias,
        member_batch=member_batch, train_size=int(train_size), test_size=int(test_size),
        eval_batch_size=int(eval_batch), compile=bool(compile_), cuda_graphs=bool(cuda_graphs),
        extra={"notes": notes} if notes else {},
    )  # fmt: skip


def device_picker() -> str:
    """Only the devices this machine has. Listing them needs torch, which loads in the
    background: until it is there, auto and cpu are offered, and the page reruns once."""
    if LIM.cpu_only:  # a shared host: nothing to look for
        st.selectbox("Device", ["cpu"], key="device", help=f"CPU only ({LIM.name} limit).")
        return "cpu"
    found, error = common.devices(timeout=0) if PROBED else (["cpu"], "")
    device = st.selectbox(
        "Device", ["auto", *found], key="device", persist_state=KEEP,
        help="Only the devices found on this machine are offered. auto: CUDA, then MPS, "
        "then CPU.",
    )  # fmt: skip
    if not PROBED:
        st.caption("Looking for GPUs…")  # the page's last line reruns it when they are found
    elif error:
        st.caption(f"Looking for GPUs failed ({error}); the CPU is used.")
    return device


def data_widgets() -> tuple[str, int, int]:
    """Dataset choice (synthetic by default: it works offline and needs no files) and sizes;
    a note on how to get CIFAR-10 while it is not on disk."""
    data = common.data_dir()
    kind = st.radio(
        "Dataset", list(DATASETS), key="dataset_kind", horizontal=True,
        format_func=DATASETS.get, persist_state=KEEP,
        help="Synthetic: a learnable 10-class set of CIFAR shape made in memory (no files, no "
        "network). CIFAR-10: downloaded on first use. Image folder: train/<class>/*, "
        "test/<class>/* on this machine, resized to 32 x 32.",
    )  # fmt: skip
    note = common.cifar10_note(data) if PROBED else None
    if note is not None and not note[0]:
        st.info(
            "**CIFAR-10 is not on disk yet.** Pick it and press Start to download it "
            f"(170 MB, checksum-verified). Offline? {note[1]}",
            icon=":material/info:",
        )
    elif note is not None and kind == "cifar10":
        st.caption(f"CIFAR-10 found in {data.resolve()}.")
    dataset = folder_widgets() if kind == "folder" else kind
    cap = LIM.max_train_size
    full = 1_000_000 if kind == "folder" else 50_000
    c1, c2 = st.columns(2)
    train_size = c1.number_input(
        "Training images", 1, min(cap or full, full), min(DEFAULTS.train_size, cap or full),
        key=f"train_size_{kind}", persist_state=KEEP,
        help="Use the first N training images (after a fixed shuffle)"
        + (f"; at most {cap} here." if cap else "."),
    )  # fmt: skip
    test_size = c2.number_input(
        "Test images", 1, 10_000 if kind != "folder" else 1_000_000, DEFAULTS.test_size,
        key=f"test_size_{kind}", persist_state=KEEP,
        help="Evaluate on the first N test images.",
    )  # fmt: skip
    return dataset, int(train_size), int(test_size)


def folder_widgets() -> str:
    """An image folder: a path on this machine (not in the demo, which takes uploads only), or
    a zip of one, unpacked and checked when it arrives."""
    path = ""
    if LIM.dataset_roots is None:
        path = st.text_input(
            "Image folder", key="folder", persist_state=KEEP,
            placeholder="/path/to/images (with train/<class>/ and test/<class>/)",
            help="A folder on the machine running the dashboard, laid out as "
            "train/<class>/*.png and test/<class>/*.png.",
        ).strip()  # fmt: skip
    upload = st.file_uploader(
        "… or upload a zip of it" if LIM.dataset_roots is None else "Upload a zip of an image "
        "folder", type=["zip"], key="folder_zip",
        help="A zip holding train/<class>/* and test/<class>/* (or one folder that does). "
        f"At most {st.get_option('server.maxUploadSize')} MB.",
    )  # fmt: skip
    if upload is None:
        return path
    root, error = common.unpack_upload(upload)
    if error:
        st.error(f"**Upload**: {error}", icon=":material/error:")
    elif root:
        st.caption(f"Uploaded `{upload.name}`: unpacked and checked.")
    return root or path


def start(cfg: RunConfig) -> None:
    """Queue the job; a config that cannot run gets a specific error right here."""
    try:
        job_id = common.registry().submit(cfg)
    except ConfigError as e:
        st.error(f"**{FIELD_LABELS.get(e.field, e.field)}**: {e.message}", icon=":material/error:")
        return
    except RunDirError as e:  # the runs folder is read-only, full or not a folder
        st.error(f"**Runs folder**: {e}", icon=":material/error:")
        return
    except RuntimeError as e:  # the server is shutting down
        st.error(str(e), icon=":material/error:")
        return
    st.session_state["job"] = job_id
    st.query_params["job"] = job_id


# -- the live view ----------------------------------------------------------------------------


def show_job(snap: JobSnapshot) -> None:
    """The whole job view, from one snapshot: status, progress, charts, results so far."""
    head, badge = st.columns([5, 1], vertical_alignment="center")
    head.markdown(f"### Run `{snap.run_id}`")
    with badge:
        common.status_badge(snap.status)
    st.caption(f"{common.config_summary(snap.config.to_dict())} · {snap.config.device}")
    if snap.status == "queued":
        st.info(
            f"Waiting for a free slot: number {snap.queue_position} in the queue.",
            icon=":material/hourglass_top:",
        )
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
        st.warning(snap.message, icon=":material/warning:")
    else:
        st.success(f"Finished in {common.duration(snap.elapsed)}.", icon=":material/check:")
    if snap.active and LIM.unwatched_seconds:
        st.caption(
            f"Keep this page open: on this server a job that no page shows for "
            f"{LIM.unwatched_seconds:g} s is stopped."
        )
    if snap.active and st.button(
        "Stop" if snap.status != "queued" else "Cancel", icon=":material/stop:", key="stop"
    ):
        common.registry().cancel(snap.id)
        st.toast("Stopping: what was measured so far is kept.")
    if snap.done and snap.run_dir.exists():
        st.page_link(
            "pages/results.py", label="Open the full results", icon=":material/analytics:",
            query_params={"run": snap.run_id},
        )  # fmt: skip
    if snap.history or snap.trace:
        curves(snap)
    if snap.results:
        st.markdown("**Results so far**" if snap.active else "**Results**")
        from bedash import charts

        table = charts.results_table(charts.frame(snap.results, list(snap.results[0])))
        table = table[[c for c in LIVE_COLUMNS if c in table]]
        st.dataframe(
            table, hide_index=True, column_config=common.result_columns(table),
            key="live_results", placeholder="—",
        )  # fmt: skip


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
    """Progress bar (model, epoch, batch, ETA) and the live numbers."""
    p, n = snap.progress, len(snap.config.models)
    if p is None:
        st.progress(snap.model_index / n, text=snap.message)
        return
    who = f"{KIND_LABELS.get(p.model, p.model)} ({snap.model_index + 1}/{n})"
    if p.member is not None:
        who += f" · member {p.member + 1}/{snap.config.members}"
    text = (
        f"{who} · epoch {p.epoch}/{p.epochs} · batch {p.step}/{p.steps} · "
        f"ETA {common.duration(p.eta)}"
    )
    if snap.message.startswith("evaluating"):
        text = f"{who} · evaluating on the test set"
    st.progress(min(1.0, (snap.model_index + p.fraction) / n), text=text)
    m1, m2, m3 = st.columns(3)
    m1.metric(
        "Throughput", f"{p.samples_per_s:,.0f}/s",
        help="Member-samples per second in this epoch: images × members trained per second.",
    )  # fmt: skip
    m2.metric("Loss (this epoch)", f"{p.loss:.4f}", help="Running mean member cross-entropy.")
    m3.metric("Elapsed", common.duration(snap.elapsed))


def curves(snap: JobSnapshot) -> None:
    from bedash import charts  # pandas and plotly: only once there is something to draw

    history = charts.frame(snap.history, charts.HISTORY_COLUMNS)
    trace = charts.frame(snap.trace, charts.TRACE_COLUMNS)
    show = st.toggle(
        "Show ensemble members", value=True, key="show_members", persist_state=KEEP,
        help="Thin lines: each member's loss (BatchEnsemble and ensembles).",
    )  # fmt: skip
    left, right = st.columns([3, 2])
    with left:
        st.markdown("**Training loss**")
        st.plotly_chart(charts.loss_figure(history, trace, members=show), key="loss_chart")
    with right:
        st.markdown("**Seconds per epoch**")
        st.plotly_chart(charts.epoch_time_figure(history), key="epoch_chart")


@st.fragment(run_every=1.0)
def live(job_id: str) -> None:
    """Redrawn about once a second while the job is active; a full rerun when it ends stops
    the polling and shows the final state."""
    snap = common.registry().watch(job_id)  # a heartbeat: someone still looks at it
    if snap is None:
        st.rerun()
    show_job(snap)
    if snap.done:
        st.rerun()


def other_jobs(current: str | None) -> None:
    """Active jobs of other sessions (a job started in a closed tab can be watched again)."""
    others = [s for s in common.registry().jobs() if s.active and s.id != current]
    if not others:
        return
    with st.expander(f"Other jobs on this server ({len(others)})"):
        for s in others:
            where = f"queue position {s.queue_position}" if s.queue_position else s.message
            st.page_link(
                "pages/experiment.py", label=f"Run {s.run_id}: {s.status}, {where}",
                query_params={"job": s.id}, icon=":material/visibility:",
            )  # fmt: skip


# -- the page ---------------------------------------------------------------------------------

PROBED = common.probe_ready()  # decided once per run: the form and the last line must agree
st.title("Experiment")
st.caption(
    "Is a BatchEnsemble as good as a real ensemble, and how much does it save? Configure a "
    "run, press Start, and watch every model train on the same batches."
)
common.set_view(None)
job_id = st.query_params.get("job") or st.session_state.get("job")
form_col, live_col = st.columns([2, 3], gap="large")
with form_col:
    cfg = config_form()
    if cfg is not None:
        start(cfg)
        job_id = st.session_state.get("job", job_id)
with live_col:
    snap = common.registry().watch(job_id) if job_id else None
    if job_id and snap is None:
        st.warning(
            "Job not found: it ran in an earlier server process or is too old to be "
            "remembered. Its run, if it wrote one, is on the Runs page.",
            icon=":material/search_off:",
        )
        st.session_state.pop("job", None)
    elif snap is None:
        st.info(
            "No job yet. The defaults train a BatchEnsemble, a classical ensemble and a single "
            "model on the synthetic set, offline, in well under a minute on two CPU cores.",
            icon=":material/rocket_launch:",
        )
    else:
        st.query_params["job"] = snap.id  # back in the URL after a visit to another page
        st.session_state["job"] = snap.id
        if snap.done:
            show_job(snap)
        else:
            live(snap.id)
    other_jobs(job_id)
if not PROBED:  # the form was drawn without the device list: rerun once it is known
    common.await_probe()
