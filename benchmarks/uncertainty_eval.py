"""Time the uncertainty evaluation: the corruptions x 5 severities of the test set plus two OOD
sets, for a 5-member MLP BatchEnsemble (untrained: the cost does not depend on the weights).

    python benchmarks/uncertainty_eval.py [--test-size 10000] [--corruptions 8|all|extra]
                                          [--threads N] [--per-corruption]

`all` is `--shift all`: CIFAR-10-C's 15 corruptions less frost (14). Prints seconds per stage,
the whole evaluation's seconds and the process's peak RSS. The budgets: at most 30 s and 1 GB
for `all` on a quiet 2-core CPU (10,000 images), 20 s for the first 8.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from bedash.data.synthetic import synthetic
from bedash.method.models import build_model
from bedash.names import SHIFT_GROUPS
from bedash.settings.config import RunConfig
from bedash.uncertainty.corruptions import corrupt
from bedash.uncertainty.evaluation import evaluate_model, prepare
from bedash.uncertainty.ood import load_ood_sets

EIGHT = ("gaussian_noise", "shot_noise", "impulse_noise", "gaussian_blur", "contrast",
         "brightness", "pixelate", "jpeg_compression")  # fmt: skip
BUDGET_S = {"8": 20, "all": 30, "extra": 30}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--test-size", type=int, default=10_000)
    ap.add_argument("--corruptions", choices=tuple(BUDGET_S), default="8")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--per-corruption", action="store_true", help="also time each corruption")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    names = EIGHT if a.corruptions == "8" else SHIFT_GROUPS[a.corruptions]
    t0 = time.perf_counter()
    ds = synthetic(n_train=1, n_test=a.test_size)
    t_data = time.perf_counter() - t0
    # JPEG goes through torchvision.io; a real run has imported torchvision already, loading
    # CIFAR-10 (bedash.data.cifar10): imported here too, timed apart (~1.2 s, ~170 MB)
    t0 = time.perf_counter()
    import torchvision.io  # noqa: F401

    t_vision = time.perf_counter() - t0
    model = build_model("batchensemble", RunConfig(members=5))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    ood = load_ood_sets(("uniform", "gaussian"), len(ds.test), seed=0)
    data = prepare(ds, corruptions=names, ood=ood, seed=0)
    t_prep = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = evaluate_model(model, "batchensemble", data, a.batch_size)
    total = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"torch threads {torch.get_num_threads()}, test images {a.test_size}, "
        f"corruptions {len(names)} x 5 severities, OOD sets 2"
    )
    print(f"  make test set        {t_data:6.2f} s (not counted)")
    print(f"  import torchvision   {t_vision:6.2f} s (not counted: loading CIFAR-10 does it)")
    print(f"  load OOD sets        {t_prep:6.2f} s")
    for stage, s in res.seconds.items():
        print(f"  {stage:<20} {s:6.2f} s")
    print(f"evaluation total       {total + t_prep:6.2f} s   (budget {BUDGET_S[a.corruptions]} s)")
    print(
        f"peak RSS               {rss:6.0f} MB   (before the evaluation: {rss0:.0f} MB, "
        f"torch, torchvision and the test set; the evaluation's own: {rss - rss0:.0f} MB)"
    )
    if a.per_corruption:
        x = ds.test.x[:1000]
        for n in names:
            t0 = time.perf_counter()
            for sev in range(1, 6):
                corrupt(x, n, sev, torch.Generator().manual_seed(0))
            print(
                f"  corrupt {n:<18} {(time.perf_counter() - t0) * a.test_size / 1000:6.2f} s "
                "(5 severities, extrapolated)"
            )


if __name__ == "__main__":
    main()
