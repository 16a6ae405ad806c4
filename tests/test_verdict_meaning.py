"""Verdicts that cannot mislead (issue 21): a metric constant by definition is not paired, a
zero spread gives no winner, fewer than 3 seeds are tentative, paired.csv says which seeds it
paired, every metric bedash writes has a direction, and the verdict names its baseline.

Every expected number is computed here with statistics / scipy, never read from bedash."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path
from typing import Any

import pytest
from scipy import stats as sps

from bedash.names import OOD_COLUMNS, RESULT_COLUMNS, SHIFT_COLUMNS
from bedash.settings.config import RunConfig
from bedash.store.runfiles import OOD, RESULTS, SHIFT
from bedash.store.writer import csv_text
from bedash.sweep.grid import CellOutcome, SweepSpec
from bedash.sweep.rows import Record, paired_columns, paired_rows
from bedash.sweep.run import run_sweep
from bedash.sweep.stats import better_direction, paired, verdict

# -- an independent list of directions, each with its reason --------------------------------
HIGHER = {  # more is better
    "mean_member_acc", "ensemble_acc", "vote_acc", "oracle_acc",  # accuracies
    "acc", "acc_ts",  # accuracy under shift, raw and temperature-scaled
    "auroc", "aupr",  # OOD detection: separating in from out
    "member_samples_per_s",  # throughput
}  # fmt: skip
LOWER = {  # less is better
    "nll", "nll_ts", "ece", "ece_ts", "brier", "brier_ts",  # proper scores, calibration error
    "fpr95",  # false alarms at 95% true positives
    "aurc",  # selective risk over all coverages
    "params", "param_bytes", "param_mb", "params_rel_single",  # size
    "train_seconds", "epoch_seconds", "infer_seconds",  # time
}  # fmt: skip
NEITHER = {  # described as higher / lower, never better
    "mean_disagreement",  # diversity is a means to accuracy, not a goal in itself
    "entropy", "expected_entropy", "mutual_info",  # higher on shifted images is not better
    "temperature",  # a fitted parameter: 1 means calibrated already, either side is neither
    "infer_repeats", "load_avg", "cpu_count", "niceness",  # how and where timing ran, no result
}  # fmt: skip
KEYS = {"model", "status", "corruption", "severity", "ood_set", "score"}


def written_metrics() -> set[str]:
    """Every numeric column the run files can hold that a sweep aggregates (the schemas)."""
    descriptive = set(RESULT_COLUMNS[: RESULT_COLUMNS.index("seed") + 1])
    return {c for s in (RESULTS, SHIFT, OOD) for c in s} - descriptive - KEYS


def test_every_metric_bedash_writes_has_a_direction() -> None:
    metrics = written_metrics()
    assert metrics == HIGHER | LOWER | NEITHER  # a new column needs a decision here
    for m in sorted(metrics):
        want = "higher" if m in HIGHER else "lower" if m in LOWER else ""
        assert better_direction(m) == want, m
    with pytest.raises(ValueError, match="no better direction declared for 'made_up'"):
        better_direction("made_up")


# -- verdicts from zero spread and from few seeds -------------------------------------------


def t_interval(diffs: list[float]) -> tuple[float, float]:
    m, se = statistics.mean(diffs), statistics.stdev(diffs) / len(diffs) ** 0.5
    return sps.t.interval(0.95, len(diffs) - 1, loc=m, scale=se) if se else (m, m)


def test_no_verdict_from_zero_spread() -> None:
    same = paired([0.5, 0.7, 0.6], [0.5, 0.7, 0.6])
    assert verdict(same, "higher") == "identical in every seed"
    # one test image per seed: every difference is 1.0, the interval has zero width
    a, b = [1.0, 1.0], [0.0, 0.0]
    assert t_interval([x - y for x, y in zip(a, b, strict=True)]) == (1.0, 1.0)
    text = verdict(paired(a, b), "higher", b="ensemble_parallel")
    assert "better" not in text
    assert text == "same difference in every seed: batchensemble higher than ensemble_parallel"
    # equal up to rounding (0.3 - 0.1 != 0.6 - 0.4 in floats): no winner either
    a, b = [0.3, 0.6, 0.9], [0.1, 0.4, 0.7]
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    assert statistics.stdev(diffs) > 0 and t_interval(diffs)[0] > 0  # a "resolved" interval
    assert "better" not in verdict(paired(a, b), "lower")


def test_a_verdict_from_two_seeds_is_tentative() -> None:
    a, b = [0.60, 0.601], [0.50, 0.50]  # differences 0.1, 0.101
    lo, hi = t_interval([0.1, 0.101])
    assert lo > 0  # scipy's interval excludes zero
    d = paired(a, b)
    assert (d.ci_low, d.ci_high) == pytest.approx((lo, hi))
    assert verdict(d, "higher") == "batchensemble better than ensemble (tentative: 2 seeds)"
    three = paired([0.60, 0.601, 0.602], [0.5, 0.5, 0.5])
    assert (
        sps.t.interval(0.95, 2, loc=0.101, scale=statistics.stdev([0.1, 0.101, 0.102]) / 3**0.5)[0]
        > 0
    )
    assert verdict(three, "higher") == "batchensemble better than ensemble"


def test_the_verdict_names_its_baseline() -> None:
    d = paired([0.60, 0.61, 0.62], [0.50, 0.50, 0.52])  # clearly above zero
    assert sps.ttest_rel([0.60, 0.61, 0.62], [0.50, 0.50, 0.52]).pvalue < 0.05
    assert verdict(d, "higher", b="ensemble_parallel") == (
        "batchensemble better than ensemble_parallel"
    )
    assert verdict(d, "lower", b="ensemble_parallel") == (
        "ensemble_parallel better than batchensemble"
    )
    assert verdict(d, "", b="single") == "batchensemble higher than single"


def test_the_results_page_words_the_baseline_by_its_label() -> None:
    from bedash.dashboard.verdict import paired_verdict

    row = {"config": "0", "metric": "ensemble_acc", "baseline": "ensemble_parallel",
           "mean_diff": "0.02", "ci_low": "0.01", "ci_high": "0.03", "n": "3",
           "verdict": "batchensemble better than ensemble_parallel"}  # fmt: skip
    (line, _) = paired_verdict([row])  # the only baseline there is: no "ensemble" row
    assert line.endswith(": BatchEnsemble better than Ensemble (parallel)")
    assert "BatchEnsemble − Ensemble (parallel)" in line


# -- paired.csv says which seeds it paired; a seed missing for one kind ----------------------

BASE = RunConfig(dataset="synthetic", train_size=64, test_size=32, epochs=1, hidden=8,
                 members=2, device="cpu")  # fmt: skip
ACC = {"batchensemble": [0.61, 0.64, 0.70], "ensemble": [0.60, 0.62, 0.50],
       "single": [0.55, 0.56, 0.57]}  # fmt: skip
MI_AUROC = {"batchensemble": [0.81, 0.83, 0.84], "ensemble": [0.80, 0.80, 0.81]}


def cell_files(cfg: RunConfig) -> dict[str, bytes]:
    """A cell's run files; the ensemble has no row at seed 2 (it never ran there). The single
    model's mutual information is 0 for every image: its OOD rows by it are chance."""
    s = cfg.seed
    kinds = [k for k in ACC if not (k == "ensemble" and s == 2)]
    results, shift, ood = [], [], []
    for m in kinds:
        results.append({"model": m, "status": "finished", "seed": s, "ensemble_acc": ACC[m][s]})
        mi = 0.0 if m == "single" else 0.1 + 0.01 * s
        shift.append({"model": m, "corruption": "clean", "severity": 0, "acc": ACC[m][s],
                      "mutual_info": mi})  # fmt: skip
        for score in ("entropy", "mutual_info"):
            chance = m == "single" and score == "mutual_info"
            auroc = 0.5 if chance else MI_AUROC.get(m, [0.7] * 3)[s]
            aupr, fpr95 = (0.5, 1.0) if chance else (0.7, 0.3)
            ood.append({"model": m, "ood_set": "uniform", "score": score, "auroc": auroc,
                        "aupr": aupr, "fpr95": fpr95})  # fmt: skip
    return {
        "config.json": json.dumps(cfg.to_dict()).encode(),
        "status.json": json.dumps({"status": "finished"}).encode(),
        "results.csv": csv_text(RESULT_COLUMNS, results).encode(),
        "shift.csv": csv_text(SHIFT_COLUMNS, shift).encode(),
        "ood.csv": csv_text(OOD_COLUMNS, ood).encode(),
    }


