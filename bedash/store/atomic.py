"""Atomic file writes: a temp file in the same folder, fsync, then rename over the target.

A reader (or a restart after kill -9) sees the old file or the new one, never half of one.
The temp file is created with mode 0o666 and the kernel applies the umask (and a folder's
default ACL), as for any other file: mkstemp's 0600 kept teammates and a dashboard's service
account out of every run.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


def atomic_write(
    path: str | os.PathLike, write: Callable[[BinaryIO], object], *, folder_fd: int | None = None
) -> None:
    """Call write(file) on a temp file beside path, then rename it over path. An OSError names
    path (not the temp file). folder_fd: path is a name in that open folder, where the file
    lands even when the folder was renamed meanwhile."""
    path, made = Path(path), False
    name = f".{path.name}.{secrets.token_hex(8)}.tmp"  # 64 random bits
    tmp = name if folder_fd is not None else str(path.parent / name)
    try:
        fd = os.open(tmp, _CREATE, 0o666, dir_fd=folder_fd)  # O_EXCL: never an existing file
        made = True
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if folder_fd is None:
            os.replace(tmp, path)
        else:
            os.replace(tmp, path, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
    except BaseException as e:
        if made:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=folder_fd)
        if isinstance(e, OSError) and e.errno:
            raise OSError(e.errno, e.strerror, os.fspath(path)) from e  # its subclass, by errno
        raise


def atomic_write_bytes(
    path: str | os.PathLike, data: bytes, *, folder_fd: int | None = None
) -> None:
    atomic_write(path, lambda f: f.write(data), folder_fd=folder_fd)


def atomic_write_text(path: str | os.PathLike, text: str, *, folder_fd: int | None = None) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), folder_fd=folder_fd)
