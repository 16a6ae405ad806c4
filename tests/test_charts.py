"""Figure and table builders: pure functions of data frames, checked without streamlit."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bedash import charts
from bedash.app.jobs import TracePoint
from bedash.runs import RunInfo
from bedash.schema import EpochRecord as EpochRow


def history(rows: list[tuple]) -> pd.DataFrame:
    """(model, member, epoch, loss, seconds) -> history.csv's frame (member None: whole)."""
    return pd.DataFrame(
        [(m, k, e, loss, s, 1000.0) for m, k, e, loss, s in rows], columns=charts.HISTORY_COLUMNS
    )


RESULTS = pd.DataFrame(
    [
        {"model": "batchensemble", "status": "finished", "members": 4, "params": 1040,
         "param_mb": 0.004, "params_rel_single": 1.04, "train_seconds": 3.0,
         "epoch_seconds": 1.5, "infer_seconds": 0.02, "mean_member_acc": 0.6,
         "ensemble_acc": 0.7, "vote_acc": 0.68, "oracle_acc": 0.9, "nll": 0.8, "ece": 0.03,
         "brier": 0.4, "mean_disagreement": 0.3},
        {"model": "single", "status": "finished", "members": 1, "params": 1000,
         "param_mb": 0.0038, "params_rel_single": 1.0, "train_seconds": 1.0,
         "epoch_seconds": 0.5, "infer_seconds": 0.005, "mean_member_acc": 0.65,
         "ensemble_acc": 0.65, "vote_acc": 0.65, "oracle_acc": 0.65, "nll": 1.0, "ece": 0.1,
         "brier": 0.5, "mean_disagreement": None},
    ]
)  # fmt: skip


def test_frame_keeps_its_columns_when_empty_and_reads_dataclasses() -> None:
    empty = charts.frame([], charts.HISTORY_COLUMNS)
    assert list(empty.columns) == charts.HISTORY_COLUMNS and len(empty) == 0
    rows = [EpochRow("single", None, 1, 2.0, 0.5, 100.0), EpochRow("single", None, 2, 1.5, 0.5, 90)]
    df = charts.frame(rows, charts.HISTORY_COLUMNS)
    assert df["loss"].tolist() == [2.0, 1.5] and df["member"].isna().all()


def test_loss_figure_draws_one_line_per_model_and_thin_member_lines() -> None:
    h = history([
        ("batchensemble", None, 1, 2.0, 1.0), ("batchensemble", 0, 1, 2.1, 1.0),
        ("batchensemble", 1, 1, 1.9, 1.0), ("batchensemble", None, 2, 1.5, 1.0),
        ("batchensemble", 0, 2, 1.6, 1.0), ("batchensemble", 1, 2, 1.4, 1.0),
        ("single", None, 1, 2.2, 0.2),
    ])  # fmt: skip
    fig = charts.loss_figure(h)
    names = [t.name for t in fig.data]
    assert names == ["BatchEnsemble", "BatchEnsemble members", "BatchEnsemble members",
                     "Single model"]  # fmt: skip
    be, m0, m1, _ = fig.data
    assert list(be.x) == [1.0, 2.0] and list(be.y) == [2.0, 1.5]
    assert list(m0.y) == [2.1, 1.6] and list(m1.y) == [1.9, 1.4]
    assert m0.showlegend and not m1.showlegend  # one legend entry toggles all members
    assert m0.line.color == be.line.color == charts.MODEL_COLORS["batchensemble"]
    assert be.line.width > m0.line.width
    assert [t.name for t in charts.loss_figure(h, members=False).data] == [
        "BatchEnsemble", "Single model",
    ]  # fmt: skip


def test_loss_figure_follows_live_log_points_between_epochs() -> None:
    h = history([("batchensemble", None, 1, 2.0, 1.0)])
    trace = charts.frame(
        [TracePoint("batchensemble", None, 0.5, 2.2), TracePoint("batchensemble", None, 1.0, 2.0),
         TracePoint("batchensemble", None, 1.5, 1.8)],
        charts.TRACE_COLUMNS,
    )  # fmt: skip
    (line,) = charts.loss_figure(h, trace).data
    assert list(line.x) == [0.5, 1.0, 1.5]  # the epoch end is not drawn twice
    assert list(line.y) == [2.2, 2.0, 1.8]


