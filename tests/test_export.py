"""`bedash export tensorboard RUN... --to DIR`: the event files hold the run's own numbers
(read back with TensorBoard's EventAccumulator, compared with the CSVs read by the csv module);
bad input exits 2 in one line."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from bedash.export import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from bedash.experiment import run_experiment
    from tests.conftest import TINY

    out = tmp_path_factory.mktemp("runs") / "r1"
    assert run_experiment(TINY.replace(epochs=2, members=2), out).status == "finished"
    return out


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _member(row: dict[str, str]) -> str:
    return f"/member_{row['member']}" if row["member"] else ""


def test_export_writes_every_curve_and_final_metric_of_the_run(run: Path, tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert main(["tensorboard", str(run), "--to", str(tmp_path / "tb")]) == 0
    acc = EventAccumulator(str(tmp_path / "tb" / run.name), size_guidance={"scalars": 0})
    acc.Reload()
    got = {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}

    want: dict[str, list[tuple[int, float]]] = {}
    for r in _rows(run / "steps.csv"):
        step = round(float(r["x"]) * 1000)  # thousandths of an epoch
        want.setdefault(f"loss/{r['model']}{_member(r)}", []).append((step, float(r["loss"])))
    for r in _rows(run / "history.csv"):
        for col in ("loss", "epoch_seconds", "samples_per_s"):
            tag = f"epoch/{col}/{r['model']}{_member(r)}"
            want.setdefault(tag, []).append((int(r["epoch"]), float(r[col])))
    for r in _rows(run / "results.csv"):
        for col in ("ensemble_acc", "nll", "ece", "params", "train_seconds", "infer_seconds"):
            want[f"final/{col}/{r['model']}"] = [(2, float(r[col]))]
    assert {"loss/batchensemble", "loss/ensemble/member_1", "final/nll/single"} <= set(want)
    for tag, points in want.items():
        assert [s for s, _ in got[tag]] == [s for s, _ in points], tag
        assert [v for _, v in got[tag]] == pytest.approx([v for _, v in points], rel=1e-6), tag
    assert "config/text_summary" in acc.Tags()["tensors"]  # the run's settings, as text


@pytest.mark.parametrize(
    ("name", "words"),
    [("no-such-run", "RUN no-such-run: not a readable run folder (not a folder)"),
     ("notes", "RUN notes: not a readable run folder")],
)  # fmt: skip
def test_export_refuses_what_is_not_a_run_in_one_line(
    name: str,
    words: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("x")
    monkeypatch.chdir(tmp_path)  # RUN: a folder here, else an id in ./runs
    with pytest.raises(SystemExit) as info:
        main(["tensorboard", name, "--to", str(tmp_path / "tb")])
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        info.value.code == 2
        and len(err) == 1
        and err[0].startswith(f"bedash export: error: {words}")
    )
    assert not (tmp_path / "tb").exists()


def test_export_refuses_to_write_over_an_earlier_export_or_twice_one_name(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "tb" / run.name).mkdir(parents=True)
    for argv in ([str(run)], [str(run), str(run)]):
        with pytest.raises(SystemExit) as info:
            main(["tensorboard", *argv, "--to", str(tmp_path / "tb")])
        assert info.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"bedash export: error: --to: {tmp_path / 'tb' / run.name} exists")
    assert err[1] == f"bedash export: error: RUN {run}: two runs named r1 would share one folder"
    assert list((tmp_path / "tb").iterdir()) == [tmp_path / "tb" / run.name]


def test_export_without_tensorboard_says_how_to_install_it(run: Path, tmp_path: Path) -> None:
    code = "import sys; sys.modules['tensorboard'] = None; from bedash.__main__ import main; "
    code += "sys.exit(main(sys.argv[1:]))"
    done = subprocess.run(
        [sys.executable, "-c", code, "export", "tensorboard", str(run), "--to", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "bedash export: error: TensorBoard is not installed: pip install 'bedash[tensorboard]'"
    ]
    assert list(tmp_path.iterdir()) == []
