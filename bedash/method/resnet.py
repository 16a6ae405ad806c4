"""Residual networks for 32 x 32 images, with BatchNorm. `width` is the first stage's channels
(64 in both papers), doubled per stage.
  depth 9:  Page's ResNet-9 (myrtle.ai, "How to train your ResNet", 2018, the DAWNBench entry):
            prep conv, three conv-BN-ReLU-maxpool layers, residual pairs after the 1st and 3rd,
            global max pool, a bias-free linear layer scaled by 1/8.
  depth 18: He et al.'s ResNet-18 as used on CIFAR (3x3 stem, no stem pool; torch-uncertainty's
            and edward2's CIFAR ResNets): four stages of two basic blocks, global average pool.
Only nn.Conv2d, nn.BatchNorm2d and nn.Linear hold parameters, so `batchensemble` and
`parallel_ensemble` (bedash.method.layers) convert every kind of this network. BatchEnsemble
keeps each BatchNorm shared by the members (uncertainty-baselines' wide_resnet_batchensemble and
torch-uncertainty's batched ResNets do the same); the stacked ensemble stacks one per member.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn


def conv_bn(cin: int, cout: int, stride: int = 1, relu: bool = True) -> nn.Sequential:
    """3x3 conv (no bias: BatchNorm's shift replaces it) -> BatchNorm -> ReLU."""
    mods: list[nn.Module] = [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*mods, nn.ReLU()) if relu else nn.Sequential(*mods)


class Residual(nn.Module):
    """shortcut(x) + body(x), then `after` (ReLU in a basic block, nothing in ResNet-9)."""

    def __init__(
        self, body: nn.Module, shortcut: nn.Module | None = None, after: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.body = body
        self.shortcut = shortcut if shortcut is not None else nn.Identity()
        self.after = after if after is not None else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.after(self.shortcut(x) + self.body(x))


def residual_pair(c: int) -> Residual:
    """ResNet-9's residual: x + two conv-BN-ReLU layers of c channels."""
    return Residual(nn.Sequential(conv_bn(c, c), conv_bn(c, c)))


def basic_block(cin: int, cout: int, stride: int) -> Residual:
    """He et al.'s basic block: two 3x3 convs; a 1x1 conv-BN shortcut where the shape changes."""
    body = nn.Sequential(conv_bn(cin, cout, stride), conv_bn(cout, cout, relu=False))
    short = None
    if stride != 1 or cin != cout:
        short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
    return Residual(body, short, nn.ReLU())


class ResNet(nn.Module):
    """ResNet-9 or ResNet-18 (see the module's docstring): (B, 3, H, W) -> (B, num_classes)."""

    def __init__(
        self, depth: str = "9", width: int = 64, num_classes: int = 10, in_channels: int = 3
    ) -> None:
        super().__init__()
        w = width
        self.stem = conv_bn(in_channels, w)
        if depth == "9":
            self.body = nn.Sequential(
                conv_bn(w, 2 * w), nn.MaxPool2d(2), residual_pair(2 * w),
                conv_bn(2 * w, 4 * w), nn.MaxPool2d(2),
                conv_bn(4 * w, 8 * w), nn.MaxPool2d(2), residual_pair(8 * w),
            )  # fmt: skip
            pool, bias, self.scale = nn.AdaptiveMaxPool2d(1), False, 0.125
        elif depth == "18":
            widths, strides = (w, 2 * w, 4 * w, 8 * w), (1, 2, 2, 2)
            blocks = []
            for cin, cout, stride in zip((w, *widths[:-1]), widths, strides, strict=True):
                blocks += [basic_block(cin, cout, stride), basic_block(cout, cout, 1)]
            self.body = nn.Sequential(*blocks)
            pool, bias, self.scale = nn.AdaptiveAvgPool2d(1), True, 1.0
        else:
            raise ValueError(f"depth: unknown value {depth!r}; allowed: 9, 18")
        self.head = nn.Sequential(pool, nn.Flatten(), nn.Linear(8 * w, num_classes, bias=bias))

    def forward(self, x: Tensor) -> Tensor:
        return self.after_first(self.stem[0](x))

    def after_first(self, h: Tensor) -> Tensor:
        """Everything after the stem's convolution."""
        out = self.head(self.body(self.stem[1:](h)))
        return out * self.scale if self.scale != 1.0 else out

    def stages(self) -> tuple[Callable[[Tensor], Tensor], nn.Module, Callable[[Tensor], Tensor]]:
        """forward as (before the first layer, the first layer, the rest)."""
        return nn.Identity(), self.stem[0], self.after_first
