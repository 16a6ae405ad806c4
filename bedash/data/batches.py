"""Seeded mini-batches gathered on the training device, normalised per batch (no DataLoader)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor

from bedash.data.tensors import Split, normalize
from bedash.names import DatasetError


class Batcher:
    """Seeded, device-side mini-batches of one split. The last partial batch is kept (as the
    seed's DataLoader: 50,000 / 32 -> 1,563 steps)."""

    def __init__(self, split: Split, batch_size: int, seed: int = 0, shuffle: bool = True) -> None:
        if batch_size > len(split):
            raise DatasetError(
                "batch_size", f"{batch_size} is larger than the training set ({len(split)} images)"
            )
        self.split, self.batch_size, self.seed, self.shuffle = split, batch_size, seed, shuffle

    def __len__(self) -> int:
        return math.ceil(len(self.split) / self.batch_size)

    def permutation(self, epoch: int) -> Tensor:
        n = len(self.split)
        if not self.shuffle:
            return torch.arange(n, device=self.split.y.device)
        # a CPU generator: the same order on every device; one copy per epoch
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(n, generator=g).to(self.split.y.device, non_blocking=True)

    def indices(self, epoch: int) -> Iterator[Tensor]:
        """The index tensor of each batch of `epoch`, on the split's device."""
        perm = self.permutation(epoch)
        B = self.batch_size
        for i in range(len(self)):
            yield perm[i * B : (i + 1) * B]

    def batch(self, idx: Tensor) -> tuple[Tensor, Tensor]:
        """Gather and normalise one batch on the device."""
        return normalize(self.split.x[idx]), self.split.y[idx]

    def epoch(self, epoch: int) -> Iterator[tuple[Tensor, Tensor]]:
        for idx in self.indices(epoch):
            yield self.batch(idx)
