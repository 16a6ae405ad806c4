"""The Experiment page's form: every RunConfig field as a widget, the dataset, its sizes, the
device and Start. What runs is exactly what the form shows: a bad value blocks Start, named."""

from __future__ import annotations

import uuid
from pathlib import Path

import streamlit as st

from bedash.dashboard import form
from bedash.dashboard.hosting import unpack_upload
from bedash.dashboard.session import devices, probe_ready
from bedash.dashboard.settings import data_dir
from bedash.dashboard.speed import measured_speed
from bedash.names import ConfigError, duration
from bedash.settings.config import GROUPS, RunConfig, arch_problem, label, spec
from bedash.settings.limits import Limits
from bedash.settings.types import Spec

DEFAULTS = form.start_config()  # each field's `start` (RunConfig's metadata), else its default
DATASETS = {"synthetic": "Synthetic", "cifar10": "CIFAR-10", "folder": "Image folder"}
KEEP = form.KEEP
# fields with a widget of their own below; every other field is drawn from its metadata
SPECIAL = {"models", "dataset", "data_dir", "device", "train_size", "test_size"}
MAIN_GROUPS = ("model", "training")  # above Start; the rest under Advanced, below it


def config_form(lim: Limits, probed: bool) -> tuple[RunConfig | None, bool]:
    """(the config on screen, or None while a value does not pass; whether Start was pressed)."""
    st.subheader("Configure")
    slot = st.container()  # Start goes here, in the first screen, once every value is checked
    state = form.FormState()
    state.take(spec("models"), models_widget(lim), lim)
    for group in MAIN_GROUPS:
        section(group, state, lim)
    if problem := arch_problem(state.values.get("arch"), lim):  # named before its recipe's caps
        state.errors = {"arch": problem, **state.errors}
    st.markdown("**Data**")
    dataset, sizes = data_widgets(state, lim, probed)
    state.values["dataset"] = dataset
    st.markdown("**Hardware**")
    state.values["device"] = device_picker(lim, probed)
    with st.expander("Advanced: the BatchEnsemble recipe, evaluation and hardware"):
        for group in GROUPS:
            if group not in MAIN_GROUPS:
                section(group, state, lim)
        notes = st.text_input(
            "Notes",
            key="notes",
            max_chars=500,
            persist_state=KEEP,
            help="Free text saved with the run (config.json, 'extra').",
        )
    cfg = None
    if not state.errors:
        try:
            extra = {"notes": notes} if notes else {}
            cfg = RunConfig(**state.values, **sizes, data_dir=str(data_dir()), extra=extra)
            cfg = cfg.validate(lim)
        except ConfigError as e:
            state.errors[e.field] = e.message
    with slot:
        start = start_button(state)
        if state.errors:
            form.show_errors(state.errors, {n: label(n) for n in state.errors})
            if start:
                st.warning(
                    "Not started: correct the settings below first.", icon=":material/block:"
                )
            return None, False
        if cfg.arch == "resnet":  # the architecture's note: the estimate here, not a GPU's
            st.warning(
                f"**ResNet wants a GPU.** On this machine this run takes {about(cfg)}.",
                icon=":material/memory:",
            )
        else:
            st.caption(f"Takes {about(cfg)}.")
    return cfg, start


def about(cfg: RunConfig) -> str:
    """How long cfg takes: the one estimator (bedash.estimate) at the speed measured here."""
    speed = measured_speed()
    return (
        f"about {duration(speed.seconds(cfg))}: an estimate at the training speed of "
        f"{form.plain(speed.source)}, scaled by model size"
    )


def section(group: str, state: form.FormState, lim: Limits) -> None:
    """The fields of one group in two columns; a field that does not apply is disabled."""
    specs = form.fields_of(group, SPECIAL)
    if not specs:
        return
    if group not in MAIN_GROUPS:
        st.markdown(f"**{GROUPS[group]}**")
    cols = st.columns(2)
    for i, s in enumerate(specs):
        # a field that applies only when another has some value (layers: the MLP's); fields
        # are declared after the one they depend on, so its value is already parsed
        off = s.when is not None and state.values.get(s.when[0]) != s.when[1]
        default = arch_default(s, state.values.get("arch", DEFAULTS.arch))
        raw = form.widget(s, lim, default, where=cols[i % 2], disabled=off)
        if off:  # not used by this config: keep its default, whatever the box holds
            state.values[s.name] = getattr(DEFAULTS, s.name)
        else:
            state.take(s, raw, lim)


