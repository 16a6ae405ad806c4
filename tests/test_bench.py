"""The benchmark runs every variant on tiny sizes and reports sane, complete figures.
(No timing is asserted: speed is measured in benchmarks, never in tests.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bedash import bench


def test_gemm_shapes_follow_the_floor_definition() -> None:
    dims = [3072, 128, 128, 10]
    single = bench.gemm_shapes("single", 5, 32, dims)
    assert len(single) == 3 + 3 + 2  # 3 forward, 3 weight-gradient, 2 input-gradient
    assert single[0] == (1, 32, 3072, 128)
    be = bench.gemm_shapes("batchensemble", 5, 32, dims)
    assert len(be) == 9 and be[0] == (1, 160, 3072, 128)  # + the first layer's input gradient
    assert (1, 160, 128, 3072) in be
    assert len(bench.gemm_shapes("ensemble", 5, 32, dims)) == 5 * 8
    par = bench.gemm_shapes("ensemble_parallel", 5, 32, dims)
    assert len(par) == 8 and par[0] == (5, 32, 3072, 128)


@pytest.mark.slow  # a subprocess, a server or several seconds of training
def test_quick_bench_reports_every_variant(tmp_path: Path) -> None:
    argv = ["--device", "cpu", "--dataset", "synthetic", "--train-size", "640", "--test-size",
            "200", "--steps", "8", "--seed-steps", "4", "--repeats", "1", "--hidden", "16",
            "--members", "3", "--scaling", "--scaling-steps", "2", "--scaling-members", "1,2",
            "--scaling-hidden", "8,16", "--quiet",
            "--out", str(tmp_path)]  # fmt: skip
    assert bench.main(argv) == 0
    report = json.loads((tmp_path / "bench.json").read_text())
    variants = [r["variant"] for r in report["train"]]
    assert variants == ["seed_pipeline", "seed_loop_no_loader", *bench.KINDS]
    for r in report["train"]:
        assert r["member_samples_per_s"] > 0 and r["step_ms"] > 0
        assert r["x_seed"] > 0
        if not r["variant"].startswith("seed_"):
            assert r["floor_ms"] > 0 and r["of_floor"] > 0
    assert {r["variant"] for r in report["inference"]} == set(bench.KINDS)
    assert len(report["scaling"]) == (2 + 2) * 4
    assert report["machine"]["torch"] and report["config"]["steps"] == 8
    for name in ("train.csv", "inference.csv", "scaling.csv"):
        assert (tmp_path / name).is_file()


def test_seed_images_behave_like_torchvision_cifar10() -> None:
    pytest.importorskip("torchvision")
    from torchvision import transforms

    from bedash.data import synthetic

    ds = synthetic(4, 1)
    seed = bench.SeedImages(ds.train, transforms.ToTensor())
    img, label = seed[2]
    assert img.shape == (3, 32, 32) and label == int(ds.train.y[2])
    assert abs(float(img[1, 5, 7]) - int(ds.train.x[2, 1, 5, 7]) / 255) < 1e-6


def test_memory_is_the_median_of_three_whole_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    peaks = iter([(900.0, 3.0), (1100.0, 2.0), (1000.0, 4.0)])
    seen: list[list[str]] = []

    def fake(args: list[str]) -> tuple[float, float]:
        seen.append(args)
        return next(peaks)

    monkeypatch.setattr(bench, "peak_rss_of_cli_run", fake)
    argv = ["--device", "cpu", "--dataset", "synthetic", "--train-size", "320", "--test-size",
            "64", "--no-train", "--memory", "--quiet", "--out", str(tmp_path)]  # fmt: skip
    assert bench.main(argv) == 0
    mem = json.loads((tmp_path / "bench.json").read_text())["memory"]
    assert mem["peak_rss_mib"] == 1000.0 and mem["peak_rss_mib_runs"] == [900.0, 1000.0, 1100.0]
    assert mem["run_seconds"] == 3.0
    assert len(seen) == 3 and "--train-size" in seen[0] and "320" in seen[0]


@pytest.mark.slow  # a subprocess, a server or several seconds of training
def test_peak_rss_of_a_real_cli_run(tmp_path: Path) -> None:
    args = [*bench._memory_run_args(str(tmp_path), 256, 64), "--hidden", "8", "--members", "2"]
    rss, seconds = bench.peak_rss_of_cli_run(args)
    assert 50 < rss < 4096 and seconds > 0  # MiB: torch alone is hundreds
    assert (tmp_path / "run" / "results.csv").is_file()


@pytest.mark.slow  # a subprocess, a server or several seconds of training
def test_peak_rss_is_the_childs_own_not_its_parents(tmp_path: Path) -> None:
    import torch

    ballast = torch.ones(1536 * 2**20 // 4)  # 1.5 GiB touched in this (the parent) process
    args = [*bench._memory_run_args(str(tmp_path), 256, 64), "--hidden", "8", "--members", "2"]
    rss, _ = bench.peak_rss_of_cli_run(args)
    assert rss < 1400, rss  # a tiny run; ru_maxrss would report the parent's 1.5 GiB and more
    del ballast
