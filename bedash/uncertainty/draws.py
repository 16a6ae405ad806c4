"""Seeded random draws for the corruptions, split in fixed pieces that fill on several threads.

torch draws CPU random numbers on one thread (one generator, one lock): for the noise
corruptions that is most of their time. Each draw below is split into RANDOM_PARTS pieces, each
from a generator of its own seeded from g, filled on as many threads as torch uses. The split is
fixed, so the numbers depend on g alone, never on the thread count (tested).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import Tensor

RANDOM_PARTS = 2
_POOL: ThreadPoolExecutor | None = None


def pool() -> ThreadPoolExecutor:
    """The threads that fill the pieces (and code JPEG pieces), made on first use."""
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
        for f in [pool().submit(fill, *job) for job in jobs]:
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
    """Exact Poisson counts of the float32 means lam, drawn in pieces (see draw): torch.poisson
    draws one value at a time on one thread."""
    out = torch.empty_like(lam)
    flat_in, flat_out = lam.reshape(-1), out.view(-1)

    def fill(a: int, b: int, gen: torch.Generator) -> None:
        flat_out[a:b] = torch.poisson(flat_in[a:b], generator=gen)

    draw(flat_in.numel(), fill, g)
    return out


def uniform(shape: tuple[int, ...], low: float, high: float, g: torch.Generator) -> Tensor:
    """float64 values uniform on [low, high), as numpy.random.uniform."""
    return torch.rand(shape, generator=g, dtype=torch.float64).mul_(high - low).add_(low)


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
