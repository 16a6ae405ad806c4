"""Architectures (the seed's MLP, a small CNN; ResNets: bedash.method.resnet) and the model
kinds built from them. Every kind returns logits `[E, B, C]` and names E in `.members`:
`single` (E = 1), `batchensemble`, `ensemble` (E independent models run one after another) and
`ensemble_parallel` (the same E models with stacked weights, one step for all)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import torch
from torch import Tensor, nn

from bedash.method.layers import Single, batchensemble, parallel_ensemble
from bedash.method.resnet import ResNet


class ModelSettings(Protocol):
    """What building a model reads of a RunConfig (the method never imports the settings)."""

    arch: str
    hidden: int
    layers: int
    channels: int
    depth: str
    width: int
    members: int
    seed: int
    bias: str
    fast_init: str
    fast_init_std: float


# forward(x) == rest(first(before(x))): lets MemberMajor.predict_shared compute `first` once
Stages = tuple[Callable[[Tensor], Tensor], nn.Module, Callable[[Tensor], Tensor]]


class MLP(nn.Module):
    """The seed notebook's MLP; `layers` hidden layers of width `hidden` (the seed: 2 x 128)."""

    def __init__(
        self, in_dim: int = 3072, hidden: int = 128, out_dim: int = 10, layers: int = 2
    ) -> None:
        super().__init__()
        mods: list[nn.Module] = [nn.Linear(in_dim, hidden), nn.ReLU()]
        for _ in range(layers - 1):
            mods += [nn.Linear(hidden, hidden), nn.ReLU()]
        mods.append(nn.Linear(hidden, out_dim))
        self.net = nn.Sequential(*mods)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(self.flatten(x))

    @staticmethod
    def flatten(x: Tensor) -> Tensor:
        return x.view(x.size(0), -1)  # as the seed: (B, 3, 32, 32) -> (B, 3072)

    def stages(self) -> Stages:
        """forward as (before the first layer, the first layer, the rest)."""
        return self.flatten, self.net[0], self.net[1:]


class CNN(nn.Module):
    """Three conv-ReLU-maxpool blocks (c, 2c, 4c channels) and a two-layer classifier."""

    def __init__(
        self,
        in_channels: int = 3,
        channels: int = 32,
        hidden: int = 128,
        out_dim: int = 10,
        image_size: int = 32,
    ) -> None:
        super().__init__()
        c = channels
        blocks: list[nn.Module] = []
        for cin, cout in ((in_channels, c), (c, 2 * c), (2 * c, 4 * c)):
            blocks += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*blocks)
        side = image_size // 8
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(4 * c * side * side, hidden),
            nn.ReLU(),
            nn.Linear(hidden, out_dim),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))  # (B, 3, 32, 32) -> (B, out_dim)

    def stages(self) -> Stages:
        """forward as (before the first layer, the first layer, the rest)."""
        return nn.Identity(), self.features[0], nn.Sequential(self.features[1:], self.classifier)


class Ensemble(nn.Module):
    """E independent models; forward runs them one after another and stacks: `[E, B, C]`."""

    def __init__(self, nets: Sequence[nn.Module]) -> None:
        super().__init__()
        self.nets = nn.ModuleList(nets)
        self.members = len(nets)

    def forward(self, x: Tensor) -> Tensor:
        return torch.stack([m(x) for m in self.nets])


def make_arch(
    cfg: ModelSettings, num_classes: int = 10, image_shape: tuple[int, int, int] = (3, 32, 32)
) -> nn.Module:
    """A freshly initialised base network for cfg.arch (uses the global RNG)."""
    c, h, w = image_shape
    if cfg.arch == "mlp":
        return MLP(c * h * w, cfg.hidden, num_classes, cfg.layers)
    if cfg.arch == "cnn":
        return CNN(c, cfg.channels, cfg.hidden, num_classes, h)
    if cfg.arch == "resnet":
        return ResNet(cfg.depth, cfg.width, num_classes, c)
    raise ValueError(f"arch: unknown value {cfg.arch!r}; allowed: mlp, cnn, resnet")


def build_model(
    kind: str,
    cfg: ModelSettings,
    num_classes: int = 10,
    image_shape: tuple[int, int, int] = (3, 32, 32),
) -> nn.Module:
    """Build model kind `kind`. Seeds: the base net of single/batchensemble uses cfg.seed;
    ensemble member k uses cfg.seed + k, so `single` and ensemble member 0 start equal, and
    `ensemble_parallel` member k starts equal to `ensemble` member k."""

    def base(seed: int) -> nn.Module:
        torch.manual_seed(seed)
        return make_arch(cfg, num_classes, image_shape)

    if kind == "single":
        return Single(base(cfg.seed))
    if kind == "batchensemble":
        net = base(cfg.seed)
        return batchensemble(
            net,
            cfg.members,
            per_member_bias=cfg.bias == "member",
            fast_init=cfg.fast_init,
            fast_init_std=cfg.fast_init_std,
        )
    if kind == "ensemble":
        return Ensemble([base(cfg.seed + k) for k in range(cfg.members)])
    if kind == "ensemble_parallel":
        return parallel_ensemble([base(cfg.seed + k) for k in range(cfg.members)])
    raise ValueError(f"models: unknown kind {kind!r}")


def loss_scale(kind: str, members: int) -> float:
    """Factor on the mean member loss: E for ensemble_parallel, so that each stacked member
    gets exactly the gradient it would get if trained alone; 1 for every other kind."""
    return float(members) if kind == "ensemble_parallel" else 1.0


def training_units(model: nn.Module) -> list[nn.Module]:
    """What one optimizer trains at a time: each member of an Ensemble, or the whole model."""
    if isinstance(model, Ensemble):
        return [Single(m) for m in model.nets]
    return [model]


def param_stats(model: nn.Module) -> tuple[int, int]:
    """(parameter count, parameter bytes); shared tensors are counted once."""
    params = list(model.parameters())  # yields a shared parameter once
    return sum(p.numel() for p in params), sum(p.numel() * p.element_size() for p in params)
