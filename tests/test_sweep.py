"""The sweep run loop (bedash.sweep.grid, folder, rows, run) and the sweep CLI: grid, sweep
folder, resume, cancel, failure, statistics.

Most tests drive run_sweep with a fake engine that returns hand-made run files, so the
statistics can be checked against values computed here; one test trains real tiny cells.
"""

from __future__ import annotations

import csv
import json
import math
import threading
from pathlib import Path
from typing import Any

import pytest

from bedash.names import RESULT_COLUMNS, ConfigError
from bedash.settings.config import RunConfig
from bedash.settings.profile import current_limits
from bedash.store.runs import read_run
from bedash.store.writer import csv_text
from bedash.sweep import cli as sweep_cli
from bedash.sweep.folder import SweepStore, read_sweep_json
from bedash.sweep.grid import CellOutcome, SweepError, SweepSpec, check_cells, parse_seeds
from bedash.sweep.run import run_sweep

BASE = RunConfig(dataset="synthetic", train_size=64, test_size=32, epochs=1, hidden=8,
                 members=2, device="cpu")  # fmt: skip
T2 = 4.302652730  # t(0.975, 2): three seeds
# ensemble_acc and nll per (members, seed, model): hand-made so the differences are round
VALUES = {
    (2, 0): {"batchensemble": (0.61, 1.10), "ensemble": (0.60, 1.00), "single": (0.50, 1.50)},
    (2, 1): {"batchensemble": (0.62, 1.12), "ensemble": (0.60, 1.00), "single": (0.52, 1.40)},
    (2, 2): {"batchensemble": (0.63, 1.14), "ensemble": (0.60, 1.00), "single": (0.54, 1.60)},
    (4, 0): {"batchensemble": (0.70, 0.90), "ensemble": (0.67, 1.00), "single": (0.50, 1.50)},
    (4, 1): {"batchensemble": (0.71, 0.95), "ensemble": (0.67, 1.00), "single": (0.52, 1.40)},
    (4, 2): {"batchensemble": (0.72, 0.92), "ensemble": (0.67, 1.00), "single": (0.54, 1.60)},
}


META = {"host": "fake", "bedash": "0.1.0"}  # what a run bedash wrote carries


def run_files(cfg: RunConfig, status: str = "finished") -> dict[str, bytes]:
    rows = []
    for model, (acc, nll) in VALUES[(cfg.members, cfg.seed)].items():
        rows.append({"model": model, "status": "finished", "members": cfg.members,
                     "seed": cfg.seed, "ensemble_acc": acc, "nll": nll,
                     "params": 100 if model == "batchensemble" else 300})  # fmt: skip
    return {
        "config.json": json.dumps({**cfg.to_dict(), "_meta": META}).encode(),
        "status.json": json.dumps({"status": status, "started": "x"}).encode(),
        "results.csv": csv_text(RESULT_COLUMNS, rows).encode(),
    }


class FakeEngine:
    """Answers each cell at once with hand-made files; `fail` cells fail, `stop_after` cells
    into the sweep it behaves like Ctrl-C (KeyboardInterrupt while one cell runs)."""

    name = "fake"

    def __init__(self, fail: tuple[str, ...] = (), stop_after: int | None = None) -> None:
        self.fail, self.stop_after = fail, stop_after
        self.ran: list[str] = []

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}

    def run(self, cells: list[Any], *, started: Any, ended: Any, cancel: Any, **_: Any) -> None:
        for i, cell in enumerate(cells):
            started(cell.id, {"node": "n1", "concurrent_runs": 1})
            if self.stop_after is not None and i == self.stop_after:
                raise KeyboardInterrupt
            self.ran.append(cell.id)
            if cell.id in self.fail:
                files = {"status.json": b'{"status": "failed", "error": "boom"}'}
                ended(CellOutcome(cell.id, "failed", files, error="RuntimeError: boom"), {})
            else:
                ended(CellOutcome(cell.id, "finished", run_files(cell.config), node="n1",
                                  started=1.0, ended=3.5), {"concurrent_runs": 1})  # fmt: skip


def spec() -> SweepSpec:
    return SweepSpec(BASE, {"members": [2, 4]}, [0, 1, 2])


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


# -- the grid ----------------------------------------------------------------------------------


def test_parse_seeds() -> None:
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("0,1,5") == [0, 1, 5]
    assert parse_seeds(" 0-2, 7 ") == [0, 1, 2, 7]
    assert parse_seeds("3") == [3]
    for bad in ("4-1", "a", "", "1,,2", "0-", "-1", "1.5"):
        with pytest.raises(SweepError) as e:
            parse_seeds(bad)
        assert e.value.field == "seeds"
    with pytest.raises(SweepError, match="twice"):
        parse_seeds("0-2,1")


