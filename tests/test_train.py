"""fit and predict interleaved: inference is never stale; split batches; the timed evaluation."""

from __future__ import annotations

import copy
import csv
import json
import os
from pathlib import Path

import pytest
import torch
from torch import nn

from bedash import experiment as X
from bedash.data.batches import Batcher
from bedash.data.synthetic import synthetic
from bedash.data.tensors import normalize
from bedash.experiment import run_experiment
from bedash.method import train as T
from bedash.method.models import build_model
from bedash.method.train import fit, make_optimizer, predict
from bedash.settings.config import RunConfig
from tests.conftest import TINY

KINDS = [("batchensemble", "mlp"), ("batchensemble", "cnn"), ("ensemble_parallel", "cnn")]


def _model(kind: str, arch: str, cfg: RunConfig = TINY) -> torch.nn.Module:
    return build_model(kind, cfg.replace(arch=arch, channels=4))


@pytest.mark.parametrize(("kind", "arch"), KINDS)
def test_predict_after_more_training_equals_a_fresh_copy(kind: str, arch: str) -> None:
    """fit -> predict -> fit -> predict: the second predict sees the weights the fused Adam
    step wrote (which bump no tensor version), exactly as a fresh copy of the model does."""
    data = synthetic(64, 32)
    model = _model(kind, arch)
    opt = make_optimizer(model, TINY)  # the real one: Adam(fused=True)
    batcher = Batcher(data.train, 32)
    fit(model, batcher, opt, epochs=1, name=kind)
    before, _ = predict(model, data.test, 32)
    fit(model, batcher, opt, epochs=1, name=kind)
    after, _ = predict(model, data.test, 32)
    fresh, _ = predict(copy.deepcopy(model), data.test, 32)
    assert not torch.allclose(after, before)  # the second epoch did change the model
    torch.testing.assert_close(after, fresh, rtol=0, atol=0)


