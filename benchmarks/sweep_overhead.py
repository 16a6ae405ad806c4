"""What does running cells as a sweep cost? (Targets: <= 1.10x, <= 1.5 GB.)

1. Time: the same cells, side by side, as
     sweep  one `python -m bedash sweep` (Ray started locally, one run at a time on 2 cores)
     train  `python -m bedash train` per cell, one after another (a fresh process each)
   ratio = sweep wall time / the trains' summed wall time; both include every process start,
   Ray's start and the workers' torch import included.
2. Memory: a 100-cell sweep of tiny cells; the peak of the summed PSS (and RSS) of the driver
   and every process under it (Ray's GCS, raylet, workers...), sampled every 0.25 s. Ray's
   dashboard is off (the default).

    python benchmarks/sweep_overhead.py                  # 6 cells of ~15 s, then 100 tiny
    python benchmarks/sweep_overhead.py --quick          # a smoke run (2 small cells, 10 tiny)
    python benchmarks/sweep_overhead.py --skip-memory    # only the ratio
    python benchmarks/sweep_overhead.py --gpu            # cells/hour at 1, 2, 4, 8 per GPU

Run it on a quiet machine: other work on the cores moves the ratio more than the sweep does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SWEEP = [sys.executable, "-m", "bedash.sweep.cli"]  # = python -m bedash sweep
TRAIN = [sys.executable, "-m", "bedash", "train"]
CELL = {  # one cell: the seed's model on synthetic data, ~15 s on 2 quiet cores
    "dataset": "synthetic",
    "train-size": "5000",
    "test-size": "1000",
    "epochs": "2",
    "members": "5",
    "hidden": "128",
    "device": "cpu",
}
QUICK_CELL = {**CELL, "train-size": "1000", "test-size": "200", "epochs": "1", "hidden": "32"}
# the seed's settings (batch 32, E = 5, width 128) on CIFAR-10-sized data
GPU_CELL = {**CELL, "train-size": "50000", "test-size": "10000", "epochs": "1", "device": "cuda"}
TINY_CELL = {**QUICK_CELL, "train-size": "64", "test-size": "32", "members": "2", "hidden": "8"}


def flags(cell: dict[str, str]) -> list[str]:
    return [x for k, v in cell.items() for x in (f"--{k}", v)]


def sweep(cell: dict[str, str], cells: int, out: Path, *more: str) -> list[str]:
    """The command of a quiet sweep over seeds 0..cells-1 of `cell` into `out`."""
    return [*SWEEP, *flags(cell), "--seeds", f"0-{cells - 1}", "--quiet", "--out", str(out), *more]


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def ratio(cell: dict[str, str], seeds: int, work: Path) -> dict:
    swept = timed(sweep(cell, seeds, work / "sweep"))
    trains = [
        timed([*TRAIN, *flags(cell), "--seed", str(s), "--quiet", "--out", str(work / f"t{s}")])
        for s in range(seeds)
    ]
    return {
        "cells": seeds,
        "cell": cell,
        "sweep_s": swept,
        "train_s": trains,
        "train_total_s": sum(trains),
        "ratio": swept / sum(trains),
    }


def _tree(root: int) -> list[int]:
    """root and every process under it (Linux /proc; Ray's processes are the driver's)."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [root], [root]
    while frontier:
        frontier = [p for p, pp in parent.items() if pp in frontier]
        found += frontier
    return found


def _kb(path: str, key: str) -> int:
    try:
        with open(path) as f:
            return next((int(line.split()[1]) for line in f if line.startswith(key)), 0)
    except OSError:
        return 0


