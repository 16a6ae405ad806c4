"""What the pages share: folders, the process-wide job registry, the device probe, run data.

Nothing here imports torch (one to two seconds) or pandas (half a second) at import time: the
first page must render fast. The probe imports torch in a background thread instead.
"""

from __future__ import annotations

import atexit
import io
import os
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from bedash.config import Limits
from bedash.jobs import JobRegistry
from bedash.profile import current_limits
from bedash.runs import RunInfo, is_run_dir, read_run, run_path, valid_run_id

if TYPE_CHECKING:
    import pandas as pd

STATUS_COLORS = {
    "queued": "gray", "loading": "blue", "running": "blue", "finished": "green",
    "cancelled": "orange", "interrupted": "orange", "diverged": "red", "failed": "red",
    "damaged": "red",
}  # fmt: skip


RESULT_COLUMNS = {  # results table header: (number format, help)
    "E": ("%d", "Members: ensemble size (1 for the single model)."),
    "Params": ("localized", "Parameters of the whole model, all members included."),
    "MB": ("%.2f", "Parameter memory in MB."),
    "× single": ("%.2f×", "Parameters relative to the single model."),
    "Train s": ("%.2f", "Training time, all epochs (and all members)."),
    "s / epoch": ("%.3f", "Mean time per epoch."),
    "Infer s": ("%.4f", "Forward passes over the whole test set."),
    "Acc mean member": ("%.4f", "Average test accuracy of the members on their own."),
    "Acc ensemble (mean softmax)": ("%.4f", "Accuracy of the averaged member probabilities."),
    "Acc majority vote": ("%.4f", "Accuracy of the class most members vote for."),
    "Acc oracle": ("%.4f", "Share of images at least one member gets right (an upper bound)."),
    "NLL": ("%.4f", "Negative log-likelihood of the ensemble prediction (lower is better)."),
    "ECE": ("%.4f", "Expected calibration error, 15 bins (lower is better)."),
    "Brier": ("%.4f", "Brier score of the ensemble prediction (lower is better)."),
    "Disagreement": ("%.3f", "Mean share of test images on which two members disagree."),
}


SETTINGS = ("BEDASH_PROFILE", "BEDASH_RUNS_DIR", "BEDASH_DATA_DIR", "BEDASH_MAX_JOBS")


def setting(name: str, default: str = "") -> str:
    """An environment variable, else the Streamlit secret of that name (a hosted app is
    configured in its secrets; the library never reads them: it does not import streamlit)."""
    value = os.environ.get(name)
    if value is None:
        try:
            value = st.secrets[name]
        except (KeyError, FileNotFoundError):  # no such secret, or no secrets file at all
            return default
    return str(value)


def settings() -> dict[str, str]:
    """The BEDASH_* settings as an environment for bedash.profile."""
    return {name: setting(name) for name in SETTINGS if setting(name)}


def runs_dir() -> Path:
    """Where runs are written and read (BEDASH_RUNS_DIR, default ./runs)."""
    return Path(setting("BEDASH_RUNS_DIR", "runs"))


def data_dir() -> Path:
    """Where CIFAR-10 is downloaded and decoded tensors are cached (BEDASH_DATA_DIR)."""
    return Path(setting("BEDASH_DATA_DIR", "data"))


def limits() -> Limits:
    """The profile's caps: BEDASH_PROFILE=demo as a variable or a secret."""
    return current_limits(settings())


def max_jobs() -> int:
    """Jobs that may train at once (BEDASH_MAX_JOBS, default 1: timings are results, and two
    jobs on the same cores would each measure the other's load); the demo allows one."""
    try:
        wanted = max(1, int(setting("BEDASH_MAX_JOBS", "1")))
    except ValueError:
        wanted = 1
    cap = limits().max_running
    return min(wanted, cap) if cap else wanted


# -- the job registry: one per server process, shared by every session -------------------------


def result_columns(table: pd.DataFrame) -> dict:
    """Number formats and help texts of the results table's columns (bedash.charts)."""
    return {
        col: st.column_config.NumberColumn(col, format=fmt, help=text)
        for col, (fmt, text) in RESULT_COLUMNS.items()
        if col in table
    }


def _shutdown(reg: JobRegistry) -> None:
    reg.shutdown(timeout=10.0)


@st.cache_resource(show_spinner=False, on_release=_shutdown)
def _registry(runs: str, max_running: int, lim: Limits) -> JobRegistry:
    reg = JobRegistry(runs, max_running=max_running, limits=lim)
    atexit.register(reg.shutdown, 10.0)  # the server stops: cancel, join, write the status
    return reg


