"""A run folder read for the pages: its tables as frames, its files, the whole run as a zip.
pandas is imported only when a run is loaded (half a second the first page need not pay)."""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bedash.store.folders import is_run_dir, run_path, valid_run_id
from bedash.store.readers import FileProblem
from bedash.store.runfiles import checked_bytes, read_steps, read_tables
from bedash.store.runs import RunInfo, read_run

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class RunData:
    """A run folder read into frames (empty frames for files not written yet)."""

    info: RunInfo
    results: pd.DataFrame
    members: pd.DataFrame
    history: pd.DataFrame
    agreement: dict[str, pd.DataFrame]
    reliability: dict[str, pd.DataFrame]
    problems: list[str] = field(default_factory=list)  # files that did not pass validation
    steps: pd.DataFrame | None = None  # steps.csv, the log points of training, when written


def find_run(runs_dir: Path, run_id: str) -> Path | None:
    """The folder of run_id, or None when the id is malformed or no such run exists. A folder
    that cannot be read is found (list_runs lists it as damaged; the page says why)."""
    if not valid_run_id(run_id):
        return None
    try:
        path = run_path(runs_dir, run_id)
    except ValueError:
        return None
    return path if os.path.isdir(path) and (is_run_dir(path) or not readable(path)) else None


def readable(path: Path) -> bool:
    """Whether the folder's entries can be listed (its user may read it)."""
    try:
        os.scandir(path).close()
    except OSError:
        return False
    return True


def load_run(path: Path) -> RunData:
    """Every table of the run, validated (runfiles.read_tables): a file that does not pass gives
    an empty frame and a line in `problems`, never a traceback."""
    import pandas as pd

    t = read_tables(path)
    frames = {model: pd.DataFrame(rows) for model, rows in t.agreement.items()}
    steps, problems = read_steps(path)  # not in read_tables: a listing never needs them
    return RunData(
        read_run(path),
        pd.DataFrame(t.results),
        pd.DataFrame(t.members),
        pd.DataFrame(t.history),
        frames,
        {model: pd.DataFrame(rows) for model, rows in t.reliability.items()},
        [*t.problems, *problems],
        pd.DataFrame(steps) if steps else None,
    )


def signature(path: Path) -> tuple[tuple[str, int, int, int], ...]:
    """A cache key that changes whenever a file of the folder does: (name, inode, size, mtime)
    per entry, nothing read. The run store renames a new file over an old one (a new inode), so
    even a same-size rewrite within the clock's tick shows."""
    out = []
    try:
        with os.scandir(path) as entries:
            for e in entries:
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                out.append((e.name, st.st_ino, st.st_size, st.st_mtime_ns))
    except OSError:
        return ()
    return tuple(sorted(out))


def run_files(path: Path) -> list[Path]:
    """What a run's zip may hold: its CSVs and JSON files (none when the folder cannot be
    read); each is read by file_bytes."""
    try:
        names = sorted(os.listdir(path))
    except OSError:
        return []
    return [path / n for n in names if n.endswith((".csv", ".json")) and not n.startswith(".")]


def run_zip(path: Path) -> bytes:
    """The whole run as one zip, files under a folder named after the run: those that pass
    the run store's reader (a link, a FIFO or a damaged file is left out)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for f in run_files(path):
            if data := file_bytes(f):
                z.writestr(f"{path.name}/{f.name}", data)
    return buf.getvalue()


def file_bytes(path: Path) -> bytes:
    """A run file to download, exactly as the run store's reader checked it (runfiles.
    checked_bytes); b"" (the button greys out) when it is absent, a link, a FIFO, too large or
    damaged: the page names the damage beside it."""
    try:
        return checked_bytes(path)
    except (OSError, FileProblem):
        return b""
