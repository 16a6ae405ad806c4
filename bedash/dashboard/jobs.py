"""Background training jobs for the dashboard: one thread per job, a cancel flag, a locked live
record of its progress, and a FIFO queue behind a concurrency cap. Under a profile with limits
(the hosted demo), a watchdog timer stops jobs past their wall time and jobs that no page has
polled (`watch`) for `unwatched_seconds`: a closed tab does not hold the only slot.

No streamlit here: worker threads must never call it. Pages read `snapshot(job_id)`, an
immutable copy taken under a short lock, so polling never holds up training. Importing this
module does not import torch (the worker imports the training code when it starts), so a page
can import it at the top and still render fast.
"""

# Size: ~520 lines: the registry, its queue and its watchdog share one lock and one job
# record; the checks before a job is queued live in preflight.py.

from __future__ import annotations

import os
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bedash.dashboard.preflight import check_runs_dir, preflight
from bedash.names import FINAL_STATUSES, JOB_ACTIVE, EpochRecord, Progress
from bedash.settings.config import DEFAULT_LIMITS, ConfigError, Limits, RunConfig
from bedash.store.folders import RunDirError, new_run_id

ACTIVE = JOB_ACTIVE
FINAL = FINAL_STATUSES
MAX_TRACE = 2000  # live loss points kept per job; older ones are thinned, not dropped
MAX_FINISHED = 200  # finished jobs remembered (a run folder outlives its job anyway)


@dataclass(frozen=True)
class TracePoint:
    """A log point of the live loss curve: x is the epoch, fractional inside an epoch."""

    model: str
    member: int | None
    x: float
    loss: float


@dataclass(frozen=True)
class DataProgress:
    """Dataset download / extract / decode progress: done of total (bytes or files)."""

    stage: str
    done: int
    total: int


@dataclass(frozen=True)
class JobSnapshot:
    """An immutable copy of a job's state at one moment."""

    id: str
    config: RunConfig
    status: str  # queued | loading | running | finished | cancelled | failed | diverged
    run_id: str
    run_dir: Path
    submitted: float  # time.time() stamps
    started: float | None
    ended: float | None
    queue_position: int | None  # 1 = next to start; None unless queued
    message: str  # what the job is doing, or why it stopped
    error: str
    traceback: str
    model: str | None  # the model kind being trained
    model_index: int  # 0-based index of `model` in config.models
    progress: Progress | None
    data_progress: DataProgress | None
    history: tuple[EpochRecord, ...]
    trace: tuple[TracePoint, ...]
    results: tuple[Mapping[str, Any], ...]  # results.csv rows of the models done so far
    version: int  # grows with every change

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def done(self) -> bool:
        return self.status in FINAL

    @property
    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return (self.ended or time.time()) - self.started


_END_MESSAGES = {
    "finished": "finished",
    "cancelled": "stopped; everything measured until then is kept",
    "diverged": "a model's loss became NaN or infinite (diverged); try a lower learning rate",
}


@dataclass(frozen=True)
class TaskControl:
    """What a task run by the registry (a sweep) gets: the job's cancel event and a report
    hook (message, done, total) that updates its live record under the registry's lock."""

    cancel: threading.Event
    report: Callable[[str, int, int], None]


Task = Callable[[TaskControl], tuple[str, str, str]]  # -> status, error, final message


class _Stopped(Exception):
    """Raised from the data-progress hook to abandon a download when the job is cancelled."""


@dataclass(eq=False)
class _Job:
    """The mutable state behind a snapshot; only touched under the registry's lock."""

    id: str
    config: RunConfig
    run_id: str
    run_dir: Path
    submitted: float = field(default_factory=time.time)
    cancel: threading.Event = field(default_factory=threading.Event)
    status: str = "queued"
    started: float | None = None
    ended: float | None = None
    message: str = ""
    error: str = ""
    traceback: str = ""
    model: str | None = None
    model_index: int = 0
    progress: Progress | None = None
    data_progress: DataProgress | None = None
    history: list[EpochRecord] = field(default_factory=list)
    trace: list[TracePoint] = field(default_factory=list)
    results: list[Mapping[str, Any]] = field(default_factory=list)
    version: int = 0
    thread: threading.Thread | None = None
    snap: JobSnapshot | None = None  # the last snapshot, reused while nothing changed
    watched: float = field(default_factory=time.monotonic)  # a page last polled it (monotonic)
    stop_reason: str = ""  # why the registry itself stopped the job (a profile limit)
    task: Task | None = None  # a sweep: run this instead of training job.config


