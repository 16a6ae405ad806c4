"""The run store on disk. One folder per run; every write atomic (temp file + rename).

Files: config.json (first), status.json, history.csv (rewritten each epoch), results.csv,
members.csv, agreement_<model>.csv, reliability_<model>.csv. The CLI and the dashboard write
and read the same format.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import secrets
import shutil
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .atomic import atomic_write_text
from .schema import RESULT_COLUMNS

HISTORY_COLUMNS = ["model", "member", "epoch", "loss", "epoch_seconds", "samples_per_s"]
MEMBER_COLUMNS = ["model", "member", "accuracy", "nll"]
RELIABILITY_COLUMNS = ["bin", "lower", "upper", "count", "accuracy", "confidence"]
RUN_FILES = ("config.json", "status.json", "history.csv", "results.csv", "members.csv")
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
FINAL_STATUSES = ("finished", "cancelled", "failed", "diverged")
CONFIG_TYPES: dict[str, type | tuple[type, ...]] = {  # what listings read from config.json
    "models": list, "dataset": str, "arch": str, "device": str, "members": int, "hidden": int,
    "layers": int, "channels": int, "epochs": int, "batch_size": int, "seed": int,
    "train_size": int, "test_size": int, "lr": (int, float), "extra": dict, "_meta": dict,
}  # fmt: skip


class RunDirError(Exception):
    """The output folder cannot take this run (holds another run, is not writable...)."""


class RunStoreError(OSError):
    """A run file could not be written (disk full, folder gone read-only...). The files
    written before stay whole: every write is atomic."""


def new_run_id() -> str:
    """Sortable and unique: 20261125-014500-3f9a1c."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def valid_run_id(run_id: str) -> bool:
    """A run id is one plain folder name: no separators, no '..', nothing hidden."""
    return bool(RUN_ID_RE.match(run_id or "")) and ".." not in run_id


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _cell(value: Any) -> Any:
    """Plain numbers in CSVs: None/NaN -> empty, floats without numpy wrappers."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return value


def _csv_text(columns: list[str], rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: _cell(row.get(k)) for k in columns})
    return buf.getvalue()


def _is_run_file(name: str) -> bool:
    return name in RUN_FILES or bool(re.match(r"(agreement|reliability)_[A-Za-z0-9_]+\.csv$", name))


def check_out_dir(path: str | os.PathLike, overwrite: bool) -> None:
    """Raise RunDirError unless path is new, empty, or (with overwrite) an earlier run."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise RunDirError(f"--out: {p} exists and is not a folder")
    if p.is_dir() and any(p.iterdir()):
        if not is_run_dir(p):
            raise RunDirError(
                f"--out: {p} is not empty and holds no bedash run; choose a new or empty folder"
            )
        if not overwrite:
            raise RunDirError(
                f"--out: {p} already holds a run; choose another folder or pass --overwrite"
            )


def is_run_dir(path: Path) -> bool:
    return (path / "config.json").exists() or (path / "status.json").exists()


class RunWriter:
    """Writes one run folder as the run goes. Nothing it wrote is removed later."""

    def __init__(self, path: str | os.PathLike, *, overwrite: bool = False) -> None:
        self.path = Path(path)
        self._prepare(overwrite)
        self.history: list[dict[str, Any]] = []
        self.results: list[dict[str, Any]] = []
        self.members: list[dict[str, Any]] = []
        self.status: dict[str, Any] = {}

    def _prepare(self, overwrite: bool) -> None:
        p = self.path
        check_out_dir(p, overwrite)
        if p.is_dir() and overwrite:
            for f in p.iterdir():  # only what bedash writes; anything else stays
                if f.is_file() and _is_run_file(f.name):
                    f.unlink()
        try:
            p.mkdir(parents=True, exist_ok=True)
            probe = p / f".write-test-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
        except OSError as e:
            raise RunDirError(f"--out: cannot write to {p}: {e.strerror or e}") from e

    # -- writes ----------------------------------------------------------------------------

    def _write(self, name: str, text: str) -> None:
        try:
            atomic_write_text(self.path / name, text)
        except OSError as e:
            raise RunStoreError(
                e.errno, f"cannot write {name} in {self.path}: {e.strerror or e}"
            ) from e

    def write_config(self, config: dict[str, Any], meta: dict[str, Any]) -> None:
        self._write("config.json", json.dumps({**config, "_meta": meta}, indent=2))

    def set_status(self, status: str, **extra: Any) -> None:
        if not self.status:
            self.status = {"started": _now(), "pid": os.getpid(), "host": socket.gethostname()}
        self.status.update(extra, status=status, updated=_now())
        if status in FINAL_STATUSES:
            self.status["finished_at"] = _now()
        self._write("status.json", json.dumps(self.status, indent=2))

    def add_history(self, rows: list[dict[str, Any]]) -> None:
        self.history.extend(rows)
        self._write("history.csv", _csv_text(HISTORY_COLUMNS, self.history))

    def add_result(self, row: dict[str, Any], members: list[dict[str, Any]]) -> None:
        self.results.append(row)
        self.members.extend(members)
        self._write("results.csv", _csv_text(RESULT_COLUMNS, self.results))
        self._write("members.csv", _csv_text(MEMBER_COLUMNS, self.members))

    def write_matrix(self, name: str, matrix: list[list[float]]) -> None:
        """An E x E matrix with member indices as header and first column."""
        n = len(matrix)
        rows = [{"member": i, **{str(j): matrix[i][j] for j in range(n)}} for i in range(n)]
        cols = ["member"] + [str(j) for j in range(n)]
        self._write(name, _csv_text(cols, rows))

    def write_table(self, name: str, columns: list[str], rows: list[dict[str, Any]]) -> None:
        self._write(name, _csv_text(columns, rows))


