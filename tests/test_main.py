"""The command as a user meets it (issue 20): `--version`, `--help` listing every command under
the name it was called by, the sweep's true default engine, and run and sweep files that get the
umask's permissions like any other file."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("train", "sweep", "runs", "bench", "export", "dashboard")  # the commands issue 20 names


def _bedash(*argv: str, called: str | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m bedash ARGV`, or with sys.argv[0] = called (a console script's path)."""
    code = "import sys; from bedash.__main__ import main; "
    code += f"sys.argv[0] = {called!r}; " if called else "sys.argv[0] = 'bedash/__main__.py'; "
    code += "sys.exit(main(sys.argv[1:]))"
    cmd = [sys.executable, "-c", code, *argv]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_version_is_the_packages() -> None:
    done = _bedash("--version")
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert (done.returncode, done.stdout.strip()) == (0, f"bedash {version}")


@pytest.mark.parametrize(
    ("called", "name"),
    [(None, "python -m bedash"), ("/home/u/.venv/bin/bedash", "bedash")],
)
def test_help_lists_every_command_under_the_name_it_was_called_by(
    called: str | None, name: str
) -> None:
    done = _bedash("--help", called=called)
    assert done.returncode == 0
    usage = " ".join(done.stdout.split())  # argparse wraps a long usage line
    assert usage.startswith(f"usage: {name} [-h] [--version] {{{','.join(COMMANDS)}}}")
    for command in COMMANDS:
        assert f"\n    {command} " in done.stdout, command
    for command in ("sweep", "bench", "dashboard"):  # commands with parsers of their own say so too
        sub = _bedash(command, "--help", called=called)
        assert sub.stdout.startswith(f"usage: {name} {command} "), sub.stdout[:80]


def test_sweep_help_gives_the_default_engine_it_uses() -> None:
    from bedash.sweep.cli import build_parser

    parser = build_parser()
    engine = next(a for a in parser._actions if "--engine" in a.option_strings)
    assert parser.parse_args([]).engine == "auto"
    assert engine.help.startswith("auto (default): Ray where it is installed, else in this process")


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_run_and_sweep_files_get_the_umasks_permissions(umask: int, tmp_path: Path) -> None:
    """As any other file: 0o666 & ~umask, the mode a plain open() gives beside them (mkstemp's
    0600 kept a teammate or a dashboard's service account out)."""
    from bedash.experiment import run_experiment
    from bedash.sweep.cli import main as sweep
    from tests.conftest import TINY

    old = os.umask(umask)
    try:
        run_experiment(TINY, tmp_path / "run")
        argv = ["--dataset", "synthetic", "--train-size", "64", "--test-size", "32", "--epochs",
                "1", "--hidden", "8", "--seeds", "0", "--engine", "local", "--quiet"]  # fmt: skip
        assert sweep([*argv, "--out", str(tmp_path / "sweep")]) == 0
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(old)
    plain = stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode)
    assert plain == 0o666 & ~umask
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != ".bedash.lock"]
    assert {p.name for p in files} >= {"results.csv", "status.json", "steps.csv", "sweep.json"}
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == plain, p
