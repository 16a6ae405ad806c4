"""CIFAR-10-C's digital corruptions, as make_cifar_c.py makes them, batched: JPEG is libjpeg
itself through torchvision.io (byte for byte PIL's round trip), pixelate is PIL's BOX
resampling as small matrices (equal to PIL's output), elastic is cv2's affine warp and scipy's
map_coordinates as torch's grid_sample (bilinear, the same edges)."""

from __future__ import annotations

import functools
import math
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor

from bedash.uncertainty import filters
from bedash.uncertainty.draws import RANDOM_PARTS, pool, uniform
from bedash.uncertainty.filters import by_parts, check, to_uint8

# make_cifar_c.py's parameters, severity 1..5
CONTRAST = (0.75, 0.5, 0.4, 0.3, 0.15)  # factor on the distance from each channel's mean
BRIGHTNESS = (0.05, 0.1, 0.15, 0.2, 0.3)  # added to HSV value
PIXELATE = (0.95, 0.9, 0.85, 0.75, 0.65)  # down to int(32 c) pixels and back up, PIL BOX
JPEG_QUALITY = (80, 65, 58, 50, 40)
ELASTIC = (  # alpha, sigma, affine jitter; each times the image size (32)
    (0, 0, 0.08),
    (0.05, 0.2, 0.07),
    (0.08, 0.06, 0.06),
    (0.1, 0.04, 0.05),
    (0.1, 0.03, 0.03),
)


def contrast(x: Tensor, severity: int, g: torch.Generator) -> Tensor:
    """(x - m) c + m with m the mean of each image's channel: x c + m (1 - c), one pass."""
    check(x, severity)
    c = CONTRAST[severity - 1]
    means = x.float().mean(dim=(2, 3), keepdim=True)  # (N, 3, 1, 1)
    return to_uint8(torch.add(means.mul_(1 - c), x, alpha=c))


def brightness(x: Tensor, severity: int, g: torch.Generator) -> Tensor:
    """V += c in HSV, hue and saturation kept. Every channel is V (1 - S f(H)), so that is a
    scale of the pixel by V'/V; a black pixel (V = 0, S = 0) becomes the grey V' = c."""
    check(x, severity)
    c = BRIGHTNESS[severity - 1] * 255.0
    v = x.amax(dim=1, keepdim=True).float()  # (N, 1, H, W)
    v_new = (v + c).clamp_(max=255.0)
    black = v == 0
    factor = v_new.div_(v.clamp_(min=1.0)).masked_fill_(black, 0.0)
    offset = black.float().mul_(c)  # V' of a black pixel
    return to_uint8(torch.addcmul(offset, x, factor))


@functools.lru_cache(maxsize=64)
def _box_matrix(n_in: int, n_out: int) -> Tensor:
    """PIL's BOX resampling weights as a matrix [n_out, n_in] (Resample.c precompute_coeffs)."""
    scale = n_in / n_out
    fscale = max(scale, 1.0)
    support = 0.5 * fscale
    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    for i in range(n_out):
        center = (i + 0.5) * scale
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), n_in)
        for j in range(lo, hi):
            t = (j - center + 0.5) / fscale
            m[i, j] = 1.0 if -0.5 < t <= 0.5 else 0.0
        m[i] /= m[i].sum()
    return m.float()


def _resize_box(x: Tensor, h: int, w: int) -> Tensor:
    """Resize float images in [0, 255] as PIL's BOX does: width first, each pass rounded to
    8 bits. (No clamp: the weights are >= 0 and sum to 1, so every value stays in [0, 255]
    within a float rounding that the + 0.5 and floor absorb.)"""
    x = torch.matmul(x, _box_matrix(x.shape[3], w).T).add_(0.5).floor_()
    return torch.matmul(_box_matrix(x.shape[2], h), x).add_(0.5).floor_()


def pixelate(x: Tensor, severity: int, g: torch.Generator) -> Tensor:
    check(x, severity)
    H, W = x.shape[2], x.shape[3]
    c = PIXELATE[severity - 1]

    def pixels(p: Tensor) -> Tensor:
        return _resize_box(_resize_box(p.float(), int(H * c), int(W * c)), H, W).to(torch.uint8)

    return by_parts(pixels, x)


