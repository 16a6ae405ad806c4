"""Sweeps as dashboard jobs: a sweep waits in the same registry queue as training jobs (one
at a time by default: two would measure each other's load), is stopped by the same Cancel and
by the server's shutdown, and reports cells done as its progress. The page holds a SweepHandle,
which reads like bedash.sweep.job.SweepJob (snapshot, running, error, cancel). No streamlit.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bedash.dashboard.jobs import JobRegistry, TaskControl
from bedash.names import duration
from bedash.settings.config import Limits
from bedash.sweep.folder import SweepStore, check_out
from bedash.sweep.grid import SweepSpec, check_cells, check_files
from bedash.sweep.run import SweepEvent
from bedash.sweep.job import SweepJob, SweepSnapshot, run_job

ENGINES = ("local", "ray")


@dataclass
class SweepHandle:
    """A sweep submitted to a JobRegistry, as the Sweeps page reads it."""

    registry: JobRegistry
    job_id: str
    path: Path

    @property
    def running(self) -> bool:
        snap = self.registry.snapshot(self.job_id)
        return snap is not None and snap.active

    @property
    def error(self) -> str:
        snap = self.registry.snapshot(self.job_id)
        return snap.error if snap is not None and snap.status == "failed" else ""

    @property
    def message(self) -> str:
        snap = self.registry.snapshot(self.job_id)
        return snap.message if snap is not None else ""

    def cancel(self) -> None:
        self.registry.cancel(self.job_id)

    def snapshot(self) -> SweepSnapshot:
        """sweep.json's cells; the status is the job's while it waits or starts."""
        snap = SweepJob(self.path, threading.Event()).snapshot()
        job = self.registry.snapshot(self.job_id)
        if job is not None and job.status == "queued":
            snap.status = "queued"
        elif job is not None and job.active and snap.status not in ("running",):
            snap.status = "running"
        if not snap.error:
            snap.error = self.error
        return snap

    def wait(self, timeout: float | None = None) -> SweepSnapshot:
        self.registry.wait(self.job_id, timeout)
        return self.snapshot()


def submit_sweep(
    registry: JobRegistry,
    spec: SweepSpec,
    name: str,
    *,
    engine: str = "local",
    max_cells: int | None = None,
    engine_args: Sequence[str] = (),
    key: str | None = None,
) -> SweepHandle:
    """Check the sweep (SweepError/ConfigError/DatasetError name the field; nothing is queued
    or written on bad input), store its grid (the page shows the pending cells at once) and
    queue it.
    engine: "local" (cells in this process: the demo) or "ray" (`python -m bedash sweep` in a
    child process, Ray started there)."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)} (got {engine!r})")
    limits: Limits = registry.limits
    cells = check_cells(spec, limits, max_cells)
    check_files(cells)  # the dashboard's sweeps run on this machine, Ray or not
    path = registry.runs_dir / name
    check_out(path, spec)
    SweepStore.open(path, spec, cells)

    def task(control: TaskControl) -> tuple[str, str, str]:
        job = SweepJob(path, control.cancel)
        job.thread = threading.current_thread()  # running while this task runs
        control.report(f"0 of {len(cells)} cells done", 0, len(cells))

        def progress(e: SweepEvent) -> None:
            eta = f"; about {duration(e.eta)} left" if math.isfinite(e.eta) and e.done else ""
            control.report(f"{e.done} of {e.total} cells done{eta}", e.done, e.total)

        snap = run_job(job, spec, engine, limits, max_cells, progress, engine_args)
        return _outcome(job, snap, control.cancel.is_set())

    job_id = registry.submit_task(spec.base, name, task, key=key)
    return SweepHandle(registry, job_id, path)


def _outcome(job: SweepJob, snap: SweepSnapshot, cancelled: bool) -> tuple[str, str, str]:
    """The registry job's status, error and message from the sweep's end state."""
    failed = snap.counts.get("failed", 0)
    if job.error:
        return "failed", job.error, ""
    if cancelled:
        return "cancelled", "", f"stopped; {snap.done} of {snap.total} cells done are kept"
    tail = f"; {failed} failed (see the grid)" if failed else ""
    return "finished", "", f"{snap.done} of {snap.total} cells done{tail}"
