"""BatchEnsemble and stacked layers against plain torch references."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bedash.method import fastpath
from bedash.method.layers import (
    BatchEnsemble,
    BatchEnsembleConv2d,
    BatchEnsembleLinear,
    StackedConv2d,
    StackedLinear,
    batchensemble,
    fast_weights,
    parallel_ensemble,
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


class InPlaceFirst(nn.Module):
    """Changes its input in place before the first layer: the shared-input path must not be used."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(48, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.view(x.size(0), -1)
        x.mul_(2.0)
        return self.fc(x)


class TwoBranches(nn.Module):
    """The input feeds two layers (a residual-style shortcut)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(3, 4, 1)
        self.head = nn.Linear(4 * 4 * 4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head((torch.relu(self.a(x)) + self.b(x)).flatten(1))


class DeclaredInPlace(InPlaceFirst):
    """Declares that its input only feeds its first layer, then writes to it: the member-major
    wrapper must notice (the shortcut was not taken) and redo the pass on real copies."""

    feeds_input_to_first_layer = True


MAKES = ["be_mlp", "be_cnn", "par_mlp", "par_cnn", "inplace", "branches", "declared_inplace",
         "be_bedash_mlp", "be_bedash_cnn", "par_bedash_mlp", "par_bedash_cnn", "be_grouped",
         "par_grouped", "be_grouped_declared", "par_grouped_declared"]  # fmt: skip


class Declared(nn.Module):
    """Wraps a net whose input goes only to its first layer, and says so."""

    feeds_input_to_first_layer = True

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def grouped_cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(4, 6, 3, padding=1, groups=2), nn.ReLU(), nn.Flatten(),
                         nn.Linear(6 * 4 * 4, 5))  # fmt: skip


NO_SHORTCUT = {"inplace", "declared_inplace"}  # the input is changed before the first layer


@pytest.mark.parametrize("make", MAKES)
@pytest.mark.parametrize("per_member_bias", [False, True])
@pytest.mark.parametrize("E", [1, 3])
def test_inference_fast_path_equals_the_training_path(
    make: str, per_member_bias: bool, E: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """no_grad inference computes the first layer from the un-tiled input (bedash.method.fastpath);
    the numbers must be those of the general member-major path (run with grad enabled), with
    and without predict's inference pass (which keeps the scaled weights between batches)."""
    torch.manual_seed(9)
    cnn = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=True), nn.ReLU(), nn.Flatten(),
                        nn.Linear(4 * 4 * 4, 5))  # fmt: skip
    mlp = SeedMLP(in_dim=48, hidden=6, out_dim=5)
    pmb = per_member_bias
    models = {
        "be_mlp": lambda: batchensemble(mlp, E, per_member_bias=pmb),
        "be_cnn": lambda: batchensemble(cnn, E, per_member_bias=pmb),
        "par_mlp": lambda: parallel_ensemble([copy.deepcopy(mlp) for _ in range(E)]),
        "par_cnn": lambda: parallel_ensemble([copy.deepcopy(cnn) for _ in range(E)]),
        "inplace": lambda: batchensemble(InPlaceFirst(), E),
        "branches": lambda: batchensemble(TwoBranches(), E),
        "declared_inplace": lambda: batchensemble(DeclaredInPlace(), E),
        # bedash's own MLP and CNN declare feeds_input_to_first_layer: no tiled copy at all
        "be_bedash_mlp": lambda: batchensemble(MLP(48, 6, 5), E, per_member_bias=pmb),
        "be_bedash_cnn": lambda: batchensemble(
            CNN(channels=2, hidden=6, out_dim=5, image_size=8), E, per_member_bias=pmb
        ),
        "par_bedash_mlp": lambda: parallel_ensemble([MLP(48, 6, 5) for _ in range(E)]),
        "par_bedash_cnn": lambda: parallel_ensemble(
            [CNN(channels=2, hidden=6, out_dim=5, image_size=8) for _ in range(E)]
        ),
        # grouped first convolutions: each member's group k must see the input's group k
        "be_grouped": lambda: batchensemble(grouped_cnn(), E, per_member_bias=pmb),
        "par_grouped": lambda: parallel_ensemble([grouped_cnn() for _ in range(E)]),
        "be_grouped_declared": lambda: batchensemble(Declared(grouped_cnn()), E),
        "par_grouped_declared": lambda: parallel_ensemble(
            [Declared(grouped_cnn()) for _ in range(E)]
        ),
    }
    model = models[make]()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)  # members must differ for the test to mean much
    x = torch.randn(7, 3, 8, 8) if "bedash_cnn" in make else torch.randn(7, 3, 4, 4)
    x = torch.randn(7, 4, 4, 4) if "grouped" in make else x
    # (clones: with E = 1 the wrapper passes x itself, which the in-place models change)
    reference = model(x.clone())  # grad enabled: the general path
    taken: list[bool] = []  # per layer call: did it compute from the shared batch?
    real = fastpath._shared_source
    monkeypatch.setattr(
        fastpath, "_shared_source", lambda *a: taken.append(real(*a) is not None) or real(*a)
    )
    with torch.no_grad():
        fast = model(x.clone())
        with fastpath.inference_pass():  # the second batch reads the kept scaled weights
            cached = [model(x.clone()), model(x.clone())]
    torch.testing.assert_close(fast, reference, rtol=1e-4, atol=1e-5)
    for out in cached:
        torch.testing.assert_close(out, reference, rtol=1e-4, atol=1e-5)
    assert any(taken) == (E > 1 and make not in NO_SHORTCUT)  # the shortcut was really tested
    if E > 1:
        assert not torch.allclose(reference[0], reference[1])