def test_grid_expands_in_order_with_readable_ids() -> None:
    s = SweepSpec(BASE, {"members": [2, 4], "hidden": [8, 16]}, [0, 1])
    assert s.n_configs == 4 and s.n_cells == 8
    assert s.configs() == [{"members": 2, "hidden": 8}, {"members": 2, "hidden": 16},
                           {"members": 4, "hidden": 8}, {"members": 4, "hidden": 16}]  # fmt: skip
    cells = s.cells()
    assert [c.id for c in cells[:3]] == ["c00_members2_hidden8_s0", "c00_members2_hidden8_s1",
                                         "c01_members2_hidden16_s0"]  # fmt: skip
    last = cells[-1]
    assert (last.config.members, last.config.hidden, last.config.seed) == (4, 16, 1)
    assert last.config.epochs == BASE.epochs  # the rest comes from the base config
    assert len({c.id for c in cells}) == 8


def test_grid_refuses_bad_lists() -> None:
    with pytest.raises(SweepError, match="empty list") as e:
        SweepSpec(BASE, {"hidden": []}, [0])
    assert e.value.field == "hidden"
    with pytest.raises(SweepError, match="takes one value") as e:
        SweepSpec(BASE, {"device": ["cpu", "cuda"]}, [0])
    assert e.value.field == "device"
    with pytest.raises(SweepError, match="twice"):
        SweepSpec(BASE, {"members": [2, 2]}, [0])
    with pytest.raises(SweepError) as e:
        SweepSpec(BASE, {}, [])
    assert e.value.field == "seeds"


def test_check_cells_caps_and_validates() -> None:
    big = SweepSpec(BASE, {"members": [2, 3, 4]}, [0, 1])
    with pytest.raises(SweepError, match="6 cells .3 configs x 2 seeds., more than the limit of 5"):
        check_cells(big, current_limits({}), max_cells=5)
    demo = current_limits({"BEDASH_PROFILE": "demo"})
    with pytest.raises(SweepError, match="demo limit") as e:
        check_cells(SweepSpec(BASE, {"members": [2, 3, 4]}, [0, 1, 2]), demo)
    assert e.value.field == "max_cells"
    with pytest.raises(ConfigError) as ce:
        check_cells(SweepSpec(BASE, {"members": [2, 100]}, [0]), current_limits({}))
    assert ce.value.field == "members"


# -- the sweep folder --------------------------------------------------------------------------


def test_sweep_writes_cells_summary_and_paired(tmp_path: Path) -> None:
    out = tmp_path / "sw"
    events: list[Any] = []
    result = run_sweep(spec(), out, FakeEngine(), on_event=events.append)
    assert result.status == "finished" and result.counts["finished"] == 6
    state = read_sweep_json(out)
    assert state["grid"] == {"members": [2, 4]} and state["seeds"] == [0, 1, 2]
    assert {c["status"] for c in state["cells"]} == {"finished"}
    assert state["cells"][0]["seconds"] == 2.5 and state["cells"][0]["node"] == "n1"
    cell = out / "c00_members2_s0"
    meta = json.loads((cell / "config.json").read_text())["_meta"]
    assert meta["host"] == "fake" and meta["sweep"]["cell"] == "c00_members2_s0"
    assert meta["sweep"]["concurrent_runs"] == 1 and meta["sweep"]["engine"] == "fake"
    assert read_run(cell).status == "finished"  # an ordinary run folder
    ended = [e for e in events if e.kind == "ended"]
    assert [e.done for e in ended] == [1, 2, 3, 4, 5, 6] and ended[-1].eta == 0

    summary = {(r["members"], r["model"], r["metric"]): r for r in read_csv(out / "summary.csv")}
    s = summary[("2", "batchensemble", "ensemble_acc")]  # 0.61, 0.62, 0.63
    half = T2 * 0.01 / math.sqrt(3)
    assert float(s["mean"]) == pytest.approx(0.62) and float(s["std"]) == pytest.approx(0.01)
    assert s["n"] == "3" and s["better"] == "higher" and s["label"] == "members=2"
    assert float(s["ci_low"]) == pytest.approx(0.62 - half)
    assert float(s["ci_high"]) == pytest.approx(0.62 + half)
    assert summary[("4", "ensemble", "nll")]["std"] == "0.0"
    assert ("2", "batchensemble", "members") not in summary  # descriptive, not a metric

    pairs = {(r["members"], r["baseline"], r["metric"]): r for r in read_csv(out / "paired.csv")}
    # members 2, accuracy vs ensemble: differences 0.01, 0.02, 0.03 -> mean 0.02, sd 0.01
    p = pairs[("2", "ensemble", "ensemble_acc")]
    assert float(p["mean_diff"]) == pytest.approx(0.02)
    assert float(p["ci_low"]) == pytest.approx(0.02 - half)
    assert float(p["ci_high"]) == pytest.approx(0.02 + half)
    assert p["verdict"] == "not resolved with 3 seeds" and p["n"] == "3"
    assert float(p["mean_model"]) == pytest.approx(0.62)
    assert float(p["mean_baseline"]) == pytest.approx(0.60)
    # members 4: differences 0.03, 0.04, 0.05: the interval [0.015, 0.065] excludes zero
    assert pairs[("4", "ensemble", "ensemble_acc")]["verdict"] == (
        "batchensemble better than ensemble"
    )
    # NLL, lower is better: members 2 vs ensemble +0.10, +0.12, +0.14 -> [0.070, 0.170]
    n2 = pairs[("2", "ensemble", "nll")]
    assert n2["better"] == "lower" and n2["verdict"] == "ensemble better than batchensemble"
    assert float(n2["mean_diff"]) == pytest.approx(0.12)
    assert float(n2["ci_low"]) == pytest.approx(0.12 - T2 * 0.02 / math.sqrt(3))
    # members 4 vs single: -0.6, -0.45, -0.68 -> BatchEnsemble's NLL is lower
    n4 = pairs[("4", "single", "nll")]
    d = [-0.6, -0.45, -0.68]
    mean = sum(d) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / 2)
    assert float(n4["mean_diff"]) == pytest.approx(mean)
    assert float(n4["ci_high"]) == pytest.approx(mean + T2 * sd / math.sqrt(3))
    assert n4["verdict"] == "batchensemble better than single"
    # a constant difference (100 vs 300 parameters) has a zero-width interval: described, no
    # winner (issue 21)
    assert pairs[("2", "ensemble", "params")]["verdict"] == (
        "same difference in every seed: batchensemble lower than ensemble"
    )
    assert ("2", "ensemble_parallel", "nll") not in pairs  # not trained: not paired


