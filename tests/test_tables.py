"""Table shaping and the live view's numbers: pure functions, checked without streamlit."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bedash.dashboard import tables
from bedash.jobs.record import TracePoint
from bedash.names import HISTORY_COLUMNS
from bedash.names import EpochRecord as EpochRow
from bedash.store.annotations import Annotations
from bedash.store.runs import RunInfo
from tests.test_figures import RESULTS


def test_frame_keeps_its_columns_when_empty_and_reads_dataclasses() -> None:
    empty = tables.frame([], HISTORY_COLUMNS)
    assert list(empty.columns) == HISTORY_COLUMNS and len(empty) == 0
    rows = [EpochRow("single", None, 1, 2.0, 0.5, 100.0), EpochRow("single", None, 2, 1.5, 0.5, 90)]
    df = tables.frame(rows, HISTORY_COLUMNS)
    assert df["loss"].tolist() == [2.0, 1.5] and df["member"].isna().all()


def test_interval_means_undo_the_running_mean_of_each_epoch() -> None:
    trace = tables.frame(
        [TracePoint("single", None, x, m) for x, m in
         [(0.25, 2.0), (0.5, 1.8), (1.0, 1.5), (1.5, 1.0), (2.0, 0.9)]],
        tables.TRACE_COLUMNS,
    )  # fmt: skip
    out = tables.interval_means(trace)
    assert out["x0"].tolist() == [0, 0.25, 0.5, 1.0, 1.5]
    assert out["x1"].tolist() == [0.25, 0.5, 1.0, 1.5, 2.0]
    # (m2*s2 - m1*s1) / (s2 - s1): (1.8*0.5 - 2.0*0.25) / 0.25 = 1.6; a new epoch restarts
    assert out["loss"].tolist() == pytest.approx([2.0, 1.6, 1.2, 1.0, 0.8])
    assert out["member"].tolist() == [-1] * 5


@given(st.lists(st.floats(0.01, 10.0), min_size=1, max_size=30), st.integers(1, 4))
def test_interval_means_average_back_to_the_running_mean(losses: list[float], every: int) -> None:
    """The batch losses of one epoch, logged every `every` batches (and at its end): the
    intervals' means, weighted by their width, give the running mean at every log point."""
    steps = len(losses)
    logged = sorted({*range(every, steps + 1, every), steps})
    points = [TracePoint("single", None, s / steps, sum(losses[:s]) / s) for s in logged]  # epoch 1
    out = tables.interval_means(tables.frame(points, tables.TRACE_COLUMNS))
    total = ((out["x1"] - out["x0"]) * out["loss"]).cumsum() / out["x1"]
    assert total.tolist() == pytest.approx([p.loss for p in points], rel=1e-6, abs=1e-9)


def test_interval_means_keep_members_and_models_apart() -> None:
    trace = tables.frame(
        [TracePoint("ensemble", 0, 0.5, 2.0), TracePoint("ensemble", 1, 0.5, 3.0),
         TracePoint("ensemble", 0, 1.0, 1.0), TracePoint("ensemble", 1, 1.0, 2.0)],
        tables.TRACE_COLUMNS,
    )  # fmt: skip
    out = tables.interval_means(trace).sort_values(["member", "x"])
    assert out["loss"].tolist() == pytest.approx([2.0, 0.0, 3.0, 1.0])


def test_smoothing_is_tensorboards_debiased_moving_average() -> None:
    assert tables.smooth([1.0, 2.0, 3.0], 0.0) == [1.0, 2.0, 3.0]
    # first point unbiased (not pulled to 0), then the EMA divided by 1 - w^n
    w = 0.6
    a = (1 - w) * 1.0
    b = a * w + (1 - w) * 2.0
    assert tables.smooth([1.0, 2.0], w) == pytest.approx([a / (1 - w), b / (1 - w**2)])
    assert tables.smooth([5.0, 5.0, 5.0], 0.9) == [5.0, 5.0, 5.0]
    out = tables.smooth([1.0, float("nan"), 3.0], 0.5)
    assert out[1] != out[1] and out[2] == pytest.approx((0.5 * 0.5 + 0.5 * 3.0) / 0.75)
    with pytest.raises(ValueError, match="smoothing"):
        tables.smooth([1.0], 1.0)