class Engine:
    name = "fake"

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}

    def run(self, cells: list[Any], *, started: Any, ended: Any, cancel: Any, **_: Any) -> None:
        for cell in cells:
            started(cell.id, {})
            out = cell_files(cell.config)
            ended(CellOutcome(cell.id, "finished", out, started=1.0, ended=2.0), {})


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    out = tmp_path / "sw"
    assert run_sweep(SweepSpec(BASE, {}, [0, 1, 2]), out, Engine()).status == "finished"
    return out


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


OLD_PAIRED = ["config", "label", "metric", "better", "model", "baseline", "mean_model",
              "mean_baseline", "mean_diff", "ci_low", "ci_high", "n", "verdict"]  # fmt: skip


def test_a_seed_missing_for_one_kind_pairs_only_the_shared_seeds(sweep: Path) -> None:
    rows = read_csv(sweep / "paired.csv")
    assert list(rows[0])[: len(OLD_PAIRED)] == OLD_PAIRED  # a contract: added, never renamed
    by = {(r["baseline"], r["metric"]): r for r in rows}
    p = by[("ensemble", "ensemble_acc")]  # seeds 0 and 1 only: the ensemble lacks seed 2
    diffs = [ACC["batchensemble"][s] - ACC["ensemble"][s] for s in (0, 1)]
    lo, hi = t_interval(diffs)
    assert float(p["mean_diff"]) == pytest.approx(statistics.mean(diffs))
    assert (float(p["ci_low"]), float(p["ci_high"])) == pytest.approx((lo, hi))
    assert p["n"] == p["n_paired"] == "2"
    assert p["seeds_paired"] == "0;1" and p["seeds_unpaired"] == "2"
    # the means over the paired seeds (summary.csv has each kind's over all of its seeds)
    assert float(p["mean_model"]) == pytest.approx(statistics.mean([0.61, 0.64]))
    assert float(p["mean_baseline"]) == pytest.approx(statistics.mean([0.60, 0.62]))
    s = by[("single", "ensemble_acc")]  # every seed
    assert s["n_paired"] == "3" and s["seeds_paired"] == "0;1;2" and s["seeds_unpaired"] == ""
    assert float(s["mean_model"]) == pytest.approx(statistics.mean(ACC["batchensemble"]))
    o = {(r["score"], r["baseline"], r["metric"]): r for r in read_csv(sweep / "ood_paired.csv")}
    a = o[("mutual_info", "ensemble", "auroc")]
    assert a["seeds_paired"] == "0;1" and a["seeds_unpaired"] == "2"
    assert float(a["mean_diff"]) == pytest.approx(statistics.mean([0.01, 0.03]))


