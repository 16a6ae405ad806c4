"""The Sweeps page's uncertainty figures and tables, from files a (fake) sweep wrote."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bedash.dashboard import sweep_tables as suf
from bedash.dashboard.figures import sweeps as charts
from bedash.names import MODEL_COLORS
from bedash.sweep.run import run_sweep
from tests.test_sweep_uncertainty import HALF, Engine, spec


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    run_sweep(spec(), tmp_path / "sw", Engine())
    return tmp_path / "sw"


def test_severity_figure_draws_means_with_interval_bands(sweep: Path) -> None:
    summary = pd.read_csv(sweep / "shift_summary.csv")
    fig = charts.shift_severity_figure(summary)  # accuracy
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
    ece = charts.shift_severity_figure(summary, metric="ece")
    (line,) = [t for t in ece.data if t.name == "BatchEnsemble"]
    assert list(line.y) == pytest.approx([0.05, 0.05]) and "ECE" in ece.layout.yaxis.title.text
    empty = charts.shift_severity_figure(pd.DataFrame())
    assert not empty.data and "not measured" in empty.layout.annotations[0].text


def test_severity_figure_picks_the_config(sweep: Path) -> None:
    summary = pd.read_csv(sweep / "shift_summary.csv")
    other = summary.assign(config=1, mean=summary["mean"] + 1.0)
    both = pd.concat([summary, other])

    def be(config: int | None) -> object:
        fig = charts.shift_severity_figure(both, config)
        return next(t for t in fig.data if t.name == "BatchEnsemble")

    first, second = be(None), be(1)
    assert list(second.y) == pytest.approx([y + 1.0 for y in first.y])


def test_ood_table_reads_mean_plus_minus_interval(sweep: Path) -> None:
    table = suf.ood_table(pd.read_csv(sweep / "ood_summary.csv"))
    assert list(table.columns)[:3] == ["Model", "OOD set", "Score"]
    # the single model's mutual information is 0 by definition: no OOD row by it (issue 21)
    assert list(table["Model"]) == ["BatchEnsemble"] * 2 + ["Ensemble (sequential)"] * 2 + [
        "Single model"
    ]  # fmt: skip
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
    assert list(acc["Verdict"]) == ["BatchEnsemble better than Single model"]
    assert list(acc["BatchEnsemble − baseline"]) == ["+0.1200"]
    ood = suf.ood_verdicts(pd.read_csv(sweep / "ood_paired.csv"))
    a = ood[(ood["Metric"] == "AUROC") & (ood["Baseline"] == "Ensemble (sequential)")
            & (ood["Score"] == "Predictive entropy")]  # fmt: skip
    assert list(a["Verdict"]) == ["BatchEnsemble better than Ensemble (sequential)"]
    assert list(a["n"]) == [3]
    assert suf.ood_verdicts(pd.DataFrame()).empty


def test_bands_stay_within_the_metrics_range(sweep: Path) -> None:
    """With few seeds a t interval reaches past what a metric can be (an ECE below 0, an
    accuracy above 1): the band is drawn only up to there; the mean and the CSV's interval
    stay as they are."""
    summary = pd.read_csv(sweep / "shift_summary.csv")
    rows = summary["model"] == "batchensemble"
    wide = summary.assign(
        ci_low=summary["ci_low"].where(~rows, summary["mean"] - 0.5),
        ci_high=summary["ci_high"].where(~rows, summary["mean"] + 0.5),
    )
    cut = 0
    for metric in ("ece", "acc"):
        fig = charts.shift_severity_figure(wide, metric=metric)
        (band,) = [t for t in fig.data if t.fill == "toself" and t.legendgroup == "batchensemble"]
        (line,) = [t for t in fig.data if t.name == "BatchEnsemble"]
        means = list(line.y)  # clean, then the mean over corruptions at severity 1
        highs, lows = [min(m + 0.5, 1.0) for m in means], [max(m - 0.5, 0.0) for m in means]
        assert list(band.y) == pytest.approx(highs + lows[::-1])
        assert min(band.y) >= 0.0 and max(band.y) <= 1.0
        cut += sum(m + 0.5 > 1 for m in means) + sum(m - 0.5 < 0 for m in means)
    assert cut >= 2  # the ECE's low end and the accuracy's high end were cut
    assert (wide.loc[rows, "ci_low"] < 0).any()  # the data itself is left alone


def test_the_std_band_over_a_grid_stays_within_the_metrics_range() -> None:
    """The Sweeps page's mean ± std band against a grid field: an NLL band stops at 0, an
    accuracy band at 1; the line is the mean itself."""

    summary = pd.DataFrame(
        {"config": [0, 1, 0, 1], "model": ["batchensemble"] * 4, "members": [2, 4, 2, 4],
         "metric": ["nll", "nll", "ensemble_acc", "ensemble_acc"],
         "mean": [0.2, 1.5, 0.7, 0.95], "std": [0.5, 0.5, 0.1, 0.1]}
    )  # fmt: skip
    for metric, highs, lows in (("nll", [0.7, 2.0], [0.0, 1.0]),
                                ("ensemble_acc", [0.8, 1.0], [0.6, 0.85])):  # fmt: skip
        fig = charts.band_figure(summary, metric, "members")
        band, line = fig.data
        assert band.fill == "toself" and list(band.x) == [2, 4, 4, 2]
        assert list(band.y) == pytest.approx(highs + lows[::-1])
        assert list(line.y) == pytest.approx(list(summary[summary["metric"] == metric]["mean"]))


def test_the_paired_table_puts_the_deciding_metrics_first_per_config() -> None:
    from bedash.dashboard.sweep_tables import config_labels, paired_table

    paired = pd.DataFrame(
        {"config": [1, 0, 0, 0], "metric": ["nll", "params", "zz", "ensemble_acc"]}
    )
    out = paired_table(paired)
    assert out["config"].tolist() == [0, 0, 0, 1]
    assert out["metric"].tolist() == [
        "accuracy, ensemble (mean softmax)", "parameters", "zz", "NLL (ensemble)",
    ]  # fmt: skip
    summary = pd.DataFrame({"config": [1, 0, 0], "label": [None, "members=2", "members=2"]})
    assert config_labels(summary) == {0: "members=2", 1: "config 1"}
    assert config_labels(pd.DataFrame()) == {}


def test_severity_figure_draws_the_corruption_asked_for(sweep: Path) -> None:
    """A category's mean or one corruption instead of the mean over all: its own rows, and the
    axis says which."""
    summary = pd.read_csv(sweep / "shift_summary.csv")
    mean = summary[summary["corruption"] == "mean"]
    other = mean.assign(corruption="mean_noise", mean=mean["mean"] - 0.25)
    both = pd.concat([summary, other])
    base = charts.shift_severity_figure(both)
    fig = charts.shift_severity_figure(both, corruption="mean_noise")

    def be(f: object) -> list[float]:
        return list(next(t for t in f.data if t.name == "BatchEnsemble").y)

    assert be(fig)[0] == pytest.approx(be(base)[0])  # the clean point is the same
    assert be(fig)[1:] == pytest.approx([y - 0.25 for y in be(base)[1:]])
    assert "noise" in fig.layout.xaxis.title.text and "CIFAR-10-C" in base.layout.xaxis.title.text