def test_smoothed_throughput_does_not_jump_at_an_epoch_start() -> None:
    hist = [EpochRow("single", None, 1, 2.0, 1.0, 1000.0)]
    start = SimpleNamespace(model="single", member=None, epoch=2, step=1, steps=100,
                            samples_per_s=3000.0)  # fmt: skip
    assert tables.smoothed_throughput(start, hist) == pytest.approx(0.01 * 3000 + 0.99 * 1000)
    end = SimpleNamespace(**{**start.__dict__, "step": 100})
    assert tables.smoothed_throughput(end, hist) == pytest.approx(3000.0)
    first = SimpleNamespace(**{**start.__dict__, "epoch": 1})
    assert tables.smoothed_throughput(first, hist) == 3000.0  # no earlier epoch: as it is
    assert tables.smoothed_throughput(None, hist) is None


def test_busy_means_a_load_above_the_cpu_count() -> None:
    assert tables.busy(3.5, 2) and not tables.busy(1.5, 2)
    assert not tables.busy(None, 2) and not tables.busy("", 2) and not tables.busy(9.0, None)


def test_results_table_has_readable_headers_and_numbers() -> None:
    table = tables.results_table(RESULTS.assign(infer_repeats=3, load_avg=0.5))
    assert list(table.columns) == list(tables.RESULT_TABLE.values())
    assert table["Model"].tolist() == ["BatchEnsemble", "Single model"]
    assert table["Acc ensemble (mean softmax)"].dtype.kind == "f"
    assert "Load" not in tables.results_table(RESULTS)  # a run from before the column


def test_runs_frame_puts_headline_metrics_first_with_tags_and_notes() -> None:
    cfg = {"dataset": "/data/my_images/", "arch": "mlp", "models": ["batchensemble", "single"],
           "members": 4, "hidden": 64, "epochs": 3, "lr": 0.001}  # fmt: skip
    runs = [
        RunInfo("r1", Path("r1"), "finished", config=cfg, started="2026-01-01T10:00:00+00:00",
                results=[dict(RESULTS.iloc[0].astype(str)), dict(RESULTS.iloc[1].astype(str))]),
        RunInfo("r2", Path("r2"), "damaged", reason="missing file config.json"),
    ]  # fmt: skip
    df = tables.runs_frame(runs, {"r1": Annotations(("baseline", "mlp"), "first try")})
    assert list(df.columns[:9]) == [
        "run_id", "status", "started", "tags", "models", "acc batchensemble", "acc single",
        "BE params × single", "train s (all)",
    ]  # fmt: skip
    first = df.iloc[0]
    assert first["acc batchensemble"] == 0.7 and first["train s (all)"] == 4.0
    assert first["dataset"] == "my_images" and first["started"].year == 2026
    assert first["tags"] == "baseline, mlp" and first["notes"] == "first try"
    assert df.iloc[1]["note"] == "missing file config.json" and pd.isna(df.iloc[1]["started"])
    assert df.iloc[1]["tags"] == ""
    assert tables.runs_frame([]).empty
    # exported with the table
    assert "baseline, mlp" in df.to_csv(index=False) and "first try" in df.to_csv(index=False)


def test_the_tag_filter_keeps_runs_with_every_tag_picked() -> None:
    df = pd.DataFrame({"run_id": ["a", "b", "c"], "tags": ["x, y", "y", ""]})
    assert tables.all_tags(df) == ["x", "y"]
    assert tables.tag_filter(df, ["y"])["run_id"].tolist() == ["a", "b"]
    assert tables.tag_filter(df, ["x", "y"])["run_id"].tolist() == ["a"]
    assert tables.tag_filter(df, [])["run_id"].tolist() == ["a", "b", "c"]


def test_numbers_leave_out_what_is_not_a_finite_number() -> None:
    assert tables.numbers(["0.5", 2, None, "", "n/a", float("nan"), float("inf")]) == [
        0.5, 2.0, None, None, None, None, None,
    ]  # fmt: skip
    frame = pd.DataFrame({"a": [1, None]})
    assert tables.column(frame, "a") == [1.0, None] and tables.column(frame, "b") == [None, None]


def test_compare_rows_keep_runs_with_an_ensemble_accuracy_and_their_series() -> None:
    def run(acc: object, hidden: int) -> SimpleNamespace:
        return SimpleNamespace(
            results=[{"model": "single", "members": 1, "ensemble_acc": acc}],
            config={"hidden": hidden},
        )

    runs = {"a": run(0.5, 64), "b": run("", 64), "c": run(0.6, 64), "d": run(0.7, 128)}
    rows = tables.compare_rows(runs, ["a", "b", "c", "d"])
    assert rows["run_id"].tolist() == ["a", "c", "d"]  # b: cancelled before its accuracy
    assert rows["series"].tolist() == [0, 0, 1]  # d's width differs: a series of its own
    assert tables.compare_rows(runs, ["b"]).empty
