"""Sweeps as dashboard jobs, in the executor's one queue behind the training jobs' cap (two at
once would measure each other's load). No streamlit. "local" runs the cells in the job's thread
(the demo); "ray" runs `python -m bedash sweep --out DIR` in a child process, because ray.init
blocks forever outside a main thread; cancelling reaches the child as Ctrl-C (SIGINT)."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bedash.estimate import remaining
from bedash.jobs.executor import Executor
from bedash.jobs.record import JobControl
from bedash.names import duration
from bedash.preflight import preflight
from bedash.sweep.engines import LocalEngine, pythonpath
from bedash.sweep.folder import SweepSnapshot, SweepStore, check_out, read_snapshot
from bedash.sweep.grid import SweepSpec, check_cells
from bedash.sweep.run import check_files, sweep_outcome, sweep_task

ENGINES = ("local", "ray")
POLL_SECONDS = 0.5  # how often the child's sweep.json is read


@dataclass
class SweepHandle:
    """A sweep submitted to the executor, as the Sweeps page reads it."""

    executor: Executor
    job_id: str
    path: Path

    @property
    def running(self) -> bool:
        snap = self.executor.snapshot(self.job_id)
        return snap is not None and snap.active

    @property
    def error(self) -> str:
        snap = self.executor.snapshot(self.job_id)
        return snap.error if snap is not None and snap.status == "failed" else ""

    def cancel(self) -> None:
        self.executor.cancel(self.job_id)

    def snapshot(self) -> SweepSnapshot:
        """sweep.json's cells; the status is the job's while it waits or starts."""
        snap = read_snapshot(self.path)
        job = self.executor.snapshot(self.job_id)
        if job is not None and job.status == "queued":
            snap.status = "queued"
        elif job is not None and job.active and snap.status != "running":
            snap.status = "running"  # starting up: Ray, or the first cell's imports
        snap.error = snap.error or self.error
        return snap

    def wait(self, timeout: float | None = None) -> SweepSnapshot:
        self.executor.wait(self.job_id, timeout)
        return self.snapshot()


def submit_sweep(
    executor: Executor,
    spec: SweepSpec,
    name: str,
    *,
    engine: Any = "local",
    max_cells: int | None = None,
    engine_args: Sequence[str] = (),
    key: str | None = None,
) -> SweepHandle:
    """Check the sweep (errors name the field; nothing is queued or written on bad input), store
    its grid and queue it. engine: "local", "ray" (engine_args: more `bedash sweep` flags) or an
    engine object (a test's). Submitting again on the same folder resumes it."""
    if isinstance(engine, str) and engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)} (got {engine!r})")
    limits = executor.limits
    cells = check_cells(spec, limits, max_cells)
    check_files(cells)  # the dashboard's sweeps run on this machine, Ray or not
    for cfg in {c.config_index: c.config for c in cells}.values():
        preflight(cfg, limits)  # train's checks (data, device, batch), as `bedash sweep` runs
    path = executor.runs_dir / name
    check_out(path, spec)
    SweepStore.open(path, spec, cells).close()  # stored; the job takes the lock again

    def task(control: JobControl) -> tuple[Any, ...]:
        if engine == "ray":
            return _run_child(control, path, list(engine_args))
        here = engine
        if engine == "local":
            from bedash.experiment import run_experiment  # torch: in the job's thread

            here = LocalEngine(run_experiment, limits)
        return sweep_task(spec, path, here, limits=limits, max_cells=max_cells)(control)

    job_id = executor.submit(task, spec.base, run_id=name, key=key)
    return SweepHandle(executor, job_id, path)


def _run_child(control: JobControl, path: Path, engine_args: list[str]) -> tuple[str, str, str]:
    """Run the CLI on the stored sweep, report sweep.json's cells, pass a cancel on as SIGINT."""
    root = Path(__file__).resolve().parents[2]  # the folder that holds this bedash
    cmd = [sys.executable, "-m", "bedash", "sweep", "--out", str(path), "--quiet", *engine_args]
    env = {**os.environ, "PYTHONPATH": pythonpath(root)}
    pipes = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
    proc = subprocess.Popen(cmd, env=env, text=True, **pipes)
    first = read_snapshot(path)
    control.report(f"{first.done} of {first.total} cells done", first.done, first.total)
    t0, interrupted, seen = time.monotonic(), False, first.done
    while proc.poll() is None:
        if control.cancel.is_set() and not interrupted:
            proc.send_signal(signal.SIGINT)
            interrupted = True
        snap = read_snapshot(path)
        if snap.done != seen:
            seen, left = snap.done, snap.counts["pending"] + snap.counts["running"]
            ended = snap.total - left - first.done  # cells ended since this attempt started
            eta = remaining(ended, ended + left, time.monotonic() - t0)
            note = f"; about {duration(eta)} left" if math.isfinite(eta) else ""
            control.report(f"{snap.done} of {snap.total} cells done{note}", snap.done, snap.total)
        time.sleep(POLL_SECONDS)
    err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode not in (0, 1, 130):  # 1: a cell failed; 130: interrupted
        lines = [line for line in err.strip().splitlines() if line.strip()]
        return "failed", lines[-1] if lines else f"the sweep exited with {proc.returncode}", ""
    return sweep_outcome(read_snapshot(path).counts, control.cancel.is_set())
