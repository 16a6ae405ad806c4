"""run_experiment: data -> each model kind (same data, seeds, device, epochs) -> metrics -> disk.

Every kind sees the same batches in the same order; only the models differ.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import socket
import statistics
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bedash.data.batches import Batcher
from bedash.data.load import Progress, load_dataset
from bedash.data.tensors import Dataset
from bedash.method.budget import check_budget
from bedash.method.devices import resolve_device
from bedash.method.layers import Single
from bedash.method.metrics import Metrics, compute_metrics
from bedash.method.models import Ensemble, build_model, loss_scale, param_stats
from bedash.method.train import (
    Callback,
    Clock,
    EpochRecord,
    FitResult,
    fit,
    make_optimizer,
    make_scheduler,
    predict_timed,
)
from bedash.names import (
    RELIABILITY_COLUMNS,
    STEP_COLUMNS,
    parse_ood,
    parse_severities,
    parse_shift,
    validation_size,
)
from bedash.settings.config import RunConfig
from bedash.settings.limits import DEFAULT_LIMITS, Limits
from bedash.store.folders import check_out_dir
from bedash.store.writer import RunWriter
from bedash.uncertainty.evaluation import UncertaintyData, UncertaintyTables, hold_out, prepare
from bedash.uncertainty.ood import load_ood_sets

INFER_REPEATS = 3  # timed inference passes per model (after one warm-up); results: the median


@dataclass
class RunResult:
    path: Path
    status: str  # finished | cancelled | diverged | failed
    rows: list[dict[str, Any]] = field(default_factory=list)  # results.csv rows
    metrics: dict[str, Metrics] = field(default_factory=dict)
    error: str = ""
    written: bool = True  # False: stopped before the run's first file; the folder is unchanged


NOT_STARTED = "stopped before the run started; nothing was written"


class _Recorder(Callback):
    """Forwards every event to the user's callback; writes history.csv and steps.csv (x: epochs
    done, fractional; loss: the epoch's running mean, the dashboard derives the rest). steps.csv
    holds every point the live view drew: rewritten at an epoch's end, every STEPS_EVERY
    seconds, and by flush() when the run ends (a run stopped in its first epoch keeps them)."""

    STEPS_EVERY = 5.0

    def __init__(self, writer: RunWriter, user: Callback | None) -> None:
        self.writer, self.user = writer, user or Callback()
        self.steps: list[dict[str, Any]] = []
        self.saved, self.saved_at = 0, time.monotonic()
        writer.write_table("steps.csv", STEP_COLUMNS, [])  # never an earlier run's, on overwrite

    def on_progress(self, p: Any) -> None:
        x = p.epoch - 1 + p.step / max(p.steps, 1)
        self.steps.append({"model": p.model, "member": p.member, "x": x, "loss": p.loss})
        if p.step >= p.steps or time.monotonic() - self.saved_at >= self.STEPS_EVERY:
            self.flush()
        self.user.on_progress(p)

    def flush(self) -> None:
        """Write steps.csv if points came since the last write."""
        if len(self.steps) > self.saved:
            self.writer.write_table("steps.csv", STEP_COLUMNS, self.steps)
            self.saved, self.saved_at = len(self.steps), time.monotonic()

    def on_epoch(self, records: list[EpochRecord]) -> None:
        self.writer.add_history([r.__dict__ for r in records])
        self.user.on_epoch(records)


def run_experiment(
    cfg: RunConfig,
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    callback: Callback | None = None,
    cancel: threading.Event | None = None,
    limits: Limits = DEFAULT_LIMITS,
    dataset: Dataset | None = None,
    data_progress: Progress | None = None,
    download: bool = True,
) -> RunResult:
    """Train and evaluate cfg.models on one dataset and write the run folder out_dir.
    download=False: what is not on disk is a DatasetError saying where to put it. Bad input
    raises before anything is written: ConfigError (a field), RunDirError (out_dir),
    DatasetError (data). Once the folder exists, every later failure is recorded in it."""
    cfg.validate(limits)
    device = torch.device("cpu") if limits.cpu_only else resolve_device(cfg.device)
    check_out_dir(out_dir, overwrite)
    check_budget(cfg, device)  # ConfigError naming the field when it cannot fit in memory
    cb = callback or Callback()
    if dataset is None:
        cb.on_status(f"loading {cfg.dataset}")
        dataset = load_dataset(
            cfg.dataset,
            cfg.data_dir,
            train_size=cfg.train_size,
            test_size=cfg.test_size,
            download=download,
            progress=data_progress,
        )
    # uncertainty under shift: the validation split leaves the training set, OOD sets load
    dataset, uncertainty = prepare_run(cfg, dataset, download=download)
    data = dataset.to(device)
    augment = cfg.chosen("augment") == "crop-flip"
    batcher = Batcher(data.train, cfg.batch_size, cfg.seed, augment=augment)  # DatasetError: batch

    if cancel is not None and cancel.is_set():  # stopped while the data loaded: touch nothing
        return RunResult(Path(out_dir), "cancelled", error=NOT_STARTED, written=False)
    writer = RunWriter(out_dir, overwrite=overwrite)  # takes the run's lock; with overwrite the
    # earlier run's files go only when this run writes its first file (config.json, next line)
    writer.write_config(cfg.to_dict(), _meta(cfg, device, dataset))
    model_status = {k: "pending" for k in cfg.models}
    writer.set_status("running", models=model_status)
    result = RunResult(writer.path, "running")
    recorder = _Recorder(writer, callback)
    tables = UncertaintyTables(writer, uncertainty) if uncertainty is not None else None
    n_classes, shape = len(dataset.classes), dataset.image_shape

    try:
        single_params = param_stats(build_model("single", cfg, n_classes, shape))[0]
        for index, kind in enumerate(cfg.models):
            model_status[kind] = "running"
            writer.set_status("running", models=model_status)
            cb.on_model_start(kind, {"index": index, "count": len(cfg.models)})
            model = build_model(kind, cfg, n_classes, shape).to(device)
            torch.manual_seed(cfg.seed)
            fr = _train(kind, model, batcher, cfg, recorder, cancel)
            if fr.status == "finished" and not _finite(model):
                fr.status = "diverged"  # a finite loss, then a step that broke the weights
            row = _result_row(kind, cfg, model, fr, dataset, device, single_params)
            members: list[dict[str, Any]] = []
            if fr.status == "finished":
                row.update(_machine_load())  # before the timed passes, which add to it
                logits, times = predict_timed(model, data.test, cfg.eval_batch_size, INFER_REPEATS)
                row["infer_seconds"], row["infer_repeats"] = statistics.median(times), len(times)
                m = compute_metrics(logits, dataset.test.y)
                if not _finite_metrics(m, logits):
                    fr.status = row["status"] = "diverged"  # finite weights, overflowing logits
            if fr.status == "finished":
                result.metrics[kind] = m
                row.update(m.summary())
                members = [
                    {"model": kind, "member": i, "accuracy": a, "nll": n}
                    for i, (a, n) in enumerate(zip(m.member_acc, m.member_nll, strict=True))
                ]
                if len(m.agreement) > 1:
                    writer.write_matrix(f"agreement_{kind}.csv", m.agreement)
                writer.write_table(f"reliability_{kind}.csv", RELIABILITY_COLUMNS, m.reliability)
                if tables is not None:  # the same shifted and OOD images for every kind
                    cb.on_status(f"{kind}: uncertainty under shift")
                    tables.add(kind, model, cfg.eval_batch_size, clean_logits=logits, cancel=cancel)
            writer.add_result(row, members)
            result.rows.append(row)
            model_status[kind] = fr.status
            writer.set_status("running", models=model_status)
            cb.on_model_end(kind, row)
            if fr.status == "cancelled":
                break
    except Exception as e:  # recorded in the run, then re-raised for the caller to report
        result.status, result.error = "failed", f"{type(e).__name__}: {e}"
        with contextlib.suppress(OSError):  # a full disk may refuse this write too
            recorder.flush()  # the points the live view drew
        with contextlib.suppress(OSError):
            writer.set_status(
                "failed", models=model_status, error=result.error, traceback=traceback.format_exc()
            )
        raise
    finally:
        if uncertainty is not None:
            uncertainty.shifted.close()  # the shifted sets kept for the later kinds
    with contextlib.suppress(OSError):  # the points of a model stopped mid-epoch, as drawn live
        recorder.flush()
    statuses = set(model_status.values())
    if statuses & {"cancelled", "pending"}:
        result.status = "cancelled"
    else:
        result.status = "diverged" if "diverged" in statuses else "finished"
    writer.set_status(result.status, models=model_status)
    return result


def _train(
    kind: str,
    model: torch.nn.Module,
    batcher: Batcher,
    cfg: RunConfig,
    cb: Callback,
    cancel: threading.Event | None,
    **more: Any,
) -> FitResult:
    """Train one model kind; `more`: fit's member and clock (a sequential ensemble's member)."""
    if isinstance(model, Ensemble):
        return _train_sequential(kind, model, batcher, cfg, cb, cancel)
    graph = _use_graphs(cfg, batcher)
    optimizer = make_optimizer(model, cfg, capturable=graph)
    return fit(
        _maybe_compile(model, cfg),
        batcher,
        optimizer,
        epochs=cfg.epochs,
        name=kind,
        split=kind == "batchensemble" and cfg.member_batch == "split",
        loss_scale=loss_scale(kind, model.members),
        graph=graph,
        scheduler=make_scheduler(optimizer, cfg.epochs * len(batcher)),
        label_smoothing=cfg.label_smoothing,
        mixed_precision=cfg.arch == "resnet",  # bf16 on CUDA: the MLP's and CNN's figures stay
        callback=cb,
        cancel=cancel,
        **more,
    )


def _finite(model: torch.nn.Module) -> bool:
    """Every parameter and floating buffer finite (one host sync)."""
    ts = [t for t in (*model.parameters(), *model.buffers()) if t.is_floating_point()]
    return bool(torch.stack([t.isfinite().all() for t in ts]).all()) if ts else True


def _finite_metrics(m: Metrics, logits: torch.Tensor) -> bool:
    """Logits and every metric finite (the disagreement of a single model is undefined)."""
    single = len(m.member_acc) == 1
    values = [v for k, v in m.summary().items() if k != "mean_disagreement" or not single]
    values += [*m.member_acc, *m.member_nll]
    return bool(logits.isfinite().all()) and all(math.isfinite(float(v)) for v in values)


def _machine_load() -> dict[str, Any]:
    """How busy the machine was when inference was timed: 1-minute load average, CPU count,
    and this process's priority (niceness: above 0, other work goes first)."""
    try:
        load: float | None = os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows; or the OS could not tell
        load = None
    return {"load_avg": load, "cpu_count": os.cpu_count(), "niceness": os.nice(0)}


