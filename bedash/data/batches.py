"""Seeded mini-batches gathered on the training device, augmented (optionally) and normalised
per batch (no DataLoader)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor

from bedash.data.augment import crop_flip, draw
from bedash.data.tensors import Split, normalize
from bedash.names import DatasetError

AUGMENT_STREAM = 2**62  # augmentation seeds start here: never a permutation's seed


class Batcher:
    """Seeded, device-side mini-batches of one split. The last partial batch is kept (as the
    seed's DataLoader: 50,000 / 32 -> 1,563 steps). `augment`: each epoch draws a crop and a
    flip per image from (seed, epoch) alone, so every model kind of a cell, and every member
    of a sequential ensemble, sees the same augmented batches."""

    def __init__(
        self,
        split: Split,
        batch_size: int,
        seed: int = 0,
        shuffle: bool = True,
        augment: bool = False,
    ) -> None:
        if batch_size > len(split):
            raise DatasetError(
                "batch_size", f"{batch_size} is larger than the training set ({len(split)} images)"
            )
        self.split, self.batch_size, self.seed, self.shuffle = split, batch_size, seed, shuffle
        self.augment = augment
        # the current epoch's draws per image (augment only): set by indices(), read by batch();
        # updated in place, so a CUDA graph that gathers from it sees each epoch's draws
        self.params: Tensor | None = None

    def __len__(self) -> int:
        return math.ceil(len(self.split) / self.batch_size)

    def permutation(self, epoch: int) -> Tensor:
        n = len(self.split)
        if not self.shuffle:
            return torch.arange(n, device=self.split.y.device)
        # a CPU generator: the same order on every device; one copy per epoch
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(n, generator=g).to(self.split.y.device, non_blocking=True)

    def augmentation(self, epoch: int) -> Tensor:
        """The crop offsets and flips of every image for `epoch`, `(N, 3)` on the CPU."""
        g = torch.Generator().manual_seed(AUGMENT_STREAM + self.seed * 1_000_003 + epoch)
        return draw(len(self.split), g)

    def indices(self, epoch: int) -> Iterator[Tensor]:
        """The index tensor of each batch of `epoch`, on the split's device."""
        perm = self.permutation(epoch)
        if self.augment:
            params = self.augmentation(epoch).to(self.split.y.device)
            self.params = params if self.params is None else self.params.copy_(params)
        B = self.batch_size
        for i in range(len(self)):
            yield perm[i * B : (i + 1) * B]

    def batch(self, idx: Tensor) -> tuple[Tensor, Tensor]:
        """Gather, augment (the epoch's draws of these images) and normalise one batch."""
        x = self.split.x[idx]
        if self.augment:
            if self.params is None:
                raise RuntimeError("Batcher.batch with augment: call indices(epoch) first")
            x = crop_flip(x, self.params[idx])
        return normalize(x), self.split.y[idx]

    def epoch(self, epoch: int) -> Iterator[tuple[Tensor, Tensor]]:
        for idx in self.indices(epoch):
            yield self.batch(idx)
