"""The CLI: a real run, the files it writes, and exit code 2 with a clear line on bad input."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bedash.cli import format_results, main

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--dataset", "synthetic", "--train-size", "256", "--test-size", "64", "--epochs", "1",
        "--hidden", "16", "--members", "3", "--device", "cpu", "--quiet"]  # fmt: skip


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "bedash", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.mark.slow  # a subprocess, a server or several seconds of training
def test_train_end_to_end_in_a_subprocess(tmp_path: Path) -> None:
    out = tmp_path / "run"
    p = run_cli("train", *TINY, "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert "ens acc" in p.stdout and "batchensemble" in p.stdout and "run finished" in p.stdout
    for name in ("config.json", "history.csv", "results.csv", "members.csv",
                 "agreement_batchensemble.csv", "agreement_ensemble.csv"):  # fmt: skip
        assert (out / name).is_file(), name
    with open(out / "results.csv") as f:
        assert [r["model"] for r in csv.DictReader(f)] == ["batchensemble", "ensemble", "single"]
    again = run_cli("train", *TINY, "--out", str(out))
    assert again.returncode == 2 and "--overwrite" in again.stderr
    assert "Traceback" not in again.stderr


def test_default_out_goes_to_runs_dir(tmp_path: Path) -> None:
    assert main(["train", *TINY, "--models", "single", "--runs-dir", str(tmp_path / "runs")]) == 0
    (run,) = list((tmp_path / "runs").iterdir())
    assert (run / "results.csv").is_file()


@pytest.mark.parametrize(
    ("flags", "text"),
    [
        (["--members", "0"], "--members: must be from 1 to 64 (got 0)"),
        (["--members", "65"], "--members: must be from 1 to 64 (got 65)"),
        (["--hidden", "0"], "--hidden: must be from 1"),
        (["--epochs", "0"], "--epochs: must be from 1"),
        (["--lr", "0"], "--lr: must be a finite number > 0"),
        (["--lr", "nan"], "--lr: must be a finite number > 0 (got nan)"),
        (["--lr", "-1"], "--lr: must be a finite number > 0"),
        (["--lr", "inf"], "--lr: must be a finite number > 0 (got inf)"),
        (["--arch", "vit"], "--arch: unknown value 'vit'; allowed: mlp, cnn"),
        (["--train-size", "0"], "--train-size: must be from 1"),
        (["--batch-size", "0"], "--batch-size: must be from 1"),
        (["--models", "batchensemble,forest"], "--models: unknown value 'forest'; allowed:"),
        (["--device", "cuda:3"], "--device: 'cuda:3' is not available here; available: auto, cpu"),
        (["--device", "tpu"], "available: auto, cpu"),
        (["--fast-init", "zero"], "--fast-init: unknown value 'zero'; allowed: signs, normal"),
        (["--batch-size", "5000"], "--batch-size: 5000 is larger than the training set (256"),
        (["--members", "x"], "invalid int value"),
    ],
)
def test_bad_input_exits_2_with_a_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, flags: list[str], text: str
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["train", *TINY, "--out", str(tmp_path / "r"), *flags])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert text in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()  # nothing written for a refused run


def test_dataset_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "empty").mkdir()
    for dataset, text in ((str(tmp_path / "nope"), "--dataset: folder"),
                          (str(tmp_path / "empty"), "train is missing")):  # fmt: skip
        with pytest.raises(SystemExit) as info:
            main(["train", *TINY, "--dataset", dataset, "--out", str(tmp_path / "r")])
        assert info.value.code == 2 and text in capsys.readouterr().err


def test_cifar_not_downloadable_says_where_to_put_files(tmp_path: Path) -> None:
    p = run_cli("train", *TINY, "--dataset", "cifar10", "--no-download",
                "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "r"))  # fmt: skip
    assert p.returncode == 2
    assert "cifar-10-python.tar.gz" in p.stderr and "data_batch_1" in p.stderr
    assert "Traceback" not in p.stderr


def test_demo_profile_caps_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("BEDASH_PROFILE", "demo")
    with pytest.raises(SystemExit) as info:
        main(["train", *TINY, "--members", "9", "--out", str(tmp_path / "r")])
    assert info.value.code == 2 and "(demo limit)" in capsys.readouterr().err


def test_runs_list(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    runs = tmp_path / "runs"
    assert main(["train", *TINY, "--models", "single", "--out", str(runs / "a1")]) == 0
    (runs / "b2").mkdir()
    (runs / "b2" / "config.json").write_text("{not json")
    (runs / "c3").mkdir()
    (runs / "c3" / "config.json").write_text('{"models": 5}')  # edited by hand
    (runs / "c3" / "status.json").write_text('{"status": "finished"}')
    capsys.readouterr()
    assert main(["runs", "list", "--runs-dir", str(runs)]) == 0
    out = capsys.readouterr().out
    assert "a1  finished" in out and "b2  damaged" in out and "invalid JSON" in out
    assert "c3  damaged" in out and "config.json has a bad 'models': 5" in out
    with pytest.raises(SystemExit) as info:
        main(["runs", "list", "--runs-dir", str(tmp_path / "none")])
    assert info.value.code == 2 and "--runs-dir:" in capsys.readouterr().err


def test_results_table_labels_every_accuracy() -> None:
    row = {
        "model": "batchensemble", "members": 5, "params": 1234, "params_rel_single": 1.04,
        "train_seconds": 3.0, "infer_seconds": 0.1, "mean_member_acc": 0.5, "ensemble_acc": 0.6,
        "vote_acc": 0.58, "oracle_acc": 0.8, "nll": 1.2, "ece": 0.05, "status": "finished",
    }  # fmt: skip
    text = format_results([row, {"model": "single", "status": "diverged"}])
    for label in ("member acc", "ens acc", "vote acc", "oracle"):
        assert label in text
    assert "0.6000" in text and "1,234" in text and "diverged" in text


def test_a_crash_before_the_run_folder_exists_points_nowhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import bedash.experiment as experiment

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the loader broke")

    monkeypatch.setattr(experiment, "load_dataset", broken)
    assert main(["train", *TINY, "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert "failed: RuntimeError: the loader broke" in err
    assert "status.json" not in err and not (tmp_path / "r").exists()
