"""A sweep's grid: RunConfig fields given as lists, times seeds. Each cell is one run (a
config at one seed); a cell's task sends back a CellOutcome (its run files, where it ran)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bedash.names import FieldError
from bedash.settings.config import RunConfig, config_fields
from bedash.settings.limits import Limits

MAX_CELLS = 1000  # a bigger grid is a typo more often than a plan (--max-cells raises it)
MAX_CELLS_CEILING = 10_000  # how far --max-cells goes: every cell is built in memory at once
DEMO_MAX_CELLS = 8  # the hosted demo: a few tiny cells, one after another, in-process
# Fields a grid may list: those RunConfig's metadata marks sweepable, except the seed
# (--seeds lists it for every config). The rest (data location, model kinds: every cell
# trains all of them, which is what pairs them; device; speed knobs) take one value.
SWEEPABLE = tuple(s.name for s in config_fields() if s.sweepable and s.name != "seed")
CELL_STATUSES = ("pending", "running", "finished", "diverged", "failed", "interrupted")
DONE_STATUSES = ("finished", "diverged")  # kept on resume; the others run again


class SweepError(FieldError):
    """Bad sweep input; `field` is a RunConfig field or a sweep setting (seeds, out,
    address, max_cells, cpus_per_run...)."""


class SweepStopped(Exception):
    """The machine failed under a running sweep (a write in its folder failed, the folder went,
    the engine broke): the sweep stops, the cells done are kept, the rest resumes. The message
    is the one line the user reads."""


# -- the grid ----------------------------------------------------------------------------------


MAX_SEED = 2**31 - 1  # torch and numpy take seeds below 2**32; bedash keeps them signed 32-bit


def seed_ranges(text: str) -> list[range]:
    """'0-2,7' -> [range(0, 3), range(7, 8)], checked without listing a seed (a typed range may
    hold billions): SweepError('seeds') when malformed, past MAX_SEED, or a seed comes twice."""
    ranges: list[range] = []
    hint = "use e.g. 0-4 or 0,1,2"
    for part in str(text).split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
        if not m:
            raise SweepError("seeds", f"malformed seed list {text!r} ({hint})")
        # too many digits is refused before int(), which raises past 4300 of them
        if any(len(g or "") > len(str(MAX_SEED)) for g in m.groups()):
            raise SweepError("seeds", f"seeds must be at most {MAX_SEED}")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise SweepError("seeds", f"malformed range {part!r}: {hi} < {lo} ({hint})")
        if hi > MAX_SEED:
            raise SweepError("seeds", f"seeds must be at most {MAX_SEED}")
        ranges.append(range(lo, hi + 1))
    ordered = sorted(ranges, key=lambda r: r.start)
    if any(b.start < a.stop for a, b in itertools.pairwise(ordered)):
        raise SweepError("seeds", f"lists a seed twice ({text!r})")
    return ranges


def seed_count(text: str) -> int:
    """How many seeds `text` lists, by arithmetic."""
    return sum(len(r) for r in seed_ranges(text))


def parse_seeds(text: str, most: int = MAX_CELLS_CEILING) -> list[int]:
    """'0-4' -> [0..4]; '0,1,5'; '0-2,7'. SweepError('seeds') for anything else, and for more
    than `most` seeds (counted before they are listed)."""
    ranges = seed_ranges(text)
    if (n := sum(len(r) for r in ranges)) > most:
        raise SweepError("seeds", f"lists {n} seeds, more than the limit of {most}")
    return [s for r in ranges for s in r]


@dataclass(frozen=True)
class Cell:
    """One run of the grid: a config (index + grid values) at one seed."""

    id: str  # the run folder's name
    config_index: int
    values: dict[str, Any]
    seed: int
    config: RunConfig


@dataclass(frozen=True)
class SweepSpec:
    """base config, grid (field -> values, in order), seeds: everything that defines cells.
    `follow`: the settings not given that each cell takes from its architecture's recipe (a
    grid over arch; bedash.settings.recipes)."""

    base: RunConfig
    grid: dict[str, list[Any]]
    seeds: list[int]
    follow: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        known = {f.name for f in dataclasses.fields(RunConfig)}
        for name, values in self.grid.items():
            if name not in known:
                raise SweepError(name, "is not a setting")
            if name not in SWEEPABLE:
                raise SweepError(name, "takes one value; it cannot be a list in a sweep")
            if not values:
                raise SweepError(name, "empty list: give at least one value")
            if len({json.dumps(v) for v in values}) != len(values):
                raise SweepError(name, f"lists a value twice ({values})")
        if not self.seeds:
            raise SweepError("seeds", "empty list: give at least one seed")
        recipes = {s.name for s in config_fields() if s.recipe}  # what a recipe may set
        for name in self.follow:  # a damaged sweep.json's
            if name not in recipes or name in self.grid:
                raise SweepError(name, "cannot be taken from the architecture's recipe")

    @property
    def n_configs(self) -> int:
        return math.prod(len(v) for v in self.grid.values())

    @property
    def n_cells(self) -> int:
        return self.n_configs * len(self.seeds)

    def configs(self) -> list[dict[str, Any]]:
        """The grid's value combinations, the last field varying fastest."""
        combos: list[dict[str, Any]] = [{}]
        for name, values in self.grid.items():
            combos = [{**c, name: v} for c in combos for v in values]
        return combos

    def config(self, values: dict[str, Any]) -> RunConfig:
        """The config of one combination of the grid's values."""
        return self.base.replace(**values).with_recipe(self.follow)

    def cells(self) -> list[Cell]:
        width = max(2, len(str(self.n_configs - 1)))
        out = []
        for i, values in enumerate(self.configs()):
            slug = _slug(values)
            cfg = self.config(values)
            for seed in self.seeds:
                cid = f"c{i:0{width}d}{'_' + slug if slug else ''}_s{seed}"
                out.append(Cell(cid, i, values, seed, cfg.replace(seed=seed)))
        return out

    def to_dict(self) -> dict[str, Any]:
        base = self.base.to_dict()
        base.pop("extra", None)
        base.pop("seed", None)  # the seeds are the grid's
        return {
            "base": base,
            "grid": {k: list(v) for k, v in self.grid.items()},
            "seeds": list(self.seeds),
            **({"follow": list(self.follow)} if self.follow else {}),  # older files: none
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepSpec:
        follow = tuple(data.get("follow", ()))
        return cls(
            RunConfig.from_dict(data["base"]), dict(data["grid"]), list(data["seeds"]), follow
        )


def _slug(values: dict[str, Any]) -> str:
    text = "_".join(f"{k}{v}" for k, v in values.items())
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text)[:80].strip("-._")