@pytest.mark.parametrize(("kind", "arch"), KINDS)
def test_predict_after_a_data_edit_equals_a_fresh_copy(kind: str, arch: str) -> None:
    data = synthetic(32, 32)
    model = _model(kind, arch)
    before, _ = predict(model, data.test, 16)
    first = next(m for m in model.modules() if isinstance(getattr(m, "weight", None), nn.Parameter))
    first.weight.data.mul_(-1.5)  # an edit through .data bumps no version either
    after, _ = predict(model, data.test, 16)
    fresh, _ = predict(copy.deepcopy(model), data.test, 16)
    assert not torch.allclose(after, before)
    torch.testing.assert_close(after, fresh, rtol=0, atol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize(("kind", "arch"), KINDS)
def test_predict_after_cuda_graph_replays_equals_a_fresh_copy(kind: str, arch: str) -> None:
    """A replayed CUDA graph writes the weights outside autograd's version counters."""
    data = synthetic(32 * 8, 96).to("cuda")
    model = _model(kind, arch).cuda()
    opt = make_optimizer(model, TINY, capturable=True)
    batcher = Batcher(data.train, 32)
    fit(model, batcher, opt, epochs=1, name=kind, graph=True)  # warm-up, capture, replays
    before, _ = predict(model, data.test, 32)
    fit(model, batcher, opt, epochs=1, name=kind, graph=True)  # a new Stepper: new capture
    after, _ = predict(model, data.test, 32)
    fresh, _ = predict(copy.deepcopy(model), data.test, 32)
    assert not torch.allclose(after, before)
    torch.testing.assert_close(after, fresh, rtol=0, atol=1e-6)  # stale was ~1e-3 off


@pytest.mark.parametrize(("kind", "arch"), [*KINDS, ("single", "mlp"), ("ensemble", "cnn")])
def test_predict_is_the_plain_forward_under_inference_mode(kind: str, arch: str) -> None:
    """predict takes the model's predict_shared where it has one: the logits of its plain
    forward on each batch, computed under torch.inference_mode."""
    data = synthetic(8, 40)
    model = _model(kind, arch)
    modes: list[bool] = []
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.register_forward_hook(lambda *_: modes.append(torch.is_inference_mode_enabled()))
    logits, _ = predict(model, data.test, 16)
    assert modes and all(modes)
    modes.clear()
    with torch.no_grad():
        ref = torch.cat([model(normalize(data.test.x[i : i + 16])) for i in (0, 16, 32)], dim=1)
    torch.testing.assert_close(logits, ref, rtol=1e-4, atol=1e-5)
    assert not logits.is_inference()  # a plain tensor: later autograd may use it


# -- split member batches ------------------------------------------------------------------------


def test_split_mode_skips_a_last_batch_with_fewer_rows_than_members(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """98 images in batches of 32 leave a last batch of 2 rows for 3 members: no member can
    get a row, so that step is skipped; the epoch's loss, image count and rate are those of
    the 3 batches trained on (each member gets 32 // 3 = 10 rows of each)."""
    data = synthetic(98, 16)
    model = build_model("batchensemble", TINY)  # E = 3
    step_losses: list[torch.Tensor] = []
    real_call = T.Stepper.__call__

    def spy(self: T.Stepper, idx: torch.Tensor) -> torch.Tensor:
        out = real_call(self, idx)
        step_losses.append(out.clone())
        return out

    monkeypatch.setattr(T.Stepper, "__call__", spy)
    epochs: list[list[T.EpochRecord]] = []

    class Rec(T.Callback):
        def on_epoch(self, records: list[T.EpochRecord]) -> None:
            epochs.append(records)

    batcher = Batcher(data.train, 32)
    res = fit(model, batcher, make_optimizer(model, TINY), epochs=2, name="be", split=True,
              callback=Rec())  # fmt: skip
    assert res.status == "finished" and res.epochs_done == 2
    assert len(step_losses) == 2 * 3  # 4 batches an epoch, the 2-row one skipped
    assert res.member_samples == 2 * 3 * 10 * 3  # epochs x steps x rows each x members
    first = torch.stack(step_losses[:3]).mean(0)  # per member, epoch 1
    assert res.member_losses[0] == pytest.approx(first.tolist(), rel=1e-6)
    whole = epochs[0][0]
    assert whole.member is None and whole.loss == pytest.approx(first.mean().item(), rel=1e-6)
    assert whole.samples_per_s == pytest.approx(3 * 10 * 3 / whole.epoch_seconds, rel=1e-6)


def test_split_run_with_a_tiny_last_batch_finishes(tmp_path: Path) -> None:
    cfg = TINY.replace(train_size=98, member_batch="split", models=("batchensemble", "single"))
    res = run_experiment(cfg, tmp_path / "r")
    assert res.status == "finished" and all(r["status"] == "finished" for r in res.rows)
    be, single = res.rows
    # member-samples: split, 3 x 10 rows for each of 3 members; single: all 98 images
    assert be["member_samples_per_s"] * be["train_seconds"] == pytest.approx(90)
    assert single["member_samples_per_s"] * single["train_seconds"] == pytest.approx(98)


# -- finished means finite -----------------------------------------------------------------------


def _break_at_last_epoch(
    monkeypatch: pytest.MonkeyPatch, kind: str, value: float
) -> type[T.Callback]:
    """A callback class that, at the end of the last epoch of `kind` (its loss already finite
    and recorded), fills that model's first weight with `value`."""
    built: dict[str, torch.nn.Module] = {}
    real_build = X.build_model

    def build(k: str, *a, **kw):
        built[k] = real_build(k, *a, **kw)
        return built[k]

    monkeypatch.setattr(X, "build_model", build)

    class Break(T.Callback):
        def on_epoch(self, records: list[T.EpochRecord]) -> None:
            r = records[0]
            if r.model == kind and r.epoch == TINY.epochs:
                with torch.no_grad():
                    built[kind].model.net[0].weight.fill_(value)

    return Break


@pytest.mark.parametrize(
    ("value", "why"), [(float("inf"), "weights"), (1e38, "logits overflow, weights finite")]
)
def test_a_model_broken_by_its_last_step_is_diverged_not_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: float, why: str
) -> None:
    Break = _break_at_last_epoch(monkeypatch, "batchensemble", value)
    cfg = TINY.replace(models=("batchensemble", "single"))
    res = run_experiment(cfg, tmp_path / "r", callback=Break())
    assert res.status == "diverged", why
    assert [(r["model"], r["status"]) for r in res.rows] == [
        ("batchensemble", "diverged"), ("single", "finished"),
    ]  # fmt: skip
    status = json.loads((tmp_path / "r" / "status.json").read_text())
    assert status["status"] == "diverged"
    assert status["models"] == {"batchensemble": "diverged", "single": "finished"}
    rows = {r["model"]: r for r in _csv_rows(tmp_path / "r" / "results.csv")}
    assert rows["batchensemble"]["status"] == "diverged"
    assert rows["batchensemble"]["nll"] == rows["batchensemble"]["ensemble_acc"] == ""
    assert "batchensemble" not in res.metrics and res.metrics["single"].ensemble_acc > 0
    assert not (tmp_path / "r" / "reliability_batchensemble.csv").exists()


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# -- the timed evaluation ------------------------------------------------------------------------


def test_predict_timed_returns_predicts_logits_and_one_time_per_repeat() -> None:
    data = synthetic(32, 40)
    model = build_model("batchensemble", TINY)
    logits, times = T.predict_timed(model, data.test, 16, repeats=4)
    assert len(times) == 4 and all(t > 0 for t in times)
    torch.testing.assert_close(logits, predict(model, data.test, 16)[0], rtol=0, atol=0)


def test_infer_seconds_is_the_median_of_the_repeats_after_a_warm_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seconds = iter([9.0, 1.0, 3.0, 2.0])  # warm-up (dropped), then the three timed passes
    real = T.predict
    monkeypatch.setattr(T, "predict", lambda *a: (real(*a)[0], next(seconds)))
    cfg = TINY.replace(models=("single",))
    res = run_experiment(cfg, tmp_path / "r")
    (row,) = res.rows
    assert row["infer_seconds"] == 2.0 and row["infer_repeats"] == X.INFER_REPEATS == 3
    assert row["cpu_count"] == os.cpu_count()
    assert row["load_avg"] is None or row["load_avg"] >= 0
    (disk,) = _csv_rows(tmp_path / "r" / "results.csv")
    assert list(disk)[-4:] == ["infer_repeats", "load_avg", "cpu_count", "niceness"]  # appended
    assert float(disk["infer_seconds"]) == 2.0 and int(disk["infer_repeats"]) == 3
