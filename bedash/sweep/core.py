"""Seed sweeps: a grid of ordinary runs in one folder, plus sweep.json, summary.csv, paired.csv
(and, for cells evaluated under shift, the same statistics of shift.csv and ood.csv:
bedash.sweep.uncertainty_stats).

A grid is RunConfig fields given as lists, times seeds. Each cell is a run folder inside the
sweep folder (the Runs and Results pages read it unchanged). The driver here expands the grid,
skips finished cells, hands the rest to an engine (bedash.sweep.engines: Ray tasks, or in-process)
and writes what each cell's task sends back with the run store's atomic writes: one writer
per folder, so workers need no shared filesystem. This module never imports torch.
"""

# Size: ~600 lines: the grid, the sweep folder and its statistics are one format (sweep.json,
# summary.csv, paired.csv) that must stay consistent on resume; the engines live in engine.py.

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bedash.names import RESULT_COLUMNS, FieldError
from bedash.settings.config import DEFAULT_LIMITS, Limits, RunConfig, config_fields
from bedash.store.atomic import atomic_write_bytes, atomic_write_text
from bedash.store.folders import is_run_dir, is_run_file
from bedash.store.writer import csv_text  # one way to write a CSV cell (None, NaN -> empty)
from bedash.sweep.stats import better_direction, paired, summarize, verdict

SWEEP_FILE, SUMMARY_FILE, PAIRED_FILE = "sweep.json", "summary.csv", "paired.csv"
SWEEP_FORMAT = "bedash-sweep"
MAX_CELLS = 1000  # a bigger grid is a typo more often than a plan (--max-cells raises it)
DEMO_MAX_CELLS = 8  # the hosted demo: a few tiny cells, one after another, in-process
CELL_STATUSES = ("pending", "running", "finished", "diverged", "failed", "interrupted")
DONE_STATUSES = ("finished", "diverged")  # kept on resume; the others run again
# Fields a grid may list: those RunConfig's metadata marks sweepable, except the seed
# (--seeds lists it for every config). The rest (data location, model kinds: every cell
# trains all of them, which is what pairs them; device; speed knobs) take one value.
SWEEPABLE = tuple(s.name for s in config_fields() if s.sweepable and s.name != "seed")
# results.csv columns that describe a run rather than measure it
DESCRIPTIVE = ("model", "status", "members", "arch", "hidden", "layers", "epochs", "batch_size",
               "dataset", "device", "seed")  # fmt: skip
BASELINES = ("ensemble", "ensemble_parallel", "single")  # what BatchEnsemble is paired against


