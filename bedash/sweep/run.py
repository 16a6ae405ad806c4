"""The sweep's run loop: expand the grid, skip finished cells, hand the rest to an engine, keep
each running cell's progress in sweep.json, and write what each cell sends back (a cell that
wrote its run in the sweep folder as it went sends no files). Resuming is running again on the
same folder. Never imports torch.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from bedash.data.offline import check_offline, check_on_disk
from bedash.estimate import remaining
from bedash.jobs.record import JobControl
from bedash.names import duration, parse_ood
from bedash.settings.limits import DEFAULT_LIMITS, Limits
from bedash.store.atomic import atomic_write_text
from bedash.store.readers import safe_text
from bedash.store.writer import csv_text
from bedash.sweep.folder import PAIRED_FILE, SUMMARY_FILE, SweepStore, now
from bedash.sweep.grid import (
    DONE_STATUSES,
    Cell,
    CellOutcome,
    Ended,
    Progress,
    Started,
    SweepError,
    SweepSpec,
    SweepStopped,
    check_cells,
)
from bedash.sweep.rows import (
    load_records,
    paired_columns,
    paired_rows,
    summary_columns,
    summary_rows,
)
from bedash.sweep.uncertainty_stats import uncertainty_tables


def check_files(cells: Sequence[Cell], *, download: bool = True, here: bool = True) -> None:
    """DatasetError naming the field before the sweep starts (not a failure in every cell) when
    the cells' files are missing: without downloads, what they would download; when they run
    here (a Ray cluster's workers have their own disks), what is never downloaded."""
    configs = (c.config for c in cells)
    for dataset, data_dir, ood in dict.fromkeys(
        (c.dataset, c.data_dir, parse_ood(c.ood)) for c in configs
    ):
        if here:
            check_on_disk(data_dir, ood)
        if not download:
            check_offline(dataset, data_dir, ood)


class Engine(Protocol):
    """Where cells run: run() returns once every cell ended or cancel is set; progress hears
    the running cells; a cell that can reach folder (the sweep's) writes its run there."""

    name: str

    def describe(self) -> dict[str, Any]: ...

    def run(
        self,
        cells: list[Cell],
        *,
        started: Started,
        ended: Ended,
        cancel: threading.Event,
        progress: Progress | None = None,
        folder: Path | None = None,
    ) -> None: ...


SAVE_EVERY = 1.0  # seconds: sweep.json is rewritten at most this often for progress alone


@dataclass
class SweepEvent:
    """A change the driver reports: a cell started, trained on, or ended (the bar, the page)."""

    kind: str  # started | progress | ended
    cell_id: str
    status: str
    counts: dict[str, int]
    done: int  # cells done (finished or diverged), this attempt's and earlier ones
    total: int
    elapsed: float  # seconds since this attempt started
    eta: float  # seconds left (inf until a cell of this attempt ended)
    error: str = ""
    progress: dict[str, Any] = field(default_factory=dict)  # kind progress: the cell's state


@dataclass
class SweepResult:
    path: Path
    status: str  # finished | failed (some cell failed) | interrupted
    counts: dict[str, int]


def run_sweep(
    spec: SweepSpec,
    out: str | Path,
    engine: Engine,
    *,
    limits: Limits = DEFAULT_LIMITS,
    max_cells: int | None = None,
    cancel: threading.Event | None = None,
    on_event: Callable[[SweepEvent], None] | None = None,
) -> SweepResult:
    """Run (or resume) the sweep in out with engine (bedash.sweep.engines). Bad input raises
    SweepError/ConfigError before anything is written. A failing cell fails alone; cancel
    stops the running cells (marked interrupted) and returns; rerunning resumes. A failure of
    the machine (a write in the folder, the folder gone, the engine broken) stops the sweep
    the same way, then raises SweepStopped naming it. The folder is locked for the whole
    sweep: a second writer gets SweepError('out') naming the first."""
    cells = check_cells(spec, limits, max_cells)
    store = SweepStore.open(out, spec, cells)
    try:
        return _drive(store, engine, cancel or threading.Event(), on_event)
    finally:
        store.close()


def _drive(
    store: SweepStore,
    engine: Engine,
    cancel: threading.Event,
    on_event: Callable[[SweepEvent], None] | None,
) -> SweepResult:
    """run_sweep's loop, on the folder it locked."""
    cells = store.cells
    todo = store.todo()
    for c in todo:
        store.entry(c.id)["status"] = "pending"
    store.state["status"] = "running"
    store.state["engine"] = engine.describe()
    store.save()
    total, t0 = len(cells), time.monotonic()
    ended_now: list[float] = []
    saved = [time.monotonic()]

    def emit(kind: str, cell_id: str, status: str, error: str = "", state: Any = None) -> None:
        if on_event is None:
            return
        counts = store.counts()
        done = sum(counts[s] for s in DONE_STATUSES)
        left = sum(counts[s] for s in ("pending", "running"))
        elapsed = time.monotonic() - t0
        eta = remaining(len(ended_now), len(ended_now) + left, elapsed)
        event = SweepEvent(kind, cell_id, status, counts, done, total, elapsed, eta, error)
        on_event(event if state is None else replace(event, progress=state))

    def progress(cell_id: str, state: dict[str, Any]) -> None:
        """A running cell's model, epoch and loss: into sweep.json (at most every SAVE_EVERY
        seconds, and at an epoch's end), and to on_event."""
        entry = store.entry(cell_id)
        if entry["status"] != "running":  # a late report of a cell that ended
            return
        entry["progress"] = state = progress_state(state)
        if state.get("step") == state.get("steps") or time.monotonic() - saved[0] >= SAVE_EVERY:
            store.update(cell_id)
            saved[0] = time.monotonic()
        emit("progress", cell_id, "running", state=state)

    def started(cell_id: str, info: dict[str, Any]) -> None:
        if store.whereabouts():  # moved or deleted: no cell's files could be written
            raise SweepStopped(f"the sweep folder {store.path} is gone")
        attempts = store.entry(cell_id).get("attempts", 0) + 1
        store.update(cell_id, status="running", attempts=attempts, started=now(), error="", **info)
        emit("started", cell_id, "running")

    def ended(outcome: CellOutcome, info: dict[str, Any]) -> None:
        info = {**info, "node": outcome.node or info.get("node", "")}
        info["host"] = outcome.host or info.get("host", "")
        info["niceness"] = outcome.niceness  # above 0 (Ray's default 15): its times are flagged
        meta = {"sweep": store.path.name, "cell": outcome.cell_id, "engine": engine.name, **info}
        try:  # an OSError is SweepStopped: the sweep stops, this cell stays to resume
            if outcome.here:
                store.stamp_run(outcome.cell_id, meta)
            elif outcome.files:
                store.write_run(outcome.cell_id, outcome.files, meta)
        except ValueError as e:  # a link in the cell's place: this cell fails, the rest go on
            outcome.status, outcome.error = "failed", f"cannot write the run: {e}"
        seconds = outcome.ended - outcome.started if outcome.ended else None
        status, error = outcome.status, outcome.error
        store.update(
            outcome.cell_id, **info, status=status, error=error, ended=now(), seconds=seconds
        )
        ended_now.append(time.monotonic())
        if outcome.status in DONE_STATUSES:
            write_stats(store)
        emit("ended", outcome.cell_id, outcome.status, outcome.error)

    failure = ""
    try:
        engine.run(todo, started=started, ended=ended, cancel=cancel, progress=progress,
                   folder=store.path)  # fmt: skip
    except SweepStopped as e:
        failure = str(e)
    except SweepError:  # bad input found late (an engine's address): not the machine's failure
        raise
    except Exception as e:  # the engine broke (Ray's processes gone...): no cell's fault
        first = str(e).strip().splitlines()[:1]
        failure = f"the {engine.name} engine failed ({': '.join([type(e).__name__, *first])})"
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
        try:
            store.save()
            if not failure:  # after one, the cells' files may be out of reach
                write_stats(store)
        except SweepStopped as e:
            failure = failure or str(e)
    if failure:
        raise SweepStopped(stop_message(store, safe_text(failure, 500)))
    return SweepResult(store.path, status, counts)


PROGRESS_KEYS = ("model", "member", "epoch", "epochs", "step", "steps", "loss")


def progress_state(state: dict[str, Any]) -> dict[str, Any]:
    """A cell's report as sweep.json keeps it: the known keys, finite numbers (a diverged
    loss is null) and a short model name (a cluster's worker is not trusted blindly)."""
    out: dict[str, Any] = {}
    for key in PROGRESS_KEYS:
        v = state.get(key)
        if key == "model":
            out[key] = safe_text(v, 40) if isinstance(v, str) else ""
        elif isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            out[key] = v if key == "loss" else int(v)
        else:
            out[key] = None
    return out


def progress_text(state: dict[str, Any]) -> str:
    """ "batchensemble epoch 2/5 loss 1.234" (a sequential ensemble's member: "ensemble
    member 1 epoch 2/5 ...") from a running cell's report."""
    member = state.get("member")
    words = [str(state.get("model") or "starting")]
    words += [f"member {member}"] if member is not None else []
    if state.get("epoch"):
        words.append(f"epoch {state['epoch']}/{state.get('epochs') or '?'}")
    if isinstance(state.get("loss"), float | int):
        words.append(f"loss {state['loss']:.4g}")
    return " ".join(words)


def stop_message(store: SweepStore, failure: str) -> str:
    """The one line of a sweep the machine stopped: what failed, what is kept, how to go on."""
    where, done = store.whereabouts(), f"{store.kept} of {len(store.cells)} cells done"
    if where == "deleted":
        return f"the sweep folder {store.path} was deleted while the sweep ran"
    if where == "moved":
        return (
            f"the sweep folder {store.path} was moved while the sweep ran; {done} are kept in "
            "it; resume with --out at its new place"
        )
    return f"{failure}; {done} are kept; resume with the same command"


def write_stats(store: SweepStore) -> None:
    """(Re)write every statistics file of the sweep folder from its done cells, atomically."""
    records = load_records(store)
    fields = list(store.spec.grid)
    tables = {
        SUMMARY_FILE: (summary_columns(fields), summary_rows(records, fields)),
        PAIRED_FILE: (paired_columns(fields), paired_rows(records, fields)),
        **uncertainty_tables(store, records),
    }
    for name, table in tables.items():
        try:
            if table is None:
                (store.path / name).unlink(missing_ok=True)
            else:
                atomic_write_text(store.path / name, csv_text(*table))
        except OSError as e:
            raise store.stopped(e, store.path / name) from e


def sweep_task(
    spec: SweepSpec,
    out: str | Path,
    engine: Engine,
    *,
    limits: Limits = DEFAULT_LIMITS,
    max_cells: int | None = None,
    on_event: Callable[[SweepEvent], None] | None = None,
) -> Callable[[JobControl], tuple[str, str, str, SweepResult]]:
    """The sweep as an executor task, every cell's end reported as the job's progress."""

    def task(control: JobControl) -> tuple[str, str, str, SweepResult]:
        control.report(f"0 of {spec.n_cells} cells done", 0, spec.n_cells)

        def progress(e: SweepEvent) -> None:
            eta = f"; about {duration(e.eta)} left" if math.isfinite(e.eta) and e.done else ""
            if e.kind != "progress":  # a cell's epochs: in sweep.json, not the job's record
                control.report(f"{e.done} of {e.total} cells done{eta}", e.done, e.total)
            if on_event is not None:
                on_event(e)

        kw = {"limits": limits, "max_cells": max_cells, "cancel": control.cancel}
        result = run_sweep(spec, out, engine, **kw, on_event=progress)
        return (*sweep_outcome(result.counts, control.cancel.is_set()), result)

    return task


def sweep_outcome(counts: dict[str, int], cancelled: bool) -> tuple[str, str, str]:
    """A sweep job's status, error and final message from its cells' counts."""
    done, total = sum(counts.get(s, 0) for s in DONE_STATUSES), sum(counts.values())
    if cancelled:
        return "cancelled", "", f"stopped; {done} of {total} cells done are kept"
    failed = counts.get("failed", 0)
    tail = f"; {failed} failed (see the grid)" if failed else ""
    return "finished", "", f"{done} of {total} cells done{tail}"
