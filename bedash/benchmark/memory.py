"""Peak memory of a whole run: on the CPU, a `python -m bedash train` in a fresh process (its
own high-water mark); on CUDA, the allocator's peak while a BatchEnsemble trains."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def memory_run_args(tmp: str, n_train: int, n_test: int) -> list[str]:
    """`python -m bedash train` arguments of the measured run: a whole BatchEnsemble run."""
    run = ["--dataset", "synthetic", "--models", "batchensemble", "--epochs", "1", "--quiet"]
    sizes = ["--train-size", str(n_train), "--test-size", str(n_test)]
    return [*run, *sizes, "--device", "cpu", "--out", str(Path(tmp) / "run")]


def peak_rss_of_cli_run(args: list[str]) -> tuple[float, float]:
    """(peak RSS in MiB, wall seconds) of `python -m bedash train ARGS` in a fresh process.

    The child reports its own VmHWM (Linux): getrusage's ru_maxrss would not do, because the
    kernel carries the parent's peak over into a child started by (v)fork + exec, and this
    parent holds the whole benchmark (it read 1.1 GB for runs that peak at 0.9 GB)."""
    code = (
        "import resource, runpy, sys\n"
        "sys.argv = ['bedash'] + sys.argv[1:]\n"
        "try:\n    runpy.run_module('bedash', run_name='__main__')\n"
        "finally:\n"
        "    try:\n"
        "        hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')]\n"
        "        kb = int(hwm[0].split()[1])\n"
        "    except (OSError, IndexError):  # not Linux: the best there is\n"
        "        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "    print('PEAK_RSS_KB', kb)\n"
    )
    t0 = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-c", code, "train", *args],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],  # the folder holding bedash/
    )
    wall = time.perf_counter() - t0
    for line in p.stdout.splitlines():
        if line.startswith("PEAK_RSS_KB"):
            return int(line.split()[1]) / 1024, wall
    raise RuntimeError(f"memory run failed ({p.returncode}): {p.stderr[-2000:]}")


def measure_memory(
    device: torch.device, n_train: int, n_test: int, train_on_gpu: Callable[[], object]
) -> dict[str, Any]:
    """The report's "memory" entry for `device` (empty for a device that has no measure). On
    CUDA, `train_on_gpu` trains the batchensemble (the caller's timed loop) while it is read."""
    if device.type == "cpu":
        runs = []
        for _ in range(3):  # peak RSS varies by ~100 MiB run to run (allocator, thread pools)
            with tempfile.TemporaryDirectory() as tmp:
                runs.append(peak_rss_of_cli_run(memory_run_args(tmp, n_train, n_test)))
        peaks = sorted(r[0] for r in runs)
        return {
            "peak_rss_mib": statistics.median(peaks),
            "peak_rss_mib_runs": peaks,
            "run_seconds": statistics.median(r[1] for r in runs),
            "what": f"whole CLI batchensemble run, {n_train} images, 1 epoch (median of 3)",
        }
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        train_on_gpu()
        return {
            "cuda_max_allocated_mib": torch.cuda.max_memory_allocated(device) / 2**20,
            "what": "batchensemble training, data resident on the GPU",
        }
    return {}
