"""CUDA paths: run where a GPU exists (the lent GPU box), skipped elsewhere. CPU-only CI skips
them by design; the CPU tests cover the same code paths."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from bedash.data.batches import Batcher
from bedash.data.synthetic import synthetic
from bedash.experiment import run_experiment
from bedash.method.models import build_model
from bedash.method.train import fit, make_optimizer, predict
from bedash.settings.config import RunConfig

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CFG = RunConfig(dataset="synthetic", train_size=512, test_size=256, epochs=2, hidden=32,
                members=3, batch_size=32, device="cuda")  # fmt: skip


@pytest.mark.parametrize("kind", ["batchensemble", "ensemble_parallel", "single"])
def test_cuda_forward_matches_cpu(kind: str) -> None:
    model = build_model(kind, CFG.replace(arch="cnn", channels=4))
    x = torch.randn(6, 3, 32, 32)
    ref = model(x)
    out = model.cuda()(x.cuda()).cpu()
    torch.testing.assert_close(out, ref, rtol=2e-3, atol=2e-3)
    with torch.no_grad():
        fast = model(x.cuda()).cpu()  # the inference fast path on the GPU
    torch.testing.assert_close(fast, ref, rtol=2e-3, atol=2e-3)


def test_cuda_run_end_to_end(tmp_path: Path) -> None:
    cfg = CFG.replace(models=("batchensemble", "ensemble", "ensemble_parallel", "single"))
    res = run_experiment(cfg, tmp_path / "r")
    assert res.status == "finished"
    assert all(r["device"] == "cuda:0" for r in res.rows)
    seq, par = res.metrics["ensemble"], res.metrics["ensemble_parallel"]
    assert par.member_acc == pytest.approx(seq.member_acc, abs=3 / 256)


@pytest.mark.parametrize("graph", [False, True])
def test_no_host_sync_per_step(graph: bool) -> None:
    """Syncs come from log points and epoch ends only: their count must not grow with steps."""
    data = synthetic(64 * 32, 8).to("cuda")

    def syncs(steps: int) -> int:
        model = build_model("batchensemble", CFG).cuda()
        opt = make_optimizer(model, CFG, capturable=graph)
        batcher = Batcher(data.train.head(steps * 32), 32)
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("warn")
        try:
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                fit(model, batcher, opt, epochs=1, name="be", log_interval=1e9, graph=graph)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        return len(w)

    assert syncs(16) == syncs(64)


def test_cuda_predict_and_metrics() -> None:
    data = synthetic(256, 300).to("cuda")
    model = build_model("batchensemble", CFG).cuda()
    logits, seconds = predict(model, data.test, 128)
    assert logits.shape == (3, 300, 10) and logits.device.type == "cpu" and seconds > 0


@pytest.mark.parametrize("kind", ["batchensemble", "ensemble_parallel", "single"])
def test_cuda_graph_steps_equal_eager_steps(kind: str) -> None:
    """The captured step is the same math: weights after 2 epochs (the last batch partial,
    so eager and replayed steps mix) match an eager run from the same start."""
    from bedash.method.train import Stepper

    data = synthetic(32 * 9 + 16, 8).to("cuda")
    cfg = CFG.replace(members=3)
    results = {}
    for graph in (False, True):
        model = build_model(kind, cfg).cuda()
        opt = make_optimizer(model, cfg, capturable=graph)
        scale = 3.0 if kind == "ensemble_parallel" else 1.0
        res = fit(model, Batcher(data.train, 32, seed=0), opt, epochs=2, name=kind,
                  loss_scale=scale, graph=graph)  # fmt: skip
        results[graph] = (model, res)
    (m0, r0), (m1, r1) = results[False], results[True]
    assert r0.losses == pytest.approx(r1.losses, rel=1e-4)
    for p0, p1 in zip(m0.parameters(), m1.parameters(), strict=True):
        torch.testing.assert_close(p1, p0, rtol=1e-3, atol=1e-4)
    stepper = Stepper(m1, make_optimizer(m1, cfg, capturable=True),
                      Batcher(data.train, 32), graph=True)  # fmt: skip
    for idx in list(Batcher(data.train, 32).indices(1))[:6]:
        stepper(idx)
    assert stepper._graph is not None  # captured after the warm-up, then replayed


def test_graph_fits_do_not_grow_gpu_memory() -> None:
    # each fit used to warm up on a fresh stream, and cuBLAS kept a workspace per stream
    data = synthetic(512, 64).to("cuda")
    after = []
    for _ in range(3):
        model = build_model("batchensemble", CFG).cuda()
        opt = make_optimizer(model, CFG, capturable=True)
        fit(model, Batcher(data.train, 32), opt, epochs=1, name="be", graph=True)
        del model, opt
        torch.cuda.synchronize()
        after.append(torch.cuda.memory_allocated())
    assert after[2] == after[1] == after[0]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])  # adam: the step is a CUDA graph
def test_cuda_resnet_recipe_runs_in_bf16_and_channels_last(tmp_path: Path, optimizer: str) -> None:
    lr = 0.05 if optimizer == "sgd" else 1e-3
    kinds = ("batchensemble", "ensemble_parallel", "single")
    cfg = CFG.replace(arch="resnet", width=8, optimizer=optimizer, lr=lr, models=kinds)
    res = run_experiment(cfg, tmp_path / "r")
    assert res.status == "finished" and [r["status"] for r in res.rows] == ["finished"] * 3
