"""One sweep cell where it runs (in-process, or a Ray worker): its run trained into its folder in
the sweep folder when that folder is on this machine (written as it goes, through the run
store's writer), else into a temporary folder whose files it sends back; its progress reported
while it trains. Imports neither torch nor ray (`train` is handed in).
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bedash.settings.config import RunConfig
from bedash.settings.limits import DEFAULT_LIMITS, Limits
from bedash.store.readers import CSV_LIMIT, FileProblem, read_bytes
from bedash.sweep.grid import CellOutcome, Progress

Train = Callable[..., Any]  # run_experiment(cfg, out, *, cancel, limits, download...) -> result
_RUN_STATUS = {"finished": "finished", "diverged": "diverged", "cancelled": "interrupted"}
Folder = tuple[str, int, int]  # the sweep folder: path, st_dev, st_ino (is it here?)


def run_cell(
    cell_id: str,
    config: dict[str, Any],
    train: Train,
    limits: Limits = DEFAULT_LIMITS,
    threads: int | None = None,
    cancel: threading.Event | None = None,
    download: bool = True,
    place: Path | None = None,
    progress: Progress | None = None,
) -> CellOutcome:
    """Run one cell into `place` (its folder in the sweep folder, written as the run goes,
    an earlier attempt's files replaced) or, without one, into a temporary folder whose files
    it returns. Never raises for a failing run: the outcome says failed, with the error and
    whatever the run wrote. A set `cancel` gives 'interrupted'; Ray's cancel is force=True (the
    worker exits: the files written in place stay, as a killed run's). progress(cell_id, state)
    hears the cell's model, epoch and loss while it trains."""
    threads = threads or limits.torch_threads
    if threads:
        import torch

        torch.set_num_threads(threads)
    cfg = RunConfig.from_dict(config)
    if limits.eval_batch_size and cfg.eval_batch_size > limits.eval_batch_size:
        cfg = cfg.replace(eval_batch_size=limits.eval_batch_size)  # same metrics, less memory
    stop = _Stop(cancel, limits.max_wall_seconds)
    outcome = CellOutcome(cell_id, "failed", node=_node_id(), host=socket.gethostname())
    outcome.started, outcome.niceness, outcome.here = time.time(), os.nice(0), place is not None
    live = CellProgress(cell_id, cfg.epochs, progress) if progress else None
    scratch = tempfile.TemporaryDirectory(prefix="bedash-cell-") if place is None else None
    with scratch or contextlib.nullcontext() as tmp:  # a folder of its own only on another machine
        out = place or Path(tmp) / "run"
        more = {"overwrite": True} if place else {}  # an interrupted attempt's files go
        try:
            if os.path.islink(out):  # swapped in since the sweep began: its target is not ours
                raise ValueError(f"{out} is a symbolic link; a sweep never writes through one")
            result = train(
                cfg, out, cancel=stop, limits=limits, download=download, callback=live, **more
            )
            outcome.status = _RUN_STATUS.get(result.status, "failed")
            outcome.error = result.error
            if stop.timed_out():
                outcome.status = "failed"
                outcome.error = f"stopped at the {limits.name} limit of {stop.seconds:g} s a run"
        except Exception as e:  # this cell fails alone
            outcome.status, outcome.error = "failed", f"{type(e).__name__}: {e}"
        if not place and out.is_dir():
            outcome.files = run_files(out)
    outcome.ended = time.time()
    return outcome


def run_files(folder: Path) -> dict[str, bytes]:
    """The files a cell's run wrote, read as the run store reads (bedash.store.readers): only
    regular files, capped; a link is never followed nor a FIFO opened (they are left out)."""
    files = {}
    for name in sorted(os.listdir(folder)):
        if not name.startswith("."):
            with contextlib.suppress(FileProblem, OSError):
                files[name] = read_bytes(folder / name, CSV_LIMIT)
    return files


class CellProgress:
    """The training callback of a cell (bedash.method.train.Callback's methods; that module
    imports torch): sends {model, member, epoch, epochs, step, steps, loss} at each epoch's end
    and at most every EVERY seconds between. A lost report never stops the cell."""

    EVERY = 1.0

    def __init__(self, cell_id: str, epochs: int, send: Progress) -> None:
        self.cell_id, self.send, self.last = cell_id, send, -math.inf
        self.state: dict[str, Any] = {"model": "", "member": None, "epoch": 0, "epochs": epochs}

    def on_model_start(self, model: str, info: dict[str, Any]) -> None:
        self.state.update(model=model, member=None, epoch=0, step=0, steps=None, loss=None)
        self._send()

    def on_progress(self, p: Any) -> None:
        self.state.update(model=p.model, member=p.member, epoch=p.epoch, epochs=p.epochs)
        self.state.update(step=p.step, steps=p.steps, loss=p.loss)
        if p.step >= p.steps or time.monotonic() - self.last >= self.EVERY:
            self._send()

    def _send(self) -> None:
        self.last = time.monotonic()
        with contextlib.suppress(Exception):  # a full or gone queue: the cell goes on
            self.send(self.cell_id, dict(self.state))

    def on_epoch(self, records: list[Any]) -> None: ...

    def on_model_end(self, model: str, result: dict[str, Any]) -> None: ...

    def on_status(self, message: str) -> None: ...


def folder_key(folder: Path) -> Folder:
    """What a worker compares to tell whether the sweep folder is on its machine."""
    st = os.stat(folder)
    return (str(folder.resolve()), st.st_dev, st.st_ino)


def here(folder: Folder | None) -> Path | None:
    """The sweep folder when this process sees the very folder the driver holds, else None."""
    if folder is None:
        return None
    try:
        st = os.stat(folder[0])
    except OSError:
        return None
    return Path(folder[0]) if (st.st_dev, st.st_ino) == folder[1:] else None


class _Stop:
    """What training polls after every batch: the sweep's cancel event, or the profile's
    wall-clock cap of one run (Limits.max_wall_seconds) passed."""

    def __init__(self, cancel: threading.Event | None, seconds: float | None) -> None:
        self.cancel, self.seconds = cancel, seconds
        self.deadline = time.monotonic() + seconds if seconds else math.inf

    def timed_out(self) -> bool:
        return time.monotonic() > self.deadline

    def is_set(self) -> bool:
        return (self.cancel is not None and self.cancel.is_set()) or self.timed_out()


def _node_id() -> str:
    try:
        import ray

        if ray.is_initialized():
            return ray.get_runtime_context().get_node_id()
    except Exception:  # not in Ray: the local engine's cells
        pass
    return "local"
