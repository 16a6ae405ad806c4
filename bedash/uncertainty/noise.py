"""CIFAR-10-C's noise corruptions (and speckle, an extra), as make_cifar_c.py draws them.

Every one works on the 0..255 scale in as few passes over the images as it can (the evaluation
corrupts 750,000 images per run): the noise is scaled by 255 instead of the images by 1/255.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import Tensor

from bedash.uncertainty.draws import (
    AliasTable,
    alias_table,
    bernoulli_positions,
    randn,
    sample_rows,
)
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
    """np.uint8(clip(Poisson(x c) / c, 0, 1) * 255), x = v / 255: for each of the 256 input
    values v, the law of the output byte (shot_law) drawn by its alias table."""
    check(x, severity)
    return sample_rows(x, shot_table(SHOT_NOISE[severity - 1]), g)


def shot_law(c: float) -> np.ndarray:
    """`[256, 256]`: row v is the law of the reference's output byte for the input byte v,
    np.uint8(np.clip(k / c, 0, 1) * 255) for k ~ Poisson((v / 255.) * c), computed as numpy
    computes it (float64), the counts k >= c all giving 255."""
    lam = np.arange(256) / 255.0 * c
    top = math.ceil(c)  # k >= top: k / c >= 1, clipped to 255
    k = np.arange(top)
    byte = np.uint8(np.clip(k / c, 0, 1) * 255)
    law = np.zeros((256, 256))
    np.add.at(law.T, byte, poisson_pmf(k, lam))
    law[:, 255] += np.clip(1.0 - law.sum(1), 0.0, None)  # P(k >= top), to a rounding
    return law


def poisson_pmf(k: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """P(K = k) for K ~ Poisson(lam), `[len(k), len(lam)]`, as exp(k log lam - lam - log k!)
    (scipy.stats would cost 50 MB of memory to import for this one formula)."""
    log_fact = np.array([math.lgamma(i + 1.0) for i in k])
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = k[:, None] * np.log(lam)[None, :] - lam[None, :] - log_fact[:, None]
    return np.where(lam[None, :] == 0, (k == 0)[:, None].astype(float), np.exp(logp))


@functools.lru_cache(maxsize=len(SHOT_NOISE))
def shot_table(c: float) -> AliasTable:
    """shot_law's alias tables (built once per severity, ~20 ms)."""
    return alias_table(shot_law(c))


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