def test_scaled_weights_are_kept_for_one_inference_pass_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[int] = []  # one entry per scaled weight computed
    real = fastpath._scaled

    def spy(layer: nn.Module, make: Callable[[], torch.Tensor]) -> torch.Tensor:
        return real(layer, lambda: made.append(1) or make())

    monkeypatch.setattr(fastpath, "_scaled", spy)
    torch.manual_seed(0)
    model = batchensemble(MLP(48, 6, 5), 3)
    x = torch.randn(4, 3, 4, 4)
    with torch.no_grad():
        with fastpath.inference_pass():
            first = [model(x) for _ in range(4)]
        assert len(made) == 1  # four batches, one first layer: scaled once (the measured gain)
        model(x)
        model(x)
        assert len(made) == 3  # outside a pass: nothing kept, computed on every call
        model.model.net[0].weight.data.mul_(2.0)  # bumps no _version
        with fastpath.inference_pass():
            after = model(x)
    assert len(made) == 4 and fastpath._PASS.get() is None
    assert not torch.allclose(after, first[0])
    torch.testing.assert_close(after, model(x))  # the general path, grad enabled


def test_the_shortcut_skips_the_tiled_copy_only_where_the_model_declares_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[bool] = []  # per forward pass: was the (never written) buffer used as input?
    real = torch.empty

    def spy(*args, **kwargs):
        seen.append(True)
        return real(*args, **kwargs)

    torch.manual_seed(0)
    x = torch.randn(4, 3, 4, 4)
    for model, expected in ((batchensemble(MLP(48, 6, 5), 3), [True]),
                            (batchensemble(SeedMLP(48, 6, 5), 3), [])):  # fmt: skip
        seen.clear()
        monkeypatch.setattr(torch, "empty", spy)
        with torch.no_grad():
            model(x)
        monkeypatch.setattr(torch, "empty", real)
        assert seen == expected


@pytest.mark.parametrize("bias", [True, False])
def test_stacked_linear_gradients_match_autograd_and_keep_the_weight_layout(bias: bool) -> None:
    torch.manual_seed(0)
    lins = [nn.Linear(6, 4, bias=bias).double() for _ in range(3)]
    stacked = StackedLinear(lins)
    x = torch.randn(3, 5, 6, dtype=torch.double, requires_grad=True)
    args = (x, stacked.weight, stacked.bias)
    assert torch.autograd.gradcheck(lambda *a: stacked(a[0]), args)
    stacked(x).square().sum().backward()
    # the reference: each member's plain layer through autograd's own backward
    for e, lin in enumerate(lins):
        lin(x[e].detach()).square().sum().backward()
        torch.testing.assert_close(stacked.weight.grad[e], lin.weight.grad)
        if bias:
            torch.testing.assert_close(stacked.bias.grad[e], lin.bias.grad)
    # the raw gradient comes out in the weight's own layout (AccumulateGrad need not copy it)
    (raw,) = torch.autograd.grad(stacked(x).sum(), stacked.weight)
    assert raw.is_contiguous()


def test_outputs_with_more_dimensions_keep_their_shape_in_inference() -> None:
    torch.manual_seed(0)
    net = batchensemble(nn.Conv2d(3, 4, 3, padding=1), 3)  # a dense (per-pixel) output
    x = torch.randn(2, 3, 5, 5)
    train_out = net(x)
    with torch.no_grad():
        fast = net(x)
    assert fast.shape == train_out.shape == (3, 2, 4, 5, 5)
    torch.testing.assert_close(fast, train_out, rtol=1e-5, atol=1e-6)
