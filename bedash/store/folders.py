"""Which folders are runs, which may take a new run, and the names they may have.

Rules: a folder is a bedash run only if bedash wrote it (`written_by_bedash`); a run folder's
name matches RUN_ID_RE, everywhere; a run a live process writes (it holds the run's lock) is
never written by another or deleted; --overwrite replaces only a bedash run.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
import tempfile
import time
from pathlib import Path
from typing import Any

from bedash.names import FieldError
from bedash.store.lock import LOCK_NAME, holder, probe
from bedash.store.readers import read_json, record_problem, safe_text
from bedash.store.runfiles import CONFIG_META, STATUS_JSON, TABLE_RE, UNCERTAINTY_RE

RUN_FILES = (
    "config.json",
    "status.json",
    "history.csv",
    "results.csv",
    "members.csv",
    "steps.csv",
    "shift.csv",
    "ood.csv",
    "selective.csv",
    "annotations.json",
)
SWEEP_MARKER = "sweep.json"  # bedash.sweep.folder writes it first in a sweep folder
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
RUN_NAME_RULE = "1 to 128 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit"
NAME_MAX = 255  # bytes in one name: the limit of ext4, XFS, btrfs, APFS, NTFS (in UTF-16 units)


class RunDirError(FieldError):
    """The output folder cannot take this run (holds another run, is being written, is not
    writable...). field: the setting that named it, "out" (a run folder, bench's output) or
    "runs_dir" (the folder of runs)."""


def new_run_id() -> str:
    """Sortable and unique: 20261125-014500-3f9a1c."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def valid_run_id(run_id: str) -> bool:
    """A run id is one plain folder name: no separators, no '..', nothing hidden."""
    return isinstance(run_id, str) and bool(RUN_ID_RE.match(run_id)) and ".." not in run_id


def run_path(runs_dir: str | os.PathLike, run_id: str) -> Path:
    """The folder of run_id inside runs_dir; ValueError for anything that is not a plain id."""
    if not valid_run_id(run_id):
        raise ValueError(f"invalid run id '{safe_text(run_id, 140)}'")
    try:
        root = Path(runs_dir).resolve()
        path = (root / run_id).resolve()
    except (OSError, RuntimeError) as e:  # a symbolic link loop
        raise ValueError(f"run {run_id} cannot be opened ({e})") from e
    if path.parent != root:
        raise ValueError(f"invalid run id {run_id!r}")
    return path


def check_run_name(path: str | os.PathLike) -> None:
    """RunDirError unless the run folder's last name component matches RUN_ID_RE (the rule
    every listing uses: a run it could not list is never written)."""
    name = Path(os.path.abspath(path)).name
    if not valid_run_id(name):
        raise RunDirError(
            "out",
            f"the run folder's name '{safe_text(name, 140)}' is not allowed: use {RUN_NAME_RULE}",
        )


def check_name_lengths(path: str | os.PathLike, field: str) -> None:
    """RunDirError(field, ...) when a name in path is longer than NAME_MAX bytes (the system's
    own error, ENAMETOOLONG, would come from whichever call met it first)."""
    for part in Path(path).parts:
        if (size := len(os.fsencode(part))) > NAME_MAX:
            shown = safe_text(part, 40)  # cut with an ellipsis
            raise RunDirError(field, f"the name '{shown}' has {size} bytes, more than {NAME_MAX}")


def check_output_place(path: str | os.PathLike, field: str) -> None:
    """RunDirError(field, ...) unless a folder can be made, or files written, at path: no name
    in it is longer than NAME_MAX bytes, nothing along it is a file, and the nearest folder that
    exists takes a new file (a probe made and removed at once). Every command checks each of
    its output places (train's --out and --runs-dir, bench's and sweep's --out) with it before
    the first measurement; it makes no folder."""
    p = Path(os.path.abspath(path))
    check_name_lengths(p, field)
    there = p
    while True:  # the nearest part of the path that exists
        try:
            mode = os.stat(there).st_mode
            break
        except (FileNotFoundError, NotADirectoryError):
            if os.path.islink(there):  # mkdir would fail on it, after the measurements
                raise RunDirError(field, f"{there} is a symbolic link to nothing") from None
            there = there.parent
        except OSError as e:
            raise RunDirError(field, f"cannot use {p}: {e.strerror or e}") from e
    if not stat.S_ISDIR(mode):
        if there == p:
            raise RunDirError(field, f"{p} exists and is not a folder")
        raise RunDirError(field, f"cannot write to {p}: {there} exists and is not a folder")
    try:
        fd, probe_file = tempfile.mkstemp(prefix=".bedash-write-test-", dir=there)
        os.close(fd)
        os.unlink(probe_file)
    except OSError as e:
        raise RunDirError(field, f"cannot write in {there}: {e.strerror or e}") from e


def is_run_file(name: str) -> bool:
    """A file name bedash writes in a run folder (the lock excepted: it is never removed)."""
    return name in RUN_FILES or bool(TABLE_RE.match(name) or UNCERTAINTY_RE.match(name))


def is_temp_file(name: str) -> bool:
    """A temp file atomic_write left behind for a run file (a kill -9 mid-write)."""
    m = re.match(r"^\.(.+)\.[A-Za-z0-9_]+\.tmp$", name)
    return bool(m) and is_run_file(m.group(1))


def _json_object(path: Path) -> dict[str, Any] | None:
    """The JSON object in path, or None (absent, unreadable, not an object)."""
    try:
        value = read_json(path)
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def bedash_signed(config: Any, status: Any) -> bool:
    """Whether config.json names bedash's version in its _meta, or status.json has bedash's
    shape (a known status, started, updated): someone else's files are not enough."""
    meta = config.get("_meta") if isinstance(config, dict) else None
    return not record_problem("_meta", meta, CONFIG_META) or not record_problem(
        "status.json", status, STATUS_JSON
    )


def written_by_bedash(path: str | os.PathLike) -> bool:
    """Whether bedash wrote this folder: it has bedash's lock file, or bedash_signed config.json
    or status.json. --overwrite replaces only such a folder."""
    p = Path(path)
    try:
        if not p.is_dir():
            return False
        if stat.S_ISREG(os.lstat(p / LOCK_NAME).st_mode):
            return True
    except OSError:
        pass
    return bedash_signed(_json_object(p / "config.json"), _json_object(p / "status.json"))


def is_run_dir(path: str | os.PathLike) -> bool:
    """Whether the folder holds a run's files at all (config.json, status.json or the lock),
    damaged or not: what the pages open and `delete_run` removes after the user confirmed.
    A sweep folder (its own marker, sweep.json, in any state) is none, though it has the lock.
    Whether bedash wrote it is `written_by_bedash`."""
    p = Path(path)
    return (
        p.is_dir()
        and not os.path.lexists(p / SWEEP_MARKER)
        and any(os.path.lexists(p / n) for n in ("config.json", "status.json", LOCK_NAME))
    )


def is_sweep_folder(path: str | os.PathLike) -> bool:
    """Whether the folder holds sweep.json, in any state (a sweep's folder, never a run's);
    OSError when its user may not look into it."""
    try:
        os.lstat(Path(path) / SWEEP_MARKER)
    except (FileNotFoundError, NotADirectoryError):
        return False
    return True


def who(record: dict[str, Any]) -> str:
    """'pid 12 on host' of what a lock's holder recorded (lock.holder), or 'another process'."""
    if record:
        return f"pid {record['pid']} on {safe_text(record['host'], 100)}"
    return "another process"


def busy(p: Path, record: dict[str, Any]) -> RunDirError:
    return RunDirError(
        "out",
        f"{p} is being written by another bedash run ({who(record)}); wait for it to end, "
        "stop it, or choose another folder",
    )


def check_out_dir(path: str | os.PathLike, overwrite: bool, *, locked: bool = False) -> None:
    """Raise RunDirError unless path can take a new run: its name follows RUN_ID_RE, no live
    process writes a run there (unless `locked`: the caller holds the lock), and it is new,
    empty, or (with overwrite) a bedash run. Changes nothing."""
    p = Path(path)
    check_run_name(p)
    check_output_place(p, "out")  # a folder that can be written, or made
    if not p.is_dir():
        return
    if not locked and probe(p):
        raise busy(p, holder(p))
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
