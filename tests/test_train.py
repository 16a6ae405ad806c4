"""fit and predict interleaved: inference is never stale; split batches; the timed evaluation."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from bedash.config import RunConfig
from bedash.data import Batcher, synthetic
from bedash.models import build_model
from bedash.train import fit, make_optimizer, predict

from .conftest import TINY

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
