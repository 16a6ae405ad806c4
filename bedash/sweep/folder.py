"""A sweep folder: sweep.json (the grid and every cell's status) and the cells' run folders.
SweepStore writes sweep.json and the files cells send back: it holds the run store's lock
(bedash.store.lock) on the folder for the sweep's life, writes atomically, never through a
link, and never removes a user's file (annotations.json). A cell running on the folder's machine
writes its own run folder as it goes, through the run store's writer and under that run's own
lock (<cell>/.bedash.lock, not the sweep's <sweep>/.bedash.lock). sweep.json is read against
its schema (`sweep_problem`) by every reader. The Runs and Results pages read the run folders
unchanged."""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bedash.names import ConfigError, FieldError
from bedash.settings.limits import DEFAULT_LIMITS, Limits
from bedash.store.annotations import FILE as ANNOTATIONS
from bedash.store.atomic import atomic_write_bytes, atomic_write_text
from bedash.store.folders import RUN_ID_RE, check_output_place, is_run_dir, is_run_file, who
from bedash.store.lock import LOCK_NAME, LockHeld, RunLock, holder, probe
from bedash.store.readers import (
    CSV_LIMIT,
    Choice,
    FileProblem,
    Int,
    Match,
    Schema,
    Text,
    read_bytes,
    read_json,
    record_problem,
    required,
    safe_text,
)
from bedash.sweep.grid import (
    CELL_STATUSES,
    DONE_STATUSES,
    MAX_CELLS_CEILING,
    Cell,
    SweepError,
    SweepSpec,
    SweepStopped,
    check_size,
)

