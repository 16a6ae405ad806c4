"""`bedash dashboard`: start the dashboard from an installed package or a clone, from any folder.

It runs `streamlit run` on the dashboard's entry script with the settings of the dashboard's
config.toml given as flags (Streamlit reads `.streamlit/config.toml` only from the folder it is
started in), and hands the process over to it (exec), so Ctrl-C and signals reach Streamlit.
This module never imports streamlit: the core stays free of it (tests/test_layout.py).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bedash.names import program
from bedash.settings.profile import HOME_HELP, home
from bedash.store.folders import RunDirError, check_output_place

PACKAGE = Path(__file__).resolve().parent
# the one file of Streamlit settings; a clone's .streamlit/config.toml is a link to it
CONFIG = PACKAGE / "dashboard" / "config.toml"


def entry_script() -> Path:
    """The entry script with the pages beside it: bedash/dashboard/app.py in a wheel (pyproject
    maps pages/ to bedash/dashboard/pages/), else the clone's top-level app.py."""
    if (PACKAGE / "dashboard" / "pages").is_dir():
        return PACKAGE / "dashboard" / "app.py"
    return PACKAGE.parent / "app.py"


def _flag_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def config_flags(path: Path = CONFIG) -> list[str]:
    """Every setting of a Streamlit config.toml as a `--section.key=value` flag."""
    with path.open("rb") as f:
        table = tomllib.load(f)
    return [
        f"--{section}.{key}={_flag_value(value)}"
        for section, options in table.items()
        for key, value in options.items()
    ]


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit() and 1 <= int(text[:6]) <= 65535):
        raise argparse.ArgumentTypeError(f"must be a port number from 1 to 65535 (got {text!r})")
    return int(text)


def parser() -> argparse.ArgumentParser:
    """The `bedash dashboard` flags."""
    ap = argparse.ArgumentParser(prog=f"{program()} dashboard", description="Start the dashboard.")
    ap.add_argument("--runs-dir", help=HOME_HELP)
    ap.add_argument("--port", type=_port, default=8501, help="the port (default: 8501)")
    ap.add_argument(
        "--host",
        default="localhost",
        help="the address to listen on (default: localhost, this machine only; 0.0.0.0 for "
        "every interface: anyone who reaches it can start jobs and delete runs)",
    )
    return ap


def command(args: argparse.Namespace) -> list[str]:
    """The streamlit command line for these flags."""
    where = [f"--server.port={args.port}", f"--server.address={args.host}"]
    return [sys.executable, "-m", "streamlit", "run", str(entry_script()), *config_flags(), *where]


def main(argv: Sequence[str]) -> int:
    """Check the flags, then become the Streamlit server (returns only on bad input: exit 2)."""
    ap = parser()
    args = ap.parse_args(argv)
    runs_dir = home(args.runs_dir)
    try:
        check_output_place(runs_dir, "--runs-dir")
    except RunDirError as e:
        ap.exit(2, f"{ap.prog}: error: --runs-dir: {e.message}\n")
    if importlib.util.find_spec("streamlit") is None:
        ap.exit(2, f"{ap.prog}: error: the dashboard needs streamlit: pip install streamlit\n")
    if not entry_script().is_file():
        ap.exit(2, f"{ap.prog}: error: the dashboard's pages are missing: {entry_script()}\n")
    where = os.path.abspath(runs_dir)
    print(f"bedash: the dashboard at http://{args.host}:{args.port} (runs: {where})", flush=True)
    env = {**os.environ, "BEDASH_RUNS_DIR": where}
    cmd = command(args)
    os.execve(cmd[0], cmd, env)
    return 0  # not reached
