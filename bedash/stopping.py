"""Ctrl-C and SIGTERM for the commands (train, sweep): the same rules for both signals.

Left to Python's default, SIGTERM (a service manager, SLURM, Kubernetes, `kill`) kills the
process on the spot: no "cancelled" status, no results table, cells left marked running. Here the
first signal asks the work to stop and keep what it measured; a second, or one before there is
anything to keep (imports, loading), aborts with one line. Exit code: 128 + the signal, as a
shell reports it (130 for Ctrl-C, 143 for SIGTERM).
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)
NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


class Stopped(KeyboardInterrupt):
    """Abort now, with the signal's number; a KeyboardInterrupt, so every cleanup still runs."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(NAMES.get(signum, str(signum)))
        self.signum = signum


_received: list[int] = []  # the signals since the last install, in order


def exit_code(e: BaseException | None = None) -> int:
    """128 + the signal that stopped the work: e's when it carries one, else the first one
    received since install, else Ctrl-C's (a KeyboardInterrupt from elsewhere)."""
    if isinstance(e, Stopped):
        return 128 + e.signum
    return 128 + (_received[0] if _received else signal.SIGINT)


def word(e: BaseException | None = None) -> str:
    """ "interrupted" (Ctrl-C) or "terminated" (SIGTERM), for the one line said on the way out."""
    return "terminated" if exit_code(e) == 128 + signal.SIGTERM else "interrupted"


def install(
    cancel: threading.Event, doing: str, *, keep: Callable[[], bool] = lambda: True
) -> Callable[[], None]:
    """Handle SIGINT and SIGTERM until the returned function restores the previous handlers. The
    first signal sets `cancel` and says `doing` when keep() says there is something to keep;
    otherwise, and on any later signal, Stopped is raised. Off the main thread: nothing."""
    _received.clear()
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: Any) -> None:
        _received.append(signum)
        if cancel.is_set() or not keep():
            raise Stopped(signum)
        cancel.set()
        if signum == signal.SIGINT:
            print(f"\n{doing} (Ctrl-C again to abort)...", file=sys.stderr)
        else:
            name = NAMES.get(signum, signum)
            print(f"\n{name}: {doing} (a second signal aborts)...", file=sys.stderr)

    previous = {s: signal.signal(s, handler) for s in SIGNALS}

    def restore() -> None:
        for s, h in previous.items():
            signal.signal(s, h)

    return restore
