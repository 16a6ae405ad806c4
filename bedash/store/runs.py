"""The run store on disk. One folder per run; every write atomic (temp file + rename).

Files: config.json (first), status.json, history.csv (rewritten each epoch), results.csv,
members.csv, agreement_<model>.csv, reliability_<model>.csv, and .bedash.lock, which the
writer holds locked (flock) for the run's life. The CLI and the dashboard write and read the
same format.

Rules: a folder is a bedash run only if bedash wrote it (`written_by_bedash`); a run folder's name
matches RUN_ID_RE, everywhere; a run a live process writes is never written by another or
deleted; --overwrite removes only bedash's own files, and only when the new run writes its
first file; every file read is validated (bedash.store.readers) and the text shown is sanitized.
"""

# Size: ~540 lines: writing and reading one folder format, with the lock and the checks that
# keep two writers apart; the cell-level parsing lives in runfiles.py, the lock in lock.py.

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import secrets
import shutil
import stat
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bedash.names import (
    FINAL_STATUSES,
    HISTORY_COLUMNS,
    MEMBER_COLUMNS,
    RELIABILITY_COLUMNS,  # noqa: F401 (re-exported)
    RESULT_COLUMNS,
    RUN_STATUSES,
    FieldError,
)
from bedash.settings.config import config_problem
from bedash.store.atomic import atomic_write_text
from bedash.store.lock import LOCK_NAME, LockHeld, RunLock, holder, identity, identity_alive, probe
from bedash.store.readers import (
    MODEL_RE,
    TABLE_RE,
    FileProblem,
    RunTables,  # noqa: F401 (re-exported: the pages' reader)
    clean_json,
    read_json,
    read_tables,
    safe_text,
)

RUN_FILES = (
    "config.json", "status.json", "history.csv", "results.csv", "members.csv", "steps.csv",
    "shift.csv", "ood.csv", "selective.csv", "annotations.json",
)  # fmt: skip
UNCERTAINTY_RE = re.compile(r"^uncertainty_[A-Za-z0-9_]{1,64}\.csv$")  # per model, with --ood
SWEEP_MARKER = "sweep.json"  # bedash.sweep.folder writes it first in a sweep folder
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MAX_CONFIG_TEXT = 4096  # characters of one text setting in config.json that are shown
RUN_NAME_RULE = "1 to 128 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit"


class RunDirError(FieldError):
    """The output folder cannot take this run (holds another run, is being written, is not
    writable...). field: "out" (the run folder) or "runs_dir" (the folder of runs)."""

    def __init__(self, field: str, message: str | None = None) -> None:
        if message is None:  # the older one-argument form: a message about the runs folder
            ValueError.__init__(self, field)
            self.field, self.message = "runs_dir", field
            return
        super().__init__(field, message)


class RunStoreError(OSError):
    """A run file could not be written (disk full, folder gone read-only...). The files
    written before stay whole: every write is atomic."""


def new_run_id() -> str:
    """Sortable and unique: 20261125-014500-3f9a1c."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def valid_run_id(run_id: str) -> bool:
    """A run id is one plain folder name: no separators, no '..', nothing hidden."""
    return isinstance(run_id, str) and bool(RUN_ID_RE.match(run_id)) and ".." not in run_id


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _cell(value: Any) -> Any:
    """Plain numbers in CSVs: None/NaN -> empty, floats without numpy wrappers."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return value


def csv_text(columns: list[str], rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: _cell(row.get(k)) for k in columns})
    return buf.getvalue()


def is_run_file(name: str) -> bool:
    """A file name bedash writes in a run folder (the lock excepted: it is never removed)."""
    return name in RUN_FILES or bool(TABLE_RE.match(name) or UNCERTAINTY_RE.match(name))


def _is_temp_file(name: str) -> bool:
    """A temp file atomic_write left behind for a run file (a kill -9 mid-write)."""
    m = re.match(r"^\.(.+)\.[A-Za-z0-9_]+\.tmp$", name)
    return bool(m) and is_run_file(m.group(1))


# -- which folders are runs, and which are live --------------------------------------------------


def check_run_name(path: str | os.PathLike) -> None:
    """RunDirError unless the run folder's last name component matches RUN_ID_RE (the rule
    every listing uses: a run it could not list is never written)."""
    name = Path(os.path.abspath(path)).name
    if not valid_run_id(name):
        raise RunDirError(
            "out",
            f"the run folder's name '{safe_text(name, 140)}' is not allowed: use {RUN_NAME_RULE}",
        )


def _json_object(path: Path) -> dict[str, Any] | None:
    try:
        value = read_json(path)
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _bedash_config(config: Any) -> bool:
    meta = config.get("_meta") if isinstance(config, dict) else None
    return isinstance(meta, dict) and isinstance(meta.get("bedash"), str)


def _bedash_status(status: Any) -> bool:
    return (
        isinstance(status, dict)
        and status.get("status") in ("running", *FINAL_STATUSES)
        and isinstance(status.get("started"), str)
        and isinstance(status.get("updated"), str)
    )


