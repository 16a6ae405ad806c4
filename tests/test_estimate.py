"""The one ETA: replayed on a real run's recorded training events (tests/fixtures/eta_trace.json,
seconds since the run began), it is within a factor of 2 of the truth at 10 % of the work and
never rises while the work advances; a measured speed gives the run's duration before Start."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from bedash.estimate import ASSUMED, Plan, RunEta, cost, remaining, speed_of

TRACE = json.loads((Path(__file__).parent / "fixtures" / "eta_trace.json").read_text())
CFG = SimpleNamespace(**TRACE["config"])


def replay() -> list[tuple[float, float, float]]:
    """(share of the work done, the estimate, the true seconds left) at each progress event."""
    now = [0.0]
    eta, plan = RunEta(CFG, clock=lambda: now[0]), Plan.of(CFG)
    total, index, out = sum(plan.train) + sum(plan.evals), 0, []
    for t, event, model, x in TRACE["events"]:
        now[0] = t
        if event == "model_start":
            index = x
            eta.on_model_start(model, {"index": x})
        elif event == "model_end":
            eta.on_model_end(model, {})
        else:
            shown = eta.on_progress(SimpleNamespace(fraction=x))
            done = sum(plan.train[:index]) + sum(plan.evals[:index]) + x * plan.train[index]
            out.append((done / total, shown, TRACE["end"] - t))
    return out


def test_the_estimate_at_10_percent_is_within_a_factor_of_2_of_the_truth() -> None:
    _, shown, truth = next(p for p in replay() if p[0] >= 0.10)
    assert truth / 2 <= shown <= truth * 2


def test_the_estimate_never_rises_and_ends_near_zero() -> None:
    points = replay()
    shown = [s for _, s, _ in points]
    assert all(b <= a for a, b in itertools.pairwise(shown))
    assert shown[-1] == pytest.approx(points[-1][2], abs=1.0)  # the last event: about done


def test_no_estimate_before_a_speed_is_measured() -> None:
    assert math.isinf(RunEta(CFG, clock=lambda: 0.0).seconds())


def test_a_measured_speed_gives_the_runs_training_time() -> None:
    """results.csv's member samples per second, per kind, as the trace measured them: the
    planned seconds are the trace's training time (its evaluation and loading are short)."""
    starts = {m: t for t, e, m, _ in TRACE["events"] if e == "model_start"}
    trained = {}
    for t, e, m, x in TRACE["events"]:
        if e == "progress" and x >= 1:
            trained.setdefault(m, t)
    rows = [
        {"model": m, "status": "finished", "member_samples_per_s": w / (trained[m] - starts[m])}
        for m, w in zip(CFG.models, Plan.of(CFG).train, strict=True)
    ]
    speed = speed_of(TRACE["config"], rows, "the trace")
    training = sum(trained[m] - starts[m] for m in CFG.models)
    assert training <= speed.seconds(CFG) <= training * 1.2  # evaluation: a third of a step
    assert ASSUMED.seconds(CFG) == pytest.approx(training, rel=0.2)
    assert speed_of({}, rows, "a damaged config") is ASSUMED


def test_cost_counts_the_multiply_adds_of_a_forward_pass() -> None:
    mlp = SimpleNamespace(arch="mlp", hidden=128, layers=2, channels=32)
    assert cost(mlp) == 3072 * 128 + 128 * 128 + 128 * 10  # 3072 -> 128 -> 128 -> 10
    cnn = SimpleNamespace(arch="cnn", hidden=64, layers=1, channels=8)
    # 3x3 convs 3->8 at 32x32, 8->16 at 16x16, 16->32 at 8x8; then 32*4*4 -> 64 -> 10
    convs = 9 * (3 * 8 * 32 * 32 + 8 * 16 * 16 * 16 + 16 * 32 * 8 * 8)
    assert cost(cnn) == convs + 512 * 64 + 64 * 10


@pytest.mark.parametrize(
    "settings",
    [{"arch": "mlp"}, {"arch": "mlp", "layers": 3, "hidden": 64}, {"arch": "cnn"},
     {"arch": "cnn", "channels": 8, "hidden": 32}, {"arch": "resnet"},
     {"arch": "resnet", "width": 8}, {"arch": "resnet", "depth": "18"},
     {"arch": "resnet", "depth": "18", "width": 16}],
)  # fmt: skip
def test_cost_equals_torchs_count_of_the_built_model(settings: dict) -> None:
    """torch's FlopCounterMode on the real network (2 FLOPs per multiply-add of its convs and
    matrix products), built on the meta device: no weights allocated."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from bedash.method.models import make_arch
    from bedash.settings.config import RunConfig

    cfg = RunConfig(**settings)
    with torch.device("meta"):
        model = make_arch(cfg).eval()
    with FlopCounterMode(display=False) as counter:
        model(torch.empty(1, 3, 32, 32, device="meta"))
    assert cost(cfg) == counter.get_total_flops() / 2


def test_cost_of_resnet18_is_the_published_count() -> None:
    # ResNet-18 for CIFAR-10 (3x3 stem, no stem pool, width 64): 0.56 G multiply-adds per
    # 32 x 32 image, the figure CIFAR-10 papers and thop's counts quote for it (556 M)
    resnet18 = SimpleNamespace(arch="resnet", depth="18", width=64, hidden=128)
    assert cost(resnet18) == pytest.approx(0.556e9, rel=0.005)


def test_remaining_at_a_steady_pace() -> None:
    assert remaining(2, 6, 10.0) == 20.0  # 2 of 6 cells in 10 s: 4 more take 20 s
    assert math.isinf(remaining(0, 6, 10.0))
