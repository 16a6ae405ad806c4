"""Shifted test sets in the manner of CIFAR-10-C (Hendrycks & Dietterich 2019).

Every corruption is a pure function `(uint8 images [N, 3, 32, 32], severity 1..5, generator) ->
uint8 images [N, 3, 32, 32]`, vectorised in torch, with the parameters of the authors'
make_cifar_c.py (noise, blur, weather and digital modules). Random corruptions draw only from
the generator they are given, so a seed fixes the result. Frost is the one of the benchmark's
15 that bedash cannot make (names.FROST_NOTE).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from bedash import names
from bedash.uncertainty import blur, digital, noise, weather

Corruption = Callable[[Tensor, int, torch.Generator], Tensor]
SEVERITIES = (1, 2, 3, 4, 5)

CORRUPTIONS: dict[str, Corruption] = {
    "gaussian_noise": noise.gaussian_noise,
    "shot_noise": noise.shot_noise,
    "impulse_noise": noise.impulse_noise,
    "defocus_blur": blur.defocus_blur,
    "glass_blur": blur.glass_blur,
    "motion_blur": blur.motion_blur,
    "zoom_blur": blur.zoom_blur,
    "snow": weather.snow,
    "fog": weather.fog,
    "brightness": digital.brightness,
    "contrast": digital.contrast,
    "elastic_transform": digital.elastic_transform,
    "pixelate": digital.pixelate,
    "jpeg_compression": digital.jpeg_compression,
    "speckle_noise": noise.speckle_noise,
    "gaussian_blur": blur.gaussian_blur,
}
CORRUPTION_NAMES = tuple(CORRUPTIONS)
assert CORRUPTION_NAMES == names.CORRUPTION_NAMES  # the config validates against names' list


def corrupt(x: Tensor, name: str, severity: int, g: torch.Generator) -> Tensor:
    """Apply the corruption called `name` (see CORRUPTION_NAMES)."""
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; allowed: {', '.join(CORRUPTION_NAMES)}")
    return CORRUPTIONS[name](x, severity, g)


def corruption_seed(seed: int, name: str, severity: int, chunk: int) -> int:
    """A seed of its own for each (corruption, severity, chunk of images): the shifted set does
    not depend on the order sets are made in, nor on how many there are."""
    index = CORRUPTION_NAMES.index(name) if name in CORRUPTIONS else 99
    return (seed * 1_000_003 + index * 10_007 + severity * 101 + chunk) % (2**63 - 1)