def _use_graphs(cfg: RunConfig, batcher: Batcher) -> bool:
    """CUDA graphs on CUDA unless turned off or torch.compile manages the step itself."""
    return cfg.cuda_graphs and not cfg.compile and batcher.split.y.device.type == "cuda"


def _train_sequential(
    kind: str,
    model: Ensemble,
    batcher: Batcher,
    cfg: RunConfig,
    cb: Callback,
    cancel: threading.Event | None,
) -> FitResult:
    """The classical ensemble as the seed trains it: member after member, each with its own
    Adam. Whole-model history rows (mean loss, summed epoch time) follow the last member."""
    E = model.members
    clock = Clock(E * cfg.epochs * len(batcher))
    fits: list[FitResult] = []
    for k, member in enumerate(model.nets):
        torch.manual_seed(cfg.seed + k)
        fr = _train(kind, Single(member), batcher, cfg, cb, cancel, member=k, clock=clock)
        fits.append(fr)
        if fr.status != "finished":
            break
    total = FitResult(
        fits[-1].status,
        sum(f.seconds for f in fits),
        min(f.epochs_done for f in fits),
        member_samples=sum(f.member_samples for f in fits),
    )
    for e in range(total.epochs_done if len(fits) == E else 0):
        member_losses = [f.losses[e] for f in fits]
        seconds = sum(f.epoch_seconds[e] for f in fits)
        total.losses.append(sum(member_losses) / E)
        total.member_losses.append(member_losses)
        total.epoch_seconds.append(seconds)
        rate = len(batcher.split) * E / seconds
        cb.on_epoch([EpochRecord(kind, None, e + 1, total.losses[-1], seconds, rate)])
    return total


