"""One job system: a FIFO queue behind one cap, each job a task in a thread of this process.

The dashboard's training runs and sweeps and `bedash sweep` are all jobs here. Under a profile
with limits (the hosted demo), a watchdog stops jobs past their wall time and jobs that no page
has polled (`watch`) for `unwatched_seconds`: a closed tab does not hold the only slot.

Why not concurrent.futures.ThreadPoolExecutor: its workers are joined at interpreter exit
before atexit handlers run, so a running job would hold a stopping server until the job ends
(shutdown here cancels, then joins with a timeout), and its queue has no positions to show.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

from bedash.jobs.record import ACTIVE, END_MESSAGES, FINAL, Job, JobControl, JobSnapshot, Task
from bedash.settings.limits import DEFAULT_LIMITS, Limits

MAX_FINISHED = 200  # finished jobs remembered (a run folder outlives its job anyway)


class Executor:
    """Thread-safe jobs, shared by every session of a dashboard server (or one command): at
    most `max_running` run at once, the rest wait in FIFO order. Timings are part of the
    results, so the default runs one job at a time: two jobs sharing the cores would each
    measure the other's load."""

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
        self._jobs: dict[str, Job] = {}
        self._keys: dict[str, str] = {}  # submit key -> job id (a double click queues one job)
        self._queue: deque[str] = deque()
        self._running: set[str] = set()
        self._views: dict[str, tuple[str, float]] = {}  # session -> (run id, last seen)
        self._closed = False
        self._stop = threading.Event()  # ends the watchdog
        self._watchdog: threading.Thread | None = None

    # -- submitting and controlling --------------------------------------------------------

    def job_for_key(self, key: str | None) -> str | None:
        """The job an earlier submit with this key queued, if it is still remembered."""
        with self._cond:
            job_id = self._keys.get(key or "")
            return job_id if job_id in self._jobs else None

    def submit(
        self,
        task: Task,
        config: Any,
        *,
        run_id: str | Callable[[], str],
        key: str | None = None,
        cancel: threading.Event | None = None,
        start_message: str = "starting",
        in_place: bool = False,
    ) -> str:
        """Queue a task that writes runs_dir/run_id (a function: a new id no job or folder has)
        and return its job id. A second submit with the same `key` (a double click) returns the
        first one's job. `cancel`: the caller's own event (a signal handler's) stops the job
        too. in_place: the job waits for its slot, then runs in the thread that calls run()."""
        with self._cond:
            if known := self.job_for_key(key):
                return known
            if self._closed:
                raise RuntimeError("the executor is shut down; no new jobs")
            self._start_watchdog()
            run_id = run_id if isinstance(run_id, str) else self._unused_run_id(run_id)
            job = Job(
                uuid.uuid4().hex,
                config,
                run_id,
                self.runs_dir / run_id,
                task,
                start_message=start_message,
            )
            if cancel is not None:
                job.cancel = cancel
            if not in_place:  # daemon: a stuck job cannot keep the server alive; shutdown joins
                job.thread = threading.Thread(
                    target=self._work, args=(job,), daemon=True, name=f"bedash-job-{job.id[:8]}"
                )
            self._jobs[job.id] = job
            if key:
                self._keys[key] = job.id
            self._queue.append(job.id)
            self._touch(job)
            self._start_queued()
            self._prune()
        return job.id

    def run(self, task: Task, config: Any, **kw: Any) -> tuple[JobSnapshot, Any]:
        """Run a task as a job in this thread once its turn comes (Ray's init and the signal
        handlers need the main thread): the final snapshot and the task's value. What the task
        raised is raised again after the job's record ends (a KeyboardInterrupt as cancelled)."""
        job_id = self.submit(task, config, in_place=True, **kw)
        with self._cond:
            job = self._jobs[job_id]
            while job.status == "queued":
                self._cond.wait()
        if job.status == "loading":
            self._work(job)
        if job.exception is not None:
            raise job.exception
        snap = self.snapshot(job_id)
        assert snap is not None
        return snap, job.value

    def cancel(self, job_id: str) -> bool:
        """Stop a job: a queued one never starts, a running one stops at its next check of the
        cancel event and keeps what it measured. False when there is nothing to stop."""
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
        """Cancel every job and join the threads: True when all stopped in time."""
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
            if t.ident is not None:  # started
                t.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in threads)

    # -- reading ---------------------------------------------------------------------------

    def snapshot(self, job_id: str) -> JobSnapshot | None:
        """An immutable copy of the job (None for an unknown id); an unchanged job returns the
        same object."""
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

    def _unused_run_id(self, new_run_id: Callable[[], str]) -> str:
        taken = {j.run_id for j in self._jobs.values()}
        while True:
            run_id = new_run_id()
            if run_id not in taken and not (self.runs_dir / run_id).exists():
                return run_id

    def _touch(self, job: Job) -> None:
        job.version += 1
        self._cond.notify_all()

    def _update(self, job: Job, change: Callable[[Job], None]) -> None:
        """The one way a running task changes its job: under the lock, wall limit checked."""
        with self._cond:
            change(job)
            self._check_wall(job)
            self._touch(job)

    def _start_queued(self) -> None:
        while self._queue and len(self._running) < self.max_running and not self._closed:
            job = self._jobs[self._queue.popleft()]
            job.status, job.started, job.message = "loading", time.time(), job.start_message
            self._running.add(job.id)
            self._touch(job)  # a job run in place: its caller's thread wakes and runs it
            if job.thread is not None:
                job.thread.start()

    def _prune(self) -> None:
        done = [j for j in self._jobs.values() if j.status in FINAL]
        done.sort(key=lambda j: j.submitted)
        for job in done[: max(0, len(done) - self.max_finished)]:
            del self._jobs[job.id]
        self._keys = {k: j for k, j in self._keys.items() if j in self._jobs}

    def _copy(self, job: Job) -> JobSnapshot:
        copy = {f.name: getattr(job, f.name, None) for f in fields(JobSnapshot)}
        copy.update(history=tuple(job.history), trace=tuple(job.trace), results=tuple(job.results))
        if job.status == "queued":  # queue_position: None otherwise
            copy["queue_position"] = self._queue.index(job.id) + 1
        return JobSnapshot(**copy)

    # -- running a task (not under the lock) -----------------------------------------------

    def _work(self, job: Job) -> None:
        status, error, tb, message = "failed", "", "", ""
        control = JobControl(
            job.id, job.config, job.run_dir, job.cancel, lambda change: self._update(job, change)
        )
        try:
            status, error, message, *value = job.task(control)
            job.value = value[0] if value else None
        except Exception as e:  # a crash ends this job only; the message goes to the page
            job.exception = e
            status, error, tb = "failed", f"{type(e).__name__}: {e}", traceback.format_exc()
        except BaseException:  # Ctrl-C in a job run in place: it ends interrupted, then raises
            status = "cancelled"
            raise
        finally:
            release_memory()
            with self._cond:
                job.status, job.error, job.traceback = status, error, tb
                job.ended = time.time()
                if status == "cancelled" and job.stop_reason:
                    job.message = job.stop_reason
                else:
                    job.message = message or error or END_MESSAGES.get(status, status)
                self._running.discard(job.id)
                self._touch(job)
                self._start_queued()

    # -- the profile's limits: a light timer, off the working path --------------------------

    def _check_wall(self, job: Job) -> None:
        cap = self.limits.max_wall_seconds
        if cap and job.started and time.time() - job.started > cap and not job.cancel.is_set():
            self._stop_job(job, f"stopped at the {self.limits.name} limit of {cap:g} s per job")

    def _stop_job(self, job: Job, reason: str) -> None:
        if job.status == "queued":
            self.cancel(job.id)
            job.message = job.stop_reason = f"{reason}; it never started, nothing was written"
        else:
            job.message = job.stop_reason = reason
            job.cancel.set()
        self._touch(job)

    def _start_watchdog(self) -> None:
        lim = self.limits
        if self._watchdog is not None or not (lim.unwatched_seconds or lim.max_wall_seconds):
            return
        self._watchdog = threading.Thread(
            target=self._watch_loop, name="bedash-watchdog", daemon=True
        )
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


def release_memory() -> None:
    """Give a finished job's freed heap back to the system: glibc keeps it otherwise, and a
    server would sit at its largest job's peak."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