SWEEP_FILE, SUMMARY_FILE, PAIRED_FILE = "sweep.json", "summary.csv", "paired.csv"
SWEEP_JSON_LIMIT = 64 << 20  # bytes of sweep.json read (10,000 cells with progress: ~6 MB)
SWEEP_FORMAT = "bedash-sweep"
SWEEP_STATUSES = ("pending", "running", "finished", "failed", "interrupted")
USER_FILES = (ANNOTATIONS,)  # a user's, in a cell's folder: never removed nor replaced
SEED = Int(0, 2**31 - 1)  # as parse_seeds allows
# sweep.json (keys not named are free: created, engine...); base, grid, seeds and cells are
# checked by sweep_problem, each cell's entry against CELL_ENTRY
SWEEP_JSON: Schema = {
    "format": required(Choice((SWEEP_FORMAT,))),
    "version": Int(1, 1),
    "status": Choice(SWEEP_STATUSES),
}
CELL_ENTRY: Schema = {
    "id": required(Match(RUN_ID_RE, "a cell's folder name")),
    "config": required(Int(0, 2**63 - 1)),
    "seed": required(SEED),
    "status": required(Choice(CELL_STATUSES)),
    "attempts": Int(0, 2**63 - 1),
    "error": Text(),
}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class SweepStore:
    """sweep.json and the cells' run folders; the only writer of the sweep folder."""

    def __init__(
        self, path: Path, spec: SweepSpec, cells: list[Cell], state: dict[str, Any], lock: RunLock
    ):
        self.path, self.spec, self.cells = path, spec, cells
        self.state = state  # the JSON document
        self._lock = threading.Lock()
        self._folder_lock = lock  # the run store's lock on the whole folder: one writer
        self._entries = {e["id"]: e for e in state["cells"]}
        # the folder itself, held open: sweep.json follows it when it is moved mid-sweep
        self._fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.kept = 0  # cells done as the last sweep.json written says

    # construction

    @classmethod
    def open(cls, path: str | Path, spec: SweepSpec, cells: list[Cell]) -> SweepStore:
        """A new sweep folder, or the existing one for the same grid (SweepError otherwise),
        locked until close(): SweepError('out') naming the holder when another process (or
        another sweep of this one) writes it."""
        p = Path(path)
        check_out(p, spec)  # refuse before making anything
        lock = RunLock(p)
        try:
            p.mkdir(parents=True, exist_ok=True)
            lock.acquire()
        except LockHeld as e:
            raise busy(p, e.holder) from None
        except OSError as e:
            raise SweepError("out", f"cannot write to {p}: {e.strerror or e}") from None
        try:  # again under the lock: another sweep may have written the folder meanwhile
            check_out(p, spec, locked=True)
            return cls._open_locked(p, spec, cells, lock)
        except BaseException:
            lock.release()
            raise

    @classmethod
    def _open_locked(cls, p: Path, spec: SweepSpec, cells: list[Cell], lock: RunLock) -> SweepStore:
        if os.path.lexists(p / SWEEP_FILE):
            state = read_sweep_json(p)
            known = {c["id"]: c for c in state["cells"]}
            state["cells"] = [known.get(c.id) or _cell_entry(c) for c in cells]
            store = cls(p, spec, cells, state, lock)
            store._recheck_done()
            return store
        state = {"format": SWEEP_FORMAT, "version": 1, "created": now(), "updated": now()}
        state |= {"status": "pending", **spec.to_dict(), "engine": {}}
        state["cells"] = [_cell_entry(c) for c in cells]
        store = cls(p, spec, cells, state, lock)
        store.save()
        return store

    def close(self) -> None:
        """Release the folder's lock (the sweep ended; a no-op when done twice)."""
        self._folder_lock.release()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def whereabouts(self) -> str:
        """ "" while the folder is at its path, else "moved" or "deleted" (by someone else)."""
        held = os.fstat(self._fd)
        if held.st_nlink == 0:
            return "deleted"
        try:
            return "" if os.path.samestat(os.stat(self.path), held) else "moved"
        except OSError:
            return "moved"

    def stopped(self, e: OSError, path: Path) -> SweepStopped:
        """A failed write of path in the folder: the machine's failure, which stops the sweep."""
        return SweepStopped(f"{(e.strerror or type(e).__name__).lower()} writing {path}")

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
        """Write sweep.json (SweepStopped when it cannot be)."""
        self.state["updated"] = now()
        try:
            atomic_write_text(SWEEP_FILE, json.dumps(self.state, indent=2), folder_fd=self._fd)
        except OSError as e:
            raise self.stopped(e, self.path / SWEEP_FILE) from e
        self.kept = sum(e["status"] in DONE_STATUSES for e in self.state["cells"])

    # cells' files

    def write_run(self, cell_id: str, files: dict[str, bytes], meta: dict[str, Any]) -> None:
        """Replace the cell's run files with what its task sent; meta goes into config.json
        `_meta.sweep`. status.json is written last, so a reader never sees a finished run
        with missing files. ValueError for a link in the cell's place (the cell fails);
        SweepStopped when a write fails (the machine's failure: the sweep stops)."""
        folder = self.path / cell_id
        try:
            self._write_run(folder, files, meta)
        except OSError as e:
            raise self.stopped(e, Path(e.filename) if e.filename else folder) from e

    def stamp_run(self, cell_id: str, meta: dict[str, Any]) -> None:
        """Add meta to the config.json of a run the cell wrote here itself (as write_run does
        to one it sent); nothing when the cell ended before writing one."""
        folder = self.path / cell_id
        try:
            data = read_bytes(folder / "config.json", CSV_LIMIT)  # a regular file, no link
        except (FileProblem, OSError):
            return
        try:
            self._write_run(folder, {"config.json": data}, meta, replace=False)
        except OSError as e:
            raise self.stopped(e, folder / "config.json") from e

    def _write_run(
        self, folder: Path, files: dict[str, bytes], meta: dict[str, Any], replace: bool = True
    ) -> None:
        folder.mkdir(exist_ok=True)
        if os.path.islink(folder):  # swapped in since open(): its target is not ours
            raise ValueError(f"{folder} is a symbolic link; a sweep never writes through one")
        for old in folder.iterdir() if replace else ():  # an earlier, failed or interrupted try
            name = old.name
            if is_run_file(name) and name not in (*files, *USER_FILES) and old.is_file():
                old.unlink()  # a link is removed itself, never its target
        names = sorted(files, key=lambda n: (n == "status.json", n != "config.json", n))
        for name in names:
            if "/" in name or name.startswith(".") or not is_run_file(name) or name in USER_FILES:
                continue  # only the run's own files, only into this folder
            data = files[name]
            if name == "config.json" and meta:
                config = json.loads(data.decode("utf-8"))
                config.setdefault("_meta", {})["sweep"] = meta
                data = json.dumps(config, indent=2).encode("utf-8")
            atomic_write_bytes(folder / name, data)


