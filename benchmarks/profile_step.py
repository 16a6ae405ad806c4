"""Where does a training step's time go? GEMMs, element-wise work, the optimizer, and the rest
(autograd and Python overhead), for each model kind, through bedash's own `Stepper`.

    python benchmarks/profile_step.py                      # CPU, E = 5, hidden 128, batch 32
    python benchmarks/profile_step.py --kinds batchensemble --steps 300

The categories sum torch.profiler's self CPU time of the operators; "overhead" is the step's
wall time minus all operator time (autograd engine, Python, dispatch). CPU only: on CUDA the
step is one graph replay and this breakdown says nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402  (after the path above)
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from bedash.data.batches import Batcher  # noqa: E402
from bedash.data.synthetic import synthetic  # noqa: E402
from bedash.method.models import build_model, loss_scale, training_units  # noqa: E402
from bedash.method.train import Stepper, make_optimizer  # noqa: E402
from bedash.settings.config import RunConfig  # noqa: E402

GEMM = {"aten::mm", "aten::bmm", "aten::addmm", "aten::baddbmm", "aten::mkldnn_convolution"}
OPTIM = ("fused_adam", "_foreach_", "adam")


def category(name: str) -> str:
    low = name.lower()
    if name in GEMM:
        return "gemm"
    if any(k in low for k in OPTIM):
        return "optimizer"
    return "elementwise & other ops"


def profile_kind(kind: str, cfg: RunConfig, steps: int) -> dict[str, float]:
    """ms per step by category for `kind` (an ensemble: its members one after another)."""
    torch.manual_seed(0)
    data = synthetic(steps * cfg.batch_size, 10)
    scale = loss_scale(kind, cfg.members)
    totals: dict[str, float] = {}
    wall = 0.0
    for net in training_units(build_model(kind, cfg)):
        batcher = Batcher(data.train, cfg.batch_size, seed=0)
        step = Stepper(net, make_optimizer(net, cfg), batcher, loss_scale=scale)
        idx = list(batcher.indices(1))
        for i in idx[:10]:  # warm-up
            step(i)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            t0 = time.perf_counter()
            for i in idx:
                step(i)
            wall += time.perf_counter() - t0
        for ev in prof.key_averages():
            if ev.key.startswith(("aten::", "Optimizer.", "torch::")):
                cat = category(ev.key)
                totals[cat] = totals.get(cat, 0.0) + ev.self_cpu_time_total / 1e3
    n = len(idx)
    out = {k: v / n for k, v in totals.items()}
    out["overhead (autograd, Python)"] = max(0.0, wall * 1e3 / n - sum(out.values()))
    out["step (profiled)"] = wall * 1e3 / n
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kinds", default="batchensemble,ensemble,ensemble_parallel,single")
    p.add_argument("--members", type=int, default=5)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--steps", type=int, default=200)
    args = p.parse_args()
    cfg = RunConfig(members=args.members, hidden=args.hidden, device="cpu")
    print(
        f"ms per training step on CPU ({torch.get_num_threads()} threads), E={args.members}, "
        f"hidden {args.hidden}, batch {cfg.batch_size}"
    )
    for kind in args.kinds.split(","):
        row = profile_kind(kind, cfg, args.steps)
        parts = "  ".join(f"{k} {v:.2f}" for k, v in row.items())
        print(f"{kind:<18} {parts}")


if __name__ == "__main__":
    main()