def test_single_mutual_information_is_left_out_of_the_paired_rows(sweep: Path) -> None:
    ood = read_csv(sweep / "ood_paired.csv")
    assert not [r for r in ood if r["baseline"] == "single" and r["score"] == "mutual_info"]
    assert {r["metric"] for r in ood if r["baseline"] == "single"} == {"auroc", "aupr", "fpr95"}
    assert {r["score"] for r in ood if r["baseline"] == "ensemble"} == {"entropy", "mutual_info"}
    shift = read_csv(sweep / "shift_paired.csv")
    assert not [r for r in shift if r["baseline"] == "single" and r["metric"] == "mutual_info"]
    assert [r for r in shift if r["baseline"] == "ensemble" and r["metric"] == "mutual_info"]
    # the summaries keep the measured numbers (AUROC 0.5 is what the file says)
    summary = read_csv(sweep / "ood_summary.csv")
    chance = [r for r in summary if r["model"] == "single" and r["score"] == "mutual_info"]
    assert {r["metric"]: float(r["mean"]) for r in chance} == {
        "auroc": 0.5,
        "aupr": 0.5,
        "fpr95": 1.0,
    }


def test_paired_rows_leave_out_a_constant_side_whatever_the_key() -> None:
    kinds = (("batchensemble", 0.1), ("single", 0.0))
    recs = [Record(0, {}, s, m, {"mutual_info": v * s}, ("clean", "0"))
            for s in (1, 2, 3) for m, v in kinds]  # fmt: skip
    assert paired_rows(recs, [], key=("corruption", "severity")) == []
    assert "n_paired" in paired_columns([]) and "seeds_paired" in paired_columns([])


def test_the_cli_and_the_page_say_why_once(sweep: Path) -> None:
    from bedash.dashboard.sweep_tables import ood_table, ood_verdicts
    from bedash.store.sweepfiles import read_stats
    from bedash.sweep.cli import format_verdicts
    from bedash.sweep.uncertainty_stats import CONSTANT_NOTE, left_out_notes

    text = format_verdicts(sweep)
    assert text.count("mutual information") == 1 and CONSTANT_NOTE in text
    _, summary = read_stats(sweep / "ood_summary.csv", ("ood_set", "score"))
    _, paired_ = read_stats(sweep / "ood_paired.csv", ("ood_set", "score"), paired=True)
    assert left_out_notes(summary) == [CONSTANT_NOTE]
    import pandas as pd

    table = ood_table(pd.DataFrame(summary))
    shown = set(zip(table["Model"], table["Score"], strict=True))
    assert ("Single model", "Mutual information") not in shown
    assert ("Single model", "Predictive entropy") in shown
    assert ("Ensemble (sequential)", "Mutual information") in shown
    old = pd.DataFrame([*paired_, dict(paired_[0], baseline="single", score="mutual_info")])
    v = ood_verdicts(old)  # an older folder's file: its constant rows are not shown
    assert not ((v["Baseline"] == "Single model") & (v["Score"] == "Mutual information")).any()
