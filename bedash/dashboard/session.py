"""The dashboard's process-wide state: one job executor per server, which session shows which
run, and the device probe. No torch or pandas at import time: the first page must render fast."""

from __future__ import annotations

import atexit
import threading
import time
import uuid
from dataclasses import dataclass

import streamlit as st

from bedash.dashboard import settings
from bedash.jobs.executor import Executor
from bedash.settings.limits import Limits

# -- the job executor: one per server process, shared by every session -------------------------


def _shutdown(reg: Executor) -> None:
    reg.shutdown(timeout=10.0)


@st.cache_resource(show_spinner=False, on_release=_shutdown)
def _registry(runs: str, max_running: int, lim: Limits) -> Executor:
    reg = Executor(runs, max_running=max_running, limits=lim)
    atexit.register(reg.shutdown, 10.0)  # the server stops: cancel, join, write the status
    return reg


def registry() -> Executor:
    """The server's one executor: training jobs and sweeps share its queue and cap."""
    return _registry(str(settings.runs_dir()), settings.max_jobs(), settings.limits())


# -- which session shows which run (a run open in another tab is not deleted) -----------------


@dataclass
class _Session:
    reg: Executor
    token: str


def _forget(session: _Session) -> None:
    session.reg.set_view(session.token, None)


@st.cache_resource(show_spinner=False, scope="session", on_release=_forget)
def _session(token: str, _reg: Executor) -> _Session:
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
            import bedash.data.load  # noqa: F401  (so later dataset checks cost nothing)
            from bedash.method.devices import available_devices

            self.devices = available_devices()
        except Exception as e:  # a broken CUDA install must not break the page
            self.error = f"{type(e).__name__}: {e}"
        finally:
            self.ready.set()


@st.cache_resource
def sweep_jobs() -> dict:
    """Process-wide sweep handles by folder name: a refresh (?sweep=<name>) reattaches."""
    return {}


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


PROBE_DELAY = 1.5  # seconds after a page's first run: the browser is still fetching scripts


def await_probe() -> None:
    """Call last on a page that waits for the device list. A first run only paints; the probe
    starts on a later run or from the poll once the page has loaded (torch's import stalls the
    server), and the poll reruns the page once it is done. Only a poll may rerun: a rerun in a
    full run would swallow that run's button click and its message."""
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
