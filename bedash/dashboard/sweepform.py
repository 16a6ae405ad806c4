"""The Sweeps page's grid input: comma lists per sweepable field and a seed range, parsed into
a SweepSpec; every problem is a SweepError/ConfigError that names the field. No streamlit."""

from __future__ import annotations

from typing import Any

from bedash.settings.config import RunConfig, spec
from bedash.sweep.grid import SWEEPABLE, SweepError, SweepSpec, parse_seeds

MAX_PAGE_CELLS = 64  # the page's own bound (the demo's is lower: bedash.sweep.grid.DEMO_MAX_CELLS)


def _convert(name: str, text: str) -> Any:
    s = spec(name)
    text = text.strip()
    if s.kind == "int":
        if s.optional and text.lower() in ("all", "none"):
            return None
        try:
            return int(text)
        except ValueError:
            raise SweepError(name, f"{text[:20]!r} is not a whole number") from None
    if s.kind == "float":
        try:
            return float(text)
        except ValueError:
            raise SweepError(name, f"{text[:20]!r} is not a number") from None
    return text


def parse_grid(base: RunConfig, texts: dict[str, str], seeds: str) -> SweepSpec:
    """texts: field -> '1,2,4' ('' keeps the base value). A field that is not sweepable
    and is given more than one value raises SweepError naming it."""
    grid: dict[str, list[Any]] = {}
    values: dict[str, Any] = {}
    for name, text in texts.items():
        parts = [p for p in str(text or "").split(",") if p.strip()]
        if not parts:
            if str(text or "").strip():
                raise SweepError(name, "empty list: give at least one value")
            continue
        converted = [_convert(name, p) for p in parts]
        if name not in SWEEPABLE:
            if len(converted) > 1:
                raise SweepError(name, "takes one value; it cannot be a list in a sweep")
            values[name] = converted[0]
        elif len(converted) == 1:
            values[name] = converted[0]
        else:
            grid[name] = converted
    return SweepSpec(base.replace(**values), grid, parse_seeds(seeds))
