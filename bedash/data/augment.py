"""Random crop (of the image zero-padded by PAD pixels) and horizontal flip, on uint8 images
`[N, 3, H, W]` on the training device: torchvision's RandomCrop(padding=4) and
RandomHorizontalFlip, as one gather for a whole batch (torchvision's transforms draw per call
and per image on the host; here the draws come from a seeded generator, so every model kind of
a cell sees the same augmented batches)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

PAD = 4  # pixels of zero padding on each side: crops are offset by 0..2*PAD


def draw(n: int, generator: torch.Generator) -> Tensor:
    """Per image: (top, left) crop offset in 0..2*PAD and a flip bit, `(n, 3)` int64 (CPU)."""
    offsets = torch.randint(0, 2 * PAD + 1, (n, 2), generator=generator)
    flips = torch.randint(0, 2, (n, 1), generator=generator)
    return torch.cat([offsets, flips], 1)


def crop_flip(x: Tensor, params: Tensor) -> Tensor:
    """Each image of x `(B, C, H, W)` padded by PAD zeros, cropped back to H x W at its
    (top, left) offset and mirrored where its flip bit is set; params `(B, 3)` from `draw`."""
    B, C, H, W = x.shape
    padded = F.pad(x, (PAD, PAD, PAD, PAD))  # (B, C, H+2P, W+2P)
    rows = params[:, 0:1] + torch.arange(H, device=x.device)  # (B, H)
    cols = params[:, 1:2] + torch.arange(W, device=x.device)  # (B, W)
    cols = torch.where(params[:, 2:3].bool(), cols.flip(1), cols)  # a flip reads right to left
    b = torch.arange(B, device=x.device)[:, None, None, None]
    c = torch.arange(C, device=x.device)[None, :, None, None]
    return padded[b, c, rows[:, None, :, None], cols[:, None, None, :]]  # (B, C, H, W)
