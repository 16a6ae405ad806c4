"""BatchEnsemble and stacked layers against plain torch references."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bedash.method.layers import (
    BatchEnsemble,
    BatchEnsembleConv2d,
    BatchEnsembleLinear,
    Single,
    StackedConv2d,
    StackedLinear,
    batchensemble,
    fast_weights,
    parallel_ensemble,
    tile,
)
from bedash.method.models import CNN, MLP


class SeedMLP(nn.Module):
    """The seed notebook's MLP class, exactly as the notebook writes it."""

    def __init__(self, in_dim: int = 3072, hidden: int = 128, out_dim: int = 10) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, out_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.view(x.size(0), -1)
        return self.net(x)


def test_seed_mlp_batch_32_members_5_gives_e_b_c() -> None:
    torch.manual_seed(0)
    be = batchensemble(SeedMLP(), num_members=5)
    out = be(torch.randn(32, 3, 32, 32))
    assert out.shape == (5, 32, 10)
    assert isinstance(be, BatchEnsemble)
    kinds = [type(m) for m in be.modules() if isinstance(m, BatchEnsembleLinear)]
    assert len(kinds) == 3


def test_members_need_not_divide_batch() -> None:
    be = batchensemble(SeedMLP(hidden=8), num_members=3)
    assert be(torch.randn(7, 3, 32, 32)).shape == (3, 7, 10)


def test_original_model_untouched() -> None:
    torch.manual_seed(0)
    model = SeedMLP(hidden=8)
    before = copy.deepcopy(model.state_dict())
    be = batchensemble(model, 4)
    with torch.no_grad():
        for p in be.parameters():
            p.add_(1.0)
    assert all(isinstance(m, (nn.Linear, nn.ReLU, nn.Sequential, SeedMLP)) for m in model.modules())
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


@pytest.mark.parametrize("per_member_bias", [False, True])
def test_linear_member_equals_plain_layer_with_effective_weight(per_member_bias: bool) -> None:
    torch.manual_seed(1)
    E, B = 4, 6
    layer = BatchEnsembleLinear.from_linear(nn.Linear(7, 5), E, per_member_bias)
    with torch.no_grad():
        layer.r.normal_()
        layer.s.normal_()
        if per_member_bias:
            layer.bias.normal_()
    x = torch.randn(E * B, 7)
    out = layer(x).view(E, B, 5)
    for i in range(E):
        bias = layer.bias[i] if per_member_bias else layer.bias
        w = layer.weight * torch.outer(layer.r[i], layer.s[i])
        ref = F.linear(x[i * B : (i + 1) * B], w, bias)
        torch.testing.assert_close(out[i], ref)
        torch.testing.assert_close(layer.member_weight(i), w)


@pytest.mark.parametrize("per_member_bias", [False, True])
@pytest.mark.parametrize("padding_mode", ["zeros", "reflect"])
def test_conv_member_equals_plain_conv_with_effective_kernel(
    per_member_bias: bool, padding_mode: str
) -> None:
    torch.manual_seed(2)
    E, B = 3, 2
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, padding_mode=padding_mode)
    layer = BatchEnsembleConv2d(conv, E, per_member_bias)
    with torch.no_grad():
        layer.r.normal_()
        layer.s.normal_()
        if per_member_bias:
            layer.bias.normal_()
    x = torch.randn(E * B, 4, 9, 9)
    out = layer(x).view(E, B, 6, 5, 5)
    for i in range(E):
        ref_conv = copy.deepcopy(conv)
        with torch.no_grad():
            ref_conv.weight.copy_(layer.member_weight(i))
            ref_conv.bias.copy_(layer.bias[i] if per_member_bias else layer.bias)
        torch.testing.assert_close(out[i], ref_conv(x[i * B : (i + 1) * B]))


def test_one_member_with_unit_factors_equals_base_model() -> None:
    torch.manual_seed(3)
    cnn = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 5)
    )
    be = batchensemble(cnn, 1)
    with torch.no_grad():
        for p in fast_weights(be):
            p.fill_(1.0)
    x = torch.randn(6, 3, 8, 8)
    torch.testing.assert_close(be(x)[0], cnn(x))