def arch_default(s: Spec, arch: str) -> object:
    """What the field shows for `arch`: its recipe's value (bedash.settings.recipes), else the
    form's start. When Architecture changes, a field its recipe sets takes the new value,
    unless the user changed it from the old one's."""
    if s.recipe:  # the architecture the field's value was set for (a reloaded job: the job's)
        old = st.session_state.get(f"_arch_of_{s.name}", arch)
        st.session_state[f"_arch_of_{s.name}"] = arch
        untouched = form.state_value(s, getattr(form.start_config(old), s.name))
        if old != arch and st.session_state.get(s.name) == untouched:
            st.session_state[s.name] = form.state_value(s, getattr(form.start_config(arch), s.name))
    return getattr(form.start_config(arch), s.name)


def models_widget(lim: Limits) -> list[str]:
    return form.widget(
        spec("models"),
        lim,
        DEFAULTS.models,
        help="BatchEnsemble: one shared weight + rank-1 factors per member. Ensemble "
        "(sequential): E independent models trained one after the other, as the seed. Ensemble "
        "(parallel): the same E models stacked and trained at once. Single: one model (E = 1).",
    )


def start_button(state: form.FormState) -> bool:
    """Start, keyed by a token that changes once a job is queued: a double click's second click
    hits a button that no longer exists."""
    token = st.session_state.setdefault("start_token", uuid.uuid4().hex[:12])
    return st.button(
        "Start",
        type="primary",
        icon=":material/play_arrow:",
        key=f"start_{token}",
        disabled=bool(state.errors),
        help="Queue this configuration as a background job.",
    )


def device_picker(lim: Limits, probed: bool) -> str:
    """Only the devices this machine has; auto and cpu until torch (loading in the background)
    can list them, then the page reruns once."""
    if lim.cpu_only:  # a shared host: nothing to look for
        st.selectbox("Device", ["cpu"], key="device", help=f"CPU only ({lim.name} limit).")
        return "cpu"
    found, error = devices(timeout=0) if probed else (["cpu"], "")
    options = ["auto", *found]
    if st.session_state.get("device") not in (None, *options):
        st.session_state["device"] = "auto"  # a reloaded job's device that is not here now
    device = st.selectbox(
        "Device",
        options,
        key="device",
        persist_state=KEEP,
        help="Only the devices found on this machine are offered. auto: CUDA, then MPS, then CPU.",
    )
    if not probed:
        st.caption("Looking for GPUs…")  # the page's last line reruns it when they are found
    elif error:
        st.caption(f"Looking for GPUs failed ({form.plain(error)}); the CPU is used.")
    return device


def data_widgets(state: form.FormState, lim: Limits, probed: bool) -> tuple[str, dict]:
    """Dataset (synthetic by default: offline, no files) and sizes; how to get CIFAR-10 when
    it is chosen and not on disk."""
    data = data_dir()
    kind = st.radio(
        "Dataset",
        list(DATASETS),
        key="dataset_kind",
        horizontal=True,
        format_func=DATASETS.get,
        persist_state=KEEP,
        help="Synthetic: a learnable 10-class set of CIFAR shape made in memory (no files, no "
        "network). CIFAR-10: downloaded on first use. Image folder: train/<class>/*, "
        "test/<class>/* on this machine, resized to 32 x 32.",
    )
    note = cifar10_note(data) if probed and kind == "cifar10" else None
    if note is not None and not note[0]:
        st.info(
            "**CIFAR-10 is not on disk yet.** Press Start to download it (170 MB, "
            f"checksum-verified). Offline? {form.plain(note[1])}",
            icon=":material/info:",
        )
    elif note is not None:
        st.caption(f"CIFAR-10 found in {form.plain(data.resolve())}.")
    dataset = folder_widgets(lim) if kind == "folder" else kind
    cap = lim.max_train_size
    counts = folder_counts(dataset) if kind == "folder" else (50_000, 10_000)
    if kind == "folder" and st.session_state.get("_sizes_for") != dataset:
        st.session_state["_sizes_for"] = dataset  # another folder: its own sizes again
        st.session_state.pop("train_size_folder", None)
        st.session_state.pop("test_size_folder", None)
    c1, c2 = st.columns(2)
    sizes = {}
    for col, name, default, most in (
        (c1, "train_size", DEFAULTS.train_size, _least(cap, counts[0])),
        (c2, "test_size", DEFAULTS.test_size, counts[1]),
    ):
        s = spec(name)
        key = f"{name}_{kind}"
        if kind == "folder":  # a folder's own size: all of it, at most a profile's cap
            default = most
        if key not in st.session_state:
            st.session_state[key] = form.state_value(s, _least(default, most))
        raw = col.text_input(
            s.label,
            key=key,
            help=s.help + (f" At most {most:,} here." if most else ""),
            placeholder="all",
        )
        value = state.take(s, raw, lim)
        if value is not None and most is not None and value > most:
            state.errors[name] = f"must be at most {most:,} (got {value:,})"
        sizes[name] = state.values.pop(name, None)
    return dataset, sizes


