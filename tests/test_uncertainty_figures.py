"""The Uncertainty section's figures and tables: values as in the frames, one colour per model
kind, missing values left out and labelled "not measured", never drawn as zeros."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from bedash.dashboard import uncertainty_tables as uf
from bedash.dashboard.figures import uncertainty as charts
from bedash.names import MODEL_COLORS, UNCERTAINTY_COLUMNS

NAN = math.nan


def shift_rows() -> pd.DataFrame:
    rows = []
    for kind, base in (("single", 0.8), ("batchensemble", 0.9)):
        rows.append((kind, "clean", 0, base, 0.05, base - 0.01, 0.04))
        for corruption, drop in (("contrast", 0.1), ("gaussian_noise", 0.2)):
            for sev in (1, 2, 3):
                rows.append((kind, corruption, sev, base - drop * sev, 0.05 + 0.01 * sev,
                             NAN, NAN))  # fmt: skip
        for sev in (1, 2, 3):
            rows.append((kind, "mean", sev, base - 0.15 * sev, 0.05 + 0.01 * sev, NAN, NAN))
    frame = pd.DataFrame(
        rows, columns=["model", "corruption", "severity", "acc", "ece", "acc_ts", "ece_ts"]
    )
    frame["aurc"] = [0.1 if c == "clean" else NAN for c in frame["corruption"]]
    return frame


def traces(fig, name: str) -> list:
    return [t for t in fig.data if t.name == name]


def test_models_come_in_bedash_order_then_unknown_ones() -> None:
    a = pd.DataFrame({"model": ["zeta", "single", "batchensemble"]})
    b = pd.DataFrame({"model": ["ensemble", "alpha"]})
    assert uf.models_in(a, b) == ["batchensemble", "ensemble", "single", "zeta", "alpha"]


def test_shift_figure_plots_the_mean_rows_with_clean_as_severity_zero() -> None:
    fig = charts.shift_figure(shift_rows(), "mean")
    be = traces(fig, "BatchEnsemble")
    assert len(be) == 2  # accuracy and ECE panels
    acc, ece = be
    assert list(acc.x) == [0, 1, 2, 3]
    assert list(acc.y) == pytest.approx([0.9, 0.75, 0.6, 0.45])
    assert list(ece.y) == pytest.approx([0.05, 0.06, 0.07, 0.08])
    assert acc.xaxis == "x" and ece.xaxis == "x2"
    assert acc.line.color == MODEL_COLORS["batchensemble"] == ece.line.color
    assert traces(fig, "Single model")[0].line.color == MODEL_COLORS["single"]
    assert acc.showlegend and not ece.showlegend  # one legend entry per model


def test_shift_figure_shows_one_corruption_when_picked() -> None:
    fig = charts.shift_figure(shift_rows(), "gaussian_noise")
    acc = traces(fig, "Single model")[0]
    assert list(acc.y) == pytest.approx([0.8, 0.6, 0.4, 0.2])


def test_missing_values_are_left_out_not_drawn_as_zero() -> None:
    frame = shift_rows()
    hole = (frame["model"] == "single") & (frame["corruption"] == "mean") & (frame["severity"] == 2)
    frame.loc[hole, "acc"] = NAN
    acc = traces(charts.shift_figure(frame, "mean"), "Single model")[0]
    assert list(acc.x) == [0, 1, 3]
    assert 0 not in list(acc.y) and len(acc.y) == 3
    # no temperature scaling measured (every *_ts empty but the clean row's): only what exists
    scaled = traces(charts.shift_figure(frame, "mean"), "Single model (temperature-scaled)")
    assert [list(t.x) for t in scaled] == [[0], [0]]
    assert list(scaled[0].y) == pytest.approx([0.79]) and scaled[0].line.dash == "dash"
    assert not traces(
        charts.shift_figure(frame, "mean", scaled=False), "Single model (temperature-scaled)"
    )


def test_a_model_with_nothing_to_draw_is_labelled_not_measured() -> None:
    frame = shift_rows()
    frame.loc[frame["model"] == "single", ["acc", "ece", "acc_ts", "ece_ts"]] = NAN
    fig = charts.shift_figure(frame, "mean")
    assert not traces(fig, "Single model")
    (entry,) = traces(fig, "Single model: not measured")
    assert list(entry.y) == [None] and entry.line.color == MODEL_COLORS["single"]


def test_shift_table_labels_models_and_drops_empty_scaled_columns() -> None:
    frame = shift_rows()
    frame[["acc_ts", "ece_ts"]] = NAN
    table = uf.shift_table(frame, "contrast")
    assert table["Model"].tolist() == ["BatchEnsemble"] * 4 + ["Single model"] * 4
    assert table["Severity"].tolist() == [0, 1, 2, 3] * 2
    assert table["Accuracy"].tolist() == pytest.approx([0.9, 0.8, 0.7, 0.6, 0.8, 0.7, 0.6, 0.5])
    assert "Accuracy (T-scaled)" not in table and "AURC" in table
    assert uf.corruptions_in(frame) == ["contrast", "gaussian_noise"]


def test_ood_table_keeps_every_value_and_names_scores() -> None:
    ood = pd.DataFrame(
        [
            ("single", "uniform", "entropy", 0.7, 0.6, 0.5),
            ("batchensemble", "uniform", "entropy", 0.9, 0.8, 0.2),
            ("batchensemble", "uniform", "mutual_info", 0.95, NAN, 0.1),
        ],
        columns=["model", "ood_set", "score", "auroc", "aupr", "fpr95"],
    )
    table = uf.ood_table(ood)
    assert list(table.columns) == ["Model", "OOD set", "Score", "AUROC", "AUPR", "FPR at 95% TPR"]
    assert table["Model"].tolist() == ["BatchEnsemble", "BatchEnsemble", "Single model"]
    assert table["Score"].tolist() == [
        "Predictive entropy", "Mutual information", "Predictive entropy",
    ]  # fmt: skip
    assert table["AUROC"].tolist() == [0.9, 0.95, 0.7]
    assert math.isnan(table["AUPR"][1])  # stays missing: the page shows "not measured"
    assert uf.ood_table(pd.DataFrame()).empty
    assert uf.ood_left_out(ood) == []


def test_ood_table_leaves_out_the_single_models_mutual_information_and_says_why() -> None:
    """A single model's mutual information is 0 by definition: its rows (AUROC 0.5) are not a
    measurement, so the table leaves them out and the page says why once."""
    ood = pd.DataFrame(
        [
            ("single", "uniform", "entropy", 0.7, 0.6, 0.5),
            ("single", "uniform", "mutual_info", 0.5, 0.5, 1.0),
            ("single", "gaussian", "mutual_info", 0.5, 0.5, 1.0),
            ("batchensemble", "uniform", "mutual_info", 0.95, 0.9, 0.1),
        ],
        columns=["model", "ood_set", "score", "auroc", "aupr", "fpr95"],
    )
    table = uf.ood_table(ood)
    assert list(zip(table["Model"], table["Score"], strict=True)) == [
        ("BatchEnsemble", "Mutual information"), ("Single model", "Predictive entropy"),
    ]  # fmt: skip
    notes = uf.ood_left_out(ood)
    assert len(notes) == 1 and "by definition" in notes[0] and "single" in notes[0].lower()


def hist_rows(kind: str = "batchensemble") -> pd.DataFrame:
    rows = []
    for s, fractions in (("in_distribution", [0.7, 0.2, 0.1]), ("uniform", [0.1, 0.3, 0.6])):
        for q, top in (("entropy", 3.0), ("mutual_info", 0.3)):
            for b, f in enumerate(fractions):
                w = top / 3
                rows.append((kind, s, q, b, b * w, (b + 1) * w, int(f * 10), f))
    return pd.DataFrame(rows, columns=UNCERTAINTY_COLUMNS)


def test_histogram_figure_bars_clean_and_steps_ood_on_the_same_bins() -> None:
    fig = charts.histogram_figure(hist_rows(), "batchensemble")
    clean = traces(fig, "in-distribution (clean test)")
    ood = traces(fig, "OOD: uniform")
    assert [t.type for t in clean] == ["bar", "bar"] and [t.type for t in ood] == ["scatter"] * 2
    assert list(clean[0].x) == pytest.approx([0.5, 1.5, 2.5])
    assert list(clean[0].width) == pytest.approx([1.0, 1.0, 1.0])
    assert list(clean[0].y) == pytest.approx([0.7, 0.2, 0.1])
    assert list(ood[1].x) == pytest.approx([0.05, 0.15, 0.25])  # mutual information panel
    assert list(ood[1].y) == pytest.approx([0.1, 0.3, 0.6])
    assert clean[0].marker.color == MODEL_COLORS["batchensemble"]
    assert ood[0].line.color not in MODEL_COLORS.values()


def test_histogram_figure_escapes_markup_in_set_names_and_says_not_measured() -> None:
    frame = hist_rows()
    frame.loc[frame["set"] == "uniform", "set"] = "<a href='x'>f</a>"
    fig = charts.histogram_figure(frame, "batchensemble")
    assert traces(fig, "OOD: &lt;a href='x'&gt;f&lt;/a&gt;")
    empty = charts.histogram_figure(pd.DataFrame(), "single")
    assert [t.name for t in empty.data] == ["Single model: not measured"]


def test_coverage_figure_draws_each_model_and_names_its_aurc() -> None:
    sel = pd.DataFrame(
        [("single", c, a) for c, a in ((0.5, 1.0), (1.0, 0.8), (0.25, NAN))]
        + [("batchensemble", c, a) for c, a in ((0.5, 0.9), (1.0, 0.7))],
        columns=["model", "coverage", "accuracy"],
    )
    shift = shift_rows()
    shift.loc[shift["model"] == "batchensemble", "aurc"] = NAN
    fig = charts.coverage_figure(sel, shift)
    (single,) = traces(fig, "Single model (AURC 0.1000)")
    assert list(single.x) == [0.5, 1.0] and list(single.y) == [1.0, 0.8]  # sorted; NaN left out
    (be,) = traces(fig, "BatchEnsemble (AURC not measured)")
    assert be.line.color == MODEL_COLORS["batchensemble"]
    only_shift = charts.coverage_figure(pd.DataFrame(), shift)
    assert {t.name for t in only_shift.data} == {
        "BatchEnsemble: not measured", "Single model: not measured",
    }  # fmt: skip


def test_a_single_models_zero_mutual_information_is_said_not_hidden() -> None:
    frame = hist_rows("single")
    mi = frame["quantity"] == "mutual_info"
    frame.loc[mi, "lower"] = [b * 1e-6 / 3 for b in frame.loc[mi, "bin"]]
    frame.loc[mi, "upper"] = [(b + 1) * 1e-6 / 3 for b in frame.loc[mi, "bin"]]
    notes = [a.text for a in charts.histogram_figure(frame, "single").layout.annotations]
    assert any(n.startswith("zero for every image") for n in notes)
    notes = [
        a.text for a in charts.histogram_figure(hist_rows(), "batchensemble").layout.annotations
    ]
    assert not any(n.startswith("zero for every image") for n in notes)  # subplot titles only
