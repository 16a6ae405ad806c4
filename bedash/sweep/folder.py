"""A sweep folder: sweep.json (the grid and every cell's status) and the cells' run folders.
SweepStore is the folder's only writer; the Runs and Results pages read the run folders
unchanged."""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bedash.store.atomic import atomic_write_bytes, atomic_write_text
from bedash.store.folders import is_run_dir, is_run_file
from bedash.sweep.grid import CELL_STATUSES, DONE_STATUSES, Cell, SweepError, SweepSpec

SWEEP_FILE, SUMMARY_FILE, PAIRED_FILE = "sweep.json", "summary.csv", "paired.csv"
SWEEP_FORMAT = "bedash-sweep"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class SweepStore:
    """sweep.json and the cells' run folders; the only writer of the sweep folder."""

    def __init__(self, path: Path, spec: SweepSpec, cells: list[Cell], state: dict[str, Any]):
        self.path, self.spec, self.cells = path, spec, cells
        self.state = state  # the JSON document
        self._lock = threading.Lock()
        self._entries = {e["id"]: e for e in state["cells"]}

    # construction

    @classmethod
    def open(cls, path: str | Path, spec: SweepSpec, cells: list[Cell]) -> SweepStore:
        """A new sweep folder, or the existing one for the same grid (SweepError otherwise)."""
        p = Path(path)
        check_out(p, spec)
        if (p / SWEEP_FILE).is_file():
            state = read_sweep_json(p)
            known = {c["id"]: c for c in state.get("cells", [])}
            state["cells"] = [known.get(c.id) or _cell_entry(c) for c in cells]
            store = cls(p, spec, cells, state)
            store._recheck_done()
            return store
        p.mkdir(parents=True, exist_ok=True)
        state = {"format": SWEEP_FORMAT, "version": 1, "created": now(), "updated": now()}
        state |= {"status": "pending", **spec.to_dict(), "engine": {}}
        state["cells"] = [_cell_entry(c) for c in cells]
        store = cls(p, spec, cells, state)
        store.save()
        return store

    def _recheck_done(self) -> None:
        """A cell kept as done must still have its results; otherwise it runs again."""
        for entry in self.state["cells"]:
            done = entry["status"] in DONE_STATUSES
            if done and not (self.path / entry["id"] / "results.csv").is_file():
                entry["status"] = "pending"

    # state

    def entry(self, cell_id: str) -> dict[str, Any]:
        return self._entries[cell_id]

    def todo(self) -> list[Cell]:
        return [c for c in self.cells if self.entry(c.id)["status"] not in DONE_STATUSES]

    def done(self) -> list[Cell]:
        return [c for c in self.cells if self.entry(c.id)["status"] in DONE_STATUSES]

    def counts(self) -> dict[str, int]:
        return count_statuses(self.state["cells"])

    def update(self, cell_id: str, **changes: Any) -> None:
        with self._lock:
            self.entry(cell_id).update(changes)
            self.save()

    def save(self) -> None:
        self.state["updated"] = now()
        atomic_write_text(self.path / SWEEP_FILE, json.dumps(self.state, indent=2))

    # cells' files

    def write_run(self, cell_id: str, files: dict[str, bytes], meta: dict[str, Any]) -> None:
        """Replace the cell's run files with what its task sent; meta goes into config.json
        `_meta.sweep`. status.json is written last, so a reader never sees a finished run
        with missing files."""
        folder = self.path / cell_id
        folder.mkdir(exist_ok=True)
        for old in folder.iterdir():  # an earlier, failed or interrupted attempt
            if old.is_file() and is_run_file(old.name) and old.name not in files:
                old.unlink()
        names = sorted(files, key=lambda n: (n == "status.json", n != "config.json", n))
        for name in names:
            if "/" in name or name.startswith(".") or not is_run_file(name):
                continue  # only run files, only into this folder
            data = files[name]
            if name == "config.json" and meta:
                config = json.loads(data.decode("utf-8"))
                config.setdefault("_meta", {})["sweep"] = meta
                data = json.dumps(config, indent=2).encode("utf-8")
            atomic_write_bytes(folder / name, data)