def test_a_sequential_ensemble_shows_its_members_while_they_train() -> None:
    trace = charts.frame(
        [TracePoint("ensemble", 0, 1.0, 2.0), TracePoint("ensemble", 1, 0.5, 2.3)],
        charts.TRACE_COLUMNS,
    )
    fig = charts.loss_figure(charts.frame([], charts.HISTORY_COLUMNS), trace)
    assert [t.name for t in fig.data] == ["Ensemble (sequential) members"] * 2


def test_an_empty_loss_figure_says_why() -> None:
    fig = charts.loss_figure(charts.frame([], charts.HISTORY_COLUMNS))
    assert not fig.data and "first log point" in fig.layout.annotations[0].text


def test_epoch_times_sum_the_members_of_a_sequential_ensemble_until_it_is_done() -> None:
    partial = history([("ensemble", 0, 1, 2.0, 1.0), ("ensemble", 0, 2, 1.8, 1.1),
                       ("ensemble", 1, 1, 2.0, 0.9)])  # fmt: skip
    t = charts.epoch_times(partial)
    assert t["epoch"].tolist() == [1, 2] and t["epoch_seconds"].tolist() == [1.9, 1.1]
    done = history([("ensemble", 0, 1, 2.0, 1.0), ("ensemble", 1, 1, 2.0, 0.9),
                    ("ensemble", None, 1, 2.0, 1.9), ("single", None, 1, 2.0, 0.3)])  # fmt: skip
    t = charts.epoch_times(done)
    assert t[["model", "epoch_seconds"]].values.tolist() == [["ensemble", 1.9], ["single", 0.3]]
    fig = charts.epoch_time_figure(done)
    assert [b.name for b in fig.data] == ["Ensemble (sequential)", "Single model"]
    assert fig.layout.barmode == "group"


def test_accuracy_bars_label_every_accuracy_for_what_it_is() -> None:
    fig = charts.accuracy_figure(RESULTS)
    assert [t.name for t in fig.data] == [
        "mean member", "ensemble (mean softmax)", "majority vote", "oracle (any member right)"
    ]  # fmt: skip
    assert list(fig.data[1].x) == ["BatchEnsemble", "Single model"]
    assert list(fig.data[1].y) == [0.7, 0.65] and list(fig.data[3].y) == [0.9, 0.65]


def test_parameter_and_time_bars() -> None:
    params = charts.params_figure(RESULTS).data[0]
    assert list(params.y) == [1040, 1000]
    assert params.text[0] == "1.04× single · 0.0 MB"
    time = charts.time_figure(RESULTS)
    assert [list(t.y) for t in time.data] == [[3.0, 1.0], [1.5, 0.5], [20.0, 5.0]]  # ms


def test_member_bars_come_with_the_ensemble_and_single_reference_lines() -> None:
    members = pd.DataFrame(
        {"model": ["batchensemble"] * 4 + ["single"], "member": [0, 1, 2, 3, 0],
         "accuracy": [0.6, 0.61, 0.59, 0.62, 0.65], "nll": [1.0] * 5}
    )  # fmt: skip
    fig = charts.member_accuracy_figure(members, RESULTS)
    bars = [t for t in fig.data if t.type == "bar"]
    assert len(bars) == 1 and list(bars[0].y) == [0.6, 0.61, 0.59, 0.62]  # single: no panel
    lines = {t.name: t.y[0] for t in fig.data if t.type == "scatter"}
    assert lines == {"ensemble (mean softmax)": 0.7, "single model": 0.65}


def test_heatmaps_share_one_zero_to_one_scale_and_write_their_values() -> None:
    m = pd.DataFrame({"member": [0, 1], "0": [1.0, 0.4], "1": [0.4, 1.0]})
    fig = charts.agreement_figure({"ensemble": m, "batchensemble": m * 0.5})
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert len(heat) == 2 and all(t.coloraxis == "coloraxis" for t in heat)
    assert fig.layout.coloraxis.cmin == 0 and fig.layout.coloraxis.cmax == 1
    assert all(t.texttemplate == "%{z:.2f}" for t in heat)
    assert [a.text for a in fig.layout.annotations] == ["BatchEnsemble", "Ensemble (sequential)"]
    assert heat[1].z.tolist() == [[1.0, 0.4], [0.4, 1.0]]
    assert charts.agreement_figure({}).layout.annotations[0].text == "no ensemble has finished yet"