def check_out(path: str | Path, spec: SweepSpec, *, locked: bool = False) -> None:
    """Raise SweepError('out' or the differing field) unless path can hold this sweep: new,
    empty, or a sweep of the same grid (to resume) that no live process writes (unless
    `locked`: the caller holds its lock) and whose cells' folders are no links. Writes
    nothing."""
    p = Path(path)
    check_output_place(p, "out")  # every command's check: a folder that can be written or made
    if not locked and p.is_dir() and probe(p):
        raise busy(p, holder(p))
    if os.path.lexists(p / SWEEP_FILE):
        _check_same_grid(p, SweepSpec.from_dict(read_sweep_json(p)), spec)
        ids = {c.id for c in spec.cells()}
        for entry in os.scandir(p):
            if entry.name in ids and entry.is_symlink():
                raise SweepError(
                    "out",
                    f"{p / entry.name} (a cell's folder) is a symbolic link; a sweep never "
                    "writes through one (its target is left alone): remove the link and resume",
                )
    elif p.is_dir() and any(n != LOCK_NAME for n in os.listdir(p)):
        raise SweepError(
            "out", f"{p} is not empty and holds no sweep (no {SWEEP_FILE}); choose a new folder"
        )


def busy(p: Path, record: dict[str, Any]) -> SweepError:
    return SweepError(
        "out",
        f"{p} is being written by another sweep ({who(record)}); wait for it to end, stop it, "
        "or choose another folder",
    )


def _cell_entry(cell: Cell) -> dict[str, Any]:
    entry = {"id": cell.id, "config": cell.config_index, "values": cell.values, "seed": cell.seed}
    return entry | {"status": "pending", "attempts": 0}


def read_sweep_json(path: str | Path) -> dict[str, Any]:
    """The sweep.json of a sweep folder, checked (`sweep_problem`): every reader's way in.
    SweepError('out') naming the file and the field when it is not one bedash could write."""
    p = Path(path)
    f = p / SWEEP_FILE
    name = safe_text(str(f), 300)
    try:
        # a regular file only: no link, FIFO or huge file. Not run files' 1 MiB cap: a cell's
        # entry is ~0.5 kB, and --max-cells allows 10,000 of them
        state = read_json(f, read_bytes(f, SWEEP_JSON_LIMIT))
    except FileNotFoundError:
        raise SweepError("out", f"{p} is not a sweep folder (no {SWEEP_FILE})") from None
    except FileProblem as e:
        raise SweepError("out", f"{name} cannot be read ({e})") from None
    except OSError as e:
        raise SweepError("out", f"{name} cannot be read ({e.strerror or e})") from None
    if problem := sweep_problem(name, state):
        raise SweepError("out", problem)
    return state