def registry() -> JobRegistry:
    return _registry(str(runs_dir()), max_jobs(), limits())


# -- which session shows which run (a run open in another tab is not deleted) -----------------


@dataclass
class _Session:
    reg: JobRegistry
    token: str


def _forget(session: _Session) -> None:
    session.reg.set_view(session.token, None)


@st.cache_resource(show_spinner=False, scope="session", on_release=_forget)
def _session(token: str, _reg: JobRegistry) -> _Session:
    return _Session(_reg, token)


def session_id() -> str:
    """This browser session's token; its view is forgotten when the session closes."""
    token = st.session_state.setdefault("_view_token", uuid.uuid4().hex)
    _session(token, registry())  # a session-scoped entry, released when the session ends
    return token


def set_view(run_id: str | None) -> None:
    registry().set_view(session_id(), run_id)


# -- the device probe: torch is imported off the script thread, after the first paint ---------


class _Probe:
    """Imports torch in a background thread and lists the devices. Loading torch's libraries
    holds the GIL for a second or two, which also stalls the server's event loop (nothing
    reaches the browser meanwhile), so it starts only once a page is on screen."""

    def __init__(self) -> None:
        self.devices: list[str] = ["cpu"]
        self.error = ""
        self.ready = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="bedash-probe", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        try:
            import bedash.data  # noqa: F401  (so later dataset checks cost nothing)
            from bedash.devices import available_devices

            self.devices = available_devices()
        except Exception as e:  # a broken CUDA install must not break the page
            self.error = f"{type(e).__name__}: {e}"
        finally:
            self.ready.set()


@st.cache_resource(show_spinner=False)
def _probe() -> _Probe:
    return _Probe()


def probe_ready() -> bool:
    return _probe().ready.is_set()


def devices(timeout: float = 30.0) -> tuple[list[str], str]:
    """The devices torch can use, and an error text if looking for them failed."""
    probe = _probe()
    probe.start()
    probe.ready.wait(timeout)
    return probe.devices, probe.error


def cifar10_note(data: Path) -> tuple[bool, str] | None:
    """(is CIFAR-10 on disk, how to get it by hand), or None while torch still loads."""
    if not probe_ready():
        return None
    from bedash.data import cifar10_manual_hint, cifar10_present

    return cifar10_present(data), cifar10_manual_hint(data)


PROBE_DELAY = 1.5  # seconds after a page's first run: the browser is still fetching scripts


def await_probe() -> None:
    """Call last on a page that waits for the device list. A session's first run only paints;
    the probe starts on a later run, or from the poll below once the browser has had time to
    load the page (torch's import stalls the server, static files included, for a second or
    two); when it is done the poll reruns the page once. Only a poll may rerun: a rerun inside
    a full run would swallow that run's button click and the message it showed."""
    runs = st.session_state["_page_runs"] = st.session_state.get("_page_runs", 0) + 1
    st.session_state.setdefault("_painted_at", time.monotonic())
    if runs > 1:
        _probe().start()
    _poll_probe(runs)


@st.fragment(run_every=0.5)
def _poll_probe(page_run: int) -> None:
    first = st.session_state.get("_poll_probe_run") != page_run  # the call of the full run
    st.session_state["_poll_probe_run"] = page_run
    if first or time.monotonic() - st.session_state["_painted_at"] < PROBE_DELAY:
        return
    probe = _probe()
    probe.start()
    if probe.ready.is_set():
        st.rerun()


# -- uploaded image folders --------------------------------------------------------------------


def unpack_upload(upload) -> tuple[str | None, str | None]:
    """(dataset root, error) of an uploaded zip, unpacked once per file (kept in the session:
    a rerun must not unpack it again, nor retry a refused one)."""
    done = st.session_state.get("_upload")
    if done and done[0] == upload.file_id:
        return done[1], done[2]
    from bedash.profile import DEMO_MAX_UPLOAD_FILES, uploads_dir
    from bedash.uploads import UploadError, extract_dataset_zip

    demo = limits().name == "demo"
    uploads = uploads_dir(settings())
    if demo:
        prune_uploads()
    root, error = None, None
    with st.spinner("Unpacking the zip and checking every image…"):
        try:
            path = extract_dataset_zip(
                upload.getvalue(), uploads,
                max_bytes=st.get_option("server.maxUploadSize") * 2**20,
                max_files=DEMO_MAX_UPLOAD_FILES if demo else 1_000_000,
                cache_dir=data_dir() / "bedash-cache",  # the run reuses this decode
            )  # fmt: skip
            root = str(path)
        except UploadError as e:
            error = str(e)
    st.session_state["_upload"] = (upload.file_id, root, error)
    return root, error


