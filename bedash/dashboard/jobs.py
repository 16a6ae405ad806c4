"""The dashboard's training jobs: a task on the one executor trains a config into a new run
folder, the training callbacks feeding the job's live record. No streamlit (the task runs in a
worker thread), and no torch at import time (the task imports it): pages import it at the top."""

from __future__ import annotations

import functools
from types import MappingProxyType

from bedash.estimate import RunEta
from bedash.jobs.executor import Executor
from bedash.jobs.record import DataProgress, Job, JobControl, TracePoint
from bedash.names import ConfigError, EpochRecord, Progress
from bedash.preflight import check_runs_dir, preflight
from bedash.settings.config import RunConfig
from bedash.settings.limits import Limits
from bedash.store.folders import RunDirError, new_run_id

MAX_TRACE = 2000  # live loss points kept per job; older ones are thinned, not dropped


def submit_run(
    executor: Executor, cfg: RunConfig, *, check: bool = True, key: str | None = None
) -> str:
    """Queue a training job, return its id. check: bad input raises ConfigError before anything
    is queued or written. A second submit with the same `key` (a double click) returns the
    first one's job. The profile's evaluation batch cap applies (same metrics, smaller chunks)."""
    if known := executor.job_for_key(key):
        return known
    if check:
        preflight(cfg, executor.limits)
    check_runs_dir(executor.runs_dir)
    cap = executor.limits.eval_batch_size
    if cap and cfg.eval_batch_size > cap:
        cfg = cfg.replace(eval_batch_size=cap)
    task = functools.partial(train, limits=executor.limits)
    loading = f"loading {cfg.dataset}"
    return executor.submit(task, cfg, run_id=new_run_id, key=key, start_message=loading)


class _Stopped(Exception):
    """Raised from the data-progress hook to abandon a download when the job is cancelled."""


def train(control: JobControl, limits: Limits) -> tuple[str, str, str]:
    """The training task: run_experiment into the job's run folder under the profile's limits."""
    from bedash.experiment import run_experiment
    from bedash.names import DatasetError
    from bedash.store.writer import RunStoreError

    if limits.torch_threads:  # OpenMP's thread count is per thread: this job's only
        import torch

        torch.set_num_threads(limits.torch_threads)

    def on_data(stage: str, done: int, total: int) -> None:
        control.update(lambda job: setattr(job, "data_progress", DataProgress(stage, done, total)))
        if control.cancel.is_set():
            raise _Stopped

    try:
        result = run_experiment(
            control.config,
            control.run_dir,
            callback=_Events(control),
            cancel=control.cancel,
            limits=limits,
            data_progress=on_data,
        )
    except _Stopped:  # cancelled while the data was loading: no run folder yet
        return "cancelled", "", "stopped while loading the data; nothing was written"
    except (ConfigError, DatasetError) as e:  # bad input: say which
        return "failed", str(e), ""
    except RunDirError as e:  # the runs folder went away or read-only since submit
        return "failed", e.message, ""
    except RunStoreError as e:  # a full disk: the run says so (if it still can)
        return "failed", f"{e.strerror}; the files written before are intact", ""
    return result.status, result.error, ""


class _Events:
    """One job's training callback (Callback's methods, duck-typed: no torch import). Each event
    is one control.update, a few list appends under the lock: training never waits on a page.
    The live Progress's `eta` is the whole job's (bedash.estimate.RunEta), not the model's."""

    def __init__(self, control: JobControl) -> None:
        self.update, self.eta = control.update, RunEta(control.config)

    def on_status(self, message: str) -> None:
        self.update(lambda job: setattr(job, "message", message))

    def on_model_start(self, model: str, info: dict) -> None:
        self.eta.on_model_start(model, info)

        def change(job: Job) -> None:
            job.status, job.model, job.model_index = "running", model, int(info.get("index", 0))
            job.progress, job.message = None, f"training {model}"

        self.update(change)

    def on_progress(self, p: Progress) -> None:
        point = TracePoint(p.model, p.member, p.epoch - 1 + p.step / max(p.steps, 1), p.loss)
        live = Progress(**{**vars(p), "eta": self.eta.on_progress(p)})  # a copy of its own

        def change(job: Job) -> None:
            job.progress = live
            job.trace.append(point)
            if len(job.trace) > MAX_TRACE:  # thin the older half; the curve keeps its shape
                half = len(job.trace) // 2
                job.trace[:half] = job.trace[:half:2]
            if job.status == "running" and p.fraction >= 1.0:
                job.message = f"evaluating {p.model}"

        self.update(change)

    def on_epoch(self, records: list[EpochRecord]) -> None:
        rows = [EpochRecord(**vars(r)) for r in records]
        self.update(lambda job: job.history.extend(rows))

    def on_model_end(self, model: str, result: dict) -> None:
        self.eta.on_model_end(model, result)
        row = MappingProxyType(dict(result))
        self.update(lambda job: job.results.append(row))
