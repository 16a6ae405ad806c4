"""Every sweep in one home, and its cells as runs: what the Sweeps page lists and the Runs page
shows grouped under their sweep.

Sweeps live in the runs folder (`bedash sweep` and the dashboard alike). Sweeps that an older
`bedash sweep` wrote to `./sweeps` are found there too, never moved. Each folder is read through
the sweep folder's checked reader (`read_snapshot`) and the run store's (`read_run`); a folder
that cannot be read is listed with the reason, never breaks the listing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from bedash.names import MODEL_LABELS
from bedash.store.folders import valid_run_id
from bedash.store.readers import FileProblem, safe_text
from bedash.store.runs import RunInfo, read_run
from bedash.store.sweepfiles import read_stats
from bedash.sweep.folder import PAIRED_FILE, is_sweep_dir, read_snapshot, read_sweep_json
from bedash.sweep.grid import SweepError

LEGACY = Path("sweeps")  # where `bedash sweep` put sweeps before they lived in the runs folder
HEADLINE = "ensemble_acc"  # the metric whose paired verdicts the list shows


@dataclass(frozen=True)
class SweepInfo:
    """One row of the list of sweeps; every text is safe to show."""

    name: str
    path: Path
    status: str
    done: int
    total: int
    grid: str  # "members 1, 4 · 3 seeds"
    started: str
    verdict: str  # the paired verdicts on ensemble accuracy, or why there are none yet


def sweep_roots(home: str | os.PathLike) -> list[Path]:
    """The home, and ./sweeps when it holds sweeps from before (and is not the home itself)."""
    roots = [Path(home)]
    if LEGACY.is_dir() and LEGACY.resolve() != roots[0].resolve():
        roots.append(LEGACY)
    return roots


def find_sweep(name: str, home: str | os.PathLike) -> Path | None:
    """The sweep folder called name in the home (else in ./sweeps), or None."""
    if not valid_run_id(name):
        return None
    return next((r / name for r in sweep_roots(home) if is_sweep_dir(r / name)), None)


def _sweep_dirs(root: Path) -> list[Path]:
    try:
        entries = list(os.scandir(root))
    except OSError:  # a missing or unreadable root lists nothing here; the Runs page says why
        return []
    found = []
    for e in entries:
        try:
            if valid_run_id(e.name) and e.is_dir(follow_symlinks=False) and is_sweep_dir(e.path):
                found.append(Path(e.path))
        except OSError:
            continue
    return found


def _grid_text(state: dict) -> str:
    grid = state.get("grid", {})
    parts = [f"{k} {', '.join(map(str, v))}" for k, v in grid.items() if isinstance(v, list)]
    seeds = state.get("seeds", [])
    return " · ".join([*parts, f"{len(seeds)} seed{'s' * (len(seeds) != 1)}"])


def _verdict(path: Path, done: int) -> str:
    try:
        _, rows = read_stats(path / PAIRED_FILE, paired=True)
    except FileNotFoundError:
        return "no statistics yet" if done else "no cell done yet"
    except (FileProblem, OSError) as e:
        return f"paired.csv cannot be read ({safe_text(str(e), 120)})"
    rows = [r for r in rows if r["metric"] == HEADLINE]
    configs = {r["config"] for r in rows}
    if len(configs) > 1:
        return f"{len(configs)} configs: open the sweep"
    label = MODEL_LABELS.get
    return "; ".join(
        f"{label(r['model'], r['model'])} vs {label(r['baseline'], r['baseline'])}: {r['verdict']}"
        for r in rows
    )


def read_sweep(path: Path) -> SweepInfo:
    """One sweep folder as the list shows it; a folder that cannot be read says why."""
    snap = read_snapshot(path)
    try:
        state = read_sweep_json(path)
    except SweepError as e:
        return SweepInfo(safe_text(path.name), path, "damaged", 0, 0, "", "", e.message)
    started = state.get("created", "")
    return SweepInfo(
        safe_text(path.name),
        path,
        snap.status,
        snap.done,
        snap.total,
        safe_text(_grid_text(state), 300),
        started if isinstance(started, str) else "",
        safe_text(_verdict(path, snap.done), 500),
    )


def list_sweeps(home: str | os.PathLike) -> list[SweepInfo]:
    """Every sweep in the home and in ./sweeps, newest first."""
    found = [read_sweep(p) for root in sweep_roots(home) for p in _sweep_dirs(root)]
    return sorted(found, key=lambda s: (s.started, s.name), reverse=True)


def list_cells(home: str | os.PathLike) -> list[RunInfo]:
    """Every cell folder of every sweep, read as the run it is, with its sweep named."""
    cells = []
    for root in sweep_roots(home):
        for sweep in _sweep_dirs(root):
            try:
                ids = [c["id"] for c in read_sweep_json(sweep)["cells"]]
            except SweepError:
                continue  # the list of sweeps names the reason
            for cell in ids:
                if valid_run_id(cell) and os.path.isdir(sweep / cell):
                    cells.append(replace(read_run(sweep / cell), sweep=sweep.name))
    return cells