COMPILE_OPTIONS: dict[str, Any] = {}  # passed to torch.compile (tests use the eager backend)


def _maybe_compile(model: torch.nn.Module, cfg: RunConfig) -> torch.nn.Module:
    """torch.compile for training only; evaluation runs the eager module (same parameters)."""
    return torch.compile(model, **COMPILE_OPTIONS) if cfg.compile else model


def _result_row(
    kind: str,
    cfg: RunConfig,
    model: torch.nn.Module,
    fr: FitResult,
    dataset: Dataset,
    device: torch.device,
    single_params: int,
) -> dict[str, Any]:
    params, nbytes = param_stats(model)
    E, epochs_done = model.members, fr.epochs_done
    samples = fr.member_samples  # split mode: each member trained on 1/E of the images
    mean_epoch = sum(fr.epoch_seconds) / len(fr.epoch_seconds) if fr.epoch_seconds else None
    return {
        "model": kind,
        "status": fr.status,
        "members": E,
        "arch": cfg.arch,
        "hidden": cfg.hidden,
        "layers": cfg.layers,
        "epochs": epochs_done,
        "batch_size": cfg.batch_size,
        "dataset": dataset.name,
        "device": str(device),
        "seed": cfg.seed,
        "params": params,
        "param_bytes": nbytes,
        "param_mb": nbytes / 2**20,
        "params_rel_single": params / single_params,
        "train_seconds": fr.seconds,
        "epoch_seconds": mean_epoch,
        "member_samples_per_s": samples / fr.seconds if fr.seconds and samples else None,
    }