# -- reading ---------------------------------------------------------------------------------


@dataclass
class RunInfo:
    """What `runs list` and the runs page show of one run folder."""

    run_id: str
    path: Path
    status: str  # finished | running | interrupted | failed | diverged | cancelled | damaged
    reason: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    started: str = ""
    results: list[dict[str, str]] = field(default_factory=list)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_csv(
    path: Path, columns: list[str] | None, numeric: tuple[str, ...] = ()
) -> list[dict[str, str]]:
    """Rows of a CSV; ValueError when it is truncated, lacks columns, or a `numeric` column
    holds something other than a number (an empty cell is allowed)."""
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        raise ValueError(f"{path.name} is truncated (no final newline)")
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    if columns and [c for c in columns if c not in header]:
        missing = [c for c in columns if c not in header]
        raise ValueError(f"{path.name} lacks columns {missing}")
    rows = list(reader)
    for i, row in enumerate(rows, 2):
        if None in row or any(v is None for v in row.values()):
            raise ValueError(f"{path.name} line {i} has the wrong number of cells")
        for col in numeric:
            if row[col] and not _is_float(row[col]):
                raise ValueError(f"{path.name} line {i}: {col} {row[col][:20]!r} is not a number")
    return rows


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_json(path: Path) -> tuple[Any, str]:
    """(value, "") or (None, why it cannot be read)."""
    try:
        return json.loads(path.read_text(encoding="utf-8")), ""
    except FileNotFoundError:
        return None, f"missing file {path.name}"
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        return None, f"invalid JSON in {path.name} ({e})"
    except OSError as e:
        return None, f"cannot read {path.name} ({e.strerror or e})"


def _config_problem(config: dict[str, Any]) -> str:
    """Why config.json cannot be shown (a setting of the wrong type), or ''."""
    for key, kind in CONFIG_TYPES.items():
        value = config.get(key)
        if value is None:
            continue
        ok = isinstance(value, kind) and not isinstance(value, bool)
        if ok and key == "models":
            ok = all(isinstance(m, str) for m in value)
        if not ok:
            return f"config.json has a bad {key!r}: {json.dumps(value)[:40]}"
    return ""


def read_run(path: str | os.PathLike) -> RunInfo:
    """Inspect a run folder without changing it; problems become status 'damaged' + reason."""
    p = Path(path)
    info = RunInfo(p.name, p, "damaged")
    config, info.reason = _read_json(p / "config.json")
    if info.reason:
        return info
    status, info.reason = _read_json(p / "status.json")
    if info.reason:
        return info
    if not isinstance(status, dict) or not isinstance(config, dict):
        info.reason = "config.json or status.json is not a JSON object"
        return info
    info.reason = _config_problem(config)
    if info.reason:
        return info
    info.config = config
    info.started = str(status.get("started", ""))
    state = str(status.get("status", ""))
    try:
        if (p / "history.csv").exists():
            _read_csv(p / "history.csv", HISTORY_COLUMNS, numeric=tuple(HISTORY_COLUMNS[1:]))
        if (p / "results.csv").exists():
            info.results = _read_csv(p / "results.csv", ["model", "status"])
        elif state in ("finished", "diverged"):
            raise ValueError("missing file results.csv")
    except (OSError, ValueError, csv.Error) as e:
        info.reason = str(e)
        return info
    if state == "running":
        same_host = status.get("host") == socket.gethostname()
        pid = status.get("pid")
        if same_host and isinstance(pid, int) and _pid_alive(pid):
            info.status = "running"
        else:
            info.status = "interrupted"
            info.reason = "the process that ran it stopped before it finished"
    elif state in FINAL_STATUSES:
        info.status = state
        info.reason = str(status.get("error", "") or "")
    else:
        info.reason = f"unknown status {state!r} in status.json"
    return info


def list_runs(runs_dir: str | os.PathLike) -> list[RunInfo]:
    """Every run folder under runs_dir, newest first. Never modifies anything."""
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    runs = [read_run(d) for d in root.iterdir() if d.is_dir() and valid_run_id(d.name)]
    return sorted(runs, key=lambda r: (r.started, r.run_id), reverse=True)


def run_path(runs_dir: str | os.PathLike, run_id: str) -> Path:
    """The folder of run_id inside runs_dir; ValueError for anything that is not a plain id."""
    if not valid_run_id(run_id):
        raise ValueError(f"invalid run id {run_id!r}")
    root = Path(runs_dir).resolve()
    path = (root / run_id).resolve()
    if path.parent != root:
        raise ValueError(f"invalid run id {run_id!r}")
    return path


def delete_run(runs_dir: str | os.PathLike, run_id: str) -> None:
    """Remove a run folder (the caller confirms and refuses running runs)."""
    path = run_path(runs_dir, run_id)
    if not is_run_dir(path):
        raise ValueError(f"run {run_id} not found")
    shutil.rmtree(path)