def sweep_problem(name: str, state: Any) -> str:
    """Why sweep.json's value (of the file `name`) is not one bedash could have written, or "":
    SWEEP_JSON's keys; a valid grid (SweepSpec) over unique seeds; cells a list of CELL_ENTRY
    objects with unique ids, of the grid's seeds and configs."""
    if problem := record_problem(name, state, SWEEP_JSON):
        return problem
    seeds = state.get("seeds")
    if not isinstance(seeds, list) or not all(SEED.accepts(s) for s in seeds):
        return f"{name} has a bad 'seeds': a list of whole numbers from 0 to {SEED.hi}"
    if len(set(seeds)) != len(seeds):
        return f"{name} has a bad 'seeds': it lists a seed twice ({safe_text(seeds, 80)})"
    for key in ("base", "grid"):
        if not isinstance(state.get(key), dict):
            return f"{name} has a bad '{key}': not a JSON object"
    if not all(isinstance(v, list) for v in state["grid"].values()):
        return f"{name} has a bad 'grid': each setting's values must be a list"
    try:
        spec = SweepSpec.from_dict(state)  # lists no config nor cell
    except FieldError as e:
        return f"{name} holds no valid grid ({safe_text(e.field, 40)}: {safe_text(e.message)})"
    except (TypeError, ValueError, RecursionError) as e:
        return f"{name} holds no valid grid ({safe_text(e)})"
    try:  # counted before anything is listed; the cap of --max-cells is checked by the caller
        check_size(spec.n_configs, len(seeds), DEFAULT_LIMITS, MAX_CELLS_CEILING)
    except SweepError as e:
        field = "seeds" if len(seeds) > MAX_CELLS_CEILING else "grid"
        return f"{name} has a bad '{field}': {e.message}"
    cells = state.get("cells")
    if not isinstance(cells, list):
        return f"{name} has a bad 'cells': not a list"
    ids: set[str] = set()
    for i, entry in enumerate(cells):
        where = f"{name} cells[{i}]"
        if problem := record_problem(where, entry, CELL_ENTRY):
            return problem
        if entry["id"] in ids:
            return f"{where} repeats the 'id' {entry['id']}"
        if entry["seed"] not in seeds or entry["config"] >= spec.n_configs:
            field = "seed" if entry["seed"] not in seeds else "config"
            return f"{where} has a bad '{field}': {entry[field]} is not in the grid"
        if not isinstance(entry.get("values", {}), dict):
            return f"{where} has a bad 'values': not a JSON object"
        ids.add(entry["id"])
    return ""


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
    fa, fb = a.get("follow", []), b.get("follow", [])
    if moved := sorted(set(fa) ^ set(fb)):  # given here, left to the arch's recipe there
        name, recipe = moved[0], "each architecture's recipe"
        there = recipe if name in fa else a["base"][name]
        raise SweepError(name, _differs(path, there, recipe if name in fb else b["base"][name]))
    for name in a["base"]:
        if a["base"][name] != b["base"].get(name):
            raise SweepError(name, _differs(path, a["base"][name], b["base"].get(name)))


def _differs(path: Path, there: Any, here: Any) -> str:
    return (
        f"differs from the sweep in {path} ({json.dumps(there)} there, {json.dumps(here)} here); "
        "resume with the same settings, or choose a new folder"
    )


def spec_from_sweep(path: str | Path, limits: Limits | None = None) -> SweepSpec:
    """The grid stored in a sweep folder (to resume it without repeating the flags). With
    limits, each config is checked against them: no flag gave a bad value there, so the
    SweepError names the file ('out'), not the setting's flag."""
    spec = SweepSpec.from_dict(read_sweep_json(path))
    for values in spec.configs() if limits is not None else ():
        try:
            spec.config(values).validate(limits)
        except ConfigError as e:
            where = safe_text(str(Path(path) / SWEEP_FILE), 300)
            raise SweepError("out", f"{where} holds a bad {e.field}: {e.message}") from None
    return spec


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
    cells, status = state["cells"], str(state.get("status", ""))
    if probe(Path(path)) is False:  # no live process writes it: what says running was cut short
        status = "interrupted" if status == "running" else status  # (a full disk, a kill -9)
        cells = [{**c, "status": "interrupted"} if c["status"] == "running" else c for c in cells]
    return SweepSnapshot(Path(path), status, count_statuses(cells), cells)


def count_statuses(cells: list[dict[str, Any]]) -> dict[str, int]:
    """How many cells have each status (every known status, 0 included)."""
    return {**dict.fromkeys(CELL_STATUSES, 0), **Counter(c["status"] for c in cells)}