def jpeg_compression(x: Tensor, severity: int, g: torch.Generator) -> Tensor:
    """Encode and decode each image at the severity's quality with libjpeg's defaults
    (torchvision.io, batched: the same bytes as PIL's round trip, and faster)."""
    check(x, severity)
    if len(x) == 0:
        return x.clone()
    images = list(x.contiguous())
    round_trip = functools.partial(_jpeg_round_trip, quality=JPEG_QUALITY[severity - 1])
    if torch.get_num_threads() == 1 or len(images) < 2 * RANDOM_PARTS:
        return torch.stack(round_trip(images))
    # libjpeg codes one image at a time on one core: the pieces go to the other cores too
    step = math.ceil(len(images) / RANDOM_PARTS)
    pieces = [images[i : i + step] for i in range(0, len(images), step)]
    return torch.stack([image for part in pool().map(round_trip, pieces) for image in part])


def _jpeg_round_trip(images: list[Tensor], quality: int) -> list[Tensor]:
    """torchvision.io's batched encode then decode (one piece of a set)."""
    with warnings.catch_warnings():  # torchvision 0.29 warns that torchcodec will take over
        warnings.simplefilter("ignore", DeprecationWarning)
        from torchvision.io import decode_jpeg, encode_jpeg

        return decode_jpeg(encode_jpeg(images, quality=quality))


def affine_sources(jitter: Tensor, size: int) -> Tensor:
    """cv2.warpAffine's source (x, y) of each output pixel, [N, size, size, 2], for the affine
    map taking the reference's three points to themselves plus `jitter` [N, 3, 2]: the inverse
    map, rounded to cv2's 1/32-pixel grid (INTER_BITS = 5)."""
    centre, side = size // 2, size // 3
    pts1 = torch.tensor(
        [[centre + side] * 2, [centre + side, centre - side], [centre - side] * 2],
        dtype=torch.float64,
    )
    pts2 = pts1 + jitter.float().double()  # the reference's .astype(np.float32)
    ones = torch.ones(len(jitter), 3, 1, dtype=torch.float64)
    # destination -> source: the affine map taking pts2 back to pts1, [N, 3, 2]
    inverse = torch.linalg.solve(torch.cat([pts2, ones], 2), pts1.expand(len(jitter), 3, 2))
    t = torch.arange(size, dtype=torch.float64)
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    grid = torch.stack([xx, yy, torch.ones_like(xx)], -1)  # [size, size, 3]
    return torch.einsum("hwk,nkj->nhwj", grid, inverse).mul_(32).round_().div_(32)


def sample(x: Tensor, grid: Tensor, align_corners: bool) -> Tensor:
    """Bilinear samples of x [N, C, H, W] at grid_sample's coordinates, edges reflected: about
    the edge pixels (align_corners: cv2's REFLECT_101) or beyond them (scipy's 'reflect')."""
    return F.grid_sample(x, grid, "bilinear", "reflection", align_corners=align_corners)


def elastic_transform(x: Tensor, severity: int, g: torch.Generator) -> Tensor:
    """The reference's draws, in its order: the affine jitter, then dx's and dy's fields."""
    check(x, severity)
    n, _, h, w = x.shape
    jitter = ELASTIC[severity - 1][2] * w
    shifts = uniform((n, 3, 2), -jitter, jitter, g)
    field = uniform((n, 2, h, w), -1.0, 1.0, g)
    return by_parts(lambda p, j, f: elastic_from(p, severity, j, f), x, shifts, field)


def elastic_from(x: Tensor, severity: int, jitter: Tensor, field: Tensor) -> Tensor:
    """For given draws: the affine warp moving the reference's three points by `jitter`
    [N, 3, 2] (cv2.warpAffine, reflect-101 edge), then each pixel displaced by `field`
    [N, (dx, dy), H, W] smoothed (scipy's gaussian_filter, 'reflect', truncate 3) and scaled,
    sampled bilinearly (map_coordinates, order 1, 'reflect'; alpha 0 moves nothing)."""
    w = x.shape[3]
    alpha, sigma = (v * w for v in ELASTIC[severity - 1][:2])
    src = affine_sources(jitter, w).mul_(2 / (w - 1)).sub_(1).float()  # grid_sample's -1..1
    out = sample(x.float().div_(255.0), src, True)
    if alpha > 0:
        shift = filters.gaussian_filter(field, sigma, "reflect", truncate=3.0).mul_(alpha)
        shift = shift.float().mul_(2 / w).permute(0, 2, 3, 1)  # pixels -> -1..1 units
        t = torch.arange(w, dtype=torch.float32).mul_(2 / w).add_(1 / w - 1)  # pixel centres
        grid = shift.add_(torch.stack(torch.meshgrid(t, t, indexing="xy"), -1))
        out = sample(out, grid, False)
    return filters.to_uint8_unit(out)
