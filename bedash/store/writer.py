"""Writing one run folder as the run goes. Every write atomic (temp file + rename).

Files: config.json (first), status.json, history.csv (rewritten each epoch), results.csv,
members.csv, agreement_<model>.csv, reliability_<model>.csv and the other tables, and
.bedash.lock, which the writer holds locked for the run's life (bedash.store.lock). The CLI
and the dashboard write the same format; bedash.store.runs reads it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bedash.names import FINAL_STATUSES, HISTORY_COLUMNS, MEMBER_COLUMNS, RESULT_COLUMNS
from bedash.store.annotations import FILE as ANNOTATIONS
from bedash.store.atomic import atomic_write_text
from bedash.store.folders import RunDirError, busy, check_out_dir, is_run_file, is_temp_file
from bedash.store.lock import LockHeld, RunLock, identity


class RunStoreError(OSError):
    """A run file could not be written (disk full, folder gone read-only...). The files
    written before stay whole: every write is atomic."""


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
    """The CSV text of rows (the columns in order; None and NaN as empty cells)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: _cell(row.get(k)) for k in columns})
    return buf.getvalue()


class RunWriter:
    """Writes one run folder as the run goes. Nothing it wrote is removed later.

    Creating it takes the run's lock (RunDirError when another live process holds it) and
    checks the folder again under the lock. With overwrite, the earlier run's files (only the
    names bedash writes) are removed just before the first write: until then the earlier
    run is whole. The lock is released with the final status, close(), or the process's end.
    """

    def __init__(self, path: str | os.PathLike, *, overwrite: bool = False) -> None:
        self.path = Path(path)
        check_out_dir(self.path, overwrite)  # refuse before making anything
        self._lock = RunLock(self.path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()
        except LockHeld as e:
            raise busy(self.path, e.holder) from None
        except OSError as e:
            raise RunDirError("out", f"cannot write to {self.path}: {e.strerror or e}") from e
        try:  # again under the lock: another run may have started since the first check
            check_out_dir(self.path, overwrite, locked=True)
        except BaseException:
            self._lock.release()
            raise
        self._clear_pending = overwrite
        self.history: list[dict[str, Any]] = []
        self.results: list[dict[str, Any]] = []
        self.members: list[dict[str, Any]] = []
        self.status: dict[str, Any] = {}

    def close(self) -> None:
        """Release the run's lock (the run ended, or will never be written again)."""
        self._lock.release()

    # -- writes ----------------------------------------------------------------------------

    def _clear_earlier_run(self) -> None:
        """--overwrite: remove the earlier run's files, only the regular files bedash names,
        never the user's annotations.json (a sweep's cell run again keeps its notes)."""
        for name in os.listdir(self.path):
            f = self.path / name
            ours = (is_run_file(name) and name != ANNOTATIONS) or is_temp_file(name)
            if ours and stat.S_ISREG(os.lstat(f).st_mode):
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
        self._write(name, csv_text(["member"] + [str(j) for j in range(n)], rows))

    def write_table(self, name: str, columns: list[str], rows: list[dict[str, Any]]) -> None:
        self._write(name, csv_text(columns, rows))
