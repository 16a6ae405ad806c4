"""The integer first layer: the plain float path's numbers (closer to exact, in fact), taken only
where it is asked for and applies."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bedash.data.synthetic import synthetic
from bedash.data.tensors import Split, normalize
from bedash.method import intgemm
from bedash.method.models import build_model
from bedash.method.train import predict
from bedash.settings.config import RunConfig
from bedash.uncertainty import evaluation

KINDS = ("single", "batchensemble", "ensemble", "ensemble_parallel")


def _exact(raw: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return (raw.double() * (2.0 / 255.0) - 1.0) @ w.double().T


@pytest.mark.parametrize("k", [3072, 75, 1])
def test_linear_is_at_least_as_close_to_exact_as_the_float_gemm(k: int) -> None:
    g = torch.Generator().manual_seed(k)
    raw = torch.randint(0, 256, (300, k), dtype=torch.uint8, generator=g)
    w = torch.randn(40, k, generator=g) * 0.05
    w[3] = 0.0  # a zero row: all its digits are 0
    w[4] *= 1e-6  # a tiny row: its own scale keeps its precision
    w[5, 0] = 30.0  # one large weight in a row
    exact = _exact(raw, w)
    fast = intgemm.linear(raw, intgemm.decompose(w))
    plain = F.linear(normalize(raw), w)
    err_fast = (fast.double() - exact).abs()
    err_plain = (plain.double() - exact).abs()
    scale = exact.abs().amax(dim=0) + 1e-30  # per output: errors relative to its size
    assert float((err_fast / scale).max()) <= max(float((err_plain / scale).max()), 1e-7)
    assert float((fast[:, 4].double() - exact[:, 4]).abs().max()) < 1e-6 * float(
        exact[:, 4].abs().max()
    )
    assert torch.equal(fast[:, 3], torch.zeros(300))
    digits = intgemm.decompose(w).q.shape[1] // 40
    assert digits == (3 if k == 1 else 4)  # row 5's outlier needs a fourth digit
    assert intgemm.decompose(torch.randn(40, k, generator=g)).q.shape[1] == 3 * 40


def test_decompose_refuses_what_it_cannot_do_exactly() -> None:
    assert intgemm.decompose(torch.randn(4, 8).double()) is None  # float64: keep it
    bad = torch.randn(4, 8)
    bad[1, 2] = float("nan")
    assert intgemm.decompose(bad) is None  # a diverged model: NaN logits as the plain path
    assert intgemm.decompose(torch.zeros(2, intgemm.MAX_FEATURES + 1)) is None  # int32 overflow
    d = intgemm.decompose(torch.randn(4, intgemm.MAX_FEATURES))
    assert d is not None and d.q.dtype == torch.int8 and d.q.shape == (intgemm.MAX_FEATURES, 12)


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = intgemm.linear
    monkeypatch.setattr(intgemm, "linear", lambda *a: calls.append(1) or real(*a))
    return calls


@pytest.mark.parametrize("kind", KINDS)
def test_every_mlp_kind_gives_the_plain_logits_and_predictions(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = synthetic(n_train=1, n_test=600)
    model = build_model(kind, RunConfig(members=3, hidden=32, seed=4))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)  # members differ, weights are not round
    split = Split(ds.test.x, ds.test.y)
    calls = _spy(monkeypatch)
    plain, _ = predict(model, split, 250)
    assert calls == []  # off unless asked for: timed inference stays the float path
    with intgemm.integer_inputs():
        fast, _ = predict(model, split, 250)
    assert len(calls) == (3 if kind == "ensemble" else 1) * 3  # every batch took it
    torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-5)
    assert torch.equal(fast.argmax(-1), plain.argmax(-1))


def test_a_cnn_and_a_cuda_free_model_in_training_take_the_plain_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ds = synthetic(n_train=1, n_test=64)
    calls = _spy(monkeypatch)
    cnn = build_model("batchensemble", RunConfig(members=2, arch="cnn", channels=4, hidden=8))
    split = Split(ds.test.x, ds.test.y)
    with intgemm.integer_inputs():
        fast, _ = predict(cnn, split, 32)
        mlp = build_model("single", RunConfig(hidden=8))
        x = normalize(ds.test.x)
        with intgemm.source(x, ds.test.x):
            out = mlp(x)  # grad enabled (training): never the integer path
    assert calls == []
    torch.testing.assert_close(fast, predict(cnn, split, 32)[0])
    assert out.requires_grad


def test_a_changed_input_is_not_mistaken_for_its_raw_images() -> None:
    raw = torch.randint(0, 256, (5, 3, 2, 2), dtype=torch.uint8)
    x = normalize(raw)
    with intgemm.integer_inputs(), intgemm.source(x, raw), torch.no_grad():
        flat = x.view(5, -1)
        assert torch.equal(intgemm.raw_for(flat), raw.view(5, -1))
        assert intgemm.raw_for(flat[:4]) is None  # part of the batch
        assert intgemm.raw_for(flat.clone()) is None  # another tensor
        x.add_(1.0)  # changed in place: no longer normalize(raw)
        assert intgemm.raw_for(flat) is None
    with intgemm.source(x, raw), torch.no_grad():
        assert intgemm.raw_for(x.view(5, -1)) is None  # integer_inputs() is not open


def test_the_evaluation_splits_each_weight_once_for_all_its_sets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[int] = []
    real = intgemm.decompose
    monkeypatch.setattr(intgemm, "decompose", lambda w: made.append(1) or real(w))
    ds = synthetic(n_train=1, n_test=200)
    model = build_model("batchensemble", RunConfig(members=3, hidden=16))
    data = evaluation.prepare(ds, corruptions=("contrast", "brightness"), ood=("uniform",))
    res = evaluation.evaluate_model(model, "batchensemble", data, 64)
    assert len(res.shift) == 1 + 2 * 5 + 5 and made == [1]  # 12 sets, one split
    plain = evaluation.scalar_metrics(predict(model, Split(ds.test.x, ds.test.y), 64)[0],
                                      ds.test.y)  # fmt: skip
    assert res.shift[0]["acc"] == plain["acc"]
    assert abs(res.shift[0]["nll"] - plain["nll"]) < 1e-6
