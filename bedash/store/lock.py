"""The lock a run holds for its whole life, and the identity of the process that writes it.

The writer holds an flock(2) on `<run>/.bedash.lock` from its start to its final status; the
kernel drops it when the process dies, however it dies. flock (not fcntl/POSIX locks) because
two open() of the same file conflict even inside one process: the dashboard's jobs are threads
of one process, and a page must see a job's run as locked. Readers only probe the lock (shared,
non-blocking, released at once) and never write.

Where no lock file can be consulted (a run written before locks existed), a run is live only if
its recorded process identity still matches a live process: host, boot, pid and the process's
start time (/proc/<pid>/stat field 22). A pid alone is not an identity: after a crash and a
restart the same pid (pid 1 in a container) belongs to another process.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import stat
import time
from datetime import datetime
from pathlib import Path
from typing import Any

LOCK_NAME = ".bedash.lock"
_TRIES = 5  # a reader's probe holds the lock for microseconds: retry before refusing


class LockHeld(Exception):
    """Another live process holds the run's lock; `holder` is what it recorded (or {})."""

    def __init__(self, holder: dict[str, Any]) -> None:
        super().__init__("the run is locked by another process")
        self.holder = holder


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3.. of /proc/<pid>/stat (the name in field 2 may hold spaces and parentheses)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    return text.rpartition(")")[2].split()


def process_start_ticks(pid: int) -> int | None:
    """When pid started, in clock ticks since boot (field 22), or None (no such process, no
    /proc)."""
    fields = _stat_fields(pid)
    try:
        return int(fields[19]) if fields else None  # field 22 is the 20th after the name
    except (IndexError, ValueError):
        return None


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def identity(pid: int | None = None) -> dict[str, Any]:
    """What status.json and the lock file record of the writing process."""
    pid = os.getpid() if pid is None else pid
    return {
        "pid": pid,
        "host": socket.gethostname(),
        "pid_start": process_start_ticks(pid),
        "boot_id": boot_id(),
    }


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, OSError):
        return False
    return True


def identity_alive(record: dict[str, Any]) -> bool:
    """Whether the process that record describes (status.json's pid, host, pid_start, boot_id,
    started) is still running: on this host, same boot, same pid, same start time. A record of
    an earlier version (no pid_start) counts as alive only if that pid started before the run
    did. Another host cannot be checked: not alive (the lock decides there, where it can)."""
    pid, host = record.get("pid"), record.get("host")
    if isinstance(pid, bool) or not isinstance(pid, int) or not 0 < pid < 2**31:
        return False
    if host != socket.gethostname() or not _pid_exists(pid):
        return False
    recorded_boot = record.get("boot_id")
    if isinstance(recorded_boot, str) and recorded_boot and recorded_boot != boot_id():
        return False
    now_ticks = process_start_ticks(pid)
    recorded = record.get("pid_start")
    if isinstance(recorded, int) and not isinstance(recorded, bool):
        return now_ticks is None or now_ticks == recorded
    return _started_before(now_ticks, record.get("started"))


def _started_before(ticks: int | None, started: Any) -> bool:
    """An old record: the live pid can be the writer only if it started before the run."""
    boot = _boot_time()
    if ticks is None or boot is None or not isinstance(started, str):
        return True  # nothing to compare (no /proc): the pid is all there is
    try:
        run_start = datetime.fromisoformat(started).timestamp()
    except (ValueError, OverflowError, OSError):
        return True
    proc_start = boot + ticks / os.sysconf("SC_CLK_TCK")
    return proc_start <= run_start + 2.0  # started is rounded to the second


def probe(folder: Path) -> bool | None:
    """True: a live process holds folder's run lock; False: the lock file exists and nobody
    holds it (the writer ended or died); None: no lock file to consult. Changes nothing."""
    path = Path(folder) / LOCK_NAME
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
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
    """What the lock's holder recorded (pid, host...), or {} when it cannot be read."""
    path = Path(folder) / LOCK_NAME
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return {}
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            data = os.read(fd, 4096)
        finally:
            os.close(fd)
        value = json.loads(data.decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


class RunLock:
    """The writer's exclusive lock on one run folder (which must exist)."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise LockHeld; OSError when the file cannot be made."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            for attempt in range(_TRIES):
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if attempt == _TRIES - 1:
                        raise LockHeld(holder(self.path.parent)) from None
                    time.sleep(0.02)
            # who holds it, for the message another process shows (never the lock's meaning)
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(identity()).encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # the kernel drops the flock with the last descriptor
            self._fd = None

    def __del__(self) -> None:  # a writer dropped without close(): never keep a run locked
        self.release()