def written_by_bedash(path: str | os.PathLike) -> bool:
    """Whether bedash wrote this folder: it has bedash's lock file, or a config.json whose
    _meta names the bedash version, or a status.json of bedash's shape (a known status,
    started, updated). Someone else's config.json or status.json is not enough. --overwrite
    replaces only such a folder."""
    p = Path(path)
    try:
        if not p.is_dir():
            return False
        if stat.S_ISREG(os.lstat(p / LOCK_NAME).st_mode):
            return True
    except OSError:
        pass
    return _bedash_config(_json_object(p / "config.json")) or _bedash_status(
        _json_object(p / "status.json")
    )


def is_run_dir(path: str | os.PathLike) -> bool:
    """Whether the folder holds a run's files at all (config.json, status.json or the lock),
    damaged or not: what the pages open and `delete_run` removes after the user confirmed.
    Whether bedash wrote it is `written_by_bedash`."""
    p = Path(path)
    return p.is_dir() and any(
        os.path.lexists(p / n) for n in ("config.json", "status.json", LOCK_NAME)
    )


def _who(record: dict[str, Any]) -> str:
    pid, host = record.get("pid"), record.get("host")
    if isinstance(pid, int) and isinstance(host, str):
        return f"pid {pid} on {safe_text(host, 100)}"
    return "another process"


def live_writer(path: str | os.PathLike) -> dict[str, Any] | None:
    """What the live process writing the run at path recorded (pid, host...), or None when
    no live process writes it: the lock decides; a run without a lock file (an earlier
    version's) is live only if its recorded process identity is (bedash.store.lock). Changes
    nothing."""
    p = Path(path)
    held = probe(p)
    if held is not None:
        return holder(p) if held else None
    status = _json_object(p / "status.json")
    if status and status.get("status") == "running" and identity_alive(status):
        return status
    return None


def _busy(p: Path, record: dict[str, Any]) -> RunDirError:
    return RunDirError(
        "out",
        f"{p} is being written by another bedash run ({_who(record)}); wait for it to end, "
        "stop it, or choose another folder",
    )


def _check_out_dir(p: Path, overwrite: bool, *, locked: bool) -> None:
    check_run_name(p)
    if p.exists() and not p.is_dir():
        raise RunDirError("out", f"{p} exists and is not a folder")
    if not p.is_dir():
        return
    if not locked and (record := live_writer(p)) is not None:
        raise _busy(p, record)
    try:
        entries = [n for n in os.listdir(p) if n != LOCK_NAME]
    except OSError as e:
        raise RunDirError("out", f"cannot read {p}: {e.strerror or e}") from e
    if not entries:
        return
    if not written_by_bedash(p):
        raise RunDirError(
            "out", f"{p} is not empty and holds no bedash run; choose a new or empty folder"
        )
    if not overwrite:
        raise RunDirError(
            "out", f"{p} already holds a run; choose another folder or pass --overwrite"
        )


def check_out_dir(path: str | os.PathLike, overwrite: bool) -> None:
    """Raise RunDirError unless path can take a new run: its name follows RUN_ID_RE, no live
    process writes a run there, and it is new, empty, or (with overwrite) a bedash run.
    Changes nothing."""
    _check_out_dir(Path(path), overwrite, locked=False)


