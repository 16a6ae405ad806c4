"""Figure builders: pure functions of data frames, checked without streamlit."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bedash.dashboard import tables
from bedash.dashboard.figures import results as charts
from bedash.dashboard.figures import runs as run_charts
from bedash.dashboard.figures import style
from bedash.dashboard.figures import training as curves
from bedash.jobs.record import TracePoint
from bedash.names import HISTORY_COLUMNS, MODEL_COLORS


def history(rows: list[tuple]) -> pd.DataFrame:
    """(model, member, epoch, loss, seconds) -> history.csv's frame (member None: whole)."""
    return pd.DataFrame(
        [(m, k, e, loss, s, 1000.0) for m, k, e, loss, s in rows], columns=HISTORY_COLUMNS
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


def test_loss_figure_draws_one_line_per_model_and_thin_member_lines() -> None:
    h = history([
        ("batchensemble", None, 1, 2.0, 1.0), ("batchensemble", 0, 1, 2.1, 1.0),
        ("batchensemble", 1, 1, 1.9, 1.0), ("batchensemble", None, 2, 1.5, 1.0),
        ("batchensemble", 0, 2, 1.6, 1.0), ("batchensemble", 1, 2, 1.4, 1.0),
        ("single", None, 1, 2.2, 0.2),
    ])  # fmt: skip
    fig = curves.loss_figure(h, smoothing=0)
    names = [t.name for t in fig.data]
    assert names == ["BatchEnsemble", "BatchEnsemble members", "BatchEnsemble member 1",
                     "Single model"]  # fmt: skip
    be, m0, m1, _ = fig.data
    # per-epoch means sit at the middle of the epoch they average: members and model alike
    assert list(be.x) == [0.5, 1.5] and list(be.y) == [2.0, 1.5]
    assert list(m0.x) == [0.5, 1.5] and list(m0.y) == [2.1, 1.6] and list(m1.y) == [1.9, 1.4]
    assert m0.showlegend and not m1.showlegend  # one legend entry toggles all members
    assert m0.line.color == be.line.color == MODEL_COLORS["batchensemble"]
    assert be.line.width > m0.line.width
    assert [t.name for t in curves.loss_figure(h, members=False, smoothing=0).data] == [
        "BatchEnsemble", "Single model",
    ]  # fmt: skip
    # smoothed by distance along x: one point per epoch is barely moved, and every smoothed
    # line, members included, keeps its raw values faint behind it
    smoothed = {t.name: t for t in curves.loss_figure(h, smoothing=0.5).data}
    assert list(smoothed["BatchEnsemble (raw)"].y) == [2.0, 1.5]
    want = tables.smooth([0.5, 1.5], [2.0, 1.5], 0.5, span=2.0)
    assert list(smoothed["BatchEnsemble"].y) == pytest.approx(want)
    assert list(smoothed["BatchEnsemble members"].y) == pytest.approx([2.1, 1.6], rel=1e-6)
    raw_member = smoothed["BatchEnsemble member 0 (raw)"]
    assert list(raw_member.y) == [2.1, 1.6] and raw_member.opacity < 0.5
    assert list(smoothed["BatchEnsemble members"].customdata) == [2.1, 1.6]  # raw in the hover


def test_the_issues_sequential_ensemble_is_drawn_where_its_losses_are() -> None:
    # issue 22: one point per epoch (2.0, 0.5, 0.05) ended at ~0.55 with the old smoothing
    rows = [("ensemble", None, e, v, 1.0) for e, v in enumerate([2.0, 0.5, 0.05], 1)]
    rows += [("ensemble", 0, e, v, 1.0) for e, v in enumerate([2.1, 0.6, 0.07], 1)]
    fig = curves.loss_figure(history(rows), smoothing=curves.SMOOTHING)
    lines = {t.name: list(t.y) for t in fig.data}
    assert lines["Ensemble (sequential)"][-1] == pytest.approx(0.05, rel=0.01)
    assert lines["Ensemble (sequential) members"][-1] == pytest.approx(0.07, rel=0.01)


def test_live_log_points_become_interval_means_not_a_sawtooth() -> None:
    # running means of the epoch so far: epoch 1 at a quarter, half and its end, epoch 2 ...
    trace = tables.frame(
        [TracePoint("batchensemble", None, x, m) for x, m in
         [(0.25, 2.0), (0.5, 1.8), (1.0, 1.5), (1.5, 1.0), (2.0, 0.9)]],
        tables.TRACE_COLUMNS,
    )  # fmt: skip
    h = history([("batchensemble", None, 1, 1.5, 1.0), ("batchensemble", None, 2, 0.9, 1.0)])
    raw, line = curves.loss_figure(h, trace, smoothing=0.0 + 1e-9).data
    assert list(raw.x) == [0.125, 0.375, 0.75, 1.25, 1.75]  # each interval's middle
    assert list(raw.y) == pytest.approx([2.0, 1.6, 1.2, 1.0, 0.8])
    assert raw.opacity < 0.5 and line.opacity == 1.0  # the raw values faint behind the line
    # the epoch-level history is not drawn again on top of the step-level curve
    assert len(curves.loss_figure(h, trace).data) == 2
    assert list(curves.loss_figure(h, trace).layout.xaxis.range) == [0, 2.0]


def test_the_smoothing_slider_smooths_the_line_and_not_the_raw_values() -> None:
    # 600 log points over 3 epochs, alternating 3, 1: dense enough to be smoothed
    points = [TracePoint("single", None, i / 200, 3.0 - 2 * (i % 2)) for i in range(1, 601)]
    trace = tables.frame(points, tables.TRACE_COLUMNS)
    raw, line = curves.loss_figure(None, trace, smoothing=0.9).data
    assert max(line.y[10:]) - min(line.y[10:]) < max(raw.y) - min(raw.y)
    assert list(line.y) == pytest.approx(tables.smooth(list(raw.x), list(raw.y), 0.9, span=3.0))
    (plain,) = curves.loss_figure(None, trace, smoothing=0.0).data  # no smoothing: one line
    assert list(plain.y) == list(raw.y)


def test_the_loss_axis_is_log_or_linear_with_several_labelled_ticks() -> None:
    h = history([("single", None, 1, 0.52, 1.0), ("single", None, 2, 0.48, 1.0)])
    log = curves.loss_figure(h).layout.yaxis
    assert log.type == "log" and len(log.tickvals) >= 3
    assert all("e" not in t for t in log.ticktext)  # 0.5, not 5e-1 or "5"
    assert curves.loss_figure(h, log=False).layout.yaxis.type == "linear"
    x = curves.loss_figure(history([("single", None, e, 1.0 / e, 1.0) for e in range(1, 31)]))
    assert 4 <= 30 / x.layout.xaxis.dtick <= 10


def test_a_sequential_ensemble_shows_its_members_while_they_train() -> None:
    trace = tables.frame(
        [TracePoint("ensemble", 0, 1.0, 2.0), TracePoint("ensemble", 1, 0.5, 2.3)],
        tables.TRACE_COLUMNS,
    )
    fig = curves.loss_figure(tables.frame([], tables.HISTORY_COLUMNS), trace, smoothing=0)
    assert [t.name for t in fig.data] == ["Ensemble (sequential) member 0",
                                          "Ensemble (sequential) member 1"]  # fmt: skip
    assert fig.data[0].showlegend and not fig.data[1].showlegend


def test_an_empty_loss_figure_says_why() -> None:
    fig = curves.loss_figure(tables.frame([], tables.HISTORY_COLUMNS))
    assert not fig.data and "first log point" in fig.layout.annotations[0].text
    ended = curves.loss_figure(tables.frame([], tables.HISTORY_COLUMNS), pending=False)
    assert "not measured" in ended.layout.annotations[0].text


def test_epoch_times_sum_the_members_of_a_sequential_ensemble_until_it_is_done() -> None:
    partial = history([("ensemble", 0, 1, 2.0, 1.0), ("ensemble", 0, 2, 1.8, 1.1),
                       ("ensemble", 1, 1, 2.0, 0.9)])  # fmt: skip
    t = curves.epoch_times(partial)
    assert t["epoch"].tolist() == [1, 2] and t["epoch_seconds"].tolist() == [1.9, 1.1]
    done = history([("ensemble", 0, 1, 2.0, 1.0), ("ensemble", 1, 1, 2.0, 0.9),
                    ("ensemble", None, 1, 2.0, 1.9), ("single", None, 1, 2.0, 0.3)])  # fmt: skip
    t = curves.epoch_times(done)
    assert t[["model", "epoch_seconds"]].values.tolist() == [["ensemble", 1.9], ["single", 0.3]]
    fig = curves.epoch_time_figure(done)
    assert [b.name for b in fig.data] == ["Ensemble (sequential)", "Single model"]
    assert fig.layout.barmode == "group"


def wilson(p: float, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson's score interval, from its formula (Wilson 1927)."""
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5
    return centre - half, centre + half


def points(fig) -> list:
    return [t for t in fig.data if t.mode == "markers"]


def test_accuracy_is_a_dot_plot_with_intervals_on_a_zoomed_axis() -> None:
    fig = charts.accuracy_figure(RESULTS, n_test=1000)
    assert all(t.type == "scatter" for t in fig.data)  # no bars on a cut axis
    be, single = points(fig)
    assert [be.name, single.name] == ["BatchEnsemble", "Single model"]
    assert list(be.y) == [  # short lines: readable on a phone too
        "mean member", "ensemble<br>(mean softmax)", "majority vote",
        "oracle<br>(any member<br>right)",
    ]  # fmt: skip
    assert list(be.x) == [0.6, 0.7, 0.68, 0.9]
    assert [be.marker.color, single.marker.color] == [
        MODEL_COLORS["batchensemble"], MODEL_COLORS["single"]
    ]  # fmt: skip
    lo, hi = wilson(0.7, 1000)  # the 95% interval over 1000 test images
    assert be.error_x.arrayminus[1] == pytest.approx(0.7 - lo, abs=1e-6)
    assert be.error_x.array[1] == pytest.approx(hi - 0.7, abs=1e-6)
    left, right = fig.layout.xaxis.range
    assert 0.5 < left < wilson(0.6, 1000)[0] and right > wilson(0.9, 1000)[1]  # zoomed
    labels = [t for t in fig.data if t.mode == "text"]
    assert labels[0].texttemplate.endswith(":.3f}") and list(labels[0].customdata) == list(be.x)
    assert fig.layout.scattermode == "group"  # one row per model within each accuracy
    assert points(charts.accuracy_figure(RESULTS))[0].error_x.array is None  # n unknown


def test_accuracy_differences_to_a_reference_model() -> None:
    fig = charts.accuracy_figure(RESULTS, reference="single")
    be, single = points(fig)
    assert list(be.x) == pytest.approx([-0.05, 0.05, 0.03, 0.25])
    assert list(single.x) == [0, 0, 0, 0]
    assert "difference to Single model" in fig.layout.xaxis.title.text
    lo, hi = fig.layout.xaxis.range
    assert lo < -0.05 and hi > 0.25 and fig.layout.xaxis.zeroline


def test_a_model_that_was_not_measured_is_left_out_and_says_so() -> None:
    cancelled = RESULTS.copy()
    for col in ("mean_member_acc", "ensemble_acc", "vote_acc", "oracle_acc", "infer_seconds"):
        cancelled.loc[1, col] = None
    acc = charts.accuracy_figure(cancelled)
    assert acc.data[-1].name == "Single model: not measured"
    assert list(acc.data[-1].y) == [None]  # a legend entry, no point at all, never a 0.000
    time = charts.time_figure(cancelled)
    infer = [t for t in time.data if t.type == "bar"][2]
    assert list(infer.y) == [20.0, None]
    marks = [t for t in time.data if t.type == "scatter"]
    assert len(marks) == 1 and list(marks[0].text) == ["not measured"]
    assert list(marks[0].x) == ["Single model"]


def test_empty_charts_of_an_ended_run_do_not_promise_results() -> None:
    empty = pd.DataFrame(columns=["model", "member", "accuracy", "nll"])
    assert (
        "has finished yet"
        in charts.member_accuracy_figure(empty, RESULTS).layout.annotations[0].text
    )
    ended = charts.member_accuracy_figure(empty, RESULTS, pending=False).layout.annotations[0]
    assert "yet" not in ended.text and "not measured" in ended.text
    assert "yet" not in charts.agreement_figure({}, pending=False).layout.annotations[0].text


def test_timings_show_the_epoch_spread_and_a_busy_machine() -> None:
    res = RESULTS.assign(infer_repeats=[3, 3], load_avg=[5.2, 0.4])
    h = history([("batchensemble", None, 1, 2.0, 3.0), ("batchensemble", None, 2, 1.0, 1.0),
                 ("single", None, 1, 2.0, 0.5)])  # fmt: skip
    fig = charts.time_figure(res, h, cpus=2)
    bars = [t for t in fig.data if t.type == "bar"]
    epoch = bars[1]
    assert list(epoch.error_y.array) == [1.5, 0.0] and list(epoch.error_y.arrayminus) == [0.5, 0]
    infer = bars[2]
    assert list(infer.text) == ["20.0 ms", "5.0 ms"]  # short labels; the rest in the hover
    hover = infer.customdata[0]
    assert "median of 3" in hover and "busy: load 5.2 on 2 CPUs" in hover
    assert list(infer.marker.pattern.shape) == ["/", ""]  # hatched: measured while busy
    assert "busy" not in infer.customdata[1]  # load 0.4 on 2 CPUs: not busy
    assert "busy" not in charts.time_figure(res, h, cpus=8).data[2].customdata[0]


def test_numbers_on_charts_are_for_people_one_precision_a_column() -> None:
    assert tables.for_people([1410.0, 246.0, None], " ms") == ["1,410 ms", "246 ms", ""]
    assert tables.for_people([0.76, 0.6373]) == ["0.760", "0.637"]
    assert tables.for_people([12.04, 3.0]) == ["12.0", "3.0"]


def test_every_figure_saves_as_png_or_svg_in_the_browser() -> None:
    png = style.plot_config("accuracy")
    assert png["displayModeBar"] == "hover"  # always shown, it covered legends on a phone
    assert png["toImageButtonOptions"] == {"format": "png", "filename": "accuracy", "scale": 2}
    assert style.plot_config("x", "svg")["toImageButtonOptions"]["format"] == "svg"
    with pytest.raises(ValueError, match="format"):
        style.plot_config("x", "pdf")


def test_parameter_and_time_bars() -> None:
    params = charts.params_figure(RESULTS).data[0]
    assert list(params.y) == [1040, 1000]
    assert params.text[0] == "1.04× single<br>0.0 MB"
    bottom, _ = charts.params_figure(RESULTS).layout.yaxis.range
    assert bottom == 0  # bars start at zero
    time = charts.time_figure(RESULTS)
    assert [list(t.y) for t in time.data] == [[3.0, 1.0], [1.5, 0.5], [20.0, 5.0]]  # ms


def test_member_points_come_with_the_ensemble_and_single_reference_lines() -> None:
    members = pd.DataFrame(
        {"model": ["batchensemble"] * 4 + ["single"], "member": [0, 1, 2, 3, 0],
         "accuracy": [0.6, 0.61, 0.59, 0.62, 0.65], "nll": [1.0] * 5}
    )  # fmt: skip
    fig = charts.member_accuracy_figure(members, RESULTS, n_test=500)
    (dots,) = points(fig)  # single: no panel
    assert list(dots.x) == [0.6, 0.61, 0.59, 0.62] and not any(t.type == "bar" for t in fig.data)
    assert dots.error_x.array[0] == pytest.approx(wilson(0.6, 500)[1] - 0.6, abs=1e-6)
    lines = {t.name: t.x[0] for t in fig.data if t.mode == "lines"}
    assert lines == {"ensemble (mean softmax)": 0.7, "single model": 0.65}
    left, right = fig.layout.xaxis.range
    assert 0.5 < left < wilson(0.59, 500)[0] and right > 0.7  # zoomed, the references inside


def test_heatmaps_share_one_zero_to_one_scale_and_write_their_values() -> None:
    m = pd.DataFrame({"member": [0, 1], "0": [1.0, 0.4], "1": [0.4, 1.0]})
    fig = charts.agreement_figure({"ensemble": m, "batchensemble": m * 0.5})
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert len(heat) == 2 and all(t.coloraxis == "coloraxis" for t in heat)
    assert fig.layout.coloraxis.cmin == 0 and fig.layout.coloraxis.cmax == 1
    assert all(t.texttemplate == "%{z:.2f}" for t in heat)
    assert [a.text for a in fig.layout.annotations] == ["BatchEnsemble", "Ensemble<br>(sequential)"]
    assert fig.layout.coloraxis.colorbar.orientation == "h"  # under the panels: they keep the width
    assert heat[1].z.tolist() == [[1.0, 0.4], [0.4, 1.0]]
    assert fig.layout.yaxis.autorange == fig.layout.yaxis2.autorange == "reversed"  # 0 on top
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
    assert titles == ["BatchEnsemble<br>ECE 0.030", "Single model<br>ECE 0.100"]


def test_compare_joins_only_runs_that_differ_in_the_member_count_alone() -> None:
    rows = pd.DataFrame(
        [{"run_id": "20261202-100000-bbbbbb", "model": "batchensemble", "members": 8,
          "ensemble_acc": 0.8, "params": 10, "train_seconds": 4},
         {"run_id": "20261202-090000-aaaaaa", "model": "batchensemble", "members": 2,
          "ensemble_acc": 0.7, "params": 9, "train_seconds": 2},
         {"run_id": "20261202-110000-cccccc", "model": "batchensemble", "members": 4,
          "ensemble_acc": 0.75, "params": 20, "train_seconds": 3}]
    )  # fmt: skip
    same = {"hidden": 64, "epochs": 3}
    configs = {"20261202-100000-bbbbbb": {**same, "members": 8},
               "20261202-090000-aaaaaa": {**same, "members": 2},
               "20261202-110000-cccccc": {**same, "hidden": 128, "members": 4}}  # fmt: skip
    series = tables.compare_series(rows, configs)
    assert series["series"].tolist() == [0, 0, 1]
    fig = run_charts.compare_figure(series)
    acc = [t for t in fig.data if t.xaxis == "x" and t.x != (None,)]
    assert [list(t.x) for t in acc] == [[2, 8], [4]]
    assert "lines" in acc[0].mode and "lines" not in acc[1].mode  # width 128: a point alone
    # each run its symbol, named in the legend: no text on the points to overlap
    key = {t.name: t.marker.symbol for t in fig.data if t.name.startswith("run ")}
    assert set(key) == {"run aaaaaa", "run bbbbbb", "run cccccc"} and len(set(key.values())) == 3
    for t in acc:
        assert list(t.marker.symbol) == [key[f"run {r[-6:]}"] for r in t.customdata[:, 0]]
        assert t.text is None and "text" not in t.mode
    assert [list(t.y) for t in fig.data if t.xaxis == "x2"] == [[9, 10], [20]]
    assert fig.layout.legend.y < 0  # below the panels, off their titles
    legend = [t.name for t in fig.data if t.showlegend]
    assert legend == ["BatchEnsemble", "run bbbbbb", "run aaaaaa", "run cccccc"]


def test_overlays_of_several_runs_one_colour_each() -> None:
    h1 = history([("single", None, 1, 2.0, 1.0), ("single", None, 2, 1.0, 1.0)])
    h2 = history([("single", None, 1, 1.5, 1.0), ("batchensemble", None, 1, 1.2, 1.0)])
    fig = run_charts.loss_overlay_figure({"run-a": (h1, None), "run-b": (h2, None)})
    assert [a.text for a in fig.layout.annotations] == ["BatchEnsemble", "Single model"]
    colours = {t.name: t.line.color for t in fig.data}
    assert colours == {
        "run-a": style.RUN_COLORS[0],
        "run-b": style.RUN_COLORS[1],
        "run-a (raw)": style.RUN_COLORS[0],
        "run-b (raw)": style.RUN_COLORS[1],
    }
    assert sum(t.showlegend for t in fig.data) == 2  # one legend entry per run
    rel = pd.DataFrame(
        {"bin": [0, 1], "lower": [0, 0.5], "upper": [0.5, 1.0], "count": [3, 0],
         "accuracy": [0.4, None], "confidence": [0.45, None]}
    )  # fmt: skip
    fig = run_charts.reliability_overlay_figure(
        {"run-a": {"single": rel}, "run-b": {"single": rel}}
    )
    lines = [t for t in fig.data if t.name in ("run-a", "run-b")]
    assert len(lines) == 2 and list(lines[0].x) == [0.45]  # empty bins skipped
    assert run_charts.loss_overlay_figure({}).layout.annotations[0].text.startswith("the selected")


def test_every_figure_builds_from_a_real_run_folder(tmp_path: Path) -> None:
    from bedash.experiment import run_experiment
    from bedash.settings.config import RunConfig

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
        curves.loss_figure(hist), curves.epoch_time_figure(hist), charts.accuracy_figure(res),
        charts.params_figure(res), charts.time_figure(res),
        charts.member_accuracy_figure(mem, res), charts.agreement_figure(agree),
        charts.reliability_figure(rel, res),
    ]  # fmt: skip
    for fig in figures:
        assert fig.data and fig.to_json()
    assert sorted(agree) == ["batchensemble", "ensemble"]
    # the sequential ensemble's whole-model line exists once it has finished
    assert "Ensemble (sequential)" in [t.name for t in figures[0].data]
    # steps.csv: every epoch's log points, down to each epoch's end; their interval means
    # average back to history.csv's epoch means
    steps = pd.read_csv(path / "steps.csv")
    assert list(steps.columns) == tables.TRACE_COLUMNS
    be = tables.interval_means(steps[steps["model"] == "batchensemble"])
    width = be["x1"] - be["x0"]
    per_epoch = (be["loss"] * width).groupby(be["x0"].astype(int)).sum()
    whole = hist[(hist["model"] == "batchensemble") & hist["member"].isna()]
    assert per_epoch.tolist() == pytest.approx(whole["loss"].tolist(), rel=1e-5)
    fine = curves.loss_figure(hist, steps)
    assert "BatchEnsemble (raw)" in [t.name for t in fine.data]


def test_sweep_scatter_marks_each_config_by_a_symbol_named_in_the_legend() -> None:
    from bedash.dashboard.figures import sweeps

    rows = [
        (c, f"members={m}", kind, metric, v)
        for c, m in ((0, 2), (1, 4))
        for kind, acc in (("batchensemble", 0.6 + c / 10), ("single", 0.55))
        for metric, v in (("ensemble_acc", acc), ("params", 1000 * m))
    ]
    summary = pd.DataFrame(rows, columns=["config", "label", "model", "metric", "mean"])
    fig = sweeps.scatter_figure(summary, "params")
    key = {t.name: t.marker.symbol for t in fig.data if t.name.startswith("members=")}
    assert set(key) == {"members=2", "members=4"} and len(set(key.values())) == 2
    for t in fig.data[:2]:
        assert list(t.marker.symbol) == [key[c] for c in t.customdata]
    assert all(t.mode == "markers" for t in fig.data)  # no text on the points to overlap
    empty = sweeps.scatter_figure(summary.iloc[:0], "params")
    assert not empty.data and "not measured" in empty.layout.annotations[0].text
    blank = sweeps.band_figure(summary.iloc[:0], "ensemble_acc", "members")
    assert not blank.data and blank.layout.xaxis.visible is False  # no empty axis (-1..5)
