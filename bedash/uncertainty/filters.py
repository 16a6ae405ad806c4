"""The image operations make_cifar_c.py borrows from libraries, as batched tensor forms: scipy's
Gaussian filter (its kernel and edge modes), scipy.ndimage.zoom's linear interpolation,
ImageMagick's motion blur, and the checks and uint8 conversion every corruption shares."""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable

import numpy as np
import scipy.ndimage
import torch
from torch import Tensor


def check(x: Tensor, severity: int) -> None:
    """A corruption's input: uint8 images [N, 3, H, W] and a severity 1..5."""
    if x.dtype != torch.uint8 or x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"images must be uint8 [N, 3, H, W], got {x.dtype} {tuple(x.shape)}")
    if severity not in range(1, 6):
        raise ValueError(f"severity must be 1..5, got {severity!r}")


PART = 250  # images at a time in the per-image work (by_parts)


def by_parts(f: Callable[..., Tensor], x: Tensor, *per_image: Tensor) -> Tensor:
    """f(x[part], *(d[part] for d in per_image)) over parts of PART images, into one tensor:
    what f gives on the whole (every image is made on its own; tested equal), but a part's
    float64 temporaries (~6 MB) stay in the CPU's cache where a chunk's (~25 MB) do not: the
    blurs and snow ran 1.4-1.8x faster so (BENCHMARKS.md, 2026-12-08). The draws stay per
    chunk, made before the split: the images do not depend on PART."""
    if len(x) <= PART:
        return f(x, *per_image)
    parts = [
        f(x[i : i + PART], *(d[i : i + PART] for d in per_image)) for i in range(0, len(x), PART)
    ]
    return torch.cat(parts)


def to_uint8(x: Tensor) -> Tensor:
    """Floats on the 0..255 scale -> uint8, clipped and truncated as the reference's
    np.uint8(np.clip(x, 0, 1) * 255)."""
    return x.clamp_(0.0, 255.0).to(torch.uint8)


def to_uint8_unit(x: Tensor) -> Tensor:
    """Floats on the 0..1 scale -> uint8 as np.uint8(np.clip(x, 0, 1) * 255)."""
    return x.clamp_(0.0, 1.0).mul_(255.0).to(torch.uint8)


def gaussian_kernel(sigma: float, truncate: float = 4.0, radius: int | None = None) -> Tensor:
    """scipy.ndimage's 1-D Gaussian: radius int(truncate sigma + 0.5), normalised."""
    radius = int(truncate * sigma + 0.5) if radius is None else radius
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def _edge(j: int, n: int, mode: str) -> int:
    """The index that stands for j outside 0..n-1 under scipy.ndimage's edge `mode`."""
    if mode == "nearest":
        return min(max(j, 0), n - 1)
    if mode == "mirror":  # d c b | a b c d | c b a: cv2's BORDER_REFLECT_101
        return -j if j < 0 else (2 * (n - 1) - j if j >= n else j)
    return -1 - j if j < 0 else (2 * n - 1 - j if j >= n else j)  # reflect: d c b a | a b c d


def filter_matrix(k: Tensor, n: int, mode: str) -> Tensor:
    """The [n, n] matrix A with A @ v = v extended by `mode` and correlated with the odd kernel
    k: a 1-D filter as one small matmul (a depthwise conv2d is many times slower on the CPU)."""
    r = (k.numel() - 1) // 2
    a = torch.zeros(n, n, dtype=torch.float64)
    for i in range(n):
        for t in range(-r, r + 1):
            a[i, _edge(i + t, n, mode)] += k[t + r]
    return a


@functools.lru_cache(maxsize=64)
def _filter_terms(kernel: tuple[tuple[float, ...], ...], h: int, w: int, mode: str) -> list:
    """The kernel split by SVD into rank-1 (separable) terms, each as its two filter matrices
    (rank 1 or 2 for every blur here); cached: every chunk of a set reuses them."""
    u, s, vh = torch.linalg.svd(torch.tensor(kernel, dtype=torch.float64))
    return [
        (filter_matrix(u[:, i] * s[i], h, mode), filter_matrix(vh[i], w, mode).T)
        for i in range(int((s > 1e-10 * s[0]).sum()))
    ]


def filter2d(x: Tensor, kernel: Tensor, mode: str) -> Tensor:
    """Correlate every channel of x [N, C, H, W] with a small 2-D kernel, as matmuls (callers
    pass PART images at a time: by_parts)."""
    terms = _filter_terms(tuple(map(tuple, kernel.tolist())), x.shape[2], x.shape[3], mode)
    terms = [(ah.to(x.dtype), aw_t.to(x.dtype)) for ah, aw_t in terms]
    out = torch.matmul(torch.matmul(terms[0][0], x), terms[0][1])
    for ah, aw_t in terms[1:]:
        out.add_(torch.matmul(torch.matmul(ah, x), aw_t))
    return out


def gaussian_filter(x: Tensor, sigma: float, mode: str = "nearest", truncate: float = 4.0):
    """scipy.ndimage.gaussian_filter over the last two axes (skimage.filters.gaussian's, whose
    default edge is 'nearest'); a kernel of radius 0 ([1.0], or sigma 0) leaves x as it is."""
    if sigma <= 1e-15 or int(truncate * sigma + 0.5) == 0:
        return x.clone()
    k = gaussian_kernel(sigma, truncate)
    return filter2d(x, torch.outer(k, k), mode)