def prune_uploads() -> list[Path]:
    """The demo keeps its disk: uploads older than a few hours, or beyond a total size, are
    removed when a new one arrives; the datasets of queued and running jobs stay."""
    from bedash.housekeeping import prune_uploads as prune
    from bedash.profile import DEMO_UPLOADS_MAX_AGE, DEMO_UPLOADS_MAX_BYTES, uploads_dir

    keep = [s.config.dataset for s in registry().jobs() if s.active]
    return prune(
        uploads_dir(settings()), max_age_seconds=DEMO_UPLOADS_MAX_AGE,
        max_total_bytes=DEMO_UPLOADS_MAX_BYTES, keep=keep, cache_dir=data_dir() / "bedash-cache",
    )  # fmt: skip


# -- run data ---------------------------------------------------------------------------------


@dataclass
class RunData:
    """A run folder read into frames (empty frames for files not written yet)."""

    info: RunInfo
    results: pd.DataFrame
    members: pd.DataFrame
    history: pd.DataFrame
    agreement: dict[str, pd.DataFrame]
    reliability: dict[str, pd.DataFrame]


def find_run(run_id: str) -> Path | None:
    """The folder of run_id, or None when the id is malformed or no such run exists."""
    if not valid_run_id(run_id):
        return None
    try:
        path = run_path(runs_dir(), run_id)
    except ValueError:
        return None
    return path if path.is_dir() and is_run_dir(path) else None


def _csv(path: Path) -> pd.DataFrame:
    import pandas as pd  # only the pages that read runs need it

    try:
        return pd.read_csv(path)
    except (OSError, ValueError):  # absent, empty or half-written: show nothing, not a trace
        return pd.DataFrame()


def load_run(path: Path) -> RunData:
    def tables(prefix: str) -> dict[str, pd.DataFrame]:
        found = sorted(path.glob(f"{prefix}_*.csv"))
        return {f.stem.removeprefix(prefix + "_"): _csv(f) for f in found}

    return RunData(
        read_run(path),
        _csv(path / "results.csv"),
        _csv(path / "members.csv"),
        _csv(path / "history.csv"),
        tables("agreement"),
        tables("reliability"),
    )


def run_files(path: Path) -> list[Path]:
    """What a run's zip holds: its CSVs, config.json and status.json."""
    names = [p for p in sorted(path.iterdir()) if p.is_file()]
    return [p for p in names if p.suffix == ".csv" or p.name in ("config.json", "status.json")]


def run_zip(path: Path) -> bytes:
    """The whole run as one zip, files under a folder named after the run."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for f in run_files(path):
            z.write(f, f"{path.name}/{f.name}")
    return buf.getvalue()


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


# -- small display helpers --------------------------------------------------------------------


def config_summary(cfg: dict) -> str:
    """One line: dataset and sizes, architecture, E, epochs, batch, learning rate, seed."""

    def count(value: object) -> str:
        return "all" if value in (None, "") else f"{value:,}"

    dataset = str(cfg.get("dataset", ""))
    if "/" in dataset:  # an image folder: its name is enough
        dataset = dataset.rstrip("/").rsplit("/", 1)[-1]
    shape = (
        f"{cfg.get('layers')} × {cfg.get('hidden')}"
        if cfg.get("arch") == "mlp"
        else f"{cfg.get('channels')} channels, width {cfg.get('hidden')}"
    )
    return (
        f"{dataset} ({count(cfg.get('train_size'))} train / {count(cfg.get('test_size'))} test "
        f"images) · {str(cfg.get('arch', '')).upper()} {shape} · E = {cfg.get('members')} · "
        f"{cfg.get('epochs')} epochs · batch {cfg.get('batch_size')} · lr {cfg.get('lr')} · "
        f"seed {cfg.get('seed')}"
    )


def status_badge(status: str) -> None:
    st.badge(status, color=STATUS_COLORS.get(status, "gray"))


def duration(seconds: float | None) -> str:
    """1:05, 1:02:03, or -- when unknown."""
    if seconds is None or seconds != seconds or seconds in (float("inf"), float("-inf")):
        return "--"
    s = round(seconds)
    return (
        f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )
