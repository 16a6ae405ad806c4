"""The CLI: a real run, the files it writes, and exit code 2 with a clear line on bad input."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bedash.__main__ import main
from bedash.cli import format_results
from bedash.names import FieldError
from bedash.settings.config import RunConfig

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
        (["--arch", "vit"], "--arch: unknown value 'vit'; allowed: mlp, cnn, resnet"),
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


# -- the parser is generated from RunConfig's metadata -------------------------------------------


def cli_reaches(name: str) -> object:
    """Set field `name` to its example value with its flag; return what config_from_args made."""
    from bedash.cli import build_parser, config_from_args
    from bedash.settings.config import example_value, spec

    s, value = spec(name), example_value(name)
    if s.type.name == "bool":
        flags = [s.flag] if value != s.default else []
    elif s.type.name == "list":
        flags = [s.flag, ",".join(value)]
    else:
        flags = [s.flag, str(value)]
    args = build_parser().parse_args(["train", *flags])
    return getattr(config_from_args(args), name)


def test_every_setting_reaches_the_cli() -> None:
    from bedash.cli import build_parser
    from bedash.settings.config import example_value, field_names, flag

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    by_dest = {a.dest: a for a in train._actions}
    for name in field_names():  # every RunConfig field but the free-form `extra`
        assert flag(name) in by_dest[name].option_strings, name
        assert cli_reaches(name) == example_value(name), name


def test_the_flags_contract_is_kept() -> None:
    from bedash.cli import build_parser, config_from_args

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    known = {opt for action in train._actions for opt in action.option_strings}
    contract = """--dataset --data-dir --models --arch --members --hidden --layers --channels
        --epochs --batch-size --lr --weight-decay --device --seed --fast-init --fast-init-std
        --fast-lr-mult --bias --member-batch --train-size --test-size --eval-batch-size
        --compile --no-cuda-graphs --out --runs-dir --overwrite --no-download --quiet"""
    assert set(contract.split()) <= known
    defaults = config_from_args(build_parser().parse_args(["train"]))
    assert defaults == RunConfig() and defaults.cuda_graphs and not defaults.compile
    off = build_parser().parse_args(["train", "--no-cuda-graphs", "--compile"])
    assert not config_from_args(off).cuda_graphs and config_from_args(off).compile
    assert build_parser().parse_args(["runs", "list", "--runs-dir", "x"]).runs_dir == "x"


def test_help_shows_bounds_choices_and_the_profiles_caps() -> None:
    from bedash.cli import build_parser
    from bedash.settings.profile import DEMO_LIMITS

    text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    assert "1 to 64; default: 5" in text and "mlp | cnn | resnet; default: mlp" in text
    assert "Models and architecture:" in text and "The BatchEnsemble recipe:" in text
    demo = build_parser(DEMO_LIMITS)._subparsers._group_actions[0].choices["train"]
    assert "1 to 8; default: 5" in demo.format_help()


# -- errors name the flag from the error's field ---------------------------------------------------


class _DatasetLike(Exception):  # an error that carries its field without being a FieldError
    field, message = "data_dir", "is a file"


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (FieldError("batch_size", "too big for this GPU"), "--batch-size: too big for this GPU"),
        (FieldError("cuda_graphs", "not here"), "--no-cuda-graphs: not here"),
        (FieldError("out", "holds another run"), "--out: holds another run"),
        (FieldError("runs_dir", "is read-only"), "--runs-dir: is read-only"),
        (_DatasetLike(), "--data-dir: is a file"),
    ],
)
def test_a_field_error_names_its_flag(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, error: Exception, text: str
) -> None:
    import bedash.experiment as experiment

    def refuse(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(experiment, "run_experiment", refuse)
    with pytest.raises(SystemExit) as info:
        main(["train", *TINY])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err == f"bedash train: error: {text}\n"


# -- exit codes: diverged, interrupted -------------------------------------------------------


def test_a_diverged_run_exits_1_and_still_prints_its_results(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "r"
    code = main(["train", *TINY, "--models", "single", "--lr", "1e30", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 1
    assert "diverged" in captured.out and "run diverged:" in captured.out  # the table, the path
    assert "run diverged: single (loss or weights not finite)" in captured.err
    assert (out / "results.csv").is_file() and "Traceback" not in captured.err


def _interrupt(*args: object, **kwargs: object) -> None:
    raise KeyboardInterrupt


@pytest.mark.parametrize("where", ["run_experiment", "load_dataset", "cmd_runs", "build_parser"])
def test_ctrl_c_anywhere_in_main_exits_130_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, where: str
) -> None:
    import bedash.cli as cli
    import bedash.experiment as experiment

    module = cli if where in ("cmd_runs", "build_parser") else experiment
    monkeypatch.setattr(module, where, _interrupt)
    argv = ["runs", "list", "--runs-dir", str(tmp_path)] if where == "cmd_runs" else TINY
    assert (
        main(argv if where == "cmd_runs" else ["train", *argv, "--out", str(tmp_path / "r")]) == 130
    )
    err = capsys.readouterr().err
    assert err.strip() == "bedash: interrupted" and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_python_m_bedash_catches_ctrl_c_outside_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import runpy

    import bedash.cli as cli

    monkeypatch.setattr(cli, "run", _interrupt)  # a Ctrl-C in whatever the command runs
    with pytest.raises(SystemExit) as info:
        runpy.run_module("bedash", run_name="__main__")
    assert info.value.code == 130 and "bedash: interrupted" in capsys.readouterr().err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_before_training_aborts_and_during_training_stops_after_a_batch(
    signum: int, capsys: pytest.CaptureFixture
) -> None:
    """Ctrl-C and SIGTERM (a scheduler's, a service manager's) follow the same rules; the
    exit code is 128 + the signal's number."""
    import threading

    from bedash import stopping

    cancel, state = threading.Event(), {"training": False}
    restore = stopping.install(cancel, "stopping after this batch", keep=lambda: state["training"])
    try:
        for s in stopping.SIGNALS:
            assert signal.getsignal(s) is signal.getsignal(signum)  # one handler for both
        handler = signal.getsignal(signum)
        with pytest.raises(KeyboardInterrupt) as info:  # loading data: nothing to keep, stop now
            handler(signum, None)
        assert not cancel.is_set() and stopping.exit_code(info.value) == 128 + signum
        state["training"] = True
        handler(signum, None)  # training: finish the batch, keep what was measured
        assert cancel.is_set() and "stopping after this batch" in capsys.readouterr().err
        with pytest.raises(KeyboardInterrupt):  # the second: abort
            handler(signum, None)
        assert stopping.exit_code() == 128 + signum
        assert stopping.word() == ("interrupted" if signum == signal.SIGINT else "terminated")
    finally:
        restore()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # as it was before
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# -- runs list prints text from files as plain text ------------------------------------------


