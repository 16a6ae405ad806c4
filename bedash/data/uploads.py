"""Uploaded image folders (a zip), unpacked safely: bounded size, no path leaves the target.

A zip is untrusted: member names may be absolute or climb with '..' (zip-slip), entries may be
links, and a small archive may inflate to gigabytes (a zip bomb). Each is refused with a
message before anything is written outside a fresh folder of its own.
"""

from __future__ import annotations

import io
import lzma
import shutil
import stat
import uuid
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from bedash.data.load import load_image_folder
from bedash.names import DatasetError

JUNK = ("__MACOSX/", ".DS_Store")


class UploadError(Exception):
    """The upload cannot be used; the message says why."""


def _safe_name(name: str) -> PurePosixPath:
    """The member's relative path, or UploadError when it would leave the target folder."""
    if "\\" in name or "\x00" in name:
        raise UploadError(f"refusing the archive: member {name!r} has a forbidden character")
    p = PurePosixPath(name)
    if p.is_absolute() or (p.parts and p.parts[0].endswith(":")):
        raise UploadError(f"refusing the archive: member {name!r} has an absolute path")
    if ".." in p.parts:
        raise UploadError(f"refusing the archive: member {name!r} points outside the folder")
    return p


def extract_dataset_zip(
    source: bytes | BinaryIO,
    dest_root: str | Path,
    *,
    max_bytes: int,
    max_files: int,
    max_ratio: float = 200.0,
    cache_dir: str | Path | None = None,
) -> Path:
    """Unpack an image-folder zip into a new folder under dest_root and return the dataset root
    (the folder holding train/ and test/). Every image is decoded once here, so a bad file is
    named now, not mid-training (and with cache_dir the training run reuses the decode).
    Every failure is an UploadError, and nothing is left behind when it is refused: the
    unpacked folder is removed whatever ends the unpacking (Ctrl-C included)."""
    target: Path | None = None
    try:
        archive, names = _open_archive(source, max_bytes, max_files, max_ratio)
        target = Path(dest_root) / uuid.uuid4().hex
        target.mkdir(parents=True)
        _unpack(archive, names, target, max_bytes)
        root = _dataset_root(target)
        load_image_folder(root, cache_dir=cache_dir)
        return root
    except BaseException as e:
        if target is not None:
            shutil.rmtree(target, ignore_errors=True)
        if isinstance(e, Exception) and not isinstance(e, UploadError):
            raise UploadError(_explain(e, target)) from e
        raise


def _open_archive(
    source: bytes | BinaryIO, max_bytes: int, max_files: int, max_ratio: float
) -> tuple[zipfile.ZipFile, list[tuple[zipfile.ZipInfo, PurePosixPath]]]:
    """The archive and its members' safe names, once the limits are checked (nothing written)."""
    data = source if isinstance(source, bytes) else source.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UploadError(f"the archive is larger than the limit ({_size(max_bytes)})")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as e:
        raise UploadError(f"not a zip archive ({e})") from e
    members = [i for i in archive.infolist() if not any(j in i.filename for j in JUNK)]
    files = [i for i in members if not i.is_dir()]
    if not files:
        raise UploadError("the archive is empty")
    if len(files) > max_files:
        raise UploadError(f"the archive holds {len(files)} files; the limit is {max_files}")
    total = sum(i.file_size for i in files)
    if total > max(max_bytes, len(data)) * max_ratio or total > 20 * max_bytes:
        raise UploadError(f"the archive inflates to {_size(total)}: refused as a zip bomb")
    names = []
    for info in members:
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UploadError(f"refusing the archive: member {info.filename!r} is a link")
        if info.flag_bits & 0x1:
            raise UploadError(
                f"member {info.filename!r} is encrypted: password-protected zips are not supported"
            )
        names.append((info, _safe_name(info.filename)))
    return archive, names


def _unpack(
    archive: zipfile.ZipFile,
    names: list[tuple[zipfile.ZipInfo, PurePosixPath]],
    target: Path,
    max_bytes: int,
) -> None:
    total = sum(i.file_size for i, _ in names if not i.is_dir())
    written = 0
    for info, rel in names:
        out = target.joinpath(*rel.parts)
        if info.is_dir():
            out.mkdir(parents=True, exist_ok=True)
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(info) as src, open(out, "wb") as dst:
            # the header's size may lie: count what is really inflated
            while chunk := src.read(1 << 20):
                written += len(chunk)
                if written > total or written > 20 * max_bytes:
                    raise UploadError("the archive inflates beyond its declared size")
                dst.write(chunk)


def _explain(e: Exception, target: Path | None) -> str:
    """Any failure while unpacking or checking -> one sentence for the user; the server's
    folder is not shown."""

    def hide(text: str) -> str:
        return text.replace(str(target), "<upload>") if target is not None else text

    if isinstance(e, DatasetError):
        return f"the archive is not an image folder: {hide(e.message)}"
    if isinstance(e, NotImplementedError):  # zipfile: an unsupported compression method
        return f"the archive uses a compression this server cannot unpack ({e})"
    if isinstance(e, (zipfile.BadZipFile, zlib.error, EOFError, lzma.LZMAError)):
        return f"the archive is damaged ({hide(str(e)) or type(e).__name__})"
    if isinstance(e, OSError):  # a full disk, a read-only uploads folder, a name clash
        reason = e.strerror or str(e) or type(e).__name__
        return f"cannot unpack the archive on the server: {hide(reason)}"
    return f"cannot unpack the archive: {type(e).__name__}: {hide(str(e))}"


def _dataset_root(folder: Path) -> Path:
    """folder itself when it holds train/ and test/, or its single top-level subfolder."""
    if (folder / "train").is_dir():
        return folder
    subs = [p for p in folder.iterdir() if p.is_dir()]
    if len(subs) == 1 and (subs[0] / "train").is_dir():
        return subs[0]
    return folder  # scan_image_folder then says what is missing


def _size(n: int) -> str:
    """Bytes for a message: '50 MB', '0.5 MB', '300 bytes' (a small limit must not read 0 MB)."""
    if n < 2**20 / 100:
        return f"{n} bytes"
    return f"{n / 2**20:.3g} MB"
