"""Uploaded zips: a good image folder unpacks; zip-slip, links, bombs and junk are refused."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bedash.data.load import load_dataset
from bedash.data.uploads import UploadError, extract_dataset_zip

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
        ({**GOOD, "pets/test/cat/9.png": b"not an image"}, "9.png"),
        ({"pets/train/cat/1.png": _png(), "pets/test/cat/1.png": _png()}, "one class"),
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


def _damaged_png() -> bytes:
    """A PNG whose IDAT chunk lies about its length: PIL raises SyntaxError at load."""
    raw = bytearray(_noise_png())
    i = raw.index(b"IDAT")
    raw[i - 4 : i] = (100).to_bytes(4, "big")
    return bytes(raw)


def _noise_png() -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _left(folder: Path) -> list[Path]:
    return list(folder.rglob("*")) if folder.exists() else []


def test_a_damaged_image_is_named_and_every_retry_leaves_nothing(tmp_path: Path) -> None:
    entries = {**GOOD, "pets/train/dog/chunk.png": _damaged_png()}
    for _ in range(3):  # the page retries on each rerun: no copy may pile up
        with pytest.raises(UploadError) as info:
            extract_dataset_zip(_zip(entries), tmp_path / "up", **LIMITS)
        msg = str(info.value)
        assert msg.startswith("the archive is not an image folder: cannot read image <upload>/")
        assert "train/dog/chunk.png: broken PNG file" in msg
    assert _left(tmp_path / "up") == []


@pytest.mark.parametrize(
    "error", [RuntimeError("boom"), SyntaxError("odd"), MemoryError(), KeyError("k")]
)
def test_any_failure_while_checking_is_an_upload_error_and_removes_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    import bedash.data.uploads as U

    def fail(root: Path, cache_dir: object = None) -> None:
        assert root.is_dir()  # it was unpacked
        raise error

    monkeypatch.setattr(U, "load_image_folder", fail)
    with pytest.raises(UploadError, match=f"cannot unpack the archive: {type(error).__name__}"):
        extract_dataset_zip(_zip(GOOD), tmp_path / "up", **LIMITS)
    assert _left(tmp_path / "up") == []


def test_ctrl_c_while_checking_removes_the_folder_and_still_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bedash.data.uploads as U

    def interrupted(root: Path, cache_dir: object = None) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(U, "load_image_folder", interrupted)
    with pytest.raises(KeyboardInterrupt):
        extract_dataset_zip(_zip(GOOD), tmp_path / "up", **LIMITS)
    assert _left(tmp_path / "up") == []


def _patch_member(data: bytes, field: str, value: int) -> bytes:
    """Rewrite the one member's flags or compression method, in its local and central
    headers (zipfile writes neither as asked)."""
    local_at, central_at = {"flags": (6, 8), "method": (8, 10)}[field]
    raw = bytearray(data)
    local, central = raw.index(b"PK\x03\x04"), raw.index(b"PK\x01\x02")
    raw[local + local_at : local + local_at + 2] = value.to_bytes(2, "little")
    raw[central + central_at : central + central_at + 2] = value.to_bytes(2, "little")
    return bytes(raw)


def _deflated(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_damaged_encrypted_and_unsupported_archives_are_explained(tmp_path: Path) -> None:
    one = _deflated({"pets/train/cat/0.png": bytes(range(256)) * 40})
    raw = bytearray(one)
    start = raw.index(b"PK\x03\x04") + 30 + len("pets/train/cat/0.png")
    raw[start + 5 : start + 25] = b"\xff" * 20  # the deflate stream, damaged
    with pytest.raises(UploadError, match=r"^the archive is damaged \("):
        extract_dataset_zip(bytes(raw), tmp_path / "up", **LIMITS)
    with pytest.raises(UploadError, match="compression this server cannot unpack"):
        extract_dataset_zip(_patch_member(one, "method", 99), tmp_path / "up", **LIMITS)
    encrypted = _patch_member(_zip({"pets/train/cat/0.png": b"x"}), "flags", 0x1)
    with pytest.raises(UploadError, match="is encrypted: password-protected zips"):
        extract_dataset_zip(encrypted, tmp_path / "up", **LIMITS)
    assert _left(tmp_path / "up") == []


def test_an_unusable_uploads_folder_is_an_upload_error(tmp_path: Path) -> None:
    (tmp_path / "up").write_text("a file, not a folder")
    with pytest.raises(UploadError, match="cannot unpack the archive on the server"):
        extract_dataset_zip(_zip(GOOD), tmp_path / "up", **LIMITS)