def test_cnn_layers_found_at_any_depth_and_members_differ() -> None:
    torch.manual_seed(4)
    inner = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
    model = nn.Sequential(nn.Sequential(inner), nn.Flatten(), nn.Linear(4 * 8 * 8, 3))
    be = batchensemble(model, 3)
    names = {n for n, m in be.named_modules() if isinstance(m, BatchEnsembleConv2d)}
    assert names == {"model.0.0.0"}
    out = be(torch.randn(5, 3, 8, 8))
    assert out.shape == (3, 5, 3)
    assert not torch.allclose(out[0], out[1])  # random-sign factors make members differ


def test_fast_weight_inits() -> None:
    torch.manual_seed(5)
    be = batchensemble(SeedMLP(hidden=8), 4, fast_init="signs")
    for p in fast_weights(be):
        assert set(p.detach().unique().tolist()) <= {-1.0, 1.0}
    torch.manual_seed(5)
    be = batchensemble(SeedMLP(hidden=64), 4, fast_init="normal", fast_init_std=0.1)
    vals = torch.cat([p.detach().flatten() for p in fast_weights(be)])
    assert abs(vals.mean().item() - 1.0) < 0.02 and abs(vals.std().item() - 0.1) < 0.02


def test_shared_weight_gets_gradient_from_every_member() -> None:
    torch.manual_seed(6)
    layer = BatchEnsembleLinear(3, 2, 2)
    x = torch.randn(4, 3)
    layer(x)[:2].sum().backward()  # member 0 only
    assert layer.r.grad[1].abs().sum() == 0 and layer.r.grad[0].abs().sum() > 0
    assert layer.weight.grad.abs().sum() > 0


def test_bad_input_messages() -> None:
    with pytest.raises(ValueError, match="num_members"):
        batchensemble(SeedMLP(), 0)
    with pytest.raises(ValueError, match="no nn.Linear or nn.Conv2d"):
        batchensemble(nn.Sequential(nn.ReLU()), 2)
    layer = BatchEnsembleLinear(3, 2, 4)
    with pytest.raises(ValueError, match="members x batch"):
        layer(torch.randn(5, 3))


def test_stacked_linear_and_conv_equal_their_members() -> None:
    torch.manual_seed(7)
    lins = [nn.Linear(5, 3) for _ in range(3)]
    stacked = StackedLinear(lins)
    x = torch.randn(3 * 4, 5)
    out = stacked(x).view(3, 4, 3)
    for k, m in enumerate(lins):
        torch.testing.assert_close(out[k], m(x[k * 4 : (k + 1) * 4]))
    convs = [nn.Conv2d(2, 4, 3, padding=1, groups=2) for _ in range(3)]
    sconv = StackedConv2d(convs)
    x = torch.randn(3 * 2, 2, 6, 6)
    out = sconv(x).view(3, 2, 4, 6, 6)
    for k, m in enumerate(convs):
        torch.testing.assert_close(out[k], m(x[k * 2 : (k + 1) * 2]))


def test_parallel_ensemble_members_equal_models() -> None:
    torch.manual_seed(8)
    models = [
        nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(64, 2))
        for _ in range(3)
    ]
    par = parallel_ensemble(models)
    x = torch.randn(5, 3, 4, 4)
    out = par(x)
    assert out.shape == (3, 5, 2)
    for k, m in enumerate(models):
        torch.testing.assert_close(out[k], m(x))


