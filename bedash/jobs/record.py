"""A job's live record: what its task changes as it works (under the executor's lock) and the
immutable JobSnapshot that readers copy, so polling never holds up the work."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bedash.names import FINAL_STATUSES, JOB_ACTIVE, EpochRecord, Progress

ACTIVE = JOB_ACTIVE
FINAL = FINAL_STATUSES


@dataclass(frozen=True)
class TracePoint:
    """A log point of the live loss curve: x is the epoch, fractional inside an epoch."""

    model: str
    member: int | None
    x: float
    loss: float


@dataclass(frozen=True)
class DataProgress:
    """done of total in a stage: a dataset's download / extract / decode, or a sweep's cells."""

    stage: str
    done: int
    total: int


@dataclass(frozen=True)
class JobSnapshot:
    """An immutable copy of a job's state at one moment."""

    id: str
    config: Any  # what the job runs (a RunConfig, or a sweep's base config)
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


END_MESSAGES = {
    "finished": "finished",
    "cancelled": "stopped; everything measured until then is kept",
    "diverged": "a model's loss became NaN or infinite (diverged); try a lower learning rate",
}


@dataclass(eq=False)
class Job:
    """A job's live record: tasks change it only through JobControl.update (under the lock)."""

    id: str
    config: Any
    run_id: str
    run_dir: Path
    task: Task
    cancel: threading.Event = field(default_factory=threading.Event)
    submitted: float = field(default_factory=time.time)
    status: str = "queued"
    started: float | None = None
    ended: float | None = None
    message: str = ""
    start_message: str = "starting"
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
    thread: threading.Thread | None = None  # started when its turn comes; None: run in place
    snap: JobSnapshot | None = None  # the last snapshot, reused while nothing changed
    watched: float = field(default_factory=time.monotonic)  # a page last polled it (monotonic)
    stop_reason: str = ""  # why the executor itself stopped the job (a profile limit)
    value: Any = None  # what the task returned besides its status (run() hands it back)
    exception: Exception | None = None  # what the task raised (run() raises it again)


@dataclass(frozen=True)
class JobControl:
    """What a running task gets: its job's id, config, folder, cancel event, and `update`, the
    one way to change its live record."""

    job_id: str
    config: Any
    run_dir: Path
    cancel: threading.Event
    update: Callable[[Callable[[Job], None]], None]

    def report(self, message: str, done: int, total: int) -> None:
        """Progress of a job made of parts (a sweep's cells): running, done of total."""

        def change(job: Job) -> None:
            job.status = "running"
            job.message, job.data_progress = message, DataProgress("cells", done, total)

        self.update(change)


# A task returns (status, error, final message), or with a fourth item a value for run()
Task = Callable[[JobControl], tuple[Any, ...]]
