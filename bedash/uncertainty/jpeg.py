"""A JPEG round trip (encode at a quality, decode) as tensor arithmetic, equal to libjpeg's.

libjpeg(-turbo)'s default path, step by step, for images whose sides are multiples of 16 (one
4:2:0 MCU): fixed-point RGB -> YCbCr, 2x2 chroma averaging with alternating bias, the "islow"
integer forward DCT, quantization by the quality-scaled standard tables, the islow inverse DCT,
"fancy" (triangle) chroma upsampling and fixed-point YCbCr -> RGB. Each DCT pass of islow is an
integer-linear map of the 8 samples followed by one rounding shift, so a pass is one matmul with
an exact integer matrix (float32 where every partial sum stays below 2**24, float64 where one
can pass it) and one floor. tests/test_jpeg.py checks this byte for byte against torchvision's
libjpeg at every quality the corruption uses and more. It uses both cores where a libjpeg call
per image uses one (and spends most of it on per-image set-up for 32 x 32 images).
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

# the standard tables of the JPEG specification (Annex K), row-major
LUMA_TABLE = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip
CHROMA_TABLE = (
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
) + (99,) * 32  # fmt: skip

CONST_BITS, PASS1_BITS = 13, 2  # libjpeg's jfdctint.c / jidctint.c
# FIX(x) = round(x * 2**13) for islow's constants
F0298, F0390, F0541, F0765, F0899, F1175 = 2446, 3196, 4433, 6270, 7373, 9633
F1501, F1847, F1961, F2053, F2562, F3072 = 12299, 15137, 16069, 16819, 20995, 25172


def supported(x: Tensor) -> bool:
    """Whether the tensor path applies: uint8 [N, 3, H, W] with H and W multiples of 16."""
    return x.dim() == 4 and x.shape[1] == 3 and x.shape[2] % 16 == 0 and x.shape[3] % 16 == 0


def quant_table(base: tuple[int, ...], quality: int) -> Tensor:
    """libjpeg's jpeg_set_quality: the base table scaled, clamped to 1..255 (baseline)."""
    scale = 5000 // quality if quality < 50 else 200 - quality * 2
    return torch.tensor(
        [min(max((b * scale + 50) // 100, 1), 255) for b in base], dtype=torch.float64
    ).view(8, 8)


# jccolor.c / jdcolor.c's fixed-point coefficients (x 2**16): as matrices over the channels
TO_YCC = torch.tensor([[19595, 38470, 7471], [-11059, -21709, 32768], [32768, -27439, -5329]],
                      dtype=torch.float32)  # fmt: skip
TO_YCC_OFFSET = torch.tensor([32768, (128 << 16) + 32767, (128 << 16) + 32767],
                             dtype=torch.float32).view(3, 1)  # fmt: skip
TO_RGB = torch.tensor([[0, 91881], [-22554, -46802], [116130, 0]], dtype=torch.float32)


def _fdct_1d(d: list) -> list:
    """jpeg_fdct_islow on one row (or column) of 8, before its final descale; the outputs 0
    and 4 carry 2**13 so that every output takes the same rounding shift."""
    t0, t7, t1, t6 = d[0] + d[7], d[0] - d[7], d[1] + d[6], d[1] - d[6]
    t2, t5, t3, t4 = d[2] + d[5], d[2] - d[5], d[3] + d[4], d[3] - d[4]
    t10, t13, t11, t12 = t0 + t3, t0 - t3, t1 + t2, t1 - t2
    z1 = (t12 + t13) * F0541
    o = [None] * 8
    o[0], o[4] = (t10 + t11) * 2**CONST_BITS, (t10 - t11) * 2**CONST_BITS
    o[2], o[6] = z1 + t13 * F0765, z1 - t12 * F1847
    z1, z2, z3, z4 = t4 + t7, t5 + t6, t4 + t6, t5 + t7
    z5 = (z3 + z4) * F1175
    t4, t5, t6, t7 = t4 * F0298, t5 * F2053, t6 * F3072, t7 * F1501
    z1, z2, z3, z4 = -z1 * F0899, -z2 * F2562, -z3 * F1961 + z5, -z4 * F0390 + z5
    o[7], o[5], o[3], o[1] = t4 + z1 + z3, t5 + z2 + z4, t6 + z2 + z3, t7 + z1 + z4
    return o


def _idct_1d(c: list) -> list:
    """jpeg_idct_islow on one column (or row) of 8 coefficients, before its descale."""
    z1 = (c[2] + c[6]) * F0541
    t2, t3 = z1 - c[6] * F1847, z1 + c[2] * F0765
    t0, t1 = (c[0] + c[4]) * 2**CONST_BITS, (c[0] - c[4]) * 2**CONST_BITS
    t10, t13, t11, t12 = t0 + t3, t0 - t3, t1 + t2, t1 - t2
    t0, t1, t2, t3 = c[7], c[5], c[3], c[1]
    z1, z2, z3, z4 = t0 + t3, t1 + t2, t0 + t2, t1 + t3
    z5 = (z3 + z4) * F1175
    t0, t1, t2, t3 = t0 * F0298, t1 * F2053, t2 * F3072, t3 * F1501
    z1, z2, z3, z4 = -z1 * F0899, -z2 * F2562, -z3 * F1961 + z5, -z4 * F0390 + z5
    t0, t1, t2, t3 = t0 + z1 + z3, t1 + z2 + z4, t2 + z2 + z3, t3 + z1 + z4
    return [t10 + t3, t11 + t2, t12 + t1, t13 + t0, t13 - t0, t12 - t1, t11 - t2, t10 - t3]


@functools.lru_cache(maxsize=16)
def _pass_matrix(kind: str, n: int) -> Tensor:
    """The [n, n] block-diagonal integer matrix of one islow pass over n samples (n / 8 blocks):
    the 1-D map applied to the unit vectors gives its columns."""
    fn = _fdct_1d if kind == "fdct" else _idct_1d
    m = torch.tensor([fn([int(i == j) for i in range(8)]) for j in range(8)], dtype=torch.float32)
    return torch.block_diag(*[m.T] * (n // 8))  # entries below 2**16: exact in float32


def _descale(x: Tensor, bits: int) -> Tensor:
    """libjpeg's DESCALE: (x + 2**(bits-1)) >> bits, exact on float64 integers."""
    return x.add_(2.0 ** (bits - 1)).mul_(2.0**-bits).floor_()


def _code(plane: Tensor, q: Tensor) -> Tensor:
    """Encode and decode float32 sample planes [M, h, w] (0..255 integers) with table q. The
    first pass runs in float32 (its sums stay below 2**23, exact); the rest in float64."""
    h, w = plane.shape[-2:]
    fh, fw = _pass_matrix("fdct", h).double(), _pass_matrix("fdct", w)
    f = _descale(torch.matmul(plane - 128.0, fw.T), CONST_BITS - PASS1_BITS).double()  # rows
    f = _descale(torch.matmul(fh, f), CONST_BITS + PASS1_BITS)  # columns: 8x the DCT
    qt = q.repeat(h // 8, w // 8)
    qv = qt * 8.0
    k = torch.floor_((f.abs() + torch.floor(qv / 2)) / qv).mul_(f.sign())  # rounds half away
    ih, iw = _pass_matrix("idct", h).double(), _pass_matrix("idct", w).double()
    r = _descale(torch.matmul(ih, k.mul_(qt)), CONST_BITS - PASS1_BITS)  # columns
    r = _descale(torch.matmul(r, iw.T), CONST_BITS + PASS1_BITS + 3)  # rows
    return r.add_(128.0).clamp_(0.0, 255.0).float()


@functools.lru_cache(maxsize=16)
def _pair_sum(n: int) -> Tensor:
    """[n / 2, n]: each output the sum of its two inputs."""
    return torch.eye(n // 2).repeat_interleave(2, dim=1)


def _downsample(c: Tensor) -> Tensor:
    """h2v2_downsample: the 2 x 2 sum plus a bias alternating 1, 2 along the row, >> 2."""
    h, w = c.shape[-2:]
    s = torch.matmul(torch.matmul(_pair_sum(h), c), _pair_sum(w).T)
    bias = torch.tensor([1.0, 2.0], dtype=c.dtype).repeat(w // 4)
    return s.add_(bias).mul_(0.25).floor_()


@functools.lru_cache(maxsize=16)
def _triangle(n: int, edge: int) -> Tensor:
    """[2n, n]: output 2i + t takes 3 of input i and 1 of its neighbour on side t (the edge
    sample replicated), as h2v2_fancy_upsample; `edge` = 4 puts 4 of the edge sample at the two
    ends instead (its horizontal pass), 3 + 1 otherwise (its vertical pass: the same)."""
    m = torch.zeros(2 * n, n)
    for i in range(n):
        for t, j in ((0, max(i - 1, 0)), (1, min(i + 1, n - 1))):
            m[2 * i + t, i] += 3
            m[2 * i + t, j] += 1
    if edge == 4:
        m[0], m[-1] = 0, 0
        m[0, 0], m[-1, -1] = 4, 4
    return m


def _upsample(c: Tensor) -> Tensor:
    """h2v2_fancy_upsample: 3/4 of the nearer and 1/4 of the farther sample in each direction
    (edges replicated), with libjpeg's integer rounding: (sum + 8) >> 4 for even columns,
    (sum + 7) >> 4 for odd ones."""
    h, w = c.shape[-2:]
    s = torch.matmul(torch.matmul(_triangle(h, 3), c), _triangle(w, 4).T)
    bias = torch.tensor([8.0, 7.0], dtype=c.dtype).repeat(w)
    return s.add_(bias).mul_(1 / 16).floor_()


def roundtrip(x: Tensor, quality: int) -> Tensor:
    """uint8 [N, 3, H, W] (H, W multiples of 16) -> the same images after a JPEG encode at
    `quality` (1..100, 4:2:0) and decode, as libjpeg's default settings produce them. The
    colour conversions are float32 matmuls: every partial sum is an integer below 2**24, so
    they are exact."""
    if not supported(x):
        raise ValueError(f"sides must be multiples of 16, got {tuple(x.shape)}")
    n, _, h, w = x.shape
    ycc = torch.matmul(TO_YCC, x.float().flatten(2)).add_(TO_YCC_OFFSET)  # jccolor.c rgb_ycc
    y, cb, cr = ycc.mul_(2.0**-16).floor_().view(n, 3, h, w).unbind(1)
    y = _code(y, quant_table(LUMA_TABLE, quality))
    chroma = _code(_downsample(torch.cat([cb, cr])), quant_table(CHROMA_TABLE, quality))
    c = (_upsample(chroma) - 128.0).view(2, n, h * w).transpose(0, 1)  # (N, 2, HW)
    rgb = torch.matmul(TO_RGB, c).add_(32768.0).mul_(2.0**-16).floor_()  # jdcolor.c ycc_rgb
    rgb = rgb.view(n, 3, h, w).add_(y.unsqueeze(1))
    return rgb.clamp_(0.0, 255.0).to(torch.uint8)
