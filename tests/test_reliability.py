"""Faults at the library/CLI level: a full disk mid-run, an unusable output folder, kill -9."""

from __future__ import annotations

import csv
import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bedash.__main__ import main
from bedash.store import writer as R
from bedash.store.runs import list_runs, read_run

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "train", "--dataset", "synthetic", "--train-size", "256", "--test-size", "64",
    "--epochs", "2", "--hidden", "16", "--members", "3", "--device", "cpu", "--quiet",
]  # fmt: skip


def test_disk_full_mid_run_is_reported_and_earlier_files_stay_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    real = R.atomic_write_text

    def full(path: Path, text: str) -> None:
        if (
            Path(path).name in ("results.csv", "status.json")
            and (Path(path).parent / "history.csv").exists()
        ):
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, text)

    monkeypatch.setattr(R, "atomic_write_text", full)
    assert main([*TINY, "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "intact" in err and "Traceback" not in err
    with open(tmp_path / "r" / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows if r["member"] == ""] == ["1", "2"]  # whole, parseable
    assert (tmp_path / "r" / "config.json").read_text().startswith("{")


def test_unusable_output_folder_is_a_clear_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit) as info:
        main([*TINY, "--out", str(tmp_path / "file" / "run")])
    assert info.value.code == 2
    assert "cannot write to" in capsys.readouterr().err


@pytest.mark.slow  # a subprocess, a server or several seconds of training
def test_kill_9_mid_run_leaves_an_interrupted_run_and_others_intact(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    assert main([*TINY, "--out", str(runs / "done")]) == 0
    before = {p.name: p.read_bytes() for p in (runs / "done").iterdir()}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [
        *TINY[:-3],
        "--epochs",
        "500",
        "--device",
        "cpu",
        "--quiet",
        "--out",
        str(runs / "killed"),
    ]
    proc = subprocess.Popen([sys.executable, "-m", "bedash", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    history = runs / "killed" / "history.csv"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if history.exists() and history.read_text().count("\n") > 8:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the run wrote no history within 60 s")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    got = {r.run_id: r for r in list_runs(runs)}
    assert got["killed"].status == "interrupted"
    assert got["done"].status == "finished"
    assert {p.name: p.read_bytes() for p in (runs / "done").iterdir()} == before
    assert read_run(runs / "killed").reason.startswith("the process that ran it stopped")
    out = subprocess.run([sys.executable, "-m", "bedash", "runs", "list", "--runs-dir", str(runs)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert "killed  interrupted" in out.stdout and "done  finished" in out.stdout
