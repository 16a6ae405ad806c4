"""The benchmark runs every variant on tiny sizes and reports sane, complete figures; every bad
flag is refused before anything is timed; it lives apart from the core and uses its palette.
(No timing is asserted: speed is measured in benchmarks, never in tests.)"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from bedash.benchmark import cli, memory, plot, timing
from bedash.benchmark.settings import BenchSettings
from bedash.names import MODEL_COLORS, MODEL_KINDS, model_label

ROOT = Path(__file__).resolve().parents[1]


def test_gemm_shapes_follow_the_floor_definition() -> None:
    dims = [3072, 128, 128, 10]
    single = timing.gemm_shapes("single", 5, 32, dims)
    assert len(single) == 3 + 3 + 2  # 3 forward, 3 weight-gradient, 2 input-gradient
    assert single[0] == (1, 32, 3072, 128)
    be = timing.gemm_shapes("batchensemble", 5, 32, dims)
    assert len(be) == 9 and be[0] == (1, 160, 3072, 128)  # + the first layer's input gradient
    assert (1, 160, 128, 3072) in be
    assert len(timing.gemm_shapes("ensemble", 5, 32, dims)) == 5 * 8
    par = timing.gemm_shapes("ensemble_parallel", 5, 32, dims)
    assert len(par) == 8 and par[0] == (5, 32, 3072, 128)


@pytest.mark.slow  # a subprocess, a server or several seconds of training
def test_quick_bench_reports_every_variant(tmp_path: Path) -> None:
    argv = ["--device", "cpu", "--dataset", "synthetic", "--train-size", "640", "--test-size",
            "200", "--steps", "8", "--seed-steps", "4", "--repeats", "1", "--hidden", "16",
            "--members", "3", "--scaling", "--scaling-steps", "2", "--scaling-members", "1,2",
            "--scaling-hidden", "8,16", "--quiet",
            "--out", str(tmp_path)]  # fmt: skip
    assert cli.main(argv) == 0
    report = json.loads((tmp_path / "bench.json").read_text())
    variants = [r["variant"] for r in report["train"]]
    assert variants == ["seed_pipeline", "seed_loop_no_loader", *MODEL_KINDS]
    for r in report["train"]:
        assert r["member_samples_per_s"] > 0 and r["step_ms"] > 0
        assert r["x_seed"] > 0
        if not r["variant"].startswith("seed_"):
            assert r["floor_ms"] > 0 and r["of_floor"] > 0
    assert {r["variant"] for r in report["inference"]} == set(MODEL_KINDS)
    assert len(report["scaling"]) == (2 + 2) * 4
    assert report["machine"]["torch"] and report["config"]["steps"] == 8
    assert report["command"].startswith("python -m bedash bench --device cpu")
    for name in ("bench.json", "train.csv", "inference.csv", "scaling.csv", "scaling.html"):
        assert (tmp_path / name).is_file()


def test_seed_images_behave_like_torchvision_cifar10() -> None:
    pytest.importorskip("torchvision")
    from torchvision import transforms

    from bedash.data.synthetic import synthetic

    ds = synthetic(4, 1)
    seed = timing.SeedImages(ds.train, transforms.ToTensor())
    img, label = seed[2]
    assert img.shape == (3, 32, 32) and label == int(ds.train.y[2])
    assert abs(float(img[1, 5, 7]) - int(ds.train.x[2, 1, 5, 7]) / 255) < 1e-6


def test_seed_warmup_leaves_room_for_the_timed_steps() -> None:
    assert timing.seed_warmup(400, 1563) == 10
    assert timing.seed_warmup(8, 20) == 8  # min(10, steps)
    assert timing.seed_warmup(15, 20) == 5  # only 5 batches besides the 15 timed
    assert timing.seed_warmup(20, 20) == 0


def test_the_seed_loop_counts_the_steps_it_timed() -> None:
    import torch

    from bedash.data.synthetic import synthetic
    from bedash.data.tensors import normalize
    from bedash.settings.config import RunConfig

    cfg = RunConfig(members=2, hidden=8, batch_size=16)
    train = synthetic(64, 1).train
    x, y = normalize(train.x), train.y
    batches = list(zip(x.split(16), y.split(16), strict=True))  # 4 batches
    m, _ = timing._seed_loop(cfg, batches, 10, 1, torch.device("cpu"), "seed")  # asks 1 + 10
    assert m.steps == 3  # the 3 batches after the warm-up, not the 10 asked for


def test_memory_is_the_median_of_three_whole_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    peaks = iter([(900.0, 3.0), (1100.0, 2.0), (1000.0, 4.0)])
    seen: list[list[str]] = []

    def fake(args: list[str]) -> tuple[float, float]:
        seen.append(args)
        return next(peaks)

    monkeypatch.setattr(memory, "peak_rss_of_cli_run", fake)
    argv = ["--device", "cpu", "--dataset", "synthetic", "--train-size", "320", "--test-size",
            "64", "--no-train", "--memory", "--quiet", "--out", str(tmp_path)]  # fmt: skip
    assert cli.main(argv) == 0
    mem = json.loads((tmp_path / "bench.json").read_text())["memory"]
    assert mem["peak_rss_mib"] == 1000.0 and mem["peak_rss_mib_runs"] == [900.0, 1000.0, 1100.0]
    assert mem["run_seconds"] == 3.0
    assert len(seen) == 3 and "--train-size" in seen[0] and "320" in seen[0]


@pytest.mark.slow  # a subprocess, a server or several seconds of training
def test_peak_rss_of_a_real_cli_run(tmp_path: Path) -> None:
    args = [*memory.memory_run_args(str(tmp_path), 256, 64), "--hidden", "8", "--members", "2"]
    rss, seconds = memory.peak_rss_of_cli_run(args)
    assert 50 < rss < 4096 and seconds > 0  # MiB: torch alone is hundreds
    assert (tmp_path / "run" / "results.csv").is_file()


@pytest.mark.slow  # a subprocess, a server or several seconds of training
def test_peak_rss_is_the_childs_own_not_its_parents(tmp_path: Path) -> None:
    import torch

    ballast = torch.ones(1536 * 2**20 // 4)  # 1.5 GiB touched in this (the parent) process
    args = [*memory.memory_run_args(str(tmp_path), 256, 64), "--hidden", "8", "--members", "2"]
    rss, _ = memory.peak_rss_of_cli_run(args)
    assert rss < 1400, rss  # a tiny run; ru_maxrss would report the parent's 1.5 GiB and more
    del ballast


# -- flags -------------------------------------------------------------------------------------

SMALL = ["--device", "cpu", "--dataset", "synthetic", "--train-size", "640", "--test-size", "64"]


@pytest.mark.parametrize(
    ("flags", "flag", "says"),
    [
        (["--members", "0"], "--members", "from 1 to 64"),
        (["--hidden", "0"], "--hidden", "from 1 to 16384"),
        (["--batch-size", "0"], "--batch-size", "from 1 to"),
        (["--eval-batch-size", "0"], "--eval-batch-size", "from 1 to"),
        (["--train-size", "0"], "--train-size", "from 1 to"),
        (["--test-size", "0"], "--test-size", "from 1 to"),
        (["--steps", "-1"], "--steps", "from 0 to"),
        (["--seed-steps", "0"], "--seed-steps", "from 1 to"),
        (["--repeats", "0"], "--repeats", "from 1 to"),
        (["--scaling-steps", "0"], "--scaling-steps", "from 1 to"),
        (["--device", "tpu"], "--device", "'tpu' is not available here"),
        (["--scaling-members", "a,b"], "--scaling-members", "whole numbers separated by commas"),
        (["--scaling-members", ","], "--scaling-members", "at least one value"),
        (["--scaling-members", "1,0"], "--scaling-members", "from 1 to 64"),
        (["--scaling-hidden", "8,99999"], "--scaling-hidden", "from 1 to 16384"),
        (["--batch-size", "1000"], "--batch-size", "larger than the training images (640)"),
        (["--steps", "21"], "--steps", "at most 20, one epoch of 640 training images"),
        (["--scaling", "--scaling-steps", "99"], "--scaling-steps", "at most 20"),
        (["--members", "64", "--hidden", "16384"], "--hidden", "needs about"),
    ],
)
def test_a_bad_flag_exits_2_with_one_line_naming_it(
    flags: list[str],
    flag: str,
    says: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bedash.benchmark import run
    from bedash.method import budget

    monkeypatch.setattr(budget, "host_available", lambda: (16 * 10**9, "this machine has"))
    monkeypatch.setattr(run, "run_bench", _never)  # checks happen before anything is timed
    with pytest.raises(SystemExit) as ex:
        cli.main([*SMALL, *flags])
    assert ex.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"bedash bench: error: {flag}: ") and err.count("\n") == 1, err
    assert says in err and "Traceback" not in err


def _never(*args: object, **kwargs: object) -> None:
    raise AssertionError("run_bench was called although a flag was bad")


def test_cifar10_missing_and_a_file_for_out_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as ex:
        cli.main(["--device", "cpu", "--dataset", "cifar10", "--data-dir", str(tmp_path)])
    assert ex.value.code == 2
    assert "--data-dir: CIFAR-10 is not in" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit):
        cli.main([*SMALL, "--out", str(tmp_path / "file")])
    assert "bedash bench: error: --out: " in capsys.readouterr().err


def test_a_failure_while_timing_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bedash.benchmark import run

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(run, "run_bench", boom)
    assert cli.main([*SMALL, "--quiet"]) == 1
    assert capsys.readouterr().err == "bedash bench: failed: RuntimeError: CUDA out of memory\n"


def test_the_flags_defaults_are_the_settings_defaults() -> None:
    args = cli.build_parser().parse_args([])
    assert cli.settings_from_args(args) == BenchSettings()
    flags = {a.dest for a in cli.build_parser()._actions if a.dest != "help"}
    assert flags == {f for f in BenchSettings.__dataclass_fields__}  # one flag per setting


def test_the_bench_command_reaches_the_benchmark(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bedash.__main__ import main as bedash_main

    with pytest.raises(SystemExit) as ex:
        bedash_main(["bench", "--repeats", "0", "--device", "cpu"])
    assert ex.value.code == 2
    assert capsys.readouterr().err.startswith("bedash bench: error: --repeats: ")


# -- layout and palette --------------------------------------------------------------------------


def _benchmark_imports(path: Path, *, top_level_only: bool) -> list[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = []
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            module = ("." * node.level) + (node.module or "")
            names = [f"{module}.{a.name}" for a in node.names]
            found += [n for n in [module, *names] if "benchmark" in n or n.endswith(".bench")]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if "benchmark" in a.name]
    return found


def test_the_core_never_imports_the_benchmark() -> None:
    """bedash/*.py import nothing of bedash.benchmark; the command line dispatches to it
    lazily, inside main, so that importing bedash.__main__ does not load it either."""
    core = sorted(p for p in (ROOT / "bedash").rglob("*.py") if "benchmark" not in p.parts)
    assert core and not (ROOT / "bedash" / "bench.py").exists()
    bad = {
        str(p.relative_to(ROOT)): _benchmark_imports(
            p, top_level_only=p == ROOT / "bedash" / "__main__.py"
        )
        for p in core
    }
    assert not {k: v for k, v in bad.items() if v}
    assert _benchmark_imports(ROOT / "bedash" / "__main__.py", top_level_only=False)  # dispatch


def test_the_scaling_figure_uses_the_one_palette() -> None:
    pytest.importorskip("plotly")
    rows = [
        {"axis": axis, "value": v, "variant": k, "members": v if axis == "members" else 4,
         "hidden": v if axis == "hidden" else 128, "step_ms": 1.0 + v / 100}
        for axis, values in (("members", (1, 2)), ("hidden", (128, 512)))
        for v in values
        for k in MODEL_KINDS
    ]  # fmt: skip
    fig = plot.scaling_figure(rows)
    assert len(fig.data) == 2 * len(MODEL_KINDS)
    for trace in fig.data:
        kind = trace.legendgroup
        assert trace.line.color == MODEL_COLORS[kind] and trace.name == model_label(kind)


def test_log_ticks_span_the_values_in_1_2_5_steps() -> None:
    ticks = plot.log_ticks([0.3, 7.0])
    assert ticks["tickvals"] == [0.2, 0.5, 1.0, 2.0, 5.0, 10.0]
    assert ticks["ticktext"] == ["0.2", "0.5", "1", "2", "5", "10"]
    assert plot.log_ticks([0.0]) == {}