def test_reliability_diagram_per_model_skips_empty_bins() -> None:
    t = pd.DataFrame(
        {"bin": [0, 1, 2], "lower": [0.0, 1 / 3, 2 / 3], "upper": [1 / 3, 2 / 3, 1.0],
         "count": [0, 10, 5], "accuracy": [None, 0.5, 0.8], "confidence": [None, 0.5, 0.9]}
    )  # fmt: skip
    fig = charts.reliability_figure({"single": t, "batchensemble": t}, RESULTS)
    bars = [d for d in fig.data if d.type == "bar"]
    assert len(bars) == 2 and list(bars[0].y) == [0.5, 0.8]
    assert list(bars[0].x) == pytest.approx([0.5, 5 / 6])
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["BatchEnsemble · ECE 0.030", "Single model · ECE 0.100"]


def test_compare_plots_metrics_against_the_member_count() -> None:
    rows = pd.DataFrame(
        [{"run_id": "b", "model": "batchensemble", "members": 8, "ensemble_acc": 0.8,
          "params": 10, "train_seconds": 4},
         {"run_id": "a", "model": "batchensemble", "members": 2, "ensemble_acc": 0.7,
          "params": 9, "train_seconds": 2}]
    )  # fmt: skip
    fig = charts.compare_figure(rows)
    assert len(fig.data) == 3 and all(list(t.x) == [2, 8] for t in fig.data)
    assert [list(t.y) for t in fig.data] == [[0.7, 0.8], [9, 10], [2, 4]]


def test_results_table_has_readable_headers_and_numbers() -> None:
    table = charts.results_table(RESULTS)
    assert list(table.columns) == list(charts.RESULT_TABLE.values())
    assert table["Model"].tolist() == ["BatchEnsemble", "Single model"]
    assert table["Acc ensemble (mean softmax)"].dtype.kind == "f"


def test_runs_frame_puts_headline_metrics_first() -> None:
    cfg = {"dataset": "/data/my_images/", "arch": "mlp", "models": ["batchensemble", "single"],
           "members": 4, "hidden": 64, "epochs": 3, "lr": 0.001}  # fmt: skip
    runs = [
        RunInfo("r1", Path("r1"), "finished", config=cfg, started="2026-01-01T10:00:00+00:00",
                results=[dict(RESULTS.iloc[0].astype(str)), dict(RESULTS.iloc[1].astype(str))]),
        RunInfo("r2", Path("r2"), "damaged", reason="missing file config.json"),
    ]  # fmt: skip
    df = charts.runs_frame(runs)
    assert list(df.columns[:8]) == [
        "run_id", "status", "started", "models", "acc batchensemble", "acc single",
        "BE params × single", "train s (all)",
    ]  # fmt: skip
    first = df.iloc[0]
    assert first["acc batchensemble"] == 0.7 and first["train s (all)"] == 4.0
    assert first["dataset"] == "my_images" and first["started"].year == 2026
    assert df.iloc[1]["note"] == "missing file config.json" and pd.isna(df.iloc[1]["started"])
    assert charts.runs_frame([]).empty


def test_every_figure_builds_from_a_real_run_folder(tmp_path: Path) -> None:
    from bedash.config import RunConfig
    from bedash.experiment import run_experiment

    cfg = RunConfig(
        dataset="synthetic", train_size=256, test_size=128, epochs=2, hidden=16, members=3,
        batch_size=64, device="cpu", models=("batchensemble", "ensemble", "single"),
    )  # fmt: skip
    path = run_experiment(cfg, tmp_path / "run").path
    res, mem = pd.read_csv(path / "results.csv"), pd.read_csv(path / "members.csv")
    hist = pd.read_csv(path / "history.csv")
    agree = {p.stem[10:]: pd.read_csv(p) for p in path.glob("agreement_*.csv")}
    rel = {p.stem[12:]: pd.read_csv(p) for p in path.glob("reliability_*.csv")}
    figures = [
        charts.loss_figure(hist), charts.epoch_time_figure(hist), charts.accuracy_figure(res),
        charts.params_figure(res), charts.time_figure(res),
        charts.member_accuracy_figure(mem, res), charts.agreement_figure(agree),
        charts.reliability_figure(rel, res),
    ]  # fmt: skip
    for fig in figures:
        assert fig.data and fig.to_json()
    assert sorted(agree) == ["batchensemble", "ensemble"]
    # the sequential ensemble's whole-model line exists once it has finished
    assert "Ensemble (sequential)" in [t.name for t in figures[0].data]