def _meta(cfg: RunConfig, device: torch.device, dataset: Dataset) -> dict[str, Any]:
    from bedash import __version__

    meta: dict[str, Any] = {
        "bedash": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "host": socket.gethostname(),
        "device": str(device),
        "dataset": dataset.name,
        "classes": dataset.classes,
        "train_images": len(dataset.train),
        "test_images": len(dataset.test),
        "dataset_info": {k: str(v) for k, v in dataset.info.items()},
    }
    if device.type == "cuda":
        meta["gpu"] = torch.cuda.get_device_name(device)
    else:
        meta["cpu"] = platform.processor() or platform.machine()
        meta["threads"] = torch.get_num_threads()
    return meta


def prepare_run(
    cfg: RunConfig, dataset: Dataset, *, download: bool = True
) -> tuple[Dataset, UncertaintyData | None]:
    """Before anything is written: hold the validation split out of the training set and load
    the OOD sets. Returns the dataset to train on and what to evaluate (None: nothing)."""
    corruptions = parse_shift(cfg.shift)
    ood = parse_ood(cfg.ood)
    val = None
    if cfg.temperature_scaling:
        n = validation_size(cfg.val_size, len(dataset.train))
        dataset, val = hold_out(dataset, n, cfg.seed)
    if not (corruptions or ood or val is not None):
        return dataset, None
    sets = load_ood_sets(
        ood, len(dataset.test), data_dir=cfg.data_dir, seed=cfg.seed, download=download
    )
    data = prepare(
        dataset,
        corruptions=corruptions,
        severities=parse_severities(cfg.severities),
        ood=sets,
        val=val,
        seed=cfg.seed,
        keep=len(cfg.models) > 1,
    )
    return dataset, data
