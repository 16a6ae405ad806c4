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


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> None:
    """Call write(file) on a temp file beside path, then rename it over path."""
    path = Path(path)
    tmp = str(path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp")  # 64 random bits
    fd = os.open(tmp, _CREATE, 0o666)  # O_EXCL: never an existing file
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))
