"""Shifted test sets in the manner of CIFAR-10-C (Hendrycks & Dietterich 2019).

Every corruption is a pure function `(uint8 images [N, 3, 32, 32], severity 1..5, generator) ->
uint8 images [N, 3, 32, 32]`, vectorised in torch, with the parameters of the authors'
make_cifar_c.py. Random corruptions draw only from the generator they are given, so a seed fixes
the result. JPEG is libjpeg itself, batched through torchvision.io (byte for byte PIL's round
trip), pixelate is PIL's BOX resampling as small matrices (equal to PIL's output), blurs are
matmuls with banded matrices, and shot noise draws exact Poisson counts only for dark values (a
normal law of the same mean and variance above a mean of 10 counts; torch.poisson is ~30x
slower).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import Tensor

from bedash import names as schema

Corruption = Callable[[Tensor, int, torch.Generator], Tensor]
SEVERITIES = (1, 2, 3, 4, 5)

# make_cifar_c.py's parameters, severity 1..5
GAUSSIAN_NOISE = (0.04, 0.06, 0.08, 0.09, 0.10)  # std of additive noise, images in [0, 1]
SHOT_NOISE = (500, 250, 100, 75, 50)  # photons per unit intensity: Poisson(x * c) / c
IMPULSE_NOISE = (0.01, 0.02, 0.03, 0.05, 0.07)  # fraction of values set to 0 or 1 (s&p)
SPECKLE_NOISE = (0.06, 0.10, 0.12, 0.16, 0.20)  # std of multiplicative noise
GAUSSIAN_BLUR = (0.4, 0.6, 0.7, 0.8, 1.0)  # sigma in pixels (skimage: truncate 4, 'nearest')
DEFOCUS_BLUR = ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1.0, 0.2), (1.5, 0.1))  # radius, alias blur
CONTRAST = (0.75, 0.5, 0.4, 0.3, 0.15)  # factor on the distance from each channel's mean
BRIGHTNESS = (0.05, 0.1, 0.15, 0.2, 0.3)  # added to HSV value
PIXELATE = (0.95, 0.9, 0.85, 0.75, 0.65)  # down to int(32 c) pixels and back up, PIL BOX
JPEG_QUALITY = (80, 65, 58, 50, 40)


def _check(x: Tensor, severity: int) -> None:
    if x.dtype != torch.uint8 or x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"images must be uint8 [N, 3, H, W], got {x.dtype} {tuple(x.shape)}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be 1..5, got {severity!r}")


def _to_uint8(x: Tensor) -> Tensor:
    """Floats on the 0..255 scale -> uint8, clipped and truncated as the reference's
    np.uint8(np.clip(x, 0, 1) * 255)."""
    return x.clamp_(0.0, 255.0).to(torch.uint8)


# -- random draws ----------------------------------------------------------------------------------
# torch draws CPU random numbers on one thread (one generator, one lock): for the noise
# corruptions that is most of their time. Each draw below is split into RANDOM_PARTS pieces,
# each from a generator of its own seeded from g, filled on as many threads as torch uses. The
# split is fixed, so the numbers depend on g alone, never on the thread count (tested).
RANDOM_PARTS = 2
_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(RANDOM_PARTS, thread_name_prefix="bedash-rng")
    return _POOL


def draw(n: int, fill: Callable[[int, int, torch.Generator], None], g: torch.Generator) -> None:
    """fill(start, stop, generator) for RANDOM_PARTS consecutive pieces of range(n), each with
    a generator seeded from g (one draw of g); on threads when torch uses more than one."""
    seeds = torch.randint(0, 2**62, (RANDOM_PARTS,), generator=g).tolist()
    bounds = [n * i // RANDOM_PARTS for i in range(RANDOM_PARTS + 1)]
    jobs = [
        (bounds[i], bounds[i + 1], torch.Generator().manual_seed(int(seeds[i])))
        for i in range(RANDOM_PARTS)
    ]
    if torch.get_num_threads() > 1 and n >= 65536:
        for f in [_pool().submit(fill, *job) for job in jobs]:
            f.result()
    else:
        for job in jobs:
            fill(*job)


def randn(shape: tuple[int, ...] | torch.Size, g: torch.Generator) -> Tensor:
    """Standard normal float32 values, drawn in pieces (see draw)."""
    out = torch.empty(shape)
    flat = out.view(-1)

    def fill(a: int, b: int, gen: torch.Generator) -> None:
        flat[a:b].normal_(generator=gen)

    draw(flat.numel(), fill, g)
    return out


def poisson(lam: Tensor, g: torch.Generator) -> Tensor:
    """Poisson counts of the float32 means lam (1-D), drawn in pieces (see draw): torch.poisson
    draws one value at a time on one thread."""
    out = torch.empty_like(lam)

    def fill(a: int, b: int, gen: torch.Generator) -> None:
        out[a:b] = torch.poisson(lam[a:b], generator=gen)

    draw(lam.numel(), fill, g)
    return out


def bernoulli_positions(n: int, p: float, g: torch.Generator) -> Tensor:
    """The sorted positions in range(n) where independent Bernoulli(p) trials succeed, drawn
    as geometric gaps between successes (floor(log U / log(1 - p)) + 1, U uniform on (0, 1]):
    the same law as a uniform draw per trial compared with p, with about n p draws, not n."""
    if n <= 0 or p <= 0.0:
        return torch.empty(0, dtype=torch.int64)
    if p >= 1.0:
        return torch.arange(n)
    log_q = math.log1p(-p)
    parts: list[Tensor] = []
    last = -1  # the position of the last success so far
    while True:
        expected = (n - 1 - last) * p
        u = torch.rand(
            int(expected + 6.0 * math.sqrt(expected) + 16), generator=g, dtype=torch.float64
        )
        gaps = torch.log1p(-u).div_(log_q).floor_().add_(1.0)  # 1 - u is in (0, 1]
        pos = gaps.cumsum_(0).add_(last).long()
        inside = pos[pos < n]
        parts.append(inside)
        if len(inside) < len(pos):  # the trials reached n: done
            return torch.cat(parts)
        last = int(pos[-1])


# Every corruption below works on the 0..255 scale in as few passes over the images as it can
# (the evaluation corrupts 400,000 images per model): the noise is scaled by 255 instead.

# -- noise ---------------------------------------------------------------------------------------


def gaussian_noise(x: Tensor, severity: int, g: torch.Generator) -> Tensor:
    _check(x, severity)
    c = GAUSSIAN_NOISE[severity - 1]
    z = randn(x.shape, g)
    return _to_uint8(torch.add(x, z, alpha=255.0 * c))


def shot_noise(x: Tensor, severity: int, g: torch.Generator) -> Tensor:
    """Poisson(x c) / c. torch.poisson draws one value at a time (about 30x a normal draw), so
    counts of mean >= SHOT_EXACT_BELOW are drawn from N(lam, lam), the normal law of the same mean
    and variance (skew 1/sqrt(lam) <= 0.32), and only the darker values exactly."""
    _check(x, severity)
    c = SHOT_NOISE[severity - 1]
    lam = x.float().mul_(c / 255.0)
    z = randn(x.shape, g)
    out = torch.addcmul(lam, lam.sqrt(), z)
    dark = (lam < SHOT_EXACT_BELOW).view(-1).nonzero().squeeze(1)  # one pass finds them
    if dark.numel():
        flat = out.view(-1)
        flat.index_copy_(0, dark, poisson(lam.view(-1)[dark], g))
    return _to_uint8(out.mul_(255.0 / c))


SHOT_EXACT_BELOW = 10.0


def impulse_noise(x: Tensor, severity: int, g: torch.Generator) -> Tensor:
    """Salt and pepper on each value (channel included), as skimage's random_noise: each value
    is replaced with probability `amount`, by salt or pepper with probability 1/2 each. The
    replaced values are drawn as positions (bernoulli_positions: 1-7 % of the values, so a
    tenth of the draws and passes of a uniform draw per value) and a coin for each."""
    _check(x, severity)
    amount = IMPULSE_NOISE[severity - 1]
    out = x.clone(memory_format=torch.contiguous_format)
    flat = out.view(-1)
    pos = bernoulli_positions(flat.numel(), amount, g)
    salt = torch.randint(0, 2, (len(pos),), generator=g, dtype=torch.uint8).mul_(255)
    flat[pos] = salt
    return out


def speckle_noise(x: Tensor, severity: int, g: torch.Generator) -> Tensor:
    _check(x, severity)
    c = SPECKLE_NOISE[severity - 1]
    xf = x.float()
    z = randn(x.shape, g).mul_(c)
    return _to_uint8(torch.addcmul(xf, xf, z))


# -- blur ----------------------------------------------------------------------------------------


def _gaussian_kernel(sigma: float, radius: int | None = None) -> Tensor:
    radius = int(4.0 * sigma + 0.5) if radius is None else radius  # scipy's truncate = 4
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def _filter_matrix(k: Tensor, n: int, edge: str) -> Tensor:
    """The [n, n] matrix A with A @ v = v padded (`edge`) and correlated with the odd kernel k:
    a 1-D filter as one small matmul (a depthwise conv2d is many times slower on the CPU)."""
    r = (k.numel() - 1) // 2
    a = torch.zeros(n, n, dtype=torch.float64)
    for i in range(n):
        for t in range(-r, r + 1):
            j = i + t
            if edge == "replicate":  # scipy.ndimage 'nearest'
                j = min(max(j, 0), n - 1)
            else:  # reflect without repeating the edge: cv2's BORDER_REFLECT_101
                j = -j if j < 0 else (2 * (n - 1) - j if j >= n else j)
            a[i, j] += k[t + r]
    return a


@functools.lru_cache(maxsize=64)
def _filter_terms(kernel: tuple[tuple[float, ...], ...], h: int, w: int, edge: str) -> list:
    """The kernel split by SVD into rank-1 (separable) terms, each as its two filter matrices
    (rank 1 or 2 for every blur here); cached: every chunk of a set reuses them."""
    u, s, vh = torch.linalg.svd(torch.tensor(kernel, dtype=torch.float64))
    return [
        (_filter_matrix(u[:, i] * s[i], h, edge).float(), _filter_matrix(vh[i], w, edge).float().T)
        for i in range(int((s > 1e-10 * s[0]).sum()))
    ]


def _filter2d(x: Tensor, kernel: Tensor, edge: str) -> Tensor:
    """Correlate every channel of x [N, C, H, W] with a small 2-D kernel, as matmuls."""
    out = None
    for ah, aw_t in _filter_terms(tuple(map(tuple, kernel.tolist())), x.shape[2], x.shape[3], edge):
        term = torch.matmul(torch.matmul(ah, x), aw_t)
        out = term if out is None else out.add_(term)
    return out


def gaussian_blur(x: Tensor, severity: int, g: torch.Generator) -> Tensor:
    _check(x, severity)
    k = _gaussian_kernel(GAUSSIAN_BLUR[severity - 1])
    return _to_uint8(_filter2d(x.float(), torch.outer(k, k), "replicate"))


def _disk(radius: float, alias_blur: float) -> Tensor:
    """make_cifar_c's kernel: an aliased disk on a 17 x 17 grid, normalised, then blurred by a
    3 x 3 Gaussian of sigma alias_blur (cv2.GaussianBlur, reflect-101 edge); cropped to where it
    is not zero (its edge never reaches the grid's border for these radii)."""
    L = torch.arange(-8, 9, dtype=torch.float64)
    Y, X = torch.meshgrid(L, L, indexing="ij")
    d = (radius**2 >= (X**2 + Y**2)).double()
    d /= d.sum()
    k = _gaussian_kernel(alias_blur, radius=1)
    a = _filter_matrix(k, 17, "reflect")
    d = a @ d @ a.T
    nz = (d.abs() > 1e-12).nonzero()
    r = int((nz - 8).abs().max())
    return d[8 - r : 9 + r, 8 - r : 9 + r]


def defocus_blur(x: Tensor, severity: int, g: torch.Generator) -> Tensor:
    _check(x, severity)
    k = _disk(*DEFOCUS_BLUR[severity - 1])
    return _to_uint8(_filter2d(x.float(), k, "reflect"))  # cv2.filter2D's default edge


# -- digital -------------------------------------------------------------------------------------


def contrast(x: Tensor, severity: int, g: torch.Generator) -> Tensor:
    """(x - m) c + m with m the mean of each image's channel: x c + m (1 - c), one pass."""
    _check(x, severity)
    c = CONTRAST[severity - 1]
    means = x.float().mean(dim=(2, 3), keepdim=True)  # (N, 3, 1, 1)
    return _to_uint8(torch.add(means.mul_(1 - c), x, alpha=c))


def brightness(x: Tensor, severity: int, g: torch.Generator) -> Tensor:
    """V += c in HSV, hue and saturation kept. Every channel is V (1 - S f(H)), so that is a
    scale of the pixel by V'/V; a black pixel (V = 0, S = 0) becomes the grey V' = c."""
    _check(x, severity)
    c = BRIGHTNESS[severity - 1] * 255.0
    v = x.amax(dim=1, keepdim=True).float()  # (N, 1, H, W)
    v_new = (v + c).clamp_(max=255.0)
    black = v == 0
    factor = v_new.div_(v.clamp_(min=1.0)).masked_fill_(black, 0.0)
    offset = black.float().mul_(c)  # V' of a black pixel
    return _to_uint8(torch.addcmul(offset, x, factor))


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
    mw = _box_matrix(x.shape[3], w)
    mh = _box_matrix(x.shape[2], h)
    x = torch.matmul(x, mw.T).add_(0.5).floor_()
    return torch.matmul(mh, x).add_(0.5).floor_()


def pixelate(x: Tensor, severity: int, g: torch.Generator) -> Tensor:
    _check(x, severity)
    H, W = x.shape[2], x.shape[3]
    c = PIXELATE[severity - 1]
    small = _resize_box(x.float(), int(H * c), int(W * c))
    return _resize_box(small, H, W).to(torch.uint8)


def jpeg_compression(x: Tensor, severity: int, g: torch.Generator) -> Tensor:
    """Encode and decode each image at the severity's quality with libjpeg's defaults
    (torchvision.io, batched: the same bytes as PIL's round trip, and faster)."""
    _check(x, severity)
    if len(x) == 0:
        return x.clone()
    images = list(x.contiguous())
    round_trip = functools.partial(_jpeg_round_trip, quality=JPEG_QUALITY[severity - 1])
    if torch.get_num_threads() == 1 or len(images) < 2 * RANDOM_PARTS:
        return torch.stack(round_trip(images))
    # libjpeg codes one image at a time on one core: the pieces go to the other cores too
    step = math.ceil(len(images) / RANDOM_PARTS)
    pieces = [images[i : i + step] for i in range(0, len(images), step)]
    return torch.stack([image for part in _pool().map(round_trip, pieces) for image in part])


def _jpeg_round_trip(images: list[Tensor], quality: int) -> list[Tensor]:
    """torchvision.io's batched encode then decode (one piece of a set)."""
    with warnings.catch_warnings():  # torchvision 0.29 warns that torchcodec will take over
        warnings.simplefilter("ignore", DeprecationWarning)
        from torchvision.io import decode_jpeg, encode_jpeg

        return decode_jpeg(encode_jpeg(images, quality=quality))


CORRUPTIONS: dict[str, Corruption] = {
    "gaussian_noise": gaussian_noise,
    "shot_noise": shot_noise,
    "impulse_noise": impulse_noise,
    "speckle_noise": speckle_noise,
    "gaussian_blur": gaussian_blur,
    "defocus_blur": defocus_blur,
    "contrast": contrast,
    "brightness": brightness,
    "pixelate": pixelate,
    "jpeg_compression": jpeg_compression,
}
CORRUPTION_NAMES = tuple(CORRUPTIONS)
assert CORRUPTION_NAMES == schema.CORRUPTION_NAMES  # the config validates against schema's list


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