def _perturbed(model: nn.Module) -> nn.Module:
    """Members must differ for an equality test to mean much."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model


@pytest.mark.parametrize("E", [1, 3])
@pytest.mark.parametrize("bias", ["none", "shared", "member"])
def test_linear_forward_shared_equals_each_members_effective_layer(E: int, bias: str) -> None:
    """forward_shared(x): every member on the one batch x, each member the plain layer with
    its effective weight W * outer(r_i, s_i)."""
    torch.manual_seed(10)
    layer = _perturbed(BatchEnsembleLinear(7, 5, E, bias != "none", bias == "member"))
    x = torch.randn(6, 7)
    out = layer.forward_shared(x).view(E, 6, 5)
    for i in range(E):
        b = None if layer.bias is None else layer.bias[i] if bias == "member" else layer.bias
        torch.testing.assert_close(out[i], F.linear(x, layer.member_weight(i), b))
    torch.testing.assert_close(layer.forward_shared(x), layer(tile(x, E)))  # the plain path


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("per_member_bias", [False, True])
@pytest.mark.parametrize("padding_mode", ["zeros", "reflect"])
def test_conv_forward_shared_equals_each_members_effective_conv(
    groups: int, per_member_bias: bool, padding_mode: str
) -> None:
    torch.manual_seed(11)
    E = 3
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=groups, padding_mode=padding_mode)
    layer = _perturbed(BatchEnsembleConv2d(conv, E, per_member_bias))
    x = torch.randn(2, 4, 9, 9)
    out = layer.forward_shared(x).view(E, 2, 6, 5, 5)
    for i in range(E):
        ref = copy.deepcopy(conv)
        with torch.no_grad():  # x * s_i through W, then * r_i + b_i: the effective layer
            ref.weight.copy_(layer.weight)
            ref.bias.zero_()
        b = layer.bias[i] if per_member_bias else layer.bias
        expected = ref(x * layer.s[i, None, :, None, None]) * layer.r[i, None, :, None, None]
        torch.testing.assert_close(out[i], expected + b[None, :, None, None])
    torch.testing.assert_close(layer.forward_shared(x), layer(tile(x, E)))


@pytest.mark.parametrize("groups", [1, 2])
def test_stacked_forward_shared_equals_each_member(groups: int) -> None:
    torch.manual_seed(12)
    lins = [nn.Linear(5, 3) for _ in range(3)]
    x = torch.randn(4, 5)
    out = StackedLinear(lins).forward_shared(x).view(3, 4, 3)
    for k, m in enumerate(lins):
        torch.testing.assert_close(out[k], m(x))
    convs = [nn.Conv2d(4, 6, 3, padding=1, groups=groups) for _ in range(3)]
    x = torch.randn(2, 4, 6, 6)
    out = StackedConv2d(convs).forward_shared(x).view(3, 2, 6, 6, 6)
    for k, m in enumerate(convs):
        torch.testing.assert_close(out[k], m(x))


def _models(E: int, pmb: bool) -> dict[str, Callable[[], nn.Module]]:
    def cnn() -> CNN:
        return CNN(channels=2, hidden=6, out_dim=5, image_size=8)

    return {
        "be_mlp": lambda: batchensemble(MLP(192, 6, 5), E, per_member_bias=pmb),
        "be_cnn": lambda: batchensemble(cnn(), E, per_member_bias=pmb),
        "par_mlp": lambda: parallel_ensemble([MLP(192, 6, 5) for _ in range(E)]),
        "par_cnn": lambda: parallel_ensemble([cnn() for _ in range(E)]),
        "single_mlp": lambda: Single(MLP(192, 6, 5)),
        "seed_mlp": lambda: batchensemble(SeedMLP(192, 6, 5), E),  # no stages(): forward
    }


@pytest.mark.parametrize("make", list(_models(1, False)))
@pytest.mark.parametrize("per_member_bias", [False, True])
@pytest.mark.parametrize("E", [1, 3])
def test_predict_shared_equals_the_plain_forward(
    make: str, per_member_bias: bool, E: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batch by batch, predict_shared gives forward's logits; the first layer's weight is
    scaled once for all the batches."""
    torch.manual_seed(9)
    model = _perturbed(_models(E, per_member_bias)[make]())
    xs = [torch.randn(7, 3, 8, 8), torch.randn(4, 3, 8, 8)]
    calls: list[str] = []  # of a first layer's shortcut
    for cls in (BatchEnsembleLinear, BatchEnsembleConv2d, StackedLinear, StackedConv2d):
        for name in ("forward_shared", "shared_weight"):
            real = getattr(cls, name)
            monkeypatch.setattr(cls, name, lambda *a, r=real, n=name: calls.append(n) or r(*a))
    outs = list(model.predict_shared(xs))
    taken = make not in ("single_mlp", "seed_mlp")
    assert calls == (["shared_weight", "forward_shared", "forward_shared"] if taken else [])
    assert len(outs) == 2
    for out, x in zip(outs, xs, strict=True):
        torch.testing.assert_close(out, model(x), rtol=1e-4, atol=1e-5)
        if len(out) > 1:
            assert not torch.allclose(out[0], out[1])
