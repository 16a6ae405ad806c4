"""bedash.sweep.uncertainty_stats: shift.csv and ood.csv of a sweep's cells, aggregated over seeds.

A fake engine answers every cell with hand-written run files, so every mean, interval and
verdict is checked against values computed here by hand.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest

from bedash.names import OOD_COLUMNS, RESULT_COLUMNS, SHIFT_COLUMNS
from bedash.settings.config import RunConfig
from bedash.settings.profile import current_limits
from bedash.store.writer import csv_text
from bedash.sweep.folder import SweepStore
from bedash.sweep.grid import CellOutcome, SweepSpec, check_cells
from bedash.sweep.run import run_sweep, write_stats
from bedash.sweep.uncertainty_stats import UNCERTAINTY_SWEEP_FILES, uncertainty_tables

BASE = RunConfig(dataset="synthetic", train_size=64, test_size=32, epochs=1, hidden=8,
                 members=2, device="cpu")  # fmt: skip
T2 = 4.302652730  # t(0.975, 2): three seeds
HALF = T2 * 0.01 / math.sqrt(3)  # the half-width of an interval of three values with sd 0.01
KINDS = ("batchensemble", "ensemble", "single", "ensemble_parallel")  # the last one diverges

# (model) -> per seed: accuracy on contrast 1 and brightness 1, ECE on contrast 1, entropy
ACC_C1 = {"batchensemble": [0.51, 0.52, 0.53], "ensemble": [0.50] * 3, "single": [0.40] * 3,
          "ensemble_parallel": [0.99] * 3}  # fmt: skip
ACC_B1 = {"batchensemble": [0.71, 0.72, 0.73], "ensemble": [0.70] * 3, "single": [0.60] * 3,
          "ensemble_parallel": [0.99] * 3}  # fmt: skip
ECE_C1 = {"batchensemble": [0.05] * 3, "ensemble": [0.08, 0.09, 0.10], "single": [0.2] * 3,
          "ensemble_parallel": [0.0] * 3}  # fmt: skip
ENT_C1 = {"batchensemble": [1.0, 1.1, 1.2], "ensemble": [0.5] * 3, "single": [0.5] * 3,
          "ensemble_parallel": [0.0] * 3}  # fmt: skip
AUROC = {"batchensemble": [0.90, 0.92, 0.94], "ensemble": [0.80] * 3, "single": [0.70] * 3,
         "ensemble_parallel": [1.0] * 3}  # fmt: skip
# AURC of the clean test set (the fake's corrupted rows have none, so only "clean" has a row)
AURC = {"batchensemble": [0.10, 0.11, 0.12], "ensemble": [0.20, 0.22, 0.24], "single": [0.3] * 3,
        "ensemble_parallel": [0.0] * 3}  # fmt: skip
FPR95 = {"batchensemble": [0.3, 0.3, 0.3], "ensemble": [0.4, 0.3, 0.2], "single": [0.5] * 3,
         "ensemble_parallel": [0.0] * 3}  # fmt: skip


def files(cfg: RunConfig, shift: bool = True, ood: bool = True, bump: float = 0.0) -> dict:
    """A cell's run files; bump is added to every accuracy and AUROC (a rerun's new numbers)."""
    s = cfg.seed
    results, shift_rows, ood_rows = [], [], []
    for m in KINDS:
        status = "diverged" if m == "ensemble_parallel" else "finished"
        results.append({"model": m, "status": status, "members": cfg.members, "seed": s,
                        "ensemble_acc": 0.6, "nll": 1.0})  # fmt: skip
        c1 = {"acc": min(ACC_C1[m][s] + bump, 1.0), "nll": 1.0, "ece": ECE_C1[m][s], "brier": 0.5,
              "entropy": ENT_C1[m][s], "mutual_info": 0.1}  # fmt: skip
        b1 = {**c1, "acc": min(ACC_B1[m][s] + bump, 1.0)}  # accuracies stay possible
        mean = {k: (c1[k] + b1[k]) / 2 for k in c1}  # what evaluation.py writes as "mean"
        clean = {**c1, "acc": 0.9, "aurc": AURC[m][s]}
        shift_rows += [
            {"model": m, "corruption": "clean", "severity": 0, **clean},
            {"model": m, "corruption": "contrast", "severity": 1, **c1},
            {"model": m, "corruption": "brightness", "severity": 1, **b1},
            {"model": m, "corruption": "mean", "severity": 1, **mean},
        ]
        for score in ("entropy", "mutual_info"):
            ood_rows.append({"model": m, "ood_set": "uniform", "score": score,
                             "auroc": min(AUROC[m][s] + bump, 1.0), "aupr": 0.8,
                             "fpr95": FPR95[m][s]})  # fmt: skip
    out = {
        "config.json": json.dumps(cfg.to_dict()).encode(),
        "status.json": json.dumps({"status": "finished"}).encode(),
        "results.csv": csv_text(RESULT_COLUMNS, results).encode(),
    }
    if shift:
        out["shift.csv"] = csv_text(SHIFT_COLUMNS, shift_rows).encode()
    if ood:
        out["ood.csv"] = csv_text(OOD_COLUMNS, ood_rows).encode()
    return out


class Engine:
    name = "fake"

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}

    def run(self, cells: list[Any], *, started: Any, ended: Any, cancel: Any, **_: Any) -> None:
        for cell in cells:
            started(cell.id, {})
            outcome = CellOutcome(cell.id, "finished", files(cell.config, **self.kwargs),
                                  started=1.0, ended=2.0)  # fmt: skip
            ended(outcome, {})


def spec() -> SweepSpec:
    return SweepSpec(BASE, {"members": [2]}, [0, 1, 2])


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def mean_sd(xs: list[float]) -> tuple[float, float]:
    m = sum(xs) / len(xs)
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def test_shift_summary_means_and_intervals_over_seeds(tmp_path: Path) -> None:
    out = tmp_path / "sw"
    run_sweep(spec(), out, Engine())
    rows = read_csv(out / "shift_summary.csv")
    assert list(rows[0])[:6] == ["config", "label", "members", "model", "corruption", "severity"]
    by = {(r["model"], r["corruption"], r["severity"], r["metric"]): r for r in rows}
    s = by[("batchensemble", "contrast", "1", "acc")]  # 0.51, 0.52, 0.53
    assert float(s["mean"]) == pytest.approx(0.52) and float(s["std"]) == pytest.approx(0.01)
    assert s["n"] == "3" and s["better"] == "higher" and s["label"] == "members=2"
    assert float(s["ci_low"]) == pytest.approx(0.52 - HALF)
    assert float(s["ci_high"]) == pytest.approx(0.52 + HALF)
    # the mean over corruptions at severity 1: each seed's (contrast + brightness) / 2
    m = by[("batchensemble", "mean", "1", "acc")]
    assert float(m["mean"]) == pytest.approx((0.52 + 0.72) / 2)
    assert float(m["std"]) == pytest.approx(0.01)
    assert by[("single", "clean", "0", "acc")]["std"] == "0.0"
    assert by[("ensemble", "contrast", "1", "ece")]["better"] == "lower"
    assert by[("ensemble", "contrast", "1", "entropy")]["better"] == ""
    metrics = {r["metric"] for r in rows}
    assert metrics == {"acc", "nll", "ece", "brier", "entropy", "mutual_info", "aurc"}
    a = by[("ensemble", "clean", "0", "aurc")]  # 0.20, 0.22, 0.24
    assert float(a["mean"]) == pytest.approx(0.22) and float(a["std"]) == pytest.approx(0.02)
    assert float(a["ci_low"]) == pytest.approx(0.22 - 2 * HALF) and a["better"] == "lower"
    assert ("ensemble", "contrast", "1", "aurc") not in by  # no value: no row
    assert not any(r["model"] == "ensemble_parallel" for r in rows)  # diverged: left out

    ood = {(r["model"], r["ood_set"], r["score"], r["metric"]): r
           for r in read_csv(out / "ood_summary.csv")}  # fmt: skip
    a = ood[("batchensemble", "uniform", "entropy", "auroc")]  # 0.90, 0.92, 0.94
    assert float(a["mean"]) == pytest.approx(0.92) and float(a["std"]) == pytest.approx(0.02)
    assert float(a["ci_high"]) == pytest.approx(0.92 + 2 * HALF)
    assert ood[("ensemble", "uniform", "mutual_info", "fpr95")]["better"] == "lower"
    assert {k[3] for k in ood} == {"auroc", "aupr", "fpr95"}


def test_paired_differences_and_verdicts(tmp_path: Path) -> None:
    out = tmp_path / "sw"
    run_sweep(spec(), out, Engine())
    rows = read_csv(out / "shift_paired.csv")
    assert list(rows[0])[:6] == ["config", "label", "members", "corruption", "severity", "metric"]
    by = {(r["corruption"], r["severity"], r["baseline"], r["metric"]): r for r in rows}
    # accuracy vs ensemble: 0.01, 0.02, 0.03 -> mean 0.02, sd 0.01: the interval holds zero
    p = by[("contrast", "1", "ensemble", "acc")]
    assert float(p["mean_diff"]) == pytest.approx(0.02)
    assert float(p["ci_low"]) == pytest.approx(0.02 - HALF)
    assert float(p["mean_model"]) == pytest.approx(0.52)
    assert float(p["mean_baseline"]) == pytest.approx(0.50)
    assert p["verdict"] == "not resolved with 3 seeds" and p["n"] == "3"
    # vs single: 0.11, 0.12, 0.13 -> resolved
    assert by[("contrast", "1", "single", "acc")]["verdict"] == "batchensemble better than single"
    # ECE, lower is better: -0.03, -0.04, -0.05 -> [-0.065, -0.015]
    e = by[("contrast", "1", "ensemble", "ece")]
    assert float(e["mean_diff"]) == pytest.approx(-0.04)
    assert float(e["ci_high"]) == pytest.approx(-0.04 + HALF)
    assert e["verdict"] == "batchensemble better than ensemble" and e["better"] == "lower"
    # ECE vs single: a constant -0.15 has a zero-width interval: described, no winner (issue 21)
    assert by[("contrast", "1", "single", "ece")]["verdict"] == (
        "same difference in every seed: batchensemble lower than single"
    )
    # entropy has no good direction: higher / lower, never better
    h = by[("contrast", "1", "ensemble", "entropy")]
    assert h["better"] == "" and h["verdict"] == "batchensemble higher than ensemble"
    assert float(h["mean_diff"]) == pytest.approx(0.6)
    # the mean over corruptions, paired per seed: contrast and brightness both differ by
    # 0.01, 0.02, 0.03, so their mean does too
    assert float(by[("mean", "1", "ensemble", "acc")]["mean_diff"]) == pytest.approx(0.02)
    assert not any(r["baseline"] == "ensemble_parallel" for r in rows)  # diverged
    # AURC, lower is better: -0.10, -0.11, -0.12 -> mean -0.11, sd 0.01: resolved
    r = by[("clean", "0", "ensemble", "aurc")]
    assert float(r["mean_diff"]) == pytest.approx(-0.11)
    assert float(r["ci_high"]) == pytest.approx(-0.11 + HALF)
    assert r["verdict"] == "batchensemble better than ensemble" and r["better"] == "lower"

    ood = {(r["score"], r["baseline"], r["metric"]): r for r in read_csv(out / "ood_paired.csv")}
    a = ood[("entropy", "ensemble", "auroc")]  # 0.10, 0.12, 0.14
    assert float(a["mean_diff"]) == pytest.approx(0.12)
    assert float(a["ci_low"]) == pytest.approx(0.12 - 2 * HALF)
    assert a["verdict"] == "batchensemble better than ensemble"
    f = ood[("mutual_info", "ensemble", "fpr95")]  # -0.1, 0, +0.1
    d, sd = mean_sd([-0.1, 0.0, 0.1])
    assert float(f["mean_diff"]) == pytest.approx(d, abs=1e-12)
    assert float(f["ci_high"]) == pytest.approx(d + T2 * sd / math.sqrt(3))
    assert f["verdict"] == "not resolved with 3 seeds"
    # FPR95 vs single: a constant -0.2: described, no winner
    assert ood[("entropy", "single", "fpr95")]["verdict"] == (
        "same difference in every seed: batchensemble lower than single"
    )


def test_no_files_without_shift_or_ood(tmp_path: Path) -> None:
    out = tmp_path / "sw"
    run_sweep(spec(), out, Engine(shift=False, ood=False))
    assert (out / "summary.csv").is_file() and (out / "paired.csv").is_file()
    assert not any((out / name).exists() for name in UNCERTAINTY_SWEEP_FILES)
    out2 = tmp_path / "ood_only"
    run_sweep(spec(), out2, Engine(shift=False))
    assert {n for n in UNCERTAINTY_SWEEP_FILES if (out2 / n).is_file()} == {
        "ood_summary.csv", "ood_paired.csv"
    }  # fmt: skip


def test_rewrite_refreshes_and_removes_stale_files(tmp_path: Path) -> None:
    out = tmp_path / "sw"
    run_sweep(spec(), out, Engine())
    assert all((out / n).is_file() for n in UNCERTAINTY_SWEEP_FILES)
    store = SweepStore.open(out, spec(), check_cells(spec(), current_limits({})))
    for cell in store.cells:  # every cell rerun: ood.csv with new numbers, no shift.csv
        store.write_run(cell.id, files(cell.config, shift=False, bump=0.05), {})
    write_stats(store)
    assert not (out / "shift_summary.csv").exists() and not (out / "shift_paired.csv").exists()
    ood = {(r["model"], r["score"], r["metric"]): r for r in read_csv(out / "ood_summary.csv")}
    assert float(ood[("batchensemble", "entropy", "auroc")]["mean"]) == pytest.approx(0.97)
    # a cell that is no longer done does not count
    store.update(store.cells[0].id, status="failed")
    tables = uncertainty_tables(store)
    assert [n for n, t in tables.items() if t is not None] == ["ood_summary.csv", "ood_paired.csv"]
    write_stats(store)
    ood = {(r["model"], r["score"], r["metric"]): r for r in read_csv(out / "ood_summary.csv")}
    assert ood[("batchensemble", "entropy", "auroc")]["n"] == "2"
    assert float(ood[("batchensemble", "entropy", "auroc")]["mean"]) == pytest.approx(0.98)