class SweepError(FieldError):
    """Bad sweep input; `field` is a RunConfig field or a sweep setting (seeds, out,
    address, max_cells, cpus_per_run...)."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# -- the grid ----------------------------------------------------------------------------------


def parse_seeds(text: str) -> list[int]:
    """'0-4' -> [0..4]; '0,1,5'; '0-2,7'. SweepError('seeds') for anything else."""
    seeds: list[int] = []
    hint = "use e.g. 0-4 or 0,1,2"
    for part in str(text).split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
        if not m:
            raise SweepError("seeds", f"malformed seed list {text!r} ({hint})")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise SweepError("seeds", f"malformed range {part!r}: {hi} < {lo} ({hint})")
        seeds.extend(range(lo, hi + 1))
    if len(set(seeds)) != len(seeds):
        raise SweepError("seeds", f"lists a seed twice ({text!r})")
    if any(s > 2**31 - 1 for s in seeds):
        raise SweepError("seeds", f"seeds must be at most {2**31 - 1}")
    return seeds


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
    """base config, grid (field -> values, in order), seeds: everything that defines cells."""

    base: RunConfig
    grid: dict[str, list[Any]]
    seeds: list[int]

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

    def cells(self) -> list[Cell]:
        width = max(2, len(str(self.n_configs - 1)))
        out = []
        for i, values in enumerate(self.configs()):
            slug = _slug(values)
            cfg = self.base.replace(**values)
            for seed in self.seeds:
                cid = f"c{i:0{width}d}{'_' + slug if slug else ''}_s{seed}"
                out.append(Cell(cid, i, values, seed, cfg.replace(seed=seed)))
        return out

    def to_dict(self) -> dict[str, Any]:
        base = self.base.to_dict()
        base.pop("extra", None)
        base.pop("seed", None)  # the seeds are the grid's
        return {"base": base, "grid": {k: list(v) for k, v in self.grid.items()},
                "seeds": list(self.seeds)}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepSpec:
        return cls(RunConfig.from_dict(data["base"]), dict(data["grid"]), list(data["seeds"]))


def _slug(values: dict[str, Any]) -> str:
    text = "_".join(f"{k}{v}" for k, v in values.items())
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text)[:80].strip("-._")


def check_cells(spec: SweepSpec, limits: Limits, max_cells: int | None = None) -> list[Cell]:
    """Every cell, validated (ConfigError names the field) and within the cell cap."""
    cap = max_cells if max_cells is not None else MAX_CELLS
    if limits.name == "demo":
        cap = min(cap, DEMO_MAX_CELLS)
    if spec.n_cells > cap:
        where = " (demo limit)" if limits.name == "demo" else ""
        raise SweepError(
            "max_cells",
            f"the grid has {spec.n_cells} cells ({spec.n_configs} configs x {len(spec.seeds)} "
            f"seeds), more than the limit of {cap}{where}",
        )
    cells = spec.cells()
    for cell in cells:
        cell.config.validate(limits)
    return cells


def check_files(cells: Sequence[Cell], *, download: bool = True, here: bool = True) -> None:
    """The files the cells need are there, else DatasetError naming the field before the sweep
    starts, not a failure in every cell: without downloads, what they would download
    (CIFAR-10, SVHN); when they run on this machine (here; a Ray cluster's workers have their
    own disks), what is never downloaded (CIFAR-10 as an OOD set)."""
    from bedash.data.offline import check_offline, check_on_disk
    from bedash.settings.config import parse_ood

    configs = (c.config for c in cells)
    for dataset, data_dir, ood in dict.fromkeys((c.dataset, c.data_dir, parse_ood(c.ood))
                                                for c in configs):  # fmt: skip
        if here:
            check_on_disk(data_dir, ood)
        if not download:
            check_offline(dataset, data_dir, ood)


# -- the sweep folder --------------------------------------------------------------------------


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
        state = {
            "format": SWEEP_FORMAT, "version": 1, "created": _now(), "updated": _now(),
            "status": "pending", **spec.to_dict(), "engine": {},
            "cells": [_cell_entry(c) for c in cells],
        }  # fmt: skip
        store = cls(p, spec, cells, state)
        store.save()
        return store

    def _recheck_done(self) -> None:
        """A cell kept as done must still have its results; otherwise it runs again."""
        for entry in self.state["cells"]:
            if (
                entry["status"] in DONE_STATUSES
                and not (self.path / entry["id"] / "results.csv").is_file()
            ):
                entry["status"] = "pending"

    # state

    def entry(self, cell_id: str) -> dict[str, Any]:
        return self._entries[cell_id]

    def todo(self) -> list[Cell]:
        return [c for c in self.cells if self.entry(c.id)["status"] not in DONE_STATUSES]

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(CELL_STATUSES, 0)
        for e in self.state["cells"]:
            out[e["status"]] = out.get(e["status"], 0) + 1
        return out

    def update(self, cell_id: str, **changes: Any) -> None:
        with self._lock:
            self.entry(cell_id).update(changes)
            self.save()

    def save(self) -> None:
        self.state["updated"] = _now()
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

    def write_stats(self) -> None:
        records = load_records(self)
        fields = list(self.spec.grid)
        summary = summary_rows(records, fields)
        pairs = paired_rows(records, fields)
        atomic_write_text(self.path / SUMMARY_FILE, csv_text(summary_columns(fields), summary))
        atomic_write_text(self.path / PAIRED_FILE, csv_text(paired_columns(fields), pairs))
        from bedash.sweep.uncertainty_stats import (
            write_uncertainty_stats,  # it builds on this module
        )

        write_uncertainty_stats(self, records)


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
    return {"id": cell.id, "config": cell.config_index, "values": cell.values,
            "seed": cell.seed, "status": "pending", "attempts": 0}  # fmt: skip


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
        there, here = (
            a["grid"].get(name, a["base"].get(name)),
            b["grid"].get(name, b["base"].get(name)),
        )
        raise SweepError(name, _differs(path, there, here))
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


# -- statistics over the cells -----------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One row of a done cell's results.csv (or of another of its tables: then `key` holds
    what the row measures besides its model, e.g. (corruption, severity) in shift.csv)."""

    config_index: int
    values: dict[str, Any]
    seed: int
    model: str
    metrics: dict[str, float]
    key: tuple[str, ...] = ()


def _floats(row: dict[str, str], metrics: Sequence[str] | None = None) -> dict[str, float]:
    """The row's finite numbers: of the columns `metrics`, or of every non-descriptive one."""
    out = {}
    for k, v in row.items():
        if (k not in metrics if metrics is not None else k in DESCRIPTIVE) or v in (None, ""):
            continue
        try:
            x = float(v)
        except ValueError:
            continue
        if math.isfinite(x):
            out[k] = x
    return out


