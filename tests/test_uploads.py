"""Uploaded zips: a good image folder unpacks; zip-slip, links, bombs and junk are refused."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bedash.data import load_dataset
from bedash.uploads import UploadError, extract_dataset_zip

LIMITS = {"max_bytes": 2**20, "max_files": 100}


def _png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), 120, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _zip(entries: dict[str, bytes], links: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, "/etc/passwd")
    return buf.getvalue()


GOOD = {f"pets/{s}/{c}/{i}.png": _png() for s in ("train", "test") for c in ("cat", "dog")
        for i in range(2)}  # fmt: skip


def test_a_zipped_folder_unpacks_and_loads(tmp_path: Path) -> None:
    root = extract_dataset_zip(_zip({**GOOD, "__MACOSX/._x": b"junk"}), tmp_path, **LIMITS)
    assert root.name == "pets" and root.parent.parent == tmp_path
    ds = load_dataset(str(root), tmp_path / "cache")
    assert ds.classes == ["cat", "dog"] and len(ds.train) == 4


@pytest.mark.parametrize(
    ("entries", "text"),
    [
        ({"../evil.png": b"x"}, "outside the folder"),
        ({"a/../../evil.png": b"x"}, "outside the folder"),
        ({"/etc/evil.png": b"x"}, "absolute path"),
        ({"C:/evil.png": b"x"}, "absolute path"),
        ({"a\\..\\evil.png": b"x"}, "forbidden character"),
        ({}, "empty"),
        ({f"f{i}.png": b"x" for i in range(101)}, "the limit is 100"),
        ({"pets/train/cat/1.png": _png()}, "test is missing"),
        ({"pets/train/cat/1.png": _png(), "pets/test/cat/1.png": b"not an image"}, "1.png"),
    ],
)
def test_bad_archives_are_refused_and_leave_nothing(
    tmp_path: Path, entries: dict, text: str
) -> None:
    with pytest.raises(UploadError, match=text):
        extract_dataset_zip(_zip(entries), tmp_path / "up", **LIMITS)
    assert not (tmp_path / "evil.png").exists() and not Path("/etc/evil.png").exists()
    assert not any((tmp_path / "up").glob("*/*")) if (tmp_path / "up").exists() else True


def test_links_bombs_size_and_garbage(tmp_path: Path) -> None:
    with pytest.raises(UploadError, match="is a link"):
        extract_dataset_zip(_zip(GOOD, links=("pets/train/cat/l.png",)), tmp_path, **LIMITS)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("bomb.bin", b"\0" * (30 * 2**20))
    with pytest.raises(UploadError, match="zip bomb"):
        extract_dataset_zip(buf.getvalue(), tmp_path, **LIMITS)
    with pytest.raises(UploadError, match=r"larger than the limit \(1 MB\)"):
        extract_dataset_zip(b"x" * (2**20 + 1), tmp_path, **LIMITS)
    with pytest.raises(UploadError, match=r"larger than the limit \(0\.5 MB\)"):
        extract_dataset_zip(b"x" * 2**20, tmp_path, **{**LIMITS, "max_bytes": 2**19})
    with pytest.raises(UploadError, match=r"larger than the limit \(300 bytes\)"):
        extract_dataset_zip(b"x" * 301, tmp_path, **{**LIMITS, "max_bytes": 300})
    with pytest.raises(UploadError, match="not a zip"):
        extract_dataset_zip(b"PK garbage", tmp_path, **LIMITS)
    assert list(tmp_path.iterdir()) == []
