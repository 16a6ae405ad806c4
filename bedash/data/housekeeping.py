"""Housekeeping for a long-running server: old uploaded image folders are removed.

A hosted demo unpacks every uploaded zip into its own folder under the uploads folder; nothing
else ever removes them, so without this a public demo fills its disk. No streamlit, no torch.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path


def tree_bytes(path: Path) -> int:
    """Bytes of the regular files under path (links are not followed)."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:  # removed meanwhile
                continue
            total += st.st_size
    return total


def folder_cache_file(cache_dir: str | os.PathLike, root: str | os.PathLike) -> Path:
    """The decoded-tensor cache file of an image folder, named after its resolved path (used
    by bedash.data.load.load_image_folder to write it and here to remove it; torch-free)."""
    digest = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:16]
    return Path(cache_dir) / f"folder-{digest}.pt"


def _remove(folder: Path, cache_dir: Path | None) -> None:
    if cache_dir is not None:  # the dataset root is the folder or one folder inside it
        for root in [folder, *(p for p in folder.iterdir() if p.is_dir())]:
            folder_cache_file(cache_dir, root).unlink(missing_ok=True)
    shutil.rmtree(folder, ignore_errors=True)


def prune_uploads(
    uploads: str | os.PathLike,
    *,
    max_age_seconds: float,
    max_total_bytes: int,
    keep: Iterable[str | os.PathLike] = (),
    cache_dir: str | os.PathLike | None = None,
    now: float | None = None,
) -> list[Path]:
    """Remove upload folders (the children of `uploads`) older than max_age_seconds, then the
    oldest ones until all of them take at most max_total_bytes. A folder holding a path in
    `keep` (the dataset of a queued or running job) stays whatever its age. Their cached
    decoded tensors in cache_dir go with them. Returns the folders removed."""
    root = Path(uploads)
    if not root.is_dir():
        return []
    now = time.time() if now is None else now
    kept = [Path(k).resolve() for k in keep]
    folders, total = [], 0
    for entry in root.iterdir():
        if not entry.is_dir() or entry.is_symlink():
            continue
        size = tree_bytes(entry)
        total += size  # kept folders count towards the cap too
        if not any(k == entry.resolve() or entry.resolve() in k.parents for k in kept):
            folders.append((entry.stat().st_mtime, entry, size))
    folders.sort()  # oldest first
    cache = None if cache_dir is None else Path(cache_dir)
    removed = []
    for mtime, folder, size in folders:
        if now - mtime <= max_age_seconds and total <= max_total_bytes:
            continue
        _remove(folder, cache)
        total -= size
        removed.append(folder)
    return removed