def cifar10_note(data: Path) -> tuple[bool, str] | None:
    """(is CIFAR-10 on disk, how to get it by hand), or None while torch still loads."""
    if not probe_ready():
        return None
    from bedash.data.cifar10 import cifar10_manual_hint, cifar10_present

    return cifar10_present(data), cifar10_manual_hint(data)


def _least(*values: int | None) -> int | None:
    """The smallest of the values that are given (None: no bound)."""
    given = [v for v in values if v is not None]
    return min(given) if given else None


def folder_counts(root: str) -> tuple[int | None, int | None]:
    """(training, test) images of an image folder, (None, None) while it is not one (Start names
    the problem). Lists files only: no decoding, no torch."""
    from bedash.data.folder import image_counts
    from bedash.names import DatasetError

    if not root:
        return None, None
    try:
        return image_counts(root)
    except (DatasetError, OSError):
        return None, None


def folder_widgets(lim: Limits) -> str:
    """An image folder: a path here (not in the demo: uploads only) or a zip, checked on arrival."""
    path = ""
    if local := lim.dataset_roots is None:
        path = st.text_input(
            "Image folder",
            key="folder",
            persist_state=KEEP,
            placeholder="/path/to/images (with train/<class>/ and test/<class>/)",
            help="A folder on the machine running the dashboard, laid out as "
            "train/<class>/*.png and test/<class>/*.png. ~ is your home folder.",
        ).strip()
        path = str(Path(path).expanduser()) if path else ""
    upload = st.file_uploader(
        "… or upload a zip of it" if local else "Upload a zip of an image folder",
        type=["zip"],
        key="folder_zip",
        help="A zip holding train/<class>/* and test/<class>/* (or one folder that does). "
        f"At most {st.get_option('server.maxUploadSize')} MB.",
    )
    if upload is None:
        return path
    root, error = unpack_upload(upload)
    if error:
        st.error(f"**Upload**: {form.plain(error)}", icon=":material/error:")
    elif root:
        st.caption(f"Uploaded {form.plain(upload.name)}: unpacked and checked.")
    return root or path


def load_job_settings(job_id: str, cfg: RunConfig) -> None:
    """A reloaded ?job= (a new session) shows that job's settings in the form, once."""
    if st.session_state.get("form_job") == job_id:
        return
    st.session_state["form_job"] = job_id
    for s in form.fields_of_all(SPECIAL):
        value = getattr(cfg, s.name)
        st.session_state[s.name] = form.state_value(s, value)
        st.session_state[f"_arch_of_{s.name}"] = cfg.arch
    st.session_state["models"] = list(cfg.models)
    kind = cfg.dataset if cfg.dataset in DATASETS else "folder"
    st.session_state["dataset_kind"] = kind
    if kind == "folder":
        st.session_state["folder"] = cfg.dataset
        st.session_state["_sizes_for"] = cfg.dataset  # keep the job's sizes, not the folder's
    for name in ("train_size", "test_size"):
        st.session_state[f"{name}_{kind}"] = form.state_value(spec(name), getattr(cfg, name))
    st.session_state["device"] = cfg.device
    st.session_state["notes"] = str(cfg.extra.get("notes", "")) if cfg.extra else ""