def test_a_failing_cell_fails_alone_and_resume_reruns_only_it(tmp_path: Path) -> None:
    out = tmp_path / "sw"
    bad = "c01_members4_s1"
    result = run_sweep(spec(), out, FakeEngine(fail=(bad,)))
    assert result.status == "failed"
    assert result.counts["finished"] == 5 and result.counts["failed"] == 1
    entry = next(c for c in read_sweep_json(out)["cells"] if c["id"] == bad)
    assert entry["status"] == "failed" and entry["error"] == "RuntimeError: boom"
    assert read_run(out / bad).status == "damaged" or (out / bad / "status.json").is_file()
    n4 = {r["baseline"]: r for r in read_csv(out / "paired.csv")
          if r["members"] == "4" and r["metric"] == "nll"}  # fmt: skip
    assert n4["single"]["n"] == "2"  # the failed seed is left out
    kept = (out / "c00_members2_s0" / "results.csv").stat().st_mtime_ns

    again = FakeEngine()
    result = run_sweep(spec(), out, again)
    assert again.ran == [bad]  # finished cells are kept
    assert result.status == "finished" and result.counts["finished"] == 6
    assert (out / "c00_members2_s0" / "results.csv").stat().st_mtime_ns == kept
    entry = next(c for c in read_sweep_json(out)["cells"] if c["id"] == bad)
    assert entry["attempts"] == 2 and entry["error"] == ""
    assert (out / bad / "results.csv").is_file()


def test_interrupt_marks_running_cells_and_resume_finishes(tmp_path: Path) -> None:
    out = tmp_path / "sw"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec(), out, FakeEngine(stop_after=2))
    state = read_sweep_json(out)
    statuses = [c["status"] for c in state["cells"]]
    assert statuses == ["finished", "finished", "interrupted", "pending", "pending", "pending"]
    assert state["status"] == "interrupted"
    assert len(read_csv(out / "summary.csv")) > 0  # what finished is already summarised
    again = FakeEngine()
    assert run_sweep(spec(), out, again).status == "finished"
    assert again.ran == [c["id"] for c in state["cells"][2:]]


def test_cancel_event_stops_the_local_engine_before_the_next_cell(tmp_path: Path) -> None:
    from bedash.sweep.engines import LocalEngine

    cancel = threading.Event()
    cancel.set()
    result = run_sweep(spec(), tmp_path / "sw", LocalEngine(sweep_cli.train), cancel=cancel)
    assert result.status == "interrupted" and result.counts["pending"] == 6


def test_a_cell_kept_as_done_without_its_results_runs_again(tmp_path: Path) -> None:
    out = tmp_path / "sw"
    run_sweep(spec(), out, FakeEngine())
    (out / "c00_members2_s2" / "results.csv").unlink()  # damaged by hand
    again = FakeEngine()
    run_sweep(spec(), out, again)
    assert again.ran == ["c00_members2_s2"]


def test_resume_refuses_another_grid_and_folders_that_are_not_sweeps(tmp_path: Path) -> None:
    out = tmp_path / "sw"
    run_sweep(spec(), out, FakeEngine())
    with pytest.raises(SweepError, match=r"differs from the sweep .*\[2, 4\] there, \[2, 8\]") as e:
        run_sweep(SweepSpec(BASE, {"members": [2, 8]}, [0, 1, 2]), out, FakeEngine())
    assert e.value.field == "members"
    with pytest.raises(SweepError) as e:
        run_sweep(SweepSpec(BASE, {"members": [2, 4]}, [0, 1]), out, FakeEngine())
    assert e.value.field == "seeds"
    with pytest.raises(SweepError) as e:
        run_sweep(SweepSpec(BASE.replace(epochs=2), {"members": [2, 4]}, [0, 1, 2]), out,
                  FakeEngine())  # fmt: skip
    assert e.value.field == "epochs"
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(SweepError, match="holds no sweep") as e:
        run_sweep(spec(), other, FakeEngine())
    assert e.value.field == "out"
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]  # nothing written


def test_write_run_keeps_to_run_files(tmp_path: Path) -> None:
    s = spec()
    store = SweepStore.open(tmp_path / "sw", s, s.cells())
    cid = s.cells()[0].id
    store.write_run(cid, {"results.csv": b"model\n", "../escape.csv": b"x", "evil.sh": b"x",
                          "config.json": b'{"members": 2}'}, {"node": "n"})  # fmt: skip
    names = sorted(p.name for p in (tmp_path / "sw" / cid).iterdir())
    assert names == ["config.json", "results.csv"]
    assert not (tmp_path / "sw" / "escape.csv").exists()
    assert json.loads((tmp_path / "sw" / cid / "config.json").read_text())["_meta"] == {
        "sweep": {"node": "n"}
    }


# -- the CLI -----------------------------------------------------------------------------------


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = sweep_cli.main(argv)
    except SystemExit as e:
        code = int(e.code or 0)
    return code, capsys.readouterr().err


