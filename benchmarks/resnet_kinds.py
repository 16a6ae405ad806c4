"""Peak CUDA memory and seconds per epoch of each model kind, each trained alone in this process
(a sweep runs cells side by side, so its timings mix). The paper's claim: a BatchEnsemble needs
close to one model's memory, an ensemble of E models E times. `bash benchmarks/gpu_check.sh`
runs it with the ResNet recipe; any `bedash train` flag works:
    python benchmarks/resnet_kinds.py --out DIR --arch resnet --models single,batchensemble ...
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from bedash.cli import build_parser, config_from_args
from bedash.experiment import run_experiment

COLUMNS = ["model", "members", "peak_mib", "epoch_seconds", "train_seconds", "ensemble_acc", "nll"]


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(["train", *argv])
    cfg = config_from_args(args)
    out = Path(args.out or "resnet_kinds")
    rows = []
    for kind in cfg.models:
        cuda = torch.cuda.is_available() and cfg.device != "cpu"
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        result = run_experiment(cfg.replace(models=(kind,)), out / kind, overwrite=True)
        row = result.rows[0]
        peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else None  # data included
        rows.append({**{k: row.get(k) for k in COLUMNS}, "peak_mib": peak})
        print(rows[-1], flush=True)
    with open(out / "kinds.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
