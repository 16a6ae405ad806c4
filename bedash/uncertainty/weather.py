"""CIFAR-10-C's weather corruptions, as make_cifar_c.py makes them, batched. Frost is not here:
it blends crops of the authors' six frost photographs, which bedash does not have (see
names.FROST_NOTE); nothing stands in for it."""

from __future__ import annotations

import torch
from torch import Tensor

from bedash.uncertainty import filters
from bedash.uncertainty.draws import randn, uniform
from bedash.uncertainty.filters import by_parts, check

# make_cifar_c.py's parameters, severity 1..5
SNOW = (  # loc, scale, zoom, threshold, blur radius, blur sigma, image weight
    (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
    (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
    (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
    (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
    (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
)
SNOW_ANGLE = (-135.0, -45.0)  # degrees, uniform
FOG = ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75))  # strength, wibble decay
GRAY = (0.299, 0.587, 0.114)  # cv2's RGB2GRAY weights


def snow(x: Tensor, severity: int, g: torch.Generator) -> Tensor:
    """A normal layer per image and an angle uniform in -135..-45 degrees (snow_from)."""
    check(x, severity)
    loc, scale = SNOW[severity - 1][:2]
    layer = randn((len(x), 1, x.shape[2], x.shape[3]), g).double().mul_(scale).add_(loc)
    angles = uniform((len(x),), *SNOW_ANGLE, g)
    return by_parts(lambda p, lay, a: snow_from(p, severity, lay, a), x, layer, angles)


def snow_from(x: Tensor, severity: int, layer: Tensor, angles: Tensor) -> Tensor:
    """The reference's snow for given draws: the normal layer [N, 1, H, W] zoomed and
    thresholded, to 8 bits, motion-blurred (ImageMagick's) along `angles`; added twice (as it is
    and turned 180 degrees) to the image, which is first brightened towards 1.5 gray + 0.5."""
    _, _, zoom, threshold, radius, sigma, keep = SNOW[severity - 1]
    layer = filters.clipped_zoom(layer, zoom)
    layer = layer.masked_fill_(layer < threshold, 0.0).clamp_(0.0, 1.0).mul_(255.0)
    flakes = filters.motion_blur(layer.to(torch.uint8), radius, sigma, angles)
    flakes = flakes.double().div_(255.0)
    xf = x.float().div_(255.0)  # float32 as there, then float64 from adding the flakes
    gray = sum(wt * xf[:, i : i + 1] for i, wt in enumerate(GRAY)).mul_(1.5).add_(0.5)
    xf = (xf * keep + torch.maximum(xf, gray) * (1 - keep)).double()
    return filters.to_uint8_unit(xf.add_(flakes).add_(flakes.flip(2, 3)))


def plasma_fractal(n: int, size: int, decay: float, g: torch.Generator) -> Tensor:
    """The reference's diamond-square height maps [n, size, size] in [0, 1] (size a power of
    two). Each level, on the grid of the points set so far (wrapping around), draws the cell
    centres, then the two sets of edge midpoints, each as sum / 4 + wibble * uniform(-wibble,
    wibble) (as written there), wibble from 100 divided by decay each level; here the grids are
    kept compact and interleaved, the same points in the same order of draws."""
    grid = torch.zeros(n, 1, 1, dtype=torch.float64)
    wibble = 100.0

    def wibbled(total: Tensor) -> Tensor:
        return uniform(tuple(total.shape), -wibble, wibble, g).mul_(wibble).add_(total / 4)

    while grid.shape[1] < size:
        k = grid.shape[1]
        square = grid + grid.roll(-1, 1)
        centre = wibbled(square + square.roll(-1, 2))
        across = wibbled(centre + centre.roll(1, 1) + grid + grid.roll(-1, 2))  # (i, j + 1/2)
        down = wibbled(centre + centre.roll(1, 2) + grid + grid.roll(-1, 1))  # (i + 1/2, j)
        top = torch.stack([grid, across], -1).view(n, k, 2 * k)
        bottom = torch.stack([down, centre], -1).view(n, k, 2 * k)
        grid = torch.stack([top, bottom], 2).view(n, 2 * k, 2 * k)
        wibble /= decay
    grid -= grid.amin(dim=(1, 2), keepdim=True)
    return grid.div_(grid.amax(dim=(1, 2), keepdim=True))


def fog(x: Tensor, severity: int, g: torch.Generator) -> Tensor:
    """A plasma fractal per image (fog_from)."""
    check(x, severity)
    plasma = plasma_fractal(len(x), 32, FOG[severity - 1][1], g)
    return by_parts(lambda p, pl: fog_from(p, severity, pl), x, plasma)


def fog_from(x: Tensor, severity: int, plasma: Tensor) -> Tensor:
    """x + c plasma, rescaled by max / (max + c) (max over the image's values)."""
    c = FOG[severity - 1][0]
    xf = x.double().div_(255.0)
    top = xf.amax(dim=(1, 2, 3), keepdim=True)
    xf += c * plasma[:, None, : x.shape[2], : x.shape[3]]
    return filters.to_uint8_unit(xf.mul_(top).div_(top + c))