class JobRegistry:
    """Thread-safe jobs shared by every session: at most `max_running` train at once, the rest
    wait in FIFO order. Timings are part of the results, so the default runs one job at a time:
    two jobs sharing the cores would each measure the other's load."""

    def __init__(
        self,
        runs_dir: str | os.PathLike,
        *,
        max_running: int = 1,
        limits: Limits = DEFAULT_LIMITS,
        max_finished: int = MAX_FINISHED,
    ) -> None:
        if max_running < 1:
            raise ValueError(f"max_running must be at least 1 (got {max_running})")
        self.runs_dir = Path(runs_dir)
        self.max_running = max_running
        self.limits = limits
        self.max_finished = max_finished
        self._cond = threading.Condition(threading.RLock())  # guards everything below
        self._jobs: dict[str, _Job] = {}
        self._keys: dict[str, str] = {}  # submit key -> job id (a double click queues one job)
        self._queue: deque[str] = deque()
        self._running: set[str] = set()
        self._views: dict[str, tuple[str, float]] = {}  # session -> (run id, last seen)
        self._closed = False
        self._stop = threading.Event()  # ends the watchdog
        self._watchdog: threading.Thread | None = None

    # -- submitting and controlling --------------------------------------------------------

    def submit(self, cfg: RunConfig, *, check: bool = True, key: str | None = None) -> str:
        """Queue a job and return its id. With check, bad input raises ConfigError (naming the
        field) here, before anything is queued or written. `key` makes a submit idempotent: a
        second submit with the same key (a double click) returns the first one's job."""
        with self._cond:
            if key and key in self._keys and self._keys[key] in self._jobs:
                return self._keys[key]
        if check:
            preflight(cfg, self.limits)
        check_runs_dir(self.runs_dir)
        cap = self.limits.eval_batch_size
        if cap and cfg.eval_batch_size > cap:  # the same metrics in smaller chunks, less memory
            cfg = cfg.replace(eval_batch_size=cap)
        with self._cond:
            if self._closed:
                raise RuntimeError("the job registry is shut down; no new jobs")
            self._start_watchdog()
            run_id = self._unused_run_id()
            job = _Job(uuid.uuid4().hex, cfg, run_id, self.runs_dir / run_id)
            self._jobs[job.id] = job
            if key:
                self._keys[key] = job.id
            self._queue.append(job.id)
            self._touch(job)
            self._start_queued()
            self._prune()
        return job.id

    def submit_task(
        self, cfg: RunConfig, run_id: str, task: Task, *, key: str | None = None
    ) -> str:
        """Queue a task that writes runs_dir/run_id (a sweep): it waits for a slot behind the
        same cap as training jobs (their timings would measure each other), is cancelled by
        cancel() and shutdown(), and reports through TaskControl. The caller checks its input
        first; `key` makes the submit idempotent as in submit()."""
        with self._cond:
            if key and key in self._keys and self._keys[key] in self._jobs:
                return self._keys[key]
            if self._closed:
                raise RuntimeError("the job registry is shut down; no new jobs")
            self._start_watchdog()
            job = _Job(uuid.uuid4().hex, cfg, run_id, self.runs_dir / run_id, task=task)
            self._jobs[job.id] = job
            if key:
                self._keys[key] = job.id
            self._queue.append(job.id)
            self._touch(job)
            self._start_queued()
            self._prune()
        return job.id

    def cancel(self, job_id: str) -> bool:
        """Stop a job: a queued one never starts, a running one stops after its current batch
        (or download chunk) and keeps what it measured. False when there is nothing to stop."""
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None or job.status in FINAL:
                return False
            if job.status == "queued":
                self._queue.remove(job_id)
                job.status, job.ended = "cancelled", time.time()
                job.message = "cancelled before it started; nothing was written"
            else:
                job.message = "stopping after the current batch"
            job.cancel.set()
            self._touch(job)
            return True

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Cancel every job and join the threads (the server is stopping). True when all
        stopped in time. Later submits raise."""
        self._stop.set()
        with self._cond:
            self._closed = True
            for job_id in list(self._queue):
                self.cancel(job_id)
            for job in self._jobs.values():
                if job.status in ACTIVE:
                    job.cancel.set()
            threads = [j.thread for j in self._jobs.values() if j.thread is not None]
            if self._watchdog is not None:
                threads.append(self._watchdog)
        deadline = time.monotonic() + timeout
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in threads)

    # -- reading ---------------------------------------------------------------------------

    def snapshot(self, job_id: str) -> JobSnapshot | None:
        """An immutable copy of the job (None for an unknown id). Cheap: the lock is held only
        to copy a few lists, and an unchanged job returns the same object."""
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            if job.snap is None or job.snap.version != job.version:
                job.snap = self._copy(job)
            return job.snap

    def watch(self, job_id: str) -> JobSnapshot | None:
        """snapshot(), and a heartbeat: a page shows this job now. Under a profile with
        `unwatched_seconds`, a job no page watched for that long is stopped."""
        with self._cond:
            job = self._jobs.get(job_id)
            if job is not None:
                job.watched = time.monotonic()
        return self.snapshot(job_id)

    def jobs(self) -> list[JobSnapshot]:
        """Every remembered job, newest first."""
        with self._cond:
            ids = sorted(self._jobs, key=lambda i: self._jobs[i].submitted, reverse=True)
        return [s for s in map(self.snapshot, ids) if s is not None]

    def wait(self, job_id: str, timeout: float | None = None) -> JobSnapshot | None:
        """Block until the job is done (or timeout); return its snapshot."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while (job := self._jobs.get(job_id)) is not None and job.status not in FINAL:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._cond.wait(left)
        return self.snapshot(job_id)

    def job_for_run(self, run_id: str) -> str | None:
        """The id of the (latest) job that writes run_id."""
        with self._cond:
            found = [j for j in self._jobs.values() if j.run_id == run_id]
        return max(found, key=lambda j: j.submitted).id if found else None

    def active_run_ids(self) -> set[str]:
        """Runs that a queued or running job will write: never delete these."""
        with self._cond:
            return {j.run_id for j in self._jobs.values() if j.status in ACTIVE}

    def counts(self) -> dict[str, int]:
        with self._cond:
            return {
                "running": len(self._running),
                "queued": len(self._queue),
                "jobs": len(self._jobs),
            }

    # -- who is looking at which run (deletion of a viewed run is refused) -------------------

    def set_view(self, session: str, run_id: str | None) -> None:
        """Record that `session` shows run_id now (None: it shows no run)."""
        with self._cond:
            if run_id is None:
                self._views.pop(session, None)
            else:
                self._views[session] = (run_id, time.monotonic())

    def viewers(self, run_id: str, *, exclude: str | None = None, max_age: float = 1800.0) -> int:
        """How many other sessions show run_id. Sessions forget their view when they close;
        max_age is the backstop for one that never said so."""
        now = time.monotonic()
        with self._cond:
            return sum(
                1
                for s, (r, seen) in self._views.items()
                if r == run_id and s != exclude and now - seen <= max_age
            )

    # -- internals (called with the lock held unless noted) ----------------------------------

    def _unused_run_id(self) -> str:
        taken = {j.run_id for j in self._jobs.values()}
        while True:
            run_id = new_run_id()
            if run_id not in taken and not (self.runs_dir / run_id).exists():
                return run_id

    def _touch(self, job: _Job) -> None:
        job.version += 1
        self._cond.notify_all()

    def _update(self, job: _Job, change: Callable[[_Job], None]) -> None:
        """Apply a worker's change to its job under the lock, check the wall-time limit and
        publish a new version: the one way the training thread reaches the registry."""
        with self._cond:
            change(job)
            self._check_wall(job)
            self._touch(job)

    def _start_queued(self) -> None:
        while self._queue and len(self._running) < self.max_running and not self._closed:
            job = self._jobs[self._queue.popleft()]
            job.status, job.started = "loading", time.time()
            job.message = "starting" if job.task else f"loading {job.config.dataset}"
            job.thread = threading.Thread(
                target=self._work, args=(job,), name=f"bedash-job-{job.id[:8]}", daemon=True
            )  # daemon: a stuck job cannot keep the server alive; shutdown() joins it first
            self._running.add(job.id)
            self._touch(job)
            job.thread.start()

    def _prune(self) -> None:
        done = [j for j in self._jobs.values() if j.status in FINAL]
        done.sort(key=lambda j: j.submitted)
        for job in done[: max(0, len(done) - self.max_finished)]:
            del self._jobs[job.id]
        self._keys = {k: j for k, j in self._keys.items() if j in self._jobs}

    def _copy(self, job: _Job) -> JobSnapshot:
        position = None
        if job.status == "queued":
            position = self._queue.index(job.id) + 1
        return JobSnapshot(
            job.id, job.config, job.status, job.run_id, job.run_dir, job.submitted, job.started,
            job.ended, position, job.message, job.error, job.traceback, job.model,
            job.model_index, job.progress, job.data_progress, tuple(job.history),
            tuple(job.trace), tuple(job.results), job.version,
        )  # fmt: skip

    # -- the worker thread (never calls streamlit) -------------------------------------------

    def _work(self, job: _Job) -> None:
        status, error, tb, message = "failed", "", "", ""
        try:
            if job.task is not None:
                status, error, message = job.task(TaskControl(job.cancel, self._reporter(job)))
            else:
                status, error, message = self._train(job)
        except Exception as e:  # a crash ends this job only; the message goes to the page
            status, error, tb = "failed", f"{type(e).__name__}: {e}", traceback.format_exc()
        finally:
            _release_memory()
            with self._cond:
                job.status, job.error, job.traceback = status, error, tb
                job.ended = time.time()
                if status == "cancelled" and job.stop_reason:
                    job.message = job.stop_reason
                else:
                    job.message = message or error or _END_MESSAGES.get(status, status)
                self._running.discard(job.id)
                self._touch(job)
                self._start_queued()

    def _reporter(self, job: _Job) -> Callable[[str, int, int], None]:
        def report(message: str, done: int, total: int) -> None:
            def change(j: _Job) -> None:
                j.status = "running"
                j.message, j.data_progress = message, DataProgress("cells", done, total)

            self._update(job, change)

        return report

    def _train(self, job: _Job) -> tuple[str, str, str]:
        from bedash.data.errors import DatasetError
        from bedash.experiment import run_experiment
        from bedash.store.writer import RunStoreError

        lim = self.limits
        if lim.torch_threads:  # OpenMP's thread count is per thread: this job's only
            import torch

            torch.set_num_threads(lim.torch_threads)
        try:
            result = run_experiment(
                job.config, job.run_dir, callback=_Events(self, job), cancel=job.cancel,
                limits=self.limits, data_progress=lambda s, d, t: self._on_data(job, s, d, t),
            )  # fmt: skip
        except _Stopped:  # cancelled while the data was loading: no run folder yet
            return "cancelled", "", "stopped while loading the data; nothing was written"
        except (ConfigError, DatasetError) as e:  # bad input: say which
            return "failed", str(e), ""
        except RunDirError as e:  # the runs folder went away or read-only since submit
            return "failed", e.message, ""
        except RunStoreError as e:  # a full disk: the run says so (if it still can)
            return "failed", f"{e.strerror}; the files written before are intact", ""
        return result.status, result.error, ""

    def _check_wall(self, job: _Job) -> None:
        """The profile's per-job time limit (the hosted demo's), enforced by cancelling."""
        cap = self.limits.max_wall_seconds
        if cap and job.started and time.time() - job.started > cap and not job.cancel.is_set():
            self._stop_job(job, f"stopped at the {self.limits.name} limit of {cap:g} s per job")

    def _stop_job(self, job: _Job, reason: str) -> None:
        """Cancel a job on the registry's own account; `reason` becomes its final message."""
        if job.status == "queued":
            self.cancel(job.id)
            job.message = job.stop_reason = f"{reason}; it never started, nothing was written"
        else:
            job.message = job.stop_reason = reason
            job.cancel.set()
        self._touch(job)

    # -- the watchdog: a light timer, off the training path --------------------------------

    def _start_watchdog(self) -> None:
        lim = self.limits
        if self._watchdog is not None or not (lim.unwatched_seconds or lim.max_wall_seconds):
            return
        self._watchdog = threading.Thread(target=self._watch_loop, name="bedash-watchdog",
                                          daemon=True)  # fmt: skip
        self._watchdog.start()

    def _watch_loop(self) -> None:
        caps = [c for c in (self.limits.unwatched_seconds, self.limits.max_wall_seconds) if c]
        period = min(5.0, max(0.05, min(caps) / 10))  # a stop comes at most 10% late
        while not self._stop.wait(period):
            with self._cond:
                self._check_jobs()

    def _check_jobs(self) -> None:
        """Stop every job no page watched for `unwatched_seconds` (a queued one too: its tab
        is gone), and running ones past the wall limit (also while they evaluate)."""
        cap = self.limits.unwatched_seconds
        now = time.monotonic()
        for job in [j for j in self._jobs.values() if j.status in ACTIVE]:
            if job.cancel.is_set():
                continue
            if cap and now - job.watched > cap:
                self._stop_job(job, f"stopped: nobody watched it for {cap:g} s")
            elif job.status != "queued":
                self._check_wall(job)

    def _on_data(self, job: _Job, stage: str, done: int, total: int) -> None:
        with self._cond:
            job.data_progress = DataProgress(stage, done, total)
            self._check_wall(job)
            self._touch(job)
        if job.cancel.is_set():
            raise _Stopped