def test_runs_list_escapes_control_characters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from types import SimpleNamespace

    import bedash.cli as cli

    evil = SimpleNamespace(
        run_id="r\x1b]0;owned\x07", status="finished\x1b[2J", config={"models": ["single\r"]},
        reason="bad\nline \ud800 \u202etxt.exe",
    )  # fmt: skip
    monkeypatch.setattr(cli, "list_runs", lambda d: [evil])
    assert main(["runs", "list", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "\x1b" not in out and "\x07" not in out and "\r" not in out
    assert "r\\x1b]0;owned\\x07" in out and "finished\\x1b[2J" in out and "single\\r" in out
    assert "bad\\nline \\ud800 \\u202etxt.exe" in out
    out.encode("utf-8")  # no lone surrogate left: printable anywhere


def test_runs_list_escapes_what_a_real_folder_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import json

    run = tmp_path / "a1"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"models": ["single\x1b[31m"]}))
    (run / "status.json").write_text(json.dumps({"status": "failed", "error": "\x1b[2J"}))
    assert main(["runs", "list", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "a1" in out and "\x1b" not in out


# -- Ctrl-C at every moment, in a real process -------------------------------------------------

HARNESS = r"""
import os, sys, time, runpy
phase, argv = sys.argv[1], sys.argv[2:]


def hold(label):  # stand still at this moment until the test's SIGINT arrives
    print("PHASE " + label, file=sys.stderr, flush=True)
    time.sleep(float(os.environ.get("HOLD", "60")))


if phase == "import":  # importing a module (torch: seconds on a busy machine)
    class Hold:
        def find_spec(self, name, path=None, target=None):
            if name == os.environ["HOLD_MODULE"]:
                hold("import")
            return None

    sys.meta_path.insert(0, Hold())
elif phase == "load":  # loading the data (a download: minutes)
    import bedash.experiment as experiment

    real_load = experiment.load_dataset
    experiment.load_dataset = lambda *a, **k: (hold("load"), real_load(*a, **k))[1]
elif phase == "write":  # writing a model's results
    import bedash.store.writer as writer

    real_add = writer.RunWriter.add_result
    writer.RunWriter.add_result = lambda self, *a, **k: (hold("write"), real_add(self, *a, **k))[1]
sys.argv = ["bedash", *argv]
runpy.run_module("bedash", run_name="__main__", alter_sys=True)
"""


def interrupt_at(
    marker: str, phase: str, argv: list[str], signals: int = 1, sig: int = 2, **env: str
):
    """Run the CLI, send signal `sig` (SIGINT) `signals` times once stderr shows `marker`;
    (rc, out, err)."""
    import queue
    import threading
    import time

    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    p = subprocess.Popen([sys.executable, "-c", HARNESS, phase, *argv], cwd=ROOT, env=full_env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=lambda: [*map(lines.put, p.stderr), lines.put(None)])
    reader.start()
    err: list[str] = []
    try:
        while not any(marker in line for line in err):
            line = lines.get(timeout=120)
            assert line is not None, f"ended before {marker!r}: {''.join(err)}"
            err.append(line)
        for _ in range(signals):
            p.send_signal(sig)
            time.sleep(0.5)
        rc = p.wait(timeout=120)
    finally:
        p.kill()
    reader.join(timeout=10)
    while (line := lines.get(timeout=10)) is not None:  # the rest, up to the reader's None
        err.append(line)
    return rc, p.stdout.read(), "".join(err)


@pytest.fixture
def earlier_run(tmp_path: Path) -> Path:
    """A finished run that no Ctrl-C may touch."""
    run = tmp_path / "runs" / "earlier"
    assert main(["train", *TINY, "--models", "single", "--out", str(run)]) == 0
    return run


def _digest(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.slow  # subprocesses
@pytest.mark.parametrize(
    "module", ["bedash.store.runs", "torch"]
)  # in __main__'s import, in main's
def test_ctrl_c_during_imports_exits_130_without_a_traceback(tmp_path: Path, module: str) -> None:
    rc, _, err = interrupt_at("PHASE import", "import", ["train", *TINY, "--out",
                                str(tmp_path / "r")], HOLD_MODULE=module)  # fmt: skip
    assert rc == 130, err
    assert "bedash: interrupted" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


@pytest.mark.slow  # subprocesses
def test_ctrl_c_during_data_loading_exits_130_and_keeps_the_run_it_would_replace(
    earlier_run: Path,
) -> None:
    before = _digest(earlier_run)
    rc, _, err = interrupt_at(
        "PHASE load", "load", ["train", *TINY, "--out", str(earlier_run), "--overwrite"]
    )
    assert rc == 130, err
    assert "bedash: interrupted" in err and "Traceback" not in err
    assert _digest(earlier_run) == before  # --overwrite had not begun: the finished run stays


@pytest.mark.slow  # subprocesses
@pytest.mark.parametrize("signals", [1, 2])
def test_ctrl_c_during_training_exits_130(earlier_run: Path, signals: int) -> None:
    before = _digest(earlier_run)
    out_dir = earlier_run.parent / "new"
    tiny = [f for f in TINY if f != "--quiet"]
    rc, out, err = interrupt_at("training batchensemble", "train", ["train", *tiny, "--epochs",
                                "50", "--out", str(out_dir)], signals=signals)  # fmt: skip
    # a second Ctrl-C that lands while the interpreter shuts down (the run already stopped)
    # ends the process by SIGINT itself: the shell reports that as 130 too
    assert rc in (130, -signal.SIGINT), err
    assert "Traceback" not in err
    if signals == 1:  # stops after the current batch; what was measured is kept and shown
        assert "stopping after this batch" in err and "run cancelled" in out
        assert (out_dir / "results.csv").is_file()
    else:  # the one line, unless the process was already shutting down (see above)
        assert "bedash: interrupted" in err or rc == -signal.SIGINT
    assert _digest(earlier_run) == before


@pytest.mark.slow  # subprocesses
def test_sigterm_during_training_keeps_what_was_measured_and_exits_143(
    earlier_run: Path,
) -> None:
    """A scheduler's SIGTERM is a first Ctrl-C: the run stops after the batch, is marked
    cancelled with its results written, and the process says so in one line, exit 143."""
    out_dir = earlier_run.parent / "new"
    tiny = [f for f in TINY if f != "--quiet"]
    rc, out, err = interrupt_at("training batchensemble", "train", ["train", *tiny, "--epochs",
                                "50", "--out", str(out_dir)], sig=signal.SIGTERM)  # fmt: skip
    assert rc == 143, err
    assert "Traceback" not in err and "SIGTERM: stopping after this batch" in err
    assert "run cancelled" in out and (out_dir / "results.csv").is_file()
    status = json.loads((out_dir / "status.json").read_text())
    assert status["status"] == "cancelled"


@pytest.mark.slow  # subprocesses
def test_ctrl_c_while_writing_results_exits_130_and_the_run_is_whole(tmp_path: Path) -> None:
    out_dir = tmp_path / "r"
    rc, out, err = interrupt_at("PHASE write", "write", ["train", *TINY, "--models", "single",
                                "--out", str(out_dir)], HOLD="2")  # fmt: skip
    assert rc == 130, err
    assert "Traceback" not in err and "run finished" in out  # the last batch was done
    with open(out_dir / "results.csv") as f:
        assert [r["status"] for r in csv.DictReader(f)] == ["finished"]


@pytest.mark.slow  # a subprocess
def test_the_cli_imports_torch_only_when_a_run_needs_it(tmp_path: Path) -> None:
    code = "import sys, bedash.cli; print('torch' in sys.modules)"
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert p.stdout.strip() == "False", p.stderr  # a Ctrl-C in torch's import reaches main
    listed = run_cli("runs", "list", "--runs-dir", str(tmp_path))
    assert listed.returncode == 0 and "no runs in" in listed.stdout


def test_no_download_reaches_the_ood_sets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """--no-download with --ood svhn and no SVHN on disk: exit 2, one line naming --ood and
    saying where to put the file; the download is never attempted (scipy present or not)."""
    import types

    import torchvision.datasets

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("went to the network")

    monkeypatch.setitem(sys.modules, "scipy", types.ModuleType("scipy"))
    monkeypatch.setitem(sys.modules, "scipy.io", types.ModuleType("scipy.io"))
    monkeypatch.setattr(torchvision.datasets, "SVHN", no_network)
    argv = ["train", *TINY, "--ood", "svhn", "--no-download", "--data-dir", str(tmp_path / "d"),
            "--out", str(tmp_path / "r")]  # fmt: skip
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "network" not in err
    assert err.startswith("bedash train: error: --ood: SVHN is not in ")
    assert "downloads are turned off" in err and "test_32x32.mat" in err and "by hand" in err
    assert not (tmp_path / "r").exists()
