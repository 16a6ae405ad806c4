"""CIFAR-10-C's noise corruptions (and speckle, an extra), as make_cifar_c.py draws them.

Every one works on the 0..255 scale in as few passes over the images as it can (the evaluation
corrupts 750,000 images per run): the noise is scaled by 255 instead of the images by 1/255.
"""

from __future__ import annotations

import torch
from torch import Tensor

from bedash.uncertainty.draws import bernoulli_positions, poisson, randn
from bedash.uncertainty.filters import check, to_uint8

# make_cifar_c.py's parameters, severity 1..5
GAUSSIAN_NOISE = (0.04, 0.06, 0.08, 0.09, 0.10)  # std of additive noise, images in [0, 1]
SHOT_NOISE = (500, 250, 100, 75, 50)  # photons per unit intensity: Poisson(x * c) / c
IMPULSE_NOISE = (0.01, 0.02, 0.03, 0.05, 0.07)  # fraction of values set to 0 or 1 (s&p)
SPECKLE_NOISE = (0.06, 0.10, 0.12, 0.16, 0.20)  # std of multiplicative noise


def gaussian_noise(x: Tensor, severity: int, g: torch.Generator) -> Tensor:
    check(x, severity)
    c = GAUSSIAN_NOISE[severity - 1]
    return to_uint8(torch.add(x, randn(x.shape, g), alpha=255.0 * c))


def shot_noise(x: Tensor, severity: int, g: torch.Generator) -> Tensor:
    """Poisson(x c) / c, exact Poisson counts at every severity (torch.poisson)."""
    check(x, severity)
    c = SHOT_NOISE[severity - 1]
    return to_uint8(poisson(x.float().mul_(c / 255.0), g).mul_(255.0 / c))


def impulse_noise(x: Tensor, severity: int, g: torch.Generator) -> Tensor:
    """Salt and pepper on each value (channel included), as skimage's random_noise: each value
    is replaced with probability `amount`, by salt or pepper with probability 1/2 each. The
    replaced values are drawn as positions (bernoulli_positions: 1-7 % of the values, so a
    tenth of the draws and passes of a uniform draw per value) and a coin for each."""
    check(x, severity)
    amount = IMPULSE_NOISE[severity - 1]
    out = x.clone(memory_format=torch.contiguous_format)
    flat = out.view(-1)
    pos = bernoulli_positions(flat.numel(), amount, g)
    flat[pos] = torch.randint(0, 2, (len(pos),), generator=g, dtype=torch.uint8).mul_(255)
    return out


def speckle_noise(x: Tensor, severity: int, g: torch.Generator) -> Tensor:
    check(x, severity)
    c = SPECKLE_NOISE[severity - 1]
    xf = x.float()
    return to_uint8(torch.addcmul(xf, xf, randn(x.shape, g).mul_(c)))
