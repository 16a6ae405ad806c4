"""A run stopped in its first epoch: its Results page draws the loss points its live view drew
(steps.csv is written as they are drawn), and every chart of it says what was not measured."""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
import pytest

from bedash.dashboard import tables
from bedash.dashboard.figures import results as charts
from bedash.dashboard.figures.training import epoch_time_figure, loss_figure
from bedash.dashboard.rundata import load_run
from bedash.experiment import run_experiment
from bedash.jobs.record import TracePoint
from bedash.method import train
from bedash.method.train import Callback
from bedash.settings.config import RunConfig


def test_a_run_stopped_in_its_first_epoch_keeps_the_live_views_loss_points(
    tmp_path: Path, tiny_cfg: RunConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(train.fit.__kwdefaults__, "log_interval", 0.0)  # a point every batch
    cancel, drawn = threading.Event(), []

    class LiveView(Callback):  # what the dashboard's job keeps (bedash.dashboard.jobs._Events)
        def on_progress(self, p) -> None:
            drawn.append(TracePoint(p.model, p.member, p.epoch - 1 + p.step / p.steps, p.loss))
            if len(drawn) == 3:
                cancel.set()  # Stop, three batches into the first epoch of eight

    cfg = tiny_cfg.replace(models=("batchensemble", "single"), epochs=2)
    res = run_experiment(cfg, tmp_path / "r", callback=LiveView(), cancel=cancel)
    assert res.status == "cancelled" and len(drawn) == 3
    data = load_run(tmp_path / "r")
    assert data.history.empty  # no epoch ended: the per-epoch file has nothing
    live = loss_figure(None, tables.frame(drawn, tables.TRACE_COLUMNS), smoothing=0)
    kept = loss_figure(data.history, data.steps, smoothing=0, pending=False)
    assert [list(t.y) for t in kept.data] == [list(t.y) for t in live.data]
    assert [list(t.x) for t in kept.data] == [list(t.x) for t in live.data]
    assert len(kept.data[0].y) == 3


def texts(fig) -> str:
    return " ".join(a.text for a in fig.layout.annotations)


def test_every_chart_of_a_stopped_run_with_nothing_measured_says_so() -> None:
    empty = pd.DataFrame()
    figs = [
        charts.accuracy_figure(empty, pending=False),
        charts.params_figure(empty, pending=False),
        charts.time_figure(empty, pending=False),
        charts.member_accuracy_figure(empty, empty, pending=False),
        charts.agreement_figure({}, pending=False),
        charts.reliability_figure({}, pending=False),
        loss_figure(None, None, pending=False),
        epoch_time_figure(empty, pending=False),
    ]
    for fig in figs:
        assert "not measured" in texts(fig)
        assert not fig.data and fig.layout.xaxis.visible is False  # no empty axis (-1..4)
    # a run whose models all failed: rows, but no number to draw
    failed = pd.DataFrame({"model": ["batchensemble", "single"], "status": ["failed"] * 2})
    ended = {"pending": False}
    for fig in (charts.accuracy_figure(failed, **ended), charts.time_figure(failed, **ended)):
        assert "not measured" in texts(fig) and not fig.data
