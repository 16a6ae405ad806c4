"""One benchmark: every variant and its floor in interleaved repeats (A B C A B C ...; the
median is kept, so a noisy neighbour hurts every variant alike), then inference, memory,
torch.compile and the scaling sweep as asked, into a JSON-able report (printed and written by
bedash.benchmark.report). Timing is never asserted in tests: see BENCHMARKS.md."""

from __future__ import annotations

import functools
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from bedash.benchmark.memory import measure_memory
from bedash.benchmark.settings import BenchSettings
from bedash.benchmark.timing import (
    KINDS,
    Measure,
    interleaved,
    scaling,
    time_compiled,
    time_floor,
    time_inference,
    time_kind,
    time_seed_loop,
    time_seed_pipeline,
)
from bedash.data.batches import Batcher
from bedash.data.load import load_dataset
from bedash.data.synthetic import synthetic
from bedash.data.tensors import Dataset
from bedash.method.devices import resolve_device
from bedash.settings.config import RunConfig

CIFAR10_EPOCH_IMAGES = 50_000  # "s/epoch(50k)": one CIFAR-10 epoch, 1,563 steps at batch 32


def machine_info(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "cpu": _cpu_name(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_bench(
    s: BenchSettings, command: str = "python -m bedash bench", log: Callable[..., None] = print
) -> dict[str, Any]:
    """Measure what `s` asks for; `command` is recorded in the report as given."""
    device = resolve_device(s.device)
    torch.manual_seed(0)
    use_cifar = s.uses_cifar10()
    cfg = s.run_config(use_cifar, device=str(device))
    if use_cifar:
        data: Dataset = load_dataset("cifar10", s.data_dir, download=False)
    else:
        data = synthetic(s.train_size, s.test_size)
    dev = data.to(device)
    steps = s.steps or len(Batcher(dev.train, cfg.batch_size))
    report: dict[str, Any] = {
        "machine": machine_info(device),
        "command": command,
        "config": {
            "members": cfg.members,
            "hidden": cfg.hidden,
            "batch_size": cfg.batch_size,
            "steps": steps,
            "dataset": data.name,
            "train_images": len(data.train),
        },
    }
    log(f"bench on {report['machine'].get('gpu', report['machine']['cpu'])}, {steps} steps")
    if not s.no_train:
        report.update(_train_and_inference(s, cfg, data, dev, steps, device, use_cifar))
    if s.memory:
        be = functools.partial(time_kind, "batchensemble", cfg, dev.train, min(steps, 200), device)
        memory = measure_memory(device, s.train_size, s.test_size, be)
        if memory:
            report["memory"] = memory
    if s.compile:
        report["compile"] = time_compiled(cfg, dev.train, steps, device)
    if s.scaling:
        report["scaling"] = scaling(
            cfg, dev.train, s.scaling_steps, device, log, s.scaling_members, s.scaling_hidden
        )
    return report


def _train_and_inference(
    s: BenchSettings,
    cfg: RunConfig,
    data: Dataset,
    dev: Dataset,
    steps: int,
    device: torch.device,
    use_cifar: bool,
) -> dict[str, Any]:
    """The "train" table (every variant beside its floor and the seed) and "inference"."""
    variants: dict[str, Callable[[], Measure]] = {}
    startup: list[float] = []
    seed_steps = min(steps, s.seed_steps)
    if not s.skip_seed:

        def seed() -> Measure:
            where = s.data_dir if use_cifar else None
            m, started = time_seed_pipeline(cfg, data.train, seed_steps, device, where)
            startup.append(started)
            return m

        variants["seed_pipeline"] = seed
        variants["seed_loop_no_loader"] = lambda: time_seed_loop(cfg, dev.train, seed_steps, device)
    for kind in KINDS:
        variants[kind] = lambda kind=kind: time_kind(kind, cfg, dev.train, steps, device)
    if device.type == "cuda":  # what the CUDA graphs buy, side by side
        eager = cfg.replace(cuda_graphs=False)
        for kind in ("batchensemble", "single"):
            variants[f"{kind}_eager"] = lambda kind=kind: time_kind(
                kind, eager, dev.train, steps, device, name=f"{kind}_eager"
            )
    iters = max(5, min(200, steps))
    dims = [3072] + [cfg.hidden] * cfg.layers + [10]
    for kind in KINDS:  # floors take turns with the variants: one noisy moment hits both
        variants[f"floor_{kind}"] = lambda kind=kind: Measure(
            f"floor_{kind}",
            time_floor(kind, cfg.members, cfg.batch_size, dims, device, iters),
            0.0,
            iters,
        )
    measures = interleaved(variants, s.repeats)
    floors = {k: measures.pop(f"floor_{k}").seconds_per_step for k in KINDS}
    out: dict[str, Any] = {"train": _train_rows(measures, floors, cfg.members, cfg.batch_size)}
    if startup:
        out["seed_worker_startup_s"] = statistics.median(startup)
    out["inference"] = [
        {"variant": k, "test_images": len(dev.test), "seconds": time_inference(k, cfg, dev.test, 3)}
        for k in KINDS
    ]
    return out


def _train_rows(
    measures: dict[str, Measure], floors: dict[str, float], members: int, batch_size: int
) -> list[dict[str, Any]]:
    """train.csv's rows: each variant's speed, its floor and its speed-up over the seed."""
    seed_m = measures.get("seed_pipeline")
    epoch_steps = math.ceil(CIFAR10_EPOCH_IMAGES / batch_size)
    rows = []
    for name, m in measures.items():
        base = name.removesuffix("_eager")
        floor = floors.get(base)  # none for the seed's variants
        rows.append(
            {
                "variant": name,
                "members": 1 if base == "single" else members,
                "step_ms": m.seconds_per_step * 1e3,
                "member_samples_per_s": m.member_samples_per_s,
                "epoch_seconds_50k": m.seconds_per_step * epoch_steps,
                "floor_ms": floor * 1e3 if floor is not None else None,
                "of_floor": floor / m.seconds_per_step if floor is not None else None,
                "x_seed": m.member_samples_per_s / seed_m.member_samples_per_s if seed_m else None,
            }
        )
    return rows
