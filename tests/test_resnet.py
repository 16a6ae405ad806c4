"""--arch resnet: shapes, BatchEnsemble members against the base network with their effective
weights and BatchNorm statistics, the stacked ensemble against its members, the recipe
(optimizer groups, one-cycle rate, label smoothing) and a step of every kind lowering the loss."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bedash.data.batches import Batcher
from bedash.data.tensors import Split
from bedash.method.layers import BatchEnsembleConv2d, BatchEnsembleLinear, fast_weights
from bedash.method.models import build_model, loss_scale, make_arch, training_units
from bedash.method.resnet import ResNet
from bedash.method.train import Stepper, make_optimizer, make_scheduler
from bedash.settings.config import RunConfig

KINDS = ["single", "batchensemble", "ensemble", "ensemble_parallel"]
TINY = RunConfig(arch="resnet", width=4, members=3, device="cpu")


def warm_bn(model: nn.Module, x: torch.Tensor, steps: int = 3) -> None:
    """A few forward passes in training mode: running statistics away from (0, 1)."""
    model.train()
    with torch.no_grad():
        for k in range(steps):
            model(x * (k + 1) + k)


@pytest.mark.parametrize("depth", ["9", "18"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_returns_e_b_c(kind: str, depth: str) -> None:
    model = build_model(kind, TINY.replace(depth=depth))
    out = model(torch.randn(5, 3, 32, 32))
    e = 1 if kind == "single" else 3
    assert out.shape == (e, 5, 10) and model.members == e


def test_resnet18_has_18_weighted_layers_and_resnet9_9() -> None:
    """The names count the conv and linear layers on the main path (shortcut 1x1s aside)."""
    for depth, n in (("9", 9), ("18", 18)):
        layers = [
            m
            for name, m in ResNet(depth, 4).named_modules()
            if isinstance(m, (nn.Conv2d, nn.Linear)) and "shortcut" not in name
        ]
        assert len(layers) == n


def test_resnet18_has_torchvisions_layers_with_the_cifar_stem() -> None:
    """torchvision's resnet18 with the usual CIFAR change (3x3 stem, no stem pool): the same
    parameter shapes, layer for layer."""
    torchvision = pytest.importorskip("torchvision")
    tv = torchvision.models.resnet18(num_classes=10)
    tv.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    shapes = [tuple(p.shape) for p in ResNet("18", 64).parameters()]
    assert sorted(shapes) == sorted(tuple(p.shape) for p in tv.parameters())
    assert sum(math.prod(s) for s in shapes) == sum(p.numel() for p in tv.parameters())


@pytest.mark.parametrize("depth", ["9", "18"])
def test_batchensemble_member_in_eval_equals_the_base_net_with_its_effective_weights(
    depth: str,
) -> None:
    torch.manual_seed(0)
    be = build_model("batchensemble", TINY.replace(depth=depth, fast_init="normal"))
    x = torch.randn(6, 3, 32, 32)
    warm_bn(be, x)
    be.eval()
    out = be(x)  # (E, B, C)
    for i in range(be.members):
        ref = make_arch(TINY.replace(depth=depth))  # the same layout, plain layers
        mods = dict(be.model.named_modules())
        for name, m in ref.named_modules():
            layer = mods[name]
            if isinstance(layer, (BatchEnsembleConv2d, BatchEnsembleLinear)):
                m.weight.data.copy_(layer.member_weight(i))
                if m.bias is not None:
                    m.bias.data.copy_(layer.bias)
            elif isinstance(layer, nn.BatchNorm2d):
                m.load_state_dict(layer.state_dict())  # the one shared BatchNorm's statistics
        ref.eval()
        torch.testing.assert_close(out[i], ref(x), rtol=1e-4, atol=1e-5)


def test_batchensemble_keeps_one_batchnorm_per_layer() -> None:
    single, be = (build_model(k, TINY) for k in ("single", "batchensemble"))
    count = [sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) for net in (single, be)]
    assert count[0] == count[1] > 0


def test_stacked_ensemble_members_equal_their_models_batchnorm_included() -> None:
    """Training mode (each member's batch statistics), the running statistics it leaves, and
    evaluation mode (those statistics) all equal the E separate models'."""
    cfg = TINY.replace(depth="18")
    seq, par = build_model("ensemble", cfg), build_model("ensemble_parallel", cfg)
    x = torch.randn(4, 3, 32, 32)
    seq.train(), par.train()
    torch.testing.assert_close(par(x), seq(x), rtol=1e-4, atol=1e-5)
    warm_bn(seq, x), warm_bn(par, x)
    means = torch.cat([m.body[3].body[0][1].running_mean for m in seq.nets])
    torch.testing.assert_close(par.model.body[3].body[0][1].bn.running_mean, means)
    seq.eval(), par.eval()
    torch.testing.assert_close(par(x), seq(x), rtol=1e-4, atol=1e-5)


def test_sgd_groups_decay_only_conv_and_linear_weights() -> None:
    cfg = TINY.replace(weight_decay=5e-4, lr=0.4, fast_lr_mult=2.0)
    model = build_model("batchensemble", cfg)
    opt = make_optimizer(model, cfg)
    assert isinstance(opt, torch.optim.SGD)
    assert all(g["nesterov"] and g["momentum"] == 0.9 for g in opt.param_groups)
    decay = {id(p) for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    layers = (BatchEnsembleConv2d, BatchEnsembleLinear)
    assert decay == {id(m.weight) for m in model.modules() if isinstance(m, layers)}
    fast = {id(p) for p in fast_weights(model)}
    assert len(fast) == 2 * sum(isinstance(m, layers) for m in model.modules())
    fast_group = next(g for g in opt.param_groups if {id(p) for p in g["params"]} == fast)
    assert fast_group["lr"] == pytest.approx(0.8)
    assert isinstance(make_optimizer(model, cfg.replace(optimizer="adam")), torch.optim.Adam)
    assert isinstance(make_optimizer(model, RunConfig()), torch.optim.Adam)  # mlp: the seed's


def test_one_cycle_rises_to_the_peak_at_5_of_24_and_falls_to_zero() -> None:
    model = build_model("single", TINY)
    opt = make_optimizer(model, TINY.replace(lr=0.4))
    total = 240
    sched = make_scheduler(opt, total)
    lrs = []
    for _ in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    peak = max(range(total), key=lambda k: lrs[k])
    assert lrs[peak] == pytest.approx(0.4) and abs(peak - total * 5 / 24) <= 1  # Page's epoch 5
    assert lrs[0] < 1e-4 and lrs[-1] < 0.4 / (total * 5 / 24)  # from and back to about 0
    # linear both ways: equal steps between neighbours on each side
    assert lrs[10] - lrs[9] == pytest.approx(lrs[30] - lrs[29], rel=1e-6)
    assert lrs[150] - lrs[149] == pytest.approx(lrs[200] - lrs[199], rel=1e-6)
    assert make_scheduler(make_optimizer(model, RunConfig()), total) is None  # Adam: constant


def test_label_smoothing_is_the_mixture_with_the_uniform_target() -> None:
    """Szegedy et al.: (1 - eps) * CE(y) + eps * mean over classes of -log p."""
    torch.manual_seed(0)
    data = Split(torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8), torch.arange(16) % 10)
    batcher = Batcher(data, 16, shuffle=False)
    model = build_model("single", TINY)
    eps, idx = 0.2, next(batcher.indices(1))
    x, y = batcher.batch(idx)
    with torch.no_grad():
        logp = F.log_softmax(copy.deepcopy(model).train()(x)[0], -1)
    expected = ((1 - eps) * -logp[torch.arange(16), y] + eps * -logp.mean(-1)).mean()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    loss = Stepper(model, opt, batcher, label_smoothing=eps)(idx)
    torch.testing.assert_close(loss[0], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_lowers_its_loss_in_a_few_steps(kind: str) -> None:
    torch.manual_seed(0)
    n = 64
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8)
    data = Split(x, torch.arange(n) % 10)
    cfg = TINY.replace(lr=0.05, members=2, optimizer="sgd")
    model = build_model(kind, cfg)
    batcher = Batcher(data, n, shuffle=False)
    idx = next(batcher.indices(1))
    for unit in training_units(model):  # each member of the sequential ensemble
        opt = make_optimizer(unit, cfg)
        step = Stepper(unit, opt, batcher, loss_scale=loss_scale(kind, unit.members))
        losses = [float(step(idx).mean()) for _ in range(6)]
        assert all(math.isfinite(v) for v in losses)
        assert losses[-1] < losses[0], losses


@pytest.mark.parametrize("kind", ["batchensemble", "ensemble_parallel"])
def test_predict_shared_equals_the_plain_forward(kind: str) -> None:
    """The inference path computes the stem's convolution once for every member."""
    model = build_model(kind, TINY.replace(fast_init="normal"))
    xs = [torch.randn(5, 3, 32, 32), torch.randn(3, 3, 32, 32)]
    warm_bn(model, xs[0])
    model.eval()
    with torch.no_grad():
        for out, x in zip(model.predict_shared(xs), xs, strict=True):
            torch.testing.assert_close(out, model(x), rtol=1e-4, atol=1e-5)