class Peak:
    """The peak summed memory of a process and all its descendants, sampled in a thread:
    PSS counts shared pages once overall, RSS once per process."""

    def __init__(self, pid: int, every: float = 0.25) -> None:
        self.root, self.every = pid, every
        self.pss = self.rss = self.processes = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            procs = _tree(self.root)
            pss = sum(_kb(f"/proc/{p}/smaps_rollup", "Pss:") for p in procs) * 1024
            rss = sum(_kb(f"/proc/{p}/status", "VmRSS:") for p in procs) * 1024
            self.pss, self.rss = max(self.pss, pss), max(self.rss, rss)
            self.processes = max(self.processes, len(procs))
            self._stop.wait(self.every)

    def stop(self) -> None:
        self._stop.set()
        self._t.join()


def memory(cells: int, work: Path) -> dict:
    cmd = sweep(TINY_CELL, cells, work / "mem", "--models", "batchensemble,single")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    peak = Peak(proc.pid)
    _, err = proc.communicate()
    peak.stop()
    if proc.returncode != 0:
        raise SystemExit(f"memory sweep failed ({proc.returncode}):\n{err[-2000:]}")
    wall = time.perf_counter() - t0
    return {
        "cells": cells,
        "wall_s": wall,
        "s_per_cell": wall / cells,
        "peak_pss_mb": peak.pss / 2**20,
        "peak_rss_mb": peak.rss / 2**20,
        "max_processes": peak.processes,
    }


def gpu_throughput(levels: list[int], per_level: int, work: Path) -> list[dict]:
    """Cells per hour with k runs sharing one GPU (--gpus-per-run 1/k), per_level x k cells
    each; the first level's time includes Ray's start, as every sweep's does."""
    rows = []
    for k in levels:
        n = per_level * k
        share = ("--gpus-per-run", f"{1 / k:.6f}", "--cpus-per-run", "1")
        wall = timed(sweep(GPU_CELL, n, work / f"gpu{k}", *share))
        rows.append(
            {"runs_per_gpu": k, "cells": n, "wall_s": wall, "cells_per_hour": n * 3600 / wall}
        )
        print(
            f"gpu: {k} per GPU: {n} cells in {wall:.0f} s = {rows[-1]['cells_per_hour']:.0f} "
            f"cells/h ({rows[-1]['cells_per_hour'] / rows[0]['cells_per_hour']:.2f}x of 1)"
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a smoke run, not a measurement")
    ap.add_argument("--cells", type=int, default=None, help="cells of the time comparison")
    ap.add_argument("--memory-cells", type=int, default=None, help="tiny cells (default 100)")
    ap.add_argument("--skip-ratio", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--gpu", action="store_true", help="only GPU throughput at 1, 2, 4, 8 runs")
    ap.add_argument("--per-level", type=int, default=2, help="--gpu: cells per concurrent run")
    ap.add_argument("--json", default=None, help="also write the results here")
    a = ap.parse_args()
    cell = QUICK_CELL if a.quick else CELL
    seeds = a.cells or (2 if a.quick else 6)
    tiny = a.memory_cells or (10 if a.quick else 100)
    out: dict = {"cpus": os.cpu_count(), "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="bedash-sweep-bench-") as tmp:
        if a.gpu:
            out["gpu"] = gpu_throughput([1, 2, 4, 8], a.per_level, Path(tmp))
            a.skip_ratio = a.skip_memory = True
        if not a.skip_ratio:
            r = out["time"] = ratio(cell, seeds, Path(tmp))
            print(
                f"time: sweep {r['sweep_s']:.1f} s vs {seeds} x train {r['train_total_s']:.1f} s "
                f"(each {', '.join(f'{t:.1f}' for t in r['train_s'])}): ratio "
                f"{r['ratio']:.3f} (target <= 1.10)"
            )
        if not a.skip_memory:
            m = out["memory"] = memory(tiny, Path(tmp))
            print(
                f"memory: {tiny} tiny cells in {m['wall_s']:.0f} s ({m['s_per_cell']:.2f} s "
                f"each): peak PSS {m['peak_pss_mb']:.0f} MB, RSS {m['peak_rss_mb']:.0f} MB "
                f"over {m['max_processes']} processes (target <= 1536 MB)"
            )
    out["load_after"] = os.getloadavg()
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
