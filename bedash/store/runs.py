"""Listing and reading runs, and deleting one: what `bedash runs` and the runs pages show.

A run folder is read without being changed and without trusting it: every file is validated
(bedash.store.readers, against the schemas of bedash.store.runfiles), the text shown is
sanitized, and a problem makes the run 'damaged' with a reason instead of an error. Whether a
run is live is the lock's answer (bedash.store.lock): a `running` run that nobody holds was
interrupted.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bedash.names import FINAL_STATUSES, RUN_STATUSES
from bedash.settings.config import config_problem
from bedash.store.folders import (
    RunDirError,
    bedash_signed,
    check_name_lengths,
    is_run_dir,
    is_sweep_folder,
    run_path,
    valid_run_id,
    who,
)
from bedash.store.lock import LockHeld, RunLock, probe
from bedash.store.readers import FileProblem, clean_json, read_json, safe_text
from bedash.store.runfiles import MODEL_RE, read_tables

MAX_CONFIG_TEXT = 4096  # characters of one text setting in config.json that are shown


@dataclass
class RunInfo:
    """What `runs list` and the runs page show of one run folder. Every text field is safe to
    print (bedash.store.readers.safe_text); config is config.json with its strings made safe;
    results are results.csv's validated rows (int, float, str or None)."""

    run_id: str
    path: Path
    status: str  # one of schema.RUN_STATUSES
    reason: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    started: str = ""
    results: list[dict[str, Any]] = field(default_factory=list)
    sweep: str = ""  # the sweep a cell belongs to (bedash.sweep.listing); "" for a run alone

    def __post_init__(self) -> None:
        self.run_id = safe_text(self.run_id, 200)
        self.reason = safe_text(self.reason)
        self.started = safe_text(self.started, 64)
        if self.status not in RUN_STATUSES:
            self.status, self.reason = "damaged", f"unknown status '{safe_text(self.status, 40)}'"


def _config_problem(config: dict[str, Any]) -> str:
    """Why config.json cannot be shown, or '': every setting's type and bounds come from
    RunConfig's metadata (settings.config.config_problem); the run store adds what it shows of
    them: model kinds as plain names, text settings of a sane length."""
    problem = config_problem(config)
    if problem:
        return safe_text(problem)
    for key, value in config.items():
        bad = isinstance(value, str) and len(value) > MAX_CONFIG_TEXT
        if key == "models" and isinstance(value, list):
            bad = len(value) > 64 or not all(MODEL_RE.match(m) for m in value)
        if bad:
            shown = safe_text(json.dumps(value, default=str)[:40], 40)
            return f"config.json has a bad '{safe_text(key, 40)}': {shown}"
    return ""


def _load_json(p: Path, name: str) -> tuple[Any, str]:
    """(value, "") or (None, why it cannot be read)."""
    try:
        return read_json(p / name), ""
    except FileNotFoundError:
        return None, f"missing file {name}"
    except FileProblem as e:
        return None, str(e)
    except OSError as e:
        return None, f"cannot read {name} ({e.strerror or e})"


NOT_A_RUN = "not a bedash run (no config.json or status.json that bedash wrote)"
INTERRUPTED = "the process that ran it stopped before it finished"


def _read_run(p: Path, info: RunInfo) -> None:
    if not p.is_dir():
        info.reason = "not a folder"
        return
    try:
        os.scandir(p).close()  # a folder its user may not read: say so, not "missing file"
    except OSError as e:
        info.reason = f"cannot be read ({_why(e)})"
        return
    held = probe(p)
    config, config_why = _load_json(p, "config.json")
    status, status_why = _load_json(p, "status.json")
    info.reason = config_why or status_why
    if info.reason:
        if held:  # its writer has just started: nothing written yet
            info.status, info.reason = "running", ""
        return
    if not isinstance(status, dict) or not isinstance(config, dict):
        info.reason = "config.json or status.json is not a JSON object"
        return
    info.reason = _config_problem(config)
    if info.reason:
        return
    info.config = clean_json(config)
    started = status.get("started", "")
    info.started = started if isinstance(started, str) else ""
    state = status.get("status")
    tables = read_tables(p)
    if tables.problems:
        info.reason = tables.problems[0]
        return
    info.results = tables.results
    if state in ("finished", "diverged") and not os.path.lexists(p / "results.csv"):
        info.reason = "missing file results.csv"
        return
    if held is None and not bedash_signed(config, status):
        info.reason = NOT_A_RUN  # parses, but someone else wrote it
        return
    if state == "running":
        info.status, info.reason = ("running", "") if held else ("interrupted", INTERRUPTED)
    elif state in FINAL_STATUSES:
        info.status = state
        error = status.get("error", "")
        info.reason = error if isinstance(error, str) else json.dumps(error, default=str)[:500]
    else:
        shown = state if isinstance(state, str) else json.dumps(state, default=str)[:40]
        info.reason = f"unknown status '{safe_text(shown, 40)}' in status.json"


