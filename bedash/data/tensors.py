"""A dataset in memory: per split, uint8 images `[N, 3, 32, 32]` and int64 labels, and the one
conversion to the models' floats. Imports nothing of bedash: the training loop builds on it."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class Split:
    x: Tensor  # (N, 3, 32, 32) uint8
    y: Tensor  # (N,) int64

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def to(self, device: torch.device | str) -> Split:
        return Split(self.x.to(device), self.y.to(device))

    def head(self, n: int | None) -> Split:
        """The first n examples after a fixed shuffle (class-balanced for sorted folders)."""
        if n is None or n >= len(self):
            return self
        idx = torch.randperm(len(self), generator=torch.Generator().manual_seed(0))[:n]
        idx = idx.to(self.y.device)
        return Split(self.x[idx], self.y[idx])


@dataclass
class Dataset:
    name: str
    classes: list[str]
    train: Split
    test: Split
    info: dict[str, object] = field(default_factory=dict)  # source, verified checksums, cache...

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = self.train.x.shape[1:]
        return int(c), int(h), int(w)

    def to(self, device: torch.device | str) -> Dataset:
        return Dataset(
            self.name, self.classes, self.train.to(device), self.test.to(device), self.info
        )


def normalize(x: Tensor) -> Tensor:
    """uint8 images -> float32 in [-1, 1]: (x/255 - 0.5)/0.5, as the seed's Normalize."""
    return x.float().mul_(2.0 / 255.0).sub_(1.0)
