"""The Sweeps page's grid input parsed into a SweepSpec as `bedash sweep` parses its flags;
every problem is a SweepError that names the field. No streamlit."""

from __future__ import annotations

import math
from typing import Any

from bedash.names import ConfigError
from bedash.settings.config import RunConfig, spec, sweep_values
from bedash.settings.limits import DEFAULT_LIMITS, Limits
from bedash.sweep.grid import SweepError, SweepSpec, check_size, parse_seeds, seed_count

MAX_PAGE_CELLS = 64  # the page's own bound (the demo's is lower: bedash.sweep.grid.DEMO_MAX_CELLS)


def parse_grid(
    base: RunConfig,
    texts: dict[str, str],
    seeds: str,
    limits: Limits = DEFAULT_LIMITS,
    max_cells: int = MAX_PAGE_CELLS,
) -> SweepSpec:
    """texts: field -> '1,2,4' ('' keeps the base value). Its size is checked against the
    cap (the page's, the profile's) before its seeds are listed."""
    grid: dict[str, list[Any]] = {}
    values: dict[str, Any] = {}
    for name, text in texts.items():
        if not str(text or "").strip():
            continue
        try:
            converted = sweep_values(spec(name), str(text))
        except ConfigError as e:  # the page reports a sweep's input as the sweep's
            raise SweepError(e.field, e.message) from None
        if len(converted) == 1:
            values[name] = converted[0]
        else:
            grid[name] = converted
    check_size(math.prod(len(v) for v in grid.values()), seed_count(seeds), limits, max_cells)
    return SweepSpec(base.replace(**values), grid, parse_seeds(seeds))