class _Events:
    """The training callback of one job (bedash.method.train.Callback's methods, duck-typed so that
    importing this module does not import torch). Every event goes through the registry's one
    entry point, `_update`, which holds the lock for a few list appends: training never waits
    on a page."""

    def __init__(self, registry: JobRegistry, job: _Job) -> None:
        self.reg, self.job = registry, job

    def on_status(self, message: str) -> None:
        self.reg._update(self.job, lambda job: setattr(job, "message", message))

    def on_model_start(self, model: str, info: dict) -> None:
        def change(job: _Job) -> None:
            job.status, job.model, job.model_index = "running", model, int(info.get("index", 0))
            job.progress, job.message = None, f"training {model}"

        self.reg._update(self.job, change)

    def on_progress(self, p: Progress) -> None:
        point = TracePoint(p.model, p.member, p.epoch - 1 + p.step / max(p.steps, 1), p.loss)
        live = Progress(**vars(p))  # a frozen copy: the trainer may reuse its own object

        def change(job: _Job) -> None:
            job.progress = live
            job.trace.append(point)
            if len(job.trace) > MAX_TRACE:  # thin the older half; the curve keeps its shape
                half = len(job.trace) // 2
                job.trace[:half] = job.trace[:half:2]
            if job.status == "running" and p.fraction >= 1.0:
                job.message = f"evaluating {p.model}"

        self.reg._update(self.job, change)

    def on_epoch(self, records: list[EpochRecord]) -> None:
        rows = [EpochRecord(**vars(r)) for r in records]
        self.reg._update(self.job, lambda job: job.history.extend(rows))

    def on_model_end(self, model: str, result: dict) -> None:
        row = MappingProxyType(dict(result))
        self.reg._update(self.job, lambda job: job.results.append(row))


def _release_memory() -> None:
    """Give the heap that a finished job freed back to the system (glibc keeps it otherwise;
    a long-running server would sit at its largest job's peak). A no-op elsewhere."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