def read_run(path: str | os.PathLike) -> RunInfo:
    """Inspect a run folder without changing it; problems become status 'damaged' + reason.
    Never raises for what is in the folder, never blocks (FIFOs, devices and links are not
    opened, sizes are capped); every text field is safe to print."""
    p = Path(path)
    info = RunInfo(p.name, p, "damaged")
    try:
        _read_run(p, info)
    except Exception as e:  # a reader must never break a listing: the folder is damaged
        info.status, info.reason = "damaged", f"cannot be read ({type(e).__name__}: {e})"
        info.results = []
    if info.status == "damaged":
        info.results = []  # a damaged run shows no numbers
    info.__post_init__()  # sanitize what _read_run set
    return info


def list_runs(runs_dir: str | os.PathLike) -> list[RunInfo]:
    """Every run folder under runs_dir, newest first. Never modifies anything.

    A missing runs_dir holds no runs; one that is a file or cannot be read is a RunDirError
    (field "runs_dir"), never "no runs". One bad entry never breaks the listing: a folder whose
    name is not a run id, and anything that is no folder, is no run (bedash never writes one);
    a run folder that cannot be inspected, or a symbolic link that leads outside runs_dir, is
    listed as damaged with the reason."""
    root = Path(runs_dir)
    check_name_lengths(root, "runs_dir")
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
        real_root = root.resolve()
    except FileNotFoundError:
        return []
    except NotADirectoryError as e:
        if not os.path.lexists(root):  # under a file: no such folder, as a missing one
            return []
        raise RunDirError("runs_dir", f"{root} is not a folder") from e
    except (OSError, RuntimeError) as e:
        raise RunDirError("runs_dir", f"cannot read {root}: {_why(e)}") from e
    runs = []
    for e in entries:
        if not valid_run_id(e.name):
            continue
        path = Path(e.path)
        try:
            info = _list_entry(e, path, real_root)
        except (OSError, RuntimeError) as err:  # e.g. its user may not look inside it
            info = RunInfo(e.name, path, "damaged", f"cannot be read ({_why(err)})")
        if info is not None:
            runs.append(info)
    return sorted(runs, key=lambda r: (r.started, r.run_id), reverse=True)


def _list_entry(e: os.DirEntry, path: Path, real_root: Path) -> RunInfo | None:
    """The entry as listed: None when it is no run (no folder, a sweep folder)."""
    if e.is_symlink():
        target = path.resolve()
        if not target.is_dir():
            return None
        if not target.is_relative_to(real_root) or target == real_root:
            reason = "the run folder is a symbolic link that leads outside the runs folder"
            return RunInfo(e.name, path, "damaged", reason)
    elif not e.is_dir(follow_symlinks=False):
        return None
    if is_sweep_folder(path):  # raises for a folder its user may not read
        return None  # a sweep folder: its cells are runs, the folder is not (the Sweeps page)
    return read_run(path)


def _why(e: BaseException) -> str:
    """An OSError's plain reason ("Permission denied"), else the error's text."""
    return (e.strerror if isinstance(e, OSError) else "") or str(e) or type(e).__name__


def delete_run(runs_dir: str | os.PathLike, run_id: str) -> None:
    """Remove a run folder. ValueError when it is no bedash run or a live process writes it
    (the lock is taken for the removal: no run can start in it meanwhile)."""
    path = run_path(runs_dir, run_id)
    if not is_run_dir(path):
        raise ValueError(f"run {run_id} not found")
    lock = RunLock(path)
    try:
        lock.acquire()
    except LockHeld as e:
        raise ValueError(
            f"run {run_id} is being written ({who(e.holder)}); stop it first"
        ) from None
    try:
        shutil.rmtree(path)
    finally:
        lock.release()