class RunWriter:
    """Writes one run folder as the run goes. Nothing it wrote is removed later.

    Creating it takes the run's lock (RunDirError when another live process holds it) and
    checks the folder again under the lock. With overwrite, the earlier run's files (only the
    names bedash writes) are removed just before the first write: until then the earlier
    run is whole. The lock is released with the final status, close(), or the process's end.
    """

    def __init__(self, path: str | os.PathLike, *, overwrite: bool = False) -> None:
        self.path = Path(path)
        self._lock = RunLock(self.path)
        self._clear_pending = False
        self._prepare(overwrite)
        self.history: list[dict[str, Any]] = []
        self.results: list[dict[str, Any]] = []
        self.members: list[dict[str, Any]] = []
        self.status: dict[str, Any] = {}

    def _prepare(self, overwrite: bool) -> None:
        p = self.path
        check_out_dir(p, overwrite)  # refuse before making anything
        try:
            p.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()
        except LockHeld as e:
            raise _busy(p, e.holder) from None
        except OSError as e:
            raise RunDirError("out", f"cannot write to {p}: {e.strerror or e}") from e
        try:  # again under the lock: another run may have started since the first check
            _check_out_dir(p, overwrite, locked=True)
        except BaseException:
            self._lock.release()
            raise
        self._clear_pending = overwrite

    def close(self) -> None:
        """Release the run's lock (the run ended, or will never be written again)."""
        self._lock.release()

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes ----------------------------------------------------------------------------

    def _clear_earlier_run(self) -> None:
        """--overwrite: remove the earlier run's files, only the regular files bedash names."""
        for name in os.listdir(self.path):
            f = self.path / name
            if (is_run_file(name) or _is_temp_file(name)) and stat.S_ISREG(os.lstat(f).st_mode):
                f.unlink()

    def _write(self, name: str, text: str) -> None:
        try:
            if self._clear_pending:
                self._clear_earlier_run()
                self._clear_pending = False
            atomic_write_text(self.path / name, text)
        except OSError as e:
            raise RunStoreError(
                e.errno, f"cannot write {name} in {self.path}: {e.strerror or e}"
            ) from e

    def write_config(self, config: dict[str, Any], meta: dict[str, Any]) -> None:
        from bedash import __version__

        meta = {"bedash": __version__, **meta}  # the signature of a run bedash wrote
        self._write("config.json", json.dumps({**config, "_meta": meta}, indent=2))

    def set_status(self, status: str, **extra: Any) -> None:
        if not self.status:
            self.status = {"started": _now(), **identity()}
        self.status.update(extra, status=status, updated=_now())
        if status in FINAL_STATUSES:
            self.status["finished_at"] = _now()
        try:
            self._write("status.json", json.dumps(self.status, indent=2))
        finally:
            if status in FINAL_STATUSES:
                self.close()

    def add_history(self, rows: list[dict[str, Any]]) -> None:
        self.history.extend(rows)
        self._write("history.csv", csv_text(HISTORY_COLUMNS, self.history))

    def add_result(self, row: dict[str, Any], members: list[dict[str, Any]]) -> None:
        self.results.append(row)
        self.members.extend(members)
        self._write("results.csv", csv_text(RESULT_COLUMNS, self.results))
        self._write("members.csv", csv_text(MEMBER_COLUMNS, self.members))

    def write_matrix(self, name: str, matrix: list[list[float]]) -> None:
        """An E x E matrix with member indices as header and first column."""
        n = len(matrix)
        rows = [{"member": i, **{str(j): matrix[i][j] for j in range(n)}} for i in range(n)]
        cols = ["member"] + [str(j) for j in range(n)]
        self._write(name, csv_text(cols, rows))

    def write_table(self, name: str, columns: list[str], rows: list[dict[str, Any]]) -> None:
        self._write(name, csv_text(columns, rows))


# -- reading ---------------------------------------------------------------------------------


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
    held = probe(p)
    config, config_problem = _load_json(p, "config.json")
    status, status_problem = _load_json(p, "status.json")
    info.reason = config_problem or status_problem
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
    if held is None and not (_bedash_config(config) or _bedash_status(status)):
        info.reason = NOT_A_RUN  # parses, but someone else wrote it
        return
    if state == "running":
        live = held if held is not None else identity_alive(status)
        info.status, info.reason = ("running", "") if live else ("interrupted", INTERRUPTED)
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

    A folder whose name is not a run id is no run (bedash never writes one). A symbolic link
    that leads outside runs_dir is listed as damaged, not followed."""
    root = Path(runs_dir)
    try:
        if not root.is_dir():
            return []
        entries = sorted(os.scandir(root), key=lambda e: e.name)
        real_root = root.resolve()
    except (OSError, RuntimeError):
        return []
    runs = []
    for e in entries:
        if not valid_run_id(e.name):
            continue
        path = Path(e.path)
        if (path / SWEEP_MARKER).is_file() and not e.is_symlink():
            continue  # a sweep folder: its cells are runs, the folder is not (the Sweeps page)
        try:
            if e.is_symlink():
                target = path.resolve()
                if not target.is_dir():
                    continue
                if not target.is_relative_to(real_root) or target == real_root:
                    reason = "the run folder is a symbolic link that leads outside the runs folder"
                    runs.append(RunInfo(e.name, path, "damaged", reason))
                    continue
            elif not e.is_dir(follow_symlinks=False):
                continue
        except (OSError, RuntimeError):
            continue
        runs.append(read_run(path))
    return sorted(runs, key=lambda r: (r.started, r.run_id), reverse=True)


def run_path(runs_dir: str | os.PathLike, run_id: str) -> Path:
    """The folder of run_id inside runs_dir; ValueError for anything that is not a plain id."""
    if not valid_run_id(run_id):
        raise ValueError(f"invalid run id '{safe_text(run_id, 140)}'")
    root = Path(runs_dir).resolve()
    path = (root / run_id).resolve()
    if path.parent != root:
        raise ValueError(f"invalid run id {run_id!r}")
    return path


def delete_run(runs_dir: str | os.PathLike, run_id: str) -> None:
    """Remove a run folder. ValueError when it is no bedash run or a live process writes it
    (the lock is taken for the removal: no run can start in it meanwhile)."""
    path = run_path(runs_dir, run_id)
    if not is_run_dir(path):
        raise ValueError(f"run {run_id} not found")
    if probe(path) is None:  # an earlier version's run has no lock file: its identity decides
        status = _json_object(path / "status.json")
        if status and status.get("status") == "running" and identity_alive(status):
            raise ValueError(f"run {run_id} is being written ({_who(status)}); stop it first")
    lock = RunLock(path)
    try:
        lock.acquire()
    except LockHeld as e:
        raise ValueError(
            f"run {run_id} is being written ({_who(e.holder)}); stop it first"
        ) from None
    try:
        shutil.rmtree(path)
    finally:
        lock.release()
