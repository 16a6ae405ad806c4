"""A learnable synthetic set of CIFAR shape that needs no files (offline use, tests, the demo)."""

from __future__ import annotations

import torch
from torch import Tensor

from bedash.data.tensors import Dataset, Split

SYNTHETIC_SEED = 1234  # fixed: the synthetic set is the same for every run
SYNTHETIC_TRAIN, SYNTHETIC_TEST = 50_000, 10_000  # the default sizes, as CIFAR-10's splits


def synthetic(
    n_train: int = SYNTHETIC_TRAIN, n_test: int = SYNTHETIC_TEST, seed: int = SYNTHETIC_SEED
) -> Dataset:
    """A learnable 10-class set of CIFAR shape: a smooth prototype per class, plus per-image
    smooth distortion, brightness shift and pixel noise. Deterministic; no files needed."""
    g = torch.Generator().manual_seed(seed)
    protos = _smooth_noise(10, 8, g) * 8.0  # (10, 3, 32, 32), class templates

    def make(n: int) -> Split:
        x = torch.empty(n, 3, 32, 32, dtype=torch.uint8)  # filled in place: no big temporaries
        y = torch.randint(0, 10, (n,), generator=g)
        # Two float buffers reused by every chunk: fresh 12 MB temporaries per chunk left the
        # allocator holding ~150 MB more than the data at 50k images. Same draws, same values.
        buf, noise = torch.empty(2, min(n, 1000), 3, 32, 32)
        for start in range(0, n, 1000):
            end = min(start + 1000, n)
            m = end - start
            chunk, tmp = buf[:m], noise[:m]
            torch.index_select(protos, 0, y[start:end], out=chunk)
            chunk += _smooth_noise(m, 4, g, out=tmp).mul_(55.0)
            chunk += torch.randn(m, 1, 1, 1, generator=g) * 20.0 + 128.0
            chunk += torch.randn(chunk.shape, generator=g, out=tmp).mul_(70.0)
            x[start:end] = chunk.clamp_(0, 255).round_()
        return Split(x, y)

    train, test = make(n_train), make(n_test)
    classes = [f"class_{i}" for i in range(10)]
    return Dataset("synthetic", classes, train, test, {"source": "generated", "seed": seed})


def _smooth_noise(n: int, res: int, g: torch.Generator, out: Tensor | None = None) -> Tensor:
    """Gaussian noise at res x res, upsampled to 32 x 32 (low-frequency structure), written
    into `out` when given. One draw for all n; upsampled 250 images at a time (small
    temporaries, and each image's values do not depend on the slicing)."""
    z = torch.randn(n, 3, res, res, generator=g)
    out = torch.empty(n, 3, 32, 32) if out is None else out
    for a in range(0, n, 250):
        out[a : a + 250] = torch.nn.functional.interpolate(
            z[a : a + 250], size=(32, 32), mode="bilinear", align_corners=False
        )
    return out