TINY = ["--dataset", "synthetic", "--train-size", "64", "--test-size", "32", "--epochs", "1",
        "--hidden", "8", "--device", "cpu", "--engine", "local", "--quiet"]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "flag", "words"),
    [
        (["--device", "cpu,cuda"], "--device", "takes one value"),
        (["--members", ","], "--members", "empty value"),
        (["--members", "2,x"], "--members", "not a whole number"),
        (["--lr", "0.1,fast"], "--lr", "not a number"),
        (["--seeds", "4-1"], "--seeds", "malformed range"),
        (["--seeds", ""], "--seeds", "malformed"),
        (["--members", "2,3,4", "--seeds", "0-9", "--max-cells", "20"], "--max-cells",
         "30 cells"),
        (["--members", "2,100"], "--members", "from 1 to 64"),
        (["--members", "2,2"], "--members", "twice"),
        (["--engine", "local", "--address", "127.0.0.1:6379"], "--address", "--engine ray"),
    ],
)  # fmt: skip
def test_cli_bad_input_exits_2_with_one_line(
    argv: list[str], flag: str, words: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = [*TINY, *argv] if "--engine" not in argv else [*TINY[:-3], *argv]
    code, err = cli([*args, "--out", str(tmp_path / "sw")], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"bedash sweep: error: {flag}: ") and words in lines[0], err
    assert not (tmp_path / "sw").exists()  # nothing written


def test_cli_refuses_folders_that_are_not_sweeps_and_other_grids(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.txt").write_text("x")
    code, err = cli(["--out", str(other)], capsys)
    assert code == 2 and err.startswith("bedash sweep: error: --out: ") and "not a sweep" in err
    code, err = cli([*TINY, "--members", "2,4", "--out", str(other)], capsys)
    assert code == 2 and "--out: " in err and "holds no sweep" in err
    out = tmp_path / "sw"
    run_sweep(SweepSpec(BASE, {"members": [2, 4]}, [0, 1, 2]), out, FakeEngine())
    code, err = cli([*TINY, "--members", "2,4", "--seeds", "0-1", "--out", str(out)], capsys)
    assert code == 2 and err.startswith("bedash sweep: error: --seeds: differs"), err
    code, err = cli([*TINY, "--members", "2,8", "--seeds", "0-2", "--out", str(out)], capsys)
    assert code == 2 and err.startswith("bedash sweep: error: --members: differs"), err


def test_cli_unreachable_address_exits_2_fast(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    code, err = cli([*TINY[:-3], "--engine", "ray", "--address", f"127.0.0.1:{port}",
                     "--out", str(tmp_path / "sw")], capsys)  # fmt: skip
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        f"bedash sweep: error: --address: cannot reach a Ray cluster at 127.0.0.1:{port} "
        "(Connection refused)"
    )
    assert not (tmp_path / "sw").exists()


@pytest.mark.parametrize(
    ("argv", "flag", "words"),
    [
        (["--dataset", "cifar10"], "--dataset", "CIFAR-10 is not in "),
        (["--ood", "uniform,svhn"], "--ood", "SVHN is not in "),
    ],
)
def test_cli_no_download_without_the_files_exits_2_before_ray(
    argv: list[str], flag: str, words: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    def no_engine(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("an engine (Ray) was started")

    monkeypatch.setattr(sweep_cli, "make_engine", no_engine)
    args = [*TINY[:-3], *argv, "--no-download", "--data-dir", str(tmp_path / "empty")]
    code, err = cli([*args, "--out", str(tmp_path / "sw")], capsys)
    assert code == 2 and "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert line.startswith(f"bedash sweep: error: {flag}: {words}") and "by hand" in line, err
    assert not (tmp_path / "sw").exists()


def test_cli_cifar10_as_an_ood_set_not_on_disk_exits_2_before_any_cell(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """CIFAR-10 as an OOD set is never downloaded: missing, the sweep is refused in one line
    naming --ood, downloads on or off, before an engine starts or the folder is made."""

    def no_engine(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("an engine (Ray) was started")

    monkeypatch.setattr(sweep_cli, "make_engine", no_engine)
    for extra in ([], ["--no-download"]):
        args = [*TINY[:-3], "--ood", "uniform,cifar10", *extra, "--data-dir",
                str(tmp_path / "empty")]  # fmt: skip
        code, err = cli([*args, "--out", str(tmp_path / "sw")], capsys)
        assert code == 2 and "Traceback" not in err
        (line,) = err.strip().splitlines()
        assert line.startswith("bedash sweep: error: --ood: CIFAR-10 is not in "), line
        assert "not downloaded for an OOD set" in line and "by hand" in line
        assert not (tmp_path / "sw").exists()


def test_no_download_reaches_every_cell(monkeypatch: pytest.MonkeyPatch) -> None:
    """--no-download goes to each engine and from there to run_experiment(download=False)."""
    import bedash.experiment
    from bedash.sweep.engines import LocalEngine, RayEngine, ray_task

    seen = []

    def fake_run(cfg: RunConfig, out: Path, **kwargs: Any) -> Any:
        seen.append(kwargs["download"])
        raise RuntimeError("stop here")

    monkeypatch.setattr(bedash.experiment, "run_experiment", fake_run)
    parse = sweep_cli.build_parser().parse_args
    engine = sweep_cli.make_engine(parse(["--engine", "local", "--no-download"]), spec(),
                                   current_limits({}))  # fmt: skip
    assert isinstance(engine, LocalEngine) and engine.download is False
    assert sweep_cli.make_engine(parse(["--engine", "local"]), spec(), current_limits({})).download
    done = []
    engine.run(spec().cells()[:1], started=lambda *a: None, ended=lambda o, i: done.append(o),
               cancel=threading.Event())  # fmt: skip
    assert seen == [False] and done[0].status == "failed"
    monkeypatch.setattr(sweep_cli, "_have_ray", lambda: True)
    ray_engine = sweep_cli.make_engine(parse(["--engine", "ray", "--no-download"]), spec(),
                                       current_limits({}))  # fmt: skip
    assert isinstance(ray_engine, RayEngine) and ray_engine.download is False
    # what each Ray task runs
    ray_task(sweep_cli.train, "c", BASE.to_dict(), current_limits({}), 1, False)
    assert seen == [False, False]


def test_cli_parses_lists_into_a_grid() -> None:
    args = sweep_cli.build_parser().parse_args(
        ["--members", "1,2,4,8", "--hidden", "128,512", "--seeds", "0-4", "--lr", "0.01",
         "--train-size", "100,all", "--models", "batchensemble,single", "--no-cuda-graphs"]
    )  # fmt: skip
    s = sweep_cli.spec_from_args(args)
    assert s.grid == {"members": [1, 2, 4, 8], "hidden": [128, 512], "train_size": [100, None]}
    assert s.seeds == [0, 1, 2, 3, 4] and s.n_cells == 80
    assert s.base.lr == 0.01 and s.base.models == ("batchensemble", "single")
    assert s.base.cuda_graphs is False
    # settings whose value is a comma list, as in train: one value for every config
    args = sweep_cli.build_parser().parse_args(
        ["--shift", "contrast,brightness", "--severities", "1,3,5", "--ood", "uniform,gaussian"]
    )
    s = sweep_cli.spec_from_args(args)
    assert s.grid == {} and s.base.shift == "contrast,brightness"
    assert s.base.severities == "1,3,5" and s.base.ood == "uniform,gaussian"
    assert sweep_cli.spec_from_args(sweep_cli.build_parser().parse_args([])) is None


@pytest.mark.slow
def test_cli_local_sweep_trains_real_cells_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sw"
    argv = [*TINY, "--members", "2,3", "--seeds", "0", "--models", "batchensemble,single",
            "--out", str(out)]  # fmt: skip
    code, _ = cli(argv, capsys)
    assert code == 0
    state = read_sweep_json(out)
    assert [c["status"] for c in state["cells"]] == ["finished", "finished"]
    for c in state["cells"]:
        run = read_run(out / c["id"])
        assert run.status == "finished"
        assert [r["model"] for r in run.results] == ["batchensemble", "single"]
        assert run.config["members"] in (2, 3) and run.config["_meta"]["sweep"]["node"] == "local"
    paired = read_csv(out / "paired.csv")
    assert {r["baseline"] for r in paired} == {"single"}
    assert {r["n"] for r in paired} == {"1"}  # one seed: nothing is resolved
    assert {r["verdict"] for r in paired if r["metric"] == "ensemble_acc"} == {
        "not resolved with 1 seed"
    }
    before = (out / state["cells"][0]["id"] / "results.csv").read_bytes()
    code, _ = cli(["--out", str(out), "--engine", "local", "--quiet"], capsys)  # resume: no-op
    assert code == 0
    assert (out / state["cells"][0]["id"] / "results.csv").read_bytes() == before


# -- Ray placement (no Ray started: the planner reads what ray.nodes() returns) ----------------


def nodes(*resources: dict[str, float]) -> list[dict[str, Any]]:
    return [{"NodeID": f"n{i}", "Alive": True, "NodeManagerHostname": "h",
             "NodeManagerAddress": "127.0.0.1", "Resources": r}
            for i, r in enumerate(resources)]  # fmt: skip


def test_ray_workers_get_the_whole_bedash_package() -> None:
    """A cluster's workers receive the bedash package (py_modules), a local Ray's find it on
    PYTHONPATH: both must name bedash itself, not the folder of the engines module."""
    import os

    from bedash.sweep.engines import RayEngine

    seen: dict[str, Any] = {}

    class FakeRay:
        def init(self, **kwargs: Any) -> None:
            seen.update(kwargs)

    RayEngine(sweep_cli.train, address="10.0.0.1:6379")._init(FakeRay())
    (package,) = seen["runtime_env"]["py_modules"]
    assert Path(package).name == "bedash" and (Path(package) / "sweep" / "engines.py").is_file()
    RayEngine(sweep_cli.train)._init(FakeRay())
    root = seen["runtime_env"]["env_vars"]["PYTHONPATH"].split(os.pathsep)[0]
    assert (Path(root) / "bedash" / "__init__.py").is_file()


def test_ray_plan_defaults_to_one_run_per_node() -> None:
    from bedash.sweep.engines import RayEngine

    plan = RayEngine(sweep_cli.train)._plan(nodes({"CPU": 2.0}, {"CPU": 16.0}))
    assert [(n.slots, n.task_cpus, n.task_gpus) for n in plan] == [(1, 2.0, 0.0), (1, 16.0, 0.0)]
    plan = RayEngine(sweep_cli.train, cpus_per_run=0.5)._plan(nodes({"CPU": 2.0}))
    assert [(n.slots, n.task_cpus) for n in plan] == [(4, 0.5)]
    alone = RayEngine(sweep_cli.train, cpus_per_run=0.5, exclusive=True)
    assert alone._plan(nodes({"CPU": 2.0}))[0].slots == 1


def test_ray_plan_shares_gpus() -> None:
    from bedash.sweep.engines import RayEngine

    gpu_node = {"CPU": 16.0, "GPU": 1.0}
    plan = RayEngine(sweep_cli.train, gpus_per_run=0.25)._plan(nodes(gpu_node, {"CPU": 4.0}))
    assert [(n.node_id, n.slots, n.task_cpus, n.task_gpus) for n in plan] == [("n0", 4, 1.0, 0.25)]
    gpus = RayEngine(sweep_cli.train)._plan(nodes(gpu_node))[0].task_gpus
    assert gpus == 1.0  # GPUs there: one each
    cpu = RayEngine(sweep_cli.train, use_gpu=False)._plan(nodes(gpu_node))[0].task_gpus
    assert cpu == 0.0  # --device cpu


def test_ray_plan_errors_name_the_flag() -> None:
    from bedash.sweep.engines import RayEngine

    with pytest.raises(SweepError, match="no node has 4 CPUs .the most on a node: 2") as e:
        RayEngine(sweep_cli.train, cpus_per_run=4)._plan(nodes({"CPU": 2.0}))
    assert e.value.field == "cpus_per_run"
    with pytest.raises(SweepError, match="no node has 1 GPUs") as e:
        RayEngine(sweep_cli.train, gpus_per_run=1)._plan(nodes({"CPU": 2.0}))
    assert e.value.field == "gpus_per_run"
    with pytest.raises(SweepError) as e:
        RayEngine(sweep_cli.train, cpus_per_run=-1)
    assert e.value.field == "cpus_per_run"


@pytest.mark.slow
@pytest.mark.parametrize(("signame", "engine"), [("SIGINT", "local"), ("SIGTERM", "local"),
                                                  ("SIGTERM", "ray")])  # fmt: skip
def test_cli_ctrl_c_interrupts_the_running_cell_and_keeps_its_files(
    tmp_path: Path, signame: str, engine: str
) -> None:
    """Ctrl-C, or a scheduler's SIGTERM (which Ray's driver would otherwise answer by exiting
    with the cells still marked running): the running cell is interrupted, what it measured
    kept, the sweep resumable; exit 128 + the signal, no traceback."""
    import os
    import signal
    import subprocess
    import sys
    import time

    if engine == "ray":
        pytest.importorskip("ray")
    sig = getattr(signal, signame)
    out = tmp_path / "sw"
    root = Path(__file__).resolve().parents[1]
    tiny = [*TINY[:-1]]
    tiny[tiny.index("--engine") + 1] = engine
    cmd = [sys.executable, "-m", "bedash.sweep.cli", *tiny, "--train-size", "2000",
           "--epochs", "10000", "--seeds", "0-1", "--models", "single",
           "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until the first cell trains
        state = (
            json.loads((out / "sweep.json").read_text()) if (out / "sweep.json").is_file() else {}
        )
        if any(c["status"] == "running" for c in state.get("cells", [])):
            break
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err
    assert "cancelling the running cells" in err and "Traceback" not in err
    cells = read_sweep_json(out)["cells"]
    assert [c["status"] for c in cells] == ["interrupted", "pending"]
    cell = out / cells[0]["id"]
    if (cell / "config.json").is_file():  # it had started: what it measured is kept
        assert read_run(cell).status == "cancelled"
    else:  # still loading its data when Ctrl-C came: nothing was written, by design
        assert not (cell / "results.csv").exists()
    assert os.path.isfile(out / "summary.csv")


def test_python_m_bedash_sweep_dispatches_here(capsys: pytest.CaptureFixture[str]) -> None:
    from bedash.__main__ import main as main_cli

    with pytest.raises(SystemExit) as e:
        main_cli(["sweep", "--seeds", "4-1"])
    assert e.value.code == 2
    assert capsys.readouterr().err.startswith("bedash sweep: error: --seeds: malformed range")


def test_cli_demo_profile_runs_locally_within_its_cap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BEDASH_PROFILE", "demo")
    base = [*TINY[:-3], "--out", str(tmp_path / "sw")]
    code, err = cli([*base, "--engine", "ray"], capsys)
    assert code == 2 and err == "bedash sweep: error: --engine: the demo runs sweeps in this " \
        "process (demo limit)\n"  # fmt: skip
    code, err = cli([*base, "--members", "2,3,4", "--seeds", "0-2"], capsys)
    assert code == 2 and err.startswith("bedash sweep: error: --max-cells: the grid has 9 cells")
    assert "(demo limit)" in err
    engine = sweep_cli.make_engine(sweep_cli.build_parser().parse_args([]), spec(),
                                   current_limits())  # fmt: skip
    assert engine.name == "local"


# -- as a job of the executor (the dashboard's entry point) ------------------------------------


def test_a_sweep_job_runs_in_the_background_with_progress(tmp_path: Path) -> None:
    from bedash.dashboard.sweepjobs import submit_sweep
    from bedash.jobs.executor import Executor

    ex = Executor(tmp_path)
    handle = submit_sweep(ex, spec(), "sw", engine=FakeEngine())
    snap = handle.wait(30)
    assert not handle.running
    assert snap.status == "finished" and snap.done == 6 and snap.total == 6 and not snap.error
    job = ex.snapshot(handle.job_id)
    assert job.status == "finished" and job.message == "6 of 6 cells done"
    assert (job.data_progress.done, job.data_progress.total) == (6, 6)
    assert (tmp_path / "sw" / "paired.csv").is_file()
    assert ex.shutdown(10)


def test_a_sweep_job_checks_first_and_cancels(tmp_path: Path) -> None:
    from bedash.dashboard.sweepjobs import submit_sweep
    from bedash.jobs.executor import Executor

    ex = Executor(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "x").write_text("x")
    with pytest.raises(SweepError) as e:  # raised here, before anything is queued
        submit_sweep(ex, spec(), "other")
    assert e.value.field == "out" and ex.counts()["jobs"] == 0
    with pytest.raises(SweepError) as e:
        submit_sweep(ex, SweepSpec(BASE, {"members": [2, 3, 4]}, [0, 1, 2]), "a", max_cells=4)
    assert e.value.field == "max_cells"
    began = threading.Event()

    class Slow(FakeEngine):
        def run(self, cells: list[Any], *, started: Any, ended: Any, cancel: Any, **_: Any) -> None:
            started(cells[0].id, {"node": "n1"})
            began.set()
            cancel.wait(30)  # a cell that runs until cancelled

    handle = submit_sweep(ex, spec(), "sw", engine=Slow())
    assert began.wait(30)
    handle.cancel()
    snap = handle.wait(30)
    assert snap.status == "interrupted"
    assert (snap.counts["interrupted"], snap.counts["pending"]) == (1, 5)
    job = ex.snapshot(handle.job_id)
    assert job.status == "cancelled" and job.message == "stopped; 0 of 6 cells done are kept"
    assert ex.shutdown(10)


@pytest.mark.slow
def test_a_ray_sweep_job_runs_a_child_process_and_cancels_with_sigint(tmp_path: Path) -> None:
    """engine="ray" runs `python -m bedash sweep` as a child (here with --engine local, so
    no Ray starts); cancel reaches it as Ctrl-C."""
    import time

    from bedash.dashboard.sweepjobs import submit_sweep
    from bedash.jobs.executor import Executor

    ex = Executor(tmp_path)
    long = BASE.replace(train_size=2000, epochs=10_000, models=("single",))
    handle = submit_sweep(ex, SweepSpec(long, {}, [0, 1]), "sw", engine="ray",
                          engine_args=["--engine", "local"])  # fmt: skip
    deadline = time.monotonic() + 120
    while handle.snapshot().counts.get("running", 0) == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert handle.snapshot().status == "running"
    handle.cancel()
    snap = handle.wait(120)
    assert not handle.running and not snap.error
    assert [c["status"] for c in snap.cells] == ["interrupted", "pending"]
    assert snap.status == "interrupted"
    assert ex.snapshot(handle.job_id).status == "cancelled"
    assert ex.shutdown(10)


@pytest.mark.slow
def test_run_cell_applies_the_profiles_caps() -> None:
    import dataclasses

    from bedash.settings.limits import DEFAULT_LIMITS
    from bedash.sweep.cell import run_cell

    capped = dataclasses.replace(DEFAULT_LIMITS, max_wall_seconds=1e-9, eval_batch_size=16,
                                 name="demo")  # fmt: skip
    cfg = BASE.replace(models=("single",), epochs=50)
    outcome = run_cell("c", cfg.to_dict(), sweep_cli.train, capped)
    assert outcome.status == "failed"
    assert outcome.error == "stopped at the demo limit of 1e-09 s a run"
    if outcome.files:  # stopped after its first file (else before it: nothing was written)
        assert json.loads(outcome.files["status.json"])["status"] == "cancelled"
    roomy = dataclasses.replace(capped, max_wall_seconds=None)
    done = run_cell("c", cfg.replace(epochs=1).to_dict(), sweep_cli.train, roomy)
    assert done.status == "finished"
    config = json.loads(done.files["config.json"])
    assert config["eval_batch_size"] == 16  # the same metrics, in smaller chunks


def test_without_ray_auto_runs_here_and_ray_is_refused_naming_the_flag(monkeypatch) -> None:
    """`pip install .` without the ray extra: the default engine runs the cells in this
    process; asking for Ray says how to get it (exit 2 at the CLI), never a traceback."""
    import argparse

    from bedash.settings.limits import DEFAULT_LIMITS
    from bedash.sweep import cli as sweep_cli
    from bedash.sweep.engines import LocalEngine
    from bedash.sweep.grid import SweepError

    monkeypatch.setattr(sweep_cli, "_have_ray", lambda: False)
    args = argparse.Namespace(engine="auto", address=None)
    assert isinstance(sweep_cli.make_engine(args, None, DEFAULT_LIMITS), LocalEngine)
    with pytest.raises(SweepError) as info:
        sweep_cli.make_engine(argparse.Namespace(engine="ray", address=None), None, DEFAULT_LIMITS)
    assert info.value.field == "engine" and "not installed" in info.value.message
