"""The Sweeps page's uncertainty figures and tables, from files a (fake) sweep wrote."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bedash.app import sweep_uncertainty_figures as suf
from bedash.schema import MODEL_COLORS
from bedash.sweep import run_sweep
from tests.test_sweep_uncertainty import HALF, Engine, spec


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    run_sweep(spec(), tmp_path / "sw", Engine())
    return tmp_path / "sw"


def test_severity_figure_draws_means_with_interval_bands(sweep: Path) -> None:
    summary = pd.read_csv(sweep / "shift_summary.csv")
    fig = suf.shift_severity_figure(summary)  # accuracy
    (acc,) = [t for t in fig.data if t.name == "BatchEnsemble"]
    assert list(acc.x) == [0, 1]  # clean, then the mean over corruptions at severity 1
    assert list(acc.y) == pytest.approx([0.9, (0.52 + 0.72) / 2])
    assert acc.line.color == MODEL_COLORS["batchensemble"] and acc.mode == "lines+markers"
    bands = [t for t in fig.data if t.fill == "toself" and t.legendgroup == "batchensemble"]
    (band,) = bands  # clean (sd 0: a zero-width band), then 0.62 ± HALF
    assert list(band.x) == [0, 1, 1, 0] and band.mode == "lines"  # no dots at its corners
    assert list(band.y) == pytest.approx([0.9, 0.62 + HALF, 0.62 - HALF, 0.9])
    assert "95% CI" in fig.layout.yaxis.title.text
    assert fig.layout.title.text == "Accuracy under shift"
    assert {t.name for t in fig.data if t.name} == {"BatchEnsemble", "Ensemble (sequential)",
                                                     "Single model"}  # fmt: skip
    ece = suf.shift_severity_figure(summary, metric="ece")
    (line,) = [t for t in ece.data if t.name == "BatchEnsemble"]
    assert list(line.y) == pytest.approx([0.05, 0.05]) and "ECE" in ece.layout.yaxis.title.text
    empty = suf.shift_severity_figure(pd.DataFrame())
    assert not empty.data and "no shift" in empty.layout.title.text


def test_severity_figure_picks_the_config(sweep: Path) -> None:
    summary = pd.read_csv(sweep / "shift_summary.csv")
    other = summary.assign(config=1, mean=summary["mean"] + 1.0)
    both = pd.concat([summary, other])

    def be(config: int | None) -> object:
        fig = suf.shift_severity_figure(both, config)
        return next(t for t in fig.data if t.name == "BatchEnsemble")

    first, second = be(None), be(1)
    assert list(second.y) == pytest.approx([y + 1.0 for y in first.y])


def test_ood_table_reads_mean_plus_minus_interval(sweep: Path) -> None:
    table = suf.ood_table(pd.read_csv(sweep / "ood_summary.csv"))
    assert list(table.columns)[:3] == ["Model", "OOD set", "Score"]
    assert list(table["Model"]) == ["BatchEnsemble"] * 2 + ["Ensemble (sequential)"] * 2 + [
        "Single model"
    ] * 2  # fmt: skip
    row = table.iloc[0]
    assert row["Score"] == "Predictive entropy" and row["OOD set"] == "uniform"
    auroc = next(c for c in table.columns if c.startswith("AUROC"))
    assert "95% CI" in auroc and row[auroc] == f"0.920 ± {2 * HALF:.3f}"
    assert row["Seeds"] == 3
    one = suf.mean_ci(0.5, float("nan"), float("nan"))
    assert one == "0.500" and suf.mean_ci(None, 0, 1) == "not measured"
    assert suf.ood_table(pd.DataFrame()).empty


def test_verdict_tables(sweep: Path) -> None:
    shift = suf.shift_verdicts(pd.read_csv(sweep / "shift_paired.csv"))
    assert set(shift["Corruption"]) == {"clean", "mean"}  # per corruption: in the file
    acc = shift[(shift["Corruption"] == "mean") & (shift["Metric"] == "Accuracy")
                & (shift["Baseline"] == "Single model")]  # fmt: skip
    assert list(acc["Verdict"]) == ["batchensemble better"]
    assert list(acc["BatchEnsemble − baseline"]) == ["+0.1200"]
    ood = suf.ood_verdicts(pd.read_csv(sweep / "ood_paired.csv"))
    a = ood[(ood["Metric"] == "AUROC") & (ood["Baseline"] == "Ensemble (sequential)")
            & (ood["Score"] == "Predictive entropy")]  # fmt: skip
    assert list(a["Verdict"]) == ["batchensemble better"] and list(a["n"]) == [3]
    assert suf.ood_verdicts(pd.DataFrame()).empty