def check_out(path: str | Path, spec: SweepSpec) -> None:
    """Raise SweepError('out' or the differing field) unless path can hold this sweep: new,
    empty, or a sweep of the same grid (to resume). Writes nothing."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise SweepError("out", f"{p} exists and is not a folder")
    if (p / SWEEP_FILE).is_file():
        _check_same_grid(p, SweepSpec.from_dict(read_sweep_json(p)), spec)
    elif p.is_dir() and any(p.iterdir()):
        raise SweepError(
            "out", f"{p} is not empty and holds no sweep (no {SWEEP_FILE}); choose a new folder"
        )


def _cell_entry(cell: Cell) -> dict[str, Any]:
    entry = {"id": cell.id, "config": cell.config_index, "values": cell.values, "seed": cell.seed}
    return entry | {"status": "pending", "attempts": 0}


def read_sweep_json(path: str | Path) -> dict[str, Any]:
    """The sweep.json of a sweep folder; SweepError('out') when it is not one."""
    p = Path(path)
    f = p / SWEEP_FILE
    try:
        state = json.loads(f.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SweepError("out", f"{p} is not a sweep folder (no {SWEEP_FILE})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SweepError("out", f"{f} cannot be read ({e})") from None
    if not isinstance(state, dict) or state.get("format") != SWEEP_FORMAT:
        raise SweepError("out", f"{f} is not a bedash sweep file")
    try:
        SweepSpec.from_dict(state)
    except (KeyError, TypeError, ValueError) as e:
        raise SweepError("out", f"{f} holds no valid grid ({e})") from None
    return state


def is_sweep_dir(path: str | Path) -> bool:
    return (Path(path) / SWEEP_FILE).is_file()


def _check_same_grid(path: Path, old: SweepSpec, new: SweepSpec) -> None:
    """Resuming must not silently change what the cells mean: name the first difference."""
    a, b = old.to_dict(), new.to_dict()
    if a["grid"] != b["grid"]:
        names = list(dict.fromkeys([*a["grid"], *b["grid"]]))
        name = next(n for n in names if a["grid"].get(n) != b["grid"].get(n))
        there = a["grid"].get(name, a["base"].get(name))
        raise SweepError(name, _differs(path, there, b["grid"].get(name, b["base"].get(name))))
    if a["seeds"] != b["seeds"]:
        raise SweepError("seeds", _differs(path, a["seeds"], b["seeds"]))
    for name in a["base"]:
        if a["base"][name] != b["base"].get(name):
            raise SweepError(name, _differs(path, a["base"][name], b["base"].get(name)))


def _differs(path: Path, there: Any, here: Any) -> str:
    return (
        f"differs from the sweep in {path} ({json.dumps(there)} there, {json.dumps(here)} here); "
        "resume with the same settings, or choose a new folder"
    )


def spec_from_sweep(path: str | Path) -> SweepSpec:
    """The grid stored in a sweep folder (to resume it without repeating the flags)."""
    return SweepSpec.from_dict(read_sweep_json(path))


def run_dirs(path: str | Path) -> list[Path]:
    """The cells' run folders that exist in a sweep folder."""
    state = read_sweep_json(path)
    return [Path(path) / c["id"] for c in state["cells"] if is_run_dir(Path(path) / c["id"])]


@dataclass
class SweepSnapshot:
    """What a page shows of a sweep: its status and every cell's, as sweep.json says."""

    path: Path
    status: str  # pending | running | finished | failed | interrupted (| queued: its job's)
    counts: dict[str, int]
    cells: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""  # why the sweep itself stopped (not a cell's error)

    @property
    def done(self) -> int:
        return sum(self.counts.get(s, 0) for s in DONE_STATUSES)

    @property
    def total(self) -> int:
        return len(self.cells)


def read_snapshot(path: str | Path) -> SweepSnapshot:
    """The sweep folder's state now; status failed, with the reason, when it cannot be read."""
    try:
        state = read_sweep_json(path)
    except SweepError as e:
        return SweepSnapshot(Path(path), "failed", {}, [], e.message)
    cells = state.get("cells", [])
    return SweepSnapshot(Path(path), str(state.get("status", "")), count_statuses(cells), cells)


def count_statuses(cells: list[dict[str, Any]]) -> dict[str, int]:
    """How many cells have each status (every known status, 0 included)."""
    return {**dict.fromkeys(CELL_STATUSES, 0), **Counter(c["status"] for c in cells)}
