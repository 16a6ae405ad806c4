"""A run folder read for the pages: its tables as frames, its files, the whole run as a zip.

pandas is imported only when a run is loaded (half a second the first page need not pay).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..runs import RunInfo, is_run_dir, read_run, run_path, valid_run_id

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


def find_run(runs_dir: Path, run_id: str) -> Path | None:
    """The folder of run_id, or None when the id is malformed or no such run exists."""
    if not valid_run_id(run_id):
        return None
    try:
        path = run_path(runs_dir, run_id)
    except ValueError:
        return None
    return path if path.is_dir() and is_run_dir(path) else None


def _csv(path: Path) -> pd.DataFrame:
    import pandas as pd

    try:
        return pd.read_csv(path)
    except (OSError, ValueError):  # absent, empty or half-written: show nothing, not a trace
        return pd.DataFrame()


def load_run(path: Path) -> RunData:
    def tables(prefix: str) -> dict[str, pd.DataFrame]:
        found = sorted(path.glob(f"{prefix}_*.csv"))
        return {f.stem.removeprefix(prefix + "_"): _csv(f) for f in found}

    return RunData(
        read_run(path),
        _csv(path / "results.csv"),
        _csv(path / "members.csv"),
        _csv(path / "history.csv"),
        tables("agreement"),
        tables("reliability"),
    )


def run_files(path: Path) -> list[Path]:
    """What a run's zip holds: its CSVs and JSON files (regular files only)."""
    names = [p for p in sorted(path.iterdir()) if p.is_file() and not p.is_symlink()]
    return [p for p in names if p.suffix in (".csv", ".json") and not p.name.startswith(".")]


def run_zip(path: Path) -> bytes:
    """The whole run as one zip, files under a folder named after the run."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for f in run_files(path):
            z.write(f, f"{path.name}/{f.name}")
    return buf.getvalue()


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes() if path.is_file() else b""
    except OSError:
        return b""
