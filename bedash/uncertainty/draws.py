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
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

RANDOM_PARTS = 2
STEP = 1 << 18  # values per step of sample_rows (fixed: the draws do not depend on it)
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


@dataclass(frozen=True)
class AliasTable:
    """Vose's alias tables of R laws over the outcomes 0..K-1, flat `[R K]`: draw a column j
    uniformly, keep j with probability prob[j], else take alias[j]."""

    prob: Tensor  # float64
    alias: Tensor  # uint8
    columns: int  # K


def alias_table(pmf: np.ndarray) -> AliasTable:
    """The alias tables of the laws in the rows of pmf `[R, K]` (K <= 256): drawing from a
    row's table has exactly that row's law (Vose 1991, "A linear algorithm for generating
    random numbers with a given distribution")."""
    rows, k = pmf.shape
    if k > 256:
        raise ValueError(f"alias_table: at most 256 outcomes, got {k}")
    prob, alias = np.ones((rows, k)), np.tile(np.arange(k), (rows, 1))
    for r in range(rows):
        p = (pmf[r] / pmf[r].sum() * k).tolist()
        small = [i for i, q in enumerate(p) if q < 1.0]
        large = [i for i, q in enumerate(p) if q >= 1.0]
        while small and large:
            s, big = small.pop(), large.pop()
            prob[r, s], alias[r, s] = p[s], big
            p[big] += p[s] - 1.0
            (small if p[big] < 1.0 else large).append(big)
        # what is left has probability 1 up to rounding: it keeps prob 1 and itself
    flat_alias = torch.from_numpy(alias.reshape(-1).astype(np.uint8))
    return AliasTable(torch.from_numpy(prob.reshape(-1)), flat_alias, k)


def sample_rows(rows: Tensor, table: AliasTable, g: torch.Generator) -> Tensor:
    """One uint8 outcome per value of `rows` (indices of the table's laws), drawn from that
    row's law: one float64 uniform per value, in pieces (see draw); its whole part picks the
    column, its fraction (45 bits for 256 columns) the side: each probability to within 2^-45."""
    k = table.columns
    flat, out = rows.reshape(-1), torch.empty(rows.numel(), dtype=torch.uint8)

    def fill(a: int, b: int, gen: torch.Generator) -> None:
        for start in range(a, b, STEP):  # STEP values at a time: small temporaries
            stop = min(start + STEP, b)
            u = torch.rand(stop - start, generator=gen, dtype=torch.float64).mul_(k)
            column = u.long()
            index = flat[start:stop].long().mul_(k).add_(column)
            keep = u.sub_(column) < table.prob[index]  # u - column: uniform on [0, 1)
            out[start:stop] = torch.where(keep, column.to(torch.uint8), table.alias[index])

    draw(flat.numel(), fill, g)
    return out.view(rows.shape)


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