def cell_rows(store: SweepStore, name: str) -> Iterator[tuple[Cell, list[dict[str, str]]]]:
    """(cell, rows of its file `name`) for every done cell that has the file."""
    for cell in store.cells:
        if store.entry(cell.id)["status"] not in DONE_STATUSES:
            continue
        f = store.path / cell.id / name
        try:
            rows = list(csv.DictReader(io.StringIO(f.read_text(encoding="utf-8"))))
        except (OSError, UnicodeDecodeError, csv.Error):
            continue
        yield cell, rows


def load_records(store: SweepStore) -> list[Record]:
    """The finished model rows of every done cell."""
    records = []
    for cell, rows in cell_rows(store, "results.csv"):
        for row in rows:
            if row.get("status") == "finished":
                records.append(Record(cell.config_index, cell.values, cell.seed, row["model"],
                                      _floats(row)))  # fmt: skip
    return records


def _metric_order(records: Iterable[Record]) -> list[str]:
    seen = dict.fromkeys(m for r in records for m in r.metrics)
    known = [c for c in RESULT_COLUMNS if c in seen]
    return known + sorted(m for m in seen if m not in known)


def config_label(values: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in values.items()) or "base config"


# key: the columns a table's rows are told apart by besides config and model (shift.csv:
# corruption, severity; ood.csv: ood_set, score); () for results.csv


def summary_columns(fields: list[str], key: Sequence[str] = ()) -> list[str]:
    return ["config", "label", *fields, "model", *key, "metric", "better", "mean", "std", "n",
            "ci_low", "ci_high"]  # fmt: skip


def paired_columns(fields: list[str], key: Sequence[str] = ()) -> list[str]:
    return ["config", "label", *fields, *key, "metric", "better", "model", "baseline",
            "mean_model", "mean_baseline", "mean_diff", "ci_low", "ci_high", "n",
            "verdict"]  # fmt: skip


