"""The lock a run holds for its whole life: filelock's flock(2) on `<run>/.bedash.lock`.

The writer holds it from its start to its final status; the kernel drops it when the process
dies, however it dies, so a dead writer's lock is free to take. flock (not fcntl/POSIX locks)
because two open() of the same file conflict even inside one process: the dashboard's jobs are
threads of one process, and a page must see a job's run as locked. The file records who holds
it, for the message another writer shows. Readers only probe the lock (shared, non-blocking,
released at once) and never create or write it: filelock has no such probe.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import stat
from pathlib import Path
from typing import Any

from bedash.store.readers import Int, Schema, Text, record_problem, required

LOCK_NAME = ".bedash.lock"
_WAIT = 0.1  # seconds: a reader's probe holds the lock for microseconds, retry before refusing
HOLDER: Schema = {"pid": required(Int(0, 2**63 - 1)), "host": required(Text())}  # the file


class LockHeld(Exception):
    """Another live process holds the run's lock; `holder` is what it recorded (or {})."""

    def __init__(self, holder: dict[str, Any]) -> None:
        super().__init__("the run is locked by another process")
        self.holder = holder


def identity() -> dict[str, Any]:
    """What status.json and the lock file record of the writing process."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


def _open_regular(path: Path) -> int | None:
    """A read-only descriptor of path if it is a regular file (no link followed, no FIFO
    waited on), else None."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None


def probe(folder: Path) -> bool | None:
    """True: a live process holds folder's run lock; False: the lock file exists and nobody
    holds it (the writer ended or died); None: no lock file. Changes nothing."""
    fd = _open_regular(Path(folder) / LOCK_NAME)
    if fd is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    finally:
        os.close(fd)  # closing drops the shared lock if we got it
    return False


def holder(folder: Path) -> dict[str, Any]:
    """What the lock's holder recorded (pid, host: HOLDER), or {} when it cannot be read."""
    fd = _open_regular(Path(folder) / LOCK_NAME)
    if fd is None:
        return {}
    try:
        value = json.loads(os.read(fd, 4096).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    finally:
        os.close(fd)
    return {} if record_problem(LOCK_NAME, value, HOLDER) else value


def _record(fd: int) -> None:
    """filelock's on_acquired: write who holds the lock (never the lock's meaning)."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(identity()).encode(), 0)


class RunLock:
    """The writer's exclusive lock on one run folder (which must exist)."""

    def __init__(self, folder: Path) -> None:
        import filelock  # here: the readers and the pages never take a lock

        self.path = Path(folder) / LOCK_NAME
        # not thread-local: a job's thread takes it, any thread may end the run; the file
        # stays on release (it marks a folder bedash wrote); a link there is never followed
        self._lock = filelock.FileLock(
            self.path, thread_local=False, preserve_lock_file=True, on_acquired=_record
        )

    def acquire(self) -> None:
        """Take the lock or raise LockHeld; OSError when the file cannot be made."""
        import filelock

        try:
            self._lock.acquire(timeout=_WAIT, poll_interval=0.02)
        except filelock.Timeout:
            raise LockHeld(holder(self.path.parent)) from None

    def release(self) -> None:
        """Release the lock (a no-op when not held); filelock also releases it when this
        object is collected: a writer dropped without close() never keeps a run locked."""
        self._lock.release(force=True)
