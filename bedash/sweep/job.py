"""A sweep in the background, for the dashboard: start_sweep() returns at once; progress comes
through a callback (SweepEvent, as the CLI's bar gets) and a snapshot read from sweep.json;
a cancel event stops the running cells (marked interrupted; starting again resumes).

Two ways to run: "local", run_sweep in a thread of this process with the in-process engine
(the demo); "ray", `python -m bedash sweep --out DIR` in a child process, because ray.init
blocks forever outside a process's main thread. No streamlit here.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bedash.settings.config import DEFAULT_LIMITS, Limits
from bedash.sweep.engines import _pythonpath
from bedash.sweep.folder import CELL_STATUSES, DONE_STATUSES, SweepStore, check_out, read_sweep_json
from bedash.sweep.grid import SweepError, SweepSpec, check_cells
from bedash.sweep.run import SweepEvent, run_sweep

POLL_SECONDS = 0.5


@dataclass
class SweepSnapshot:
    """What a page shows: the sweep's status and every cell's (from sweep.json)."""

    path: Path
    status: str  # pending | running | finished | failed | interrupted
    counts: dict[str, int]
    cells: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""  # why the job itself stopped (not a cell's error)

    @property
    def done(self) -> int:
        return sum(self.counts.get(s, 0) for s in DONE_STATUSES)

    @property
    def total(self) -> int:
        return len(self.cells)


class SweepJob:
    """A running sweep. cancel() asks it to stop; wait() joins it; snapshot() reads it."""

    def __init__(self, path: Path, cancel: threading.Event) -> None:
        self.path = path
        self.cancel_event = cancel
        self.error = ""
        self.thread: threading.Thread | None = None
        self.process: subprocess.Popen[str] | None = None

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def cancel(self) -> None:
        self.cancel_event.set()

    def wait(self, timeout: float | None = None) -> SweepSnapshot:
        if self.thread is not None:
            self.thread.join(timeout)
        return self.snapshot()

    def snapshot(self) -> SweepSnapshot:
        try:
            state = read_sweep_json(self.path)
        except SweepError as e:
            return SweepSnapshot(self.path, "failed", {}, [], self.error or e.message)
        cells = state.get("cells", [])
        counts = dict.fromkeys(CELL_STATUSES, 0)
        for c in cells:
            counts[c["status"]] = counts.get(c["status"], 0) + 1
        status = str(state.get("status", ""))
        if self.running and status != "running":
            status = "running"  # starting up: Ray, or the first cell's imports
        return SweepSnapshot(self.path, status, counts, cells, self.error)


def start_sweep(
    spec: SweepSpec,
    out: str | Path,
    *,
    engine: Any = "local",
    limits: Limits = DEFAULT_LIMITS,
    max_cells: int | None = None,
    progress: Callable[[SweepEvent], None] | None = None,
    cancel: threading.Event | None = None,
    engine_args: Sequence[str] = (),
) -> SweepJob:
    """Check the sweep (SweepError/ConfigError name the field, before anything is written),
    then run it in the background. engine: "local", "ray" (a child process; engine_args are
    more `python -m bedash sweep` flags, e.g. ["--address", "HOST:PORT"]), or an engine
    object (run in a thread). Rerunning on the same folder resumes it."""
    cells = check_cells(spec, limits, max_cells)
    path = Path(out)
    check_out(path, spec)
    job = SweepJob(path, cancel or threading.Event())
    if engine == "ray":
        SweepStore.open(path, spec, cells)  # the child process resumes what is stored here
    job.thread = threading.Thread(
        target=run_job, args=(job, spec, engine, limits, max_cells, progress, engine_args),
        daemon=True, name="bedash-sweep",
    )  # fmt: skip
    job.thread.start()
    return job


def run_job(
    job: SweepJob,
    spec: SweepSpec,
    engine: Any = "local",
    limits: Limits = DEFAULT_LIMITS,
    max_cells: int | None = None,
    progress: Callable[[SweepEvent], None] | None = None,
    engine_args: Sequence[str] = (),
) -> SweepSnapshot:
    """Run a checked sweep in this thread (start_sweep's thread, or a dashboard job's): engine
    "ray" runs the CLI in a child process on the stored sweep, "local" or an engine object runs
    it here. A failure of the job itself is kept in job.error; returns the final snapshot."""
    if engine == "ray":
        _watch_child(job, list(engine_args), progress)
    else:
        if engine == "local":
            from bedash.sweep.engines import LocalEngine

            engine = LocalEngine(limits)
        _run_here(job, spec, engine, limits, max_cells, progress)
    return job.snapshot()


def _run_here(
    job: SweepJob,
    spec: SweepSpec,
    engine: Any,
    limits: Limits,
    max_cells: int | None,
    progress: Callable[[SweepEvent], None] | None,
) -> None:
    try:
        run_sweep(spec, job.path, engine, limits=limits, max_cells=max_cells,
                  cancel=job.cancel_event, on_event=progress)  # fmt: skip
    except Exception as e:  # the job fails; finished cells stay on disk
        job.error = f"{type(e).__name__}: {e}"
    finally:
        with contextlib.suppress(Exception):
            engine.close()


def _watch_child(
    job: SweepJob, engine_args: list[str], progress: Callable[[SweepEvent], None] | None
) -> None:
    """Run the CLI on the stored sweep; turn sweep.json's changes into events; pass a set
    cancel event on as Ctrl-C (SIGINT)."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": _pythonpath(root)}
    cmd = [sys.executable, "-m", "bedash", "sweep", "--out", str(job.path), "--quiet",
           *engine_args]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    job.process = proc
    seen: dict[str, str] = {c["id"]: c["status"] for c in job.snapshot().cells}
    t0, interrupted = time.monotonic(), False
    while True:
        finished = proc.poll() is not None
        if job.cancel_event.is_set() and not interrupted and not finished:
            proc.send_signal(signal.SIGINT)
            interrupted = True
        snap = job.snapshot()
        for c in snap.cells:
            if seen.get(c["id"]) != c["status"]:
                seen[c["id"]] = c["status"]
                if progress is not None and c["status"] != "pending":
                    kind = "started" if c["status"] == "running" else "ended"
                    progress(_event(kind, c, snap, time.monotonic() - t0))
        if finished:
            break
        time.sleep(POLL_SECONDS)
    err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode not in (0, 1, 130):  # 1: a cell failed; 130: interrupted
        lines = [line for line in err.strip().splitlines() if line.strip()]
        job.error = lines[-1] if lines else f"the sweep process exited with {proc.returncode}"


def _event(kind: str, cell: dict[str, Any], snap: SweepSnapshot, elapsed: float) -> SweepEvent:
    left = snap.counts.get("pending", 0) + snap.counts.get("running", 0)
    ended = snap.total - left
    eta = elapsed / ended * left if ended else math.inf
    return SweepEvent(kind, cell["id"], cell["status"], dict(snap.counts), snap.done,
                      snap.total, elapsed, eta, cell.get("error", ""))  # fmt: skip
