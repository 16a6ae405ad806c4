"""The command line: `bedash train|sweep|runs|bench|export|dashboard ...` (or `python -m bedash`).

Each command lives with its feature (bedash/cli.py, bedash/sweep/cli.py, bedash/benchmark/cli.py,
bedash/export.py) and is imported only when called: `bedash runs list` never loads torch. A Ctrl-C
anywhere, imports included, ends with one line and exit code 130 (143 after SIGTERM), never a
traceback. The BEDASH_* environment is checked first, as flags are: a bad value exits 2 naming it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from bedash import stopping
from bedash.settings.profile import EnvError, check_env


def main(argv: Sequence[str] | None = None) -> int:
    """The entry point of the `bedash` command and of `python -m bedash`."""
    try:
        check_env()
    except EnvError as e:
        print(f"bedash: {e.field}: {e.message}", file=sys.stderr)
        return 2
    try:
        return _dispatch(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt as e:
        return interrupted(e)


def interrupted(e: BaseException | None = None) -> int:
    """Say so in one line; return what a shell expects: 128 + the signal (130, 143)."""
    print(f"\nbedash: {stopping.word(e)}", file=sys.stderr)
    return stopping.exit_code(e)


def _dispatch(argv: list[str]) -> int:
    if argv[:1] == ["bench"]:  # the benchmark has its own parser
        from bedash.benchmark.cli import main as bench

        return bench(argv[1:])
    if argv[:1] == ["dashboard"]:  # becomes the Streamlit server
        from bedash.serve import main as dashboard

        return dashboard(argv[1:])
    if argv[:1] == ["sweep"]:  # seed sweeps have their own parser
        from bedash.sweep.cli import main as sweep

        return sweep(argv[1:])
    if argv[:1] == ["export"]:
        from bedash.export import main as export

        return export(argv[1:])
    from bedash.cli import run

    return run(argv)


if __name__ == "__main__":
    try:
        code = main()
    except KeyboardInterrupt:  # between main's return and here
        code = interrupted()
    sys.exit(code)