@functools.lru_cache(maxsize=128)
def zoom_matrix(n: int, factor: float) -> Tensor:
    """make_cifar_c's clipped_zoom along one axis as an [n, n] matrix: crop the centre
    ceil(n / factor) values, scipy.ndimage.zoom them (order 1) and trim the centre n. Built by
    scipy itself from unit vectors: linear, separable interpolation is that matrix exactly."""
    ch = int(np.ceil(n / factor))
    top = (n - ch) // 2
    cols = scipy.ndimage.zoom(np.eye(n)[top : top + ch], (factor, 1), order=1)
    trim = (cols.shape[0] - n) // 2
    return torch.from_numpy(np.ascontiguousarray(cols[trim : trim + n]))


def clipped_zoom(x: Tensor, factor: float) -> Tensor:
    """clipped_zoom of every channel of x [N, C, n, n] (float32 or float64)."""
    m = zoom_matrix(x.shape[-1], float(factor)).to(x.dtype)
    return torch.matmul(torch.matmul(m, x), m.T)


@functools.lru_cache(maxsize=8)
def zoom_mean_matrix(n: int, factors: tuple[float, ...]) -> Tensor:
    """The mean of an [n, n] image and its clipped zooms by each factor, as one sparse
    [n n, n n] matrix on the row-major pixels: (I + sum of kron(M, M) over each zoom's matrix
    M) / (count + 1), built from M's few non-zeros (2 a row); one sparse matmul for the blur."""
    rows, cols, vals = [torch.arange(n * n)], [torch.arange(n * n)], [torch.ones(n * n)]
    for z in factors:
        m = zoom_matrix(n, z)
        i, a = m.nonzero(as_tuple=True)  # kron(M, M)[i n + j, a n + b] = M[i, a] M[j, b]
        rows.append((i[:, None] * n + i[None, :]).reshape(-1))
        cols.append((a[:, None] * n + a[None, :]).reshape(-1))
        vals.append((m[i, a][:, None] * m[i, a][None, :]).reshape(-1))
    k = torch.sparse_coo_tensor(
        torch.stack([torch.cat(rows), torch.cat(cols)]),
        torch.cat(vals),
        (n * n, n * n),
        check_invariants=True,
    )
    k = (k.coalesce() / (len(factors) + 1)).float()
    with warnings.catch_warnings():  # "sparse CSR support is in beta": matmul is all we use
        warnings.simplefilter("ignore", UserWarning)
        return k.to_sparse_csr()


def zoom_mean(x: Tensor, factors: tuple[float, ...]) -> Tensor:
    """(x + sum of clipped_zoom(x, z)) / (len(factors) + 1), float32 x [N, C, n, n]."""
    n = x.shape[-1]
    flat = x.reshape(-1, n * n).T
    return (zoom_mean_matrix(n, factors) @ flat).T.reshape(x.shape)


def motion_offsets(width: int, angles: Tensor) -> tuple[Tensor, Tensor]:
    """ImageMagick's MotionBlurImage offsets (x, y) of tap i = 0..width-1 along each angle
    (degrees): ceil(i w cos a / hypot - 0.5), ceil(i w sin a / hypot - 0.5), [N, width] each."""
    a = angles.double() * (math.pi / 180.0)
    px, py = width * torch.sin(a), width * torch.cos(a)
    h = torch.hypot(px, py)[:, None]
    i = torch.arange(width, dtype=torch.float64)
    ox = torch.ceil(i * py[:, None] / h - 0.5).long()
    oy = torch.ceil(i * px[:, None] / h - 0.5).long()
    return ox, oy


def motion_blur(x: Tensor, radius: float, sigma: float, angles: Tensor) -> Tensor:
    """ImageMagick's MotionBlurImage of uint8 images [N, C, H, W], one angle per image: width
    int(2 radius + 0.5) taps weighted exp(-i^2 / 2 sigma^2) (normalised) at the offsets along
    the angle, edge pixels repeated past the border, rounded to 8 bits (uint8 out)."""
    width = int(2.0 * radius + 0.5)  # GetOptimalKernelWidth1D
    i = torch.arange(width, dtype=torch.float64)
    k = torch.exp(-(i * i) / (2.0 * sigma * sigma))
    k = (k / k.sum()).tolist()
    n, c, h, w = x.shape
    ox, oy = motion_offsets(width, angles)
    rows, cols = torch.arange(h), torch.arange(w)
    flat = x.reshape(n, c, h * w).float()
    out = torch.zeros(n, c, h * w)
    for t in range(width):  # one gather per tap, every image at once
        r = (rows[None, :] + oy[:, t, None]).clamp_(0, h - 1)
        q = (cols[None, :] + ox[:, t, None]).clamp_(0, w - 1)
        index = (r[:, :, None] * w + q[:, None, :]).view(n, 1, h * w).expand(n, c, h * w)
        out.add_(flat.gather(2, index), alpha=k[t])
    return out.add_(0.5).floor_().clamp_(0, 255).to(torch.uint8).view(n, c, h, w)
