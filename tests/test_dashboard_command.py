"""`bedash dashboard`: the flags are checked before Streamlit starts, and the Streamlit settings
of the one config file reach the server from any folder (the browser test of an installed
package is tests/test_e2e_installed.py)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bedash import serve

ROOT = Path(__file__).resolve().parents[1]


def bedash(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bedash", "dashboard", *args],
        capture_output=True, text=True, cwd=cwd, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},  # this checkout's bedash, from any folder
    )  # fmt: skip


def test_every_setting_of_the_clone_config_becomes_a_flag() -> None:
    # read through the clone's .streamlit/config.toml, the file `streamlit run app.py` reads
    with (ROOT / ".streamlit" / "config.toml").open("rb") as f:
        table = tomllib.load(f)
    flags = serve.config_flags()
    assert len(flags) == sum(len(options) for options in table.values())
    assert "--server.maxUploadSize=50" in flags  # not Streamlit's default of 200 MB
    assert "--server.fileWatcherType=none" in flags
    assert "--browser.gatherUsageStats=false" in flags  # a bool as Streamlit's flags spell it
    assert "--server.enableXsrfProtection=true" in flags


def test_the_command_runs_the_clone_app_with_the_flags_and_address() -> None:
    cmd = serve.command(argparse.Namespace(port=8123, host="127.0.0.1"))
    assert cmd[:4] == [sys.executable, "-m", "streamlit", "run"]
    assert cmd[4] == str(ROOT / "app.py")  # a clone: pages/ is beside app.py
    assert cmd[-2:] == ["--server.port=8123", "--server.address=127.0.0.1"]


@pytest.mark.parametrize("port", ["0", "65536", "80a", "99999999999999999999"])
def test_a_bad_port_exits_2_naming_it(tmp_path: Path, port: str) -> None:
    r = bedash("--port", port, cwd=tmp_path)
    assert r.returncode == 2
    assert "--port" in r.stderr and "from 1 to 65535" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "runs").exists()


def test_a_runs_dir_that_cannot_be_used_exits_2_naming_it(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    r = bedash("--runs-dir", str(tmp_path / "afile" / "runs"), cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "--runs-dir" in r.stderr and "is not a folder" in r.stderr
    assert "Traceback" not in r.stderr


def test_help_lists_the_flags() -> None:
    r = bedash("--help", cwd=ROOT)
    assert r.returncode == 0
    for flag in ("--runs-dir", "--port", "--host"):
        assert flag in r.stdout


def test_train_and_runs_list_use_bedash_runs_dir_as_the_dashboard_does(tmp_path: Path) -> None:
    """One home: without --runs-dir, `bedash train` writes where the dashboard reads."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BEDASH_RUNS_DIR": str(tmp_path / "home")}
    train = subprocess.run(
        [sys.executable, "-m", "bedash", "train", "--dataset", "synthetic", "--epochs", "1",
         "--train-size", "128", "--test-size", "64", "--hidden", "8", "--members", "2",
         "--models", "single", "--device", "cpu", "--quiet"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
    )  # fmt: skip
    assert train.returncode == 0, train.stderr[-2000:]
    (run,) = (tmp_path / "home").iterdir()
    assert (run / "results.csv").is_file() and not (tmp_path / "runs").exists()
    listed = subprocess.run(
        [sys.executable, "-m", "bedash", "runs", "list"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60,
    )  # fmt: skip
    assert listed.returncode == 0 and run.name in listed.stdout
    # the flag still wins over the variable
    other = subprocess.run(
        [sys.executable, "-m", "bedash", "runs", "list", "--runs-dir", str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60,
    )  # fmt: skip
    assert run.name not in other.stdout
