"""Removing old uploaded image folders (the hosted demo's disk)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from bedash.data.housekeeping import prune_uploads, tree_bytes

NOW = time.time()
HOUR = 3600.0


def upload(root: Path, name: str, age_hours: float, size: int = 1000) -> Path:
    """An unpacked upload of `size` bytes whose folder was made `age_hours` ago."""
    folder = root / name
    (folder / "pets" / "train" / "cat").mkdir(parents=True)
    (folder / "pets" / "train" / "cat" / "0.png").write_bytes(b"x" * size)
    stamp = NOW - age_hours * HOUR
    os.utime(folder, (stamp, stamp))
    return folder


def test_old_uploads_go_and_young_ones_stay(tmp_path: Path) -> None:
    old, young = upload(tmp_path, "old", 7), upload(tmp_path, "young", 1)
    removed = prune_uploads(tmp_path, max_age_seconds=6 * HOUR, max_total_bytes=10**9, now=NOW)
    assert removed == [old]
    assert not old.exists() and young.exists()


def test_beyond_the_size_cap_the_oldest_go_first(tmp_path: Path) -> None:
    a, b, c = (upload(tmp_path, n, h, size=400) for n, h in (("a", 3), ("b", 2), ("c", 1)))
    assert tree_bytes(a) == 400
    removed = prune_uploads(tmp_path, max_age_seconds=6 * HOUR, max_total_bytes=900, now=NOW)
    assert removed == [a] and b.exists() and c.exists()  # 800 bytes left: under the cap


def test_the_dataset_of_an_active_job_stays_and_counts(tmp_path: Path) -> None:
    busy, idle = upload(tmp_path, "busy", 9, size=800), upload(tmp_path, "idle", 1, size=400)
    removed = prune_uploads(
        tmp_path, max_age_seconds=6 * HOUR, max_total_bytes=1000, now=NOW,
        keep=[str(busy / "pets")],  # a queued job trains on it
    )  # fmt: skip
    assert busy.exists()  # old, but in use
    assert removed == [idle]  # 1200 bytes with the kept one: the other goes


def test_a_removed_upload_takes_its_decoded_cache_along(tmp_path: Path) -> None:
    from PIL import Image

    from bedash.data.load import load_image_folder

    root = tmp_path / "uploads"
    folder = upload(root, "u1", 0)
    for split in ("train", "test"):
        for cls in ("cat", "dog"):
            d = folder / "pets" / split / cls
            d.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (8, 8)).save(d / "1.png")
    (folder / "pets" / "train" / "cat" / "0.png").unlink()  # not an image
    cache = tmp_path / "cache"
    load_image_folder(folder / "pets", cache_dir=cache)  # as the upload and the run do
    assert len(list(cache.glob("folder-*.pt"))) == 1
    other = tmp_path / "elsewhere.pt"
    other.write_bytes(b"")
    prune_uploads(root, max_age_seconds=0, max_total_bytes=0, cache_dir=cache, now=NOW + 10)
    assert not folder.exists() and list(cache.glob("folder-*.pt")) == []
    assert other.exists()


def test_no_uploads_folder_is_nothing_to_do(tmp_path: Path) -> None:
    assert prune_uploads(tmp_path / "none", max_age_seconds=0, max_total_bytes=0) == []
    (tmp_path / "stray.txt").write_text("x")  # files beside the folders are not uploads
    assert prune_uploads(tmp_path, max_age_seconds=0, max_total_bytes=0, now=NOW + 1) == []
    assert (tmp_path / "stray.txt").exists()