def summary_rows(
    records: list[Record], fields: list[str], key: Sequence[str] = (),
    metrics: Sequence[str] | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Per config, model kind, key and metric: mean, std, n and the 95% t interval over seeds.
    metrics: which, in this order (default: every metric of the records, results.csv's order)."""
    metrics = list(metrics) if metrics is not None else _metric_order(records)
    groups: dict[tuple[int, str, tuple[str, ...]], list[Record]] = {}
    for r in records:
        groups.setdefault((r.config_index, r.model, r.key), []).append(r)
    rows = []
    for (index, model, k), group in sorted(groups.items(), key=lambda kv: kv[0][0]):
        values = group[0].values
        for metric in metrics:
            xs = [r.metrics[metric] for r in group if metric in r.metrics]
            if not xs:
                continue
            s = summarize(xs)
            rows.append({"config": index, "label": config_label(values),
                         **{f: values.get(f) for f in fields}, "model": model,
                         **dict(zip(key, k, strict=True)), "metric": metric,
                         "better": better_direction(metric), "mean": s.mean, "std": s.std,
                         "n": s.n, "ci_low": s.ci_low, "ci_high": s.ci_high})  # fmt: skip
    return rows


def paired_rows(
    records: list[Record], fields: list[str], model: str = "batchensemble",
    key: Sequence[str] = (), metrics: Sequence[str] | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Per config, key and metric: model minus each baseline, paired by seed (same seed, same
    batches), with the t interval of the mean difference and a verdict."""
    metrics = list(metrics) if metrics is not None else _metric_order(records)
    by = {(r.config_index, r.key, r.model, r.seed): r for r in records}
    configs = sorted({(r.config_index, json.dumps(r.values)) for r in records})
    kinds = {r.model for r in records}
    rows = []
    for index, values_json in configs:
        values = json.loads(values_json)
        seeds = sorted({r.seed for r in records if r.config_index == index})
        keys = list(dict.fromkeys(r.key for r in records if r.config_index == index))
        for k, metric in ((k, m) for k in keys for m in metrics):
            for base in (b for b in BASELINES if b in kinds and model in kinds):
                pairs = [
                    (
                        by[(index, k, model, s)].metrics.get(metric),
                        by[(index, k, base, s)].metrics.get(metric),
                    )
                    for s in seeds
                    if (index, k, model, s) in by and (index, k, base, s) in by
                ]
                pairs = [(x, y) for x, y in pairs if x is not None and y is not None]
                if not pairs:
                    continue
                d = paired([x for x, _ in pairs], [y for _, y in pairs])
                better = better_direction(metric)
                rows.append({"config": index, "label": config_label(values),
                             **{f: values.get(f) for f in fields},
                             **dict(zip(key, k, strict=True)), "metric": metric,
                             "better": better, "model": model, "baseline": base,
                             "mean_model": summarize([x for x, _ in pairs]).mean,
                             "mean_baseline": summarize([y for _, y in pairs]).mean,
                             "mean_diff": d.mean, "ci_low": d.ci_low, "ci_high": d.ci_high,
                             "n": d.n, "verdict": verdict(d, better, model, base)})  # fmt: skip
    return rows


# -- running -----------------------------------------------------------------------------------


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


@dataclass
class SweepEvent:
    """A change the driver reports: a cell started or ended (progress bars, the page)."""

    kind: str  # started | ended
    cell_id: str
    status: str
    counts: dict[str, int]
    done: int  # cells done (finished or diverged), this attempt's and earlier ones
    total: int
    elapsed: float  # seconds since this attempt started
    eta: float  # seconds left (inf until a cell of this attempt ended)
    error: str = ""


@dataclass
class SweepResult:
    path: Path
    status: str  # finished | failed (some cell failed) | interrupted
    counts: dict[str, int]


def run_sweep(
    spec: SweepSpec,
    out: str | Path,
    engine: Any,
    *,
    limits: Limits = DEFAULT_LIMITS,
    max_cells: int | None = None,
    cancel: threading.Event | None = None,
    on_event: Callable[[SweepEvent], None] | None = None,
) -> SweepResult:
    """Run (or resume) the sweep in out with engine (bedash.sweep.engines). Bad input raises
    SweepError/ConfigError before anything is written. A failing cell fails alone; cancel
    stops the running cells (marked interrupted) and returns; rerunning resumes."""
    cells = check_cells(spec, limits, max_cells)
    store = SweepStore.open(out, spec, cells)
    cancel = cancel or threading.Event()
    todo = store.todo()
    for c in todo:
        store.entry(c.id)["status"] = "pending"
    store.state["status"] = "running"
    store.state["engine"] = engine.describe()
    store.save()
    total, t0 = len(cells), time.monotonic()
    ended_now: list[float] = []

    def emit(kind: str, cell_id: str, status: str, error: str = "") -> None:
        if on_event is None:
            return
        counts = store.counts()
        done = sum(counts[s] for s in DONE_STATUSES)
        left = sum(counts[s] for s in ("pending", "running"))
        elapsed = time.monotonic() - t0
        eta = elapsed / len(ended_now) * left if ended_now else math.inf
        on_event(SweepEvent(kind, cell_id, status, counts, done, total, elapsed, eta, error))

    def started(cell_id: str, info: dict[str, Any]) -> None:
        entry = store.entry(cell_id)
        store.update(cell_id, status="running", attempts=entry.get("attempts", 0) + 1,
                     started=_now(), error="", **info)  # fmt: skip
        emit("started", cell_id, "running")

    def ended(outcome: CellOutcome, info: dict[str, Any]) -> None:
        where = {"node": outcome.node or info.get("node", ""),
                 "host": outcome.host or info.get("host", "")}  # fmt: skip
        meta = {"sweep": store.path.name, "cell": outcome.cell_id, "engine": engine.name,
                **info, **where}  # fmt: skip
        try:
            if outcome.files:
                store.write_run(outcome.cell_id, outcome.files, meta)
        except (OSError, ValueError) as e:  # a write failed: this cell fails, the rest go on
            outcome.status, outcome.error = "failed", f"cannot write the run: {e}"
        seconds = outcome.ended - outcome.started if outcome.ended else None
        store.update(outcome.cell_id, **{**info, **where}, status=outcome.status,
                     error=outcome.error, ended=_now(), seconds=seconds)  # fmt: skip
        ended_now.append(time.monotonic())
        if outcome.status in DONE_STATUSES:
            store.write_stats()
        emit("ended", outcome.cell_id, outcome.status, outcome.error)

    try:
        engine.run(todo, started=started, ended=ended, cancel=cancel)
    finally:
        interrupted = False
        for e in store.state["cells"]:
            if e["status"] == "running":  # the engine stopped without an answer for it
                e["status"], interrupted = "interrupted", True
        counts = store.counts()
        if cancel.is_set() or interrupted or counts["interrupted"] or counts["pending"]:
            status = "interrupted"
        elif counts["failed"]:
            status = "failed"
        else:
            status = "finished"
        store.state["status"] = status
        store.save()
        store.write_stats()
    return SweepResult(store.path, status, counts)


def spec_from_sweep(path: str | Path) -> SweepSpec:
    """The grid stored in a sweep folder (to resume it without repeating the flags)."""
    return SweepSpec.from_dict(read_sweep_json(path))


def run_dirs(path: str | Path) -> list[Path]:
    """The cells' run folders that exist in a sweep folder."""
    state = read_sweep_json(path)
    return [Path(path) / c["id"] for c in state["cells"] if is_run_dir(Path(path) / c["id"])]