def cell_cap(limits: Limits, max_cells: int | None = None) -> int:
    """The most cells a grid may have: max_cells (default MAX_CELLS; SweepError('max_cells')
    outside 1..MAX_CELLS_CEILING), and at most DEMO_MAX_CELLS under the demo profile."""
    cap = max_cells if max_cells is not None else MAX_CELLS
    if not 1 <= cap <= MAX_CELLS_CEILING:
        raise SweepError("max_cells", f"must be from 1 to {MAX_CELLS_CEILING} (got {cap})")
    return min(cap, DEMO_MAX_CELLS) if limits.name == "demo" else cap


def check_size(n_configs: int, n_seeds: int, limits: Limits, max_cells: int | None = None) -> None:
    """SweepError('max_cells') when configs x seeds is over the cap: arithmetic, so that a
    typed size is refused before a list of its seeds or cells exists."""
    cap = cell_cap(limits, max_cells)
    if n_configs * n_seeds > cap:
        where = " (demo limit)" if limits.name == "demo" else ""
        raise SweepError(
            "max_cells",
            f"the grid has {n_configs * n_seeds} cells ({n_configs} configs x {n_seeds} "
            f"seeds), more than the limit of {cap}{where}",
        )


def check_cells(spec: SweepSpec, limits: Limits, max_cells: int | None = None) -> list[Cell]:
    """Every cell, validated (ConfigError names the field) and within the cell cap."""
    check_size(spec.n_configs, len(spec.seeds), limits, max_cells)
    cells = spec.cells()
    for cell in cells:
        cell.config.validate(limits)
    return cells


@dataclass
class CellOutcome:
    """What a cell's task sends back: its run files and where and how it ran."""

    cell_id: str
    status: str  # finished | diverged | failed | interrupted
    files: dict[str, bytes] = field(default_factory=dict)
    error: str = ""
    node: str = ""  # Ray node id ("local" in-process)
    host: str = ""
    started: float = 0.0  # time.time() on the worker
    ended: float = 0.0
    niceness: int | None = None  # the worker's os.nice(0): 0 is `bedash train`'s priority
    here: bool = False  # the run was written in the sweep folder as it went (files: none)


# what an engine calls as a cell starts (cell id, where) and ends (its outcome, where)
Started = Callable[[str, dict[str, Any]], None]
Ended = Callable[[CellOutcome, dict[str, Any]], None]
# what a cell reports while it trains: cell id, {model, member, epoch, epochs, step, steps, loss}
Progress = Callable[[str, dict[str, Any]], None]
