"""CIFAR-10-C's blurs (defocus, glass, motion, zoom; Gaussian blur is an extra), as
make_cifar_c.py makes them, batched: filters are small matmuls on the 0..1 scale in float64
(filters.py; the reference's rounding), glass blur's pixel loop is one gather per iteration."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from bedash.uncertainty import filters
from bedash.uncertainty.draws import uniform
from bedash.uncertainty.filters import by_parts, check, to_uint8

# make_cifar_c.py's parameters, severity 1..5
GAUSSIAN_BLUR = (0.4, 0.6, 0.7, 0.8, 1.0)  # sigma in pixels (skimage: truncate 4, 'nearest')
DEFOCUS_BLUR = ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1.0, 0.2), (1.5, 0.1))  # radius, alias blur
GLASS_BLUR = ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2))  # sigma,
# max_delta, iterations
MOTION_BLUR = ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5))  # ImageMagick radius, sigma
MOTION_ANGLE = (-45.0, 45.0)  # degrees, uniform
ZOOM_BLUR = tuple((1, stop, 0.01) for stop in (1.06, 1.11, 1.16, 1.21, 1.26))  # np.arange's


def gaussian_blur(x: Tensor, severity: int, g: torch.Generator) -> Tensor:
    check(x, severity)
    sigma = GAUSSIAN_BLUR[severity - 1]
    return by_parts(lambda p: filters.to_uint8_unit(filters.gaussian_filter(unit(p), sigma)), x)


def unit(x: Tensor) -> Tensor:
    """x / 255 in float64, as the reference's np.array(x) / 255. (the blurs round as it does)"""
    return x.double().div_(255.0)


def disk(radius: float, alias_blur: float) -> Tensor:
    """make_cifar_c's kernel: an aliased disk on a 17 x 17 grid, normalised, then blurred by a
    3 x 3 Gaussian of sigma alias_blur (cv2.GaussianBlur, reflect-101 edge), in float32 as
    there; cropped to where it is not zero (its edge never reaches the grid's border here)."""
    L = torch.arange(-8, 9, dtype=torch.float64)
    Y, X = torch.meshgrid(L, L, indexing="ij")
    d = (radius**2 >= (X**2 + Y**2)).float()
    d = (d / d.sum()).double()
    a = filters.filter_matrix(filters.gaussian_kernel(alias_blur, radius=1), 17, "mirror")
    d = (a @ d @ a.T).float().double()
    nz = (d.abs() > 1e-12).nonzero()
    r = int((nz - 8).abs().max())
    return d[8 - r : 9 + r, 8 - r : 9 + r]


def defocus_blur(x: Tensor, severity: int, g: torch.Generator) -> Tensor:
    check(x, severity)
    k = disk(*DEFOCUS_BLUR[severity - 1])  # cv2.filter2D's edge: 'mirror'
    return by_parts(lambda p: filters.to_uint8_unit(filters.filter2d(unit(p), k, "mirror")), x)


def glass_shifts(n: int, size: int, delta: int, iterations: int, g: torch.Generator) -> Tensor:
    """The reference's draws for n images: np.random.randint(-delta, delta, size=(2,)), i.e.
    (dx, dy), at each of its loop's steps: [n, iterations, steps, 2]."""
    steps = len(range(size - delta, delta, -1)) ** 2
    return torch.randint(-delta, delta, (n, iterations, steps, 2), generator=g)


def glass_shuffle(x: Tensor, shifts: Tensor, delta: int) -> Tensor:
    """The reference's local "swap" loop, as numpy runs it: `x[h, w], x[h', w'] = x[h', w'],
    x[h, w]` on an [H, W, 3] array assigns views, so pixel (h, w) takes (h + dy, w + dx)'s value
    and that pixel keeps its own. Each step reads a pixel the loop (h, then w, downwards) has not
    written yet, so every step reads the input: one gather per iteration, every image at once."""
    n, c, size, _ = x.shape
    loop = range(size - delta, delta, -1)
    here = torch.tensor([h * size + w for h in loop for w in loop])
    out = x.reshape(n, c, size * size)
    for it in range(shifts.shape[1]):
        source = torch.arange(size * size).repeat(n, 1)
        source[:, here] = here + shifts[:, it, :, 1] * size + shifts[:, it, :, 0]
        out = out.gather(2, source[:, None, :].expand(n, c, size * size))
    return out.view(x.shape)


def glass_blur(x: Tensor, severity: int, g: torch.Generator) -> Tensor:
    """Gaussian blur (to uint8), the local shuffle, Gaussian blur again."""
    check(x, severity)
    _, delta, iterations = GLASS_BLUR[severity - 1]
    shifts = glass_shifts(len(x), x.shape[-1], delta, iterations, g)
    return by_parts(lambda p, s: glass_from(p, severity, s), x, shifts)


def glass_from(x: Tensor, severity: int, shifts: Tensor) -> Tensor:
    """Glass blur for given draws (glass_shifts)."""
    sigma, delta, _ = GLASS_BLUR[severity - 1]
    y = filters.gaussian_filter(unit(x), sigma).mul_(255.0).to(torch.uint8)  # np.uint8(...)
    y = glass_shuffle(y, shifts, delta)
    return filters.to_uint8_unit(filters.gaussian_filter(unit(y), sigma))


def motion_blur(x: Tensor, severity: int, g: torch.Generator) -> Tensor:
    """ImageMagick's motion blur (filters.motion_blur) at an angle uniform in -45..45 degrees."""
    check(x, severity)
    radius, sigma = MOTION_BLUR[severity - 1]
    angles = uniform((len(x),), *MOTION_ANGLE, g)
    return by_parts(lambda p, a: filters.motion_blur(p, radius, sigma, a), x, angles)


def zoom_blur(x: Tensor, severity: int, g: torch.Generator) -> Tensor:
    """The mean of the image and its clipped zooms by each factor of np.arange(1, stop, 0.01)
    (float32, as the reference)."""
    check(x, severity)
    factors = tuple(float(z) for z in np.arange(*ZOOM_BLUR[severity - 1]))

    def zoom(p: Tensor) -> Tensor:
        return to_uint8(filters.zoom_mean(p.float().div_(255.0), factors).clamp_(0, 1).mul_(255))

    return by_parts(zoom, x)
