"""The reading side of the dashboard under streamlit's AppTest: charts that say what was not
measured, the loss chart's smoothing and scale, figure downloads, tags and notes after a run,
the tag filter and the overlays on Runs, the live view's whole-job ETA. (tests/test_app.py
covers configuring, training and deleting.)"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import time
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import bedash.store.annotations as annotations  # the name is also __future__.annotations
from bedash.settings.config import RunConfig

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BEDASH_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("BEDASH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("BEDASH_PROFILE", raising=False)
    monkeypatch.delenv("BEDASH_MAX_JOBS", raising=False)
    st.cache_resource.clear()
    yield tmp_path
    st.cache_resource.clear()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two tiny finished runs (E=2 and E=3, otherwise alike) and one of another width."""
    from bedash.experiment import run_experiment

    root = tmp_path_factory.mktemp("reading")
    out = {}
    for name, members, hidden in [("20260101-000000-aaaaaa", 2, 16),
                                  ("20260101-000100-bbbbbb", 3, 16),
                                  ("20260101-000200-cccccc", 3, 24)]:  # fmt: skip
        cfg = RunConfig(
            dataset="synthetic", train_size=512, test_size=256, epochs=2, hidden=hidden,
            members=members, batch_size=64, device="cpu",
        )  # fmt: skip
        assert run_experiment(cfg, root / name).status == "finished"
        out[name] = root / name
    return out


def copy_runs(dirs: Path, trained: dict[str, Path], *names: str) -> list[str]:
    for name in names or trained:
        shutil.copytree(trained[name], dirs / "runs" / name)
    return list(names or trained)


def app(page: str, **query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(query)
    at.run()
    at.switch_page(page).run()
    if page == "pages/results.py":  # its charts come on the next run (the browser's timer,
        at.run()  # charts_soon's run_every, does not fire under AppTest)
    assert not at.exception, at.exception
    return at


def charts(at: AppTest) -> dict[str, dict]:
    """Every plotly chart's figure (spec) and config, by the chart's key."""
    out = {}
    for c in at.get("plotly_chart"):
        key = c.proto.id.rsplit("-", 1)[-1] if "-" in c.proto.id else c.proto.id
        out[key] = {"spec": json.loads(c.proto.spec), "config": json.loads(c.proto.config)}
    return out


def open_tab(at: AppTest, label: str) -> AppTest:
    """Open a tab of the Results page (only the open one is drawn)."""
    at.session_state["results_tab"] = label
    at.run()
    assert not at.exception, at.exception
    return at


def chart(at: AppTest, name: str) -> dict:
    found = [v for k, v in charts(at).items() if k == name]
    assert len(found) == 1, f"{name}: {list(charts(at))}"
    return found[0]


def texts(elements) -> str:
    """As shown: the pages escape punctuation in text from users and files."""
    return re.sub(r"\\(.)", r"\1", " | ".join(str(e.value) for e in elements))


# -- Results -----------------------------------------------------------------------------------


def test_a_run_is_read_once_per_state_of_its_files(dirs, trained, monkeypatch) -> None:
    """The pages' run cache: a rerun does not read an unchanged run again, and a file the
    run store replaces (a new file renamed over it, even of the same size and mtime) is."""
    import os

    from bedash.dashboard import common, rundata

    (run,) = copy_runs(dirs, trained, "20260101-000000-aaaaaa")
    path = dirs / "runs" / run
    reads = []
    real = rundata.load_run
    monkeypatch.setattr(rundata, "load_run", lambda p: reads.append(p) or real(p))
    first = common.load_run(path)
    assert common.load_run(path).results.equals(first.results) and len(reads) == 1
    file = path / "results.csv"
    rows = list(csv.DictReader(io.StringIO(file.read_text())))
    old = rows[0]["ensemble_acc"]
    rows[0]["ensemble_acc"] = old[:-1] + ("1" if old[-1] != "1" else "2")  # same size
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    stat = file.stat()
    (path / "results.csv.tmp").write_text(buf.getvalue())
    os.utime(path / "results.csv.tmp", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(path / "results.csv.tmp", file)  # as bedash.store.atomic writes
    assert file.stat().st_size == stat.st_size and file.stat().st_mtime_ns == stat.st_mtime_ns
    changed = common.load_run(path)
    assert len(reads) == 2
    assert changed.results["ensemble_acc"][0] == pytest.approx(float(rows[0]["ensemble_acc"]))
    assert changed.results["ensemble_acc"][0] != first.results["ensemble_acc"][0]


def test_the_loss_chart_follows_the_smoothing_slider_and_the_scale_toggle(dirs, trained) -> None:
    (run,) = copy_runs(dirs, trained, "20260101-000000-aaaaaa")
    at = open_tab(app("pages/results.py", run=run), "Training")
    fig = chart(at, "history_loss_chart")["spec"]
    names = [t["name"] for t in fig["data"]]
    assert "BatchEnsemble (raw)" in names and "BatchEnsemble" in names  # steps.csv: step level
    assert fig["layout"]["yaxis"]["type"] == "log"
    smoothed = next(t for t in fig["data"] if t["name"] == "BatchEnsemble")["y"]
    at.slider(key="hist_smoothing").set_value(0.0).run()
    fig = chart(at, "history_loss_chart")["spec"]
    plain = next(t for t in fig["data"] if t["name"] == "BatchEnsemble")
    assert "BatchEnsemble (raw)" not in [t["name"] for t in fig["data"]]
    # a few log points over two epochs: sparse, so the default smoothing barely moves them ...
    assert smoothed == pytest.approx(plain["y"], rel=1e-3) and len(plain["y"]) == len(smoothed)
    at.slider(key="hist_smoothing").set_value(0.99).run()  # ... and the strongest one does
    fig = chart(at, "history_loss_chart")["spec"]
    strong = next(t for t in fig["data"] if t["name"] == "BatchEnsemble")
    assert strong["y"] != plain["y"] and strong["customdata"] == plain["y"]  # raw in the hover
    at.toggle(key="hist_log").set_value(False).run()
    assert chart(at, "history_loss_chart")["spec"]["layout"]["yaxis"]["type"] == "linear"


def test_every_figure_downloads_as_png_or_svg(dirs, trained) -> None:
    (run,) = copy_runs(dirs, trained, "20260101-000000-aaaaaa")
    at = app("pages/results.py", run=run)

    def every_config() -> list[dict]:
        out = {}
        for label in [t.label for t in at.tabs]:
            out |= {k: c["config"] for k, c in charts(open_tab(at, label)).items()}
        return list(out.values())

    configs = every_config()
    assert len(configs) == 8
    assert {c["toImageButtonOptions"]["format"] for c in configs} == {"png"}
    at.segmented_control(key="figure_format").set_value("svg").run()
    configs = every_config()
    assert {c["toImageButtonOptions"]["format"] for c in configs} == {"svg"}
    names = {c["toImageButtonOptions"]["filename"] for c in configs}
    assert {"accuracy", "training_loss", "reliability"} <= names


def test_accuracy_shows_differences_to_a_reference_model(dirs, trained) -> None:
    (run,) = copy_runs(dirs, trained, "20260101-000000-aaaaaa")
    at = app("pages/results.py", run=run)
    absolute = chart(at, "acc_chart")["spec"]
    lo, hi = absolute["layout"]["xaxis"]["range"]
    dots = [t for t in absolute["data"] if t["mode"] == "markers"]
    values = [v for t in dots for v in t["x"]]
    assert lo <= min(values) and max(values) <= hi and (lo > 0 or min(values) < 0.1)
    assert all(t["error_x"]["array"] for t in dots)  # intervals over the run's 256 test images
    at.selectbox(key="acc_reference").set_value("single").run()
    diff = chart(at, "acc_chart")["spec"]
    single = next(t for t in diff["data"] if t["name"] == "Single model")
    assert single["x"] == [0, 0, 0, 0]
    assert "difference to Single model" in diff["layout"]["xaxis"]["title"]["text"]


def test_a_cancelled_run_leaves_out_what_was_not_measured(dirs, trained) -> None:
    (run,) = copy_runs(dirs, trained, "20260101-000000-aaaaaa")
    path = dirs / "runs" / run
    rows = list(csv.DictReader(io.StringIO((path / "results.csv").read_text())))
    cols = list(rows[0])
    keep = ("model", "status", "members", "params", "param_mb", "params_rel_single")
    for row in rows[1:]:  # the later models stopped before their evaluation
        row.update({c: "" for c in cols if c not in keep}, status="cancelled")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    (path / "results.csv").write_text(buf.getvalue())
    (path / "members.csv").write_text("model,member,accuracy,nll\n")
    for p in path.glob("agreement_*.csv"):
        p.unlink()
    status = json.loads((path / "status.json").read_text())
    (path / "status.json").write_text(json.dumps({**status, "status": "cancelled"}))
    at = app("pages/results.py", run=run)
    acc = chart(at, "acc_chart")["spec"]
    names = [t["name"] for t in acc["data"]]
    assert names[0] == "BatchEnsemble" and "Single model: not measured" in names
    missing = next(t for t in acc["data"] if t["name"] == "Single model: not measured")
    assert all(v is None for v in missing["y"])  # no "0.000" point
    time_fig = chart(open_tab(at, "Time"), "time_chart")["spec"]
    marks = [t for t in time_fig["data"] if t["type"] == "scatter"]
    assert marks and all(set(t["text"]) == {"not measured"} for t in marks)
    labels = [t.label for t in at.tabs]
    drawn = [c for label in labels for c in charts(open_tab(at, label)).values()]
    messages = " ".join(
        a["text"] for c in drawn for a in c["spec"]["layout"].get("annotations", [])
    )
    assert "yet" not in messages  # a run that ended never "has not finished yet"
    assert "not measured" in messages
    assert "Stopped before the end" in texts(at.warning)


def test_tags_and_notes_are_saved_in_the_run_folder_and_shown_on_runs(dirs, trained) -> None:
    run, other = copy_runs(dirs, trained, "20260101-000000-aaaaaa", "20260101-000100-bbbbbb")
    at = app("pages/results.py", run=run)
    at.text_input(key=f"ann_tags_{run}").set_value("baseline, tiny , baseline")
    at.text_area(key=f"ann_notes_{run}").set_value("first try")
    at.button[[b.label for b in at.button].index("Save")].click().run()
    assert not at.exception and not at.error, texts(at.error)
    saved = json.loads((dirs / "runs" / run / "annotations.json").read_text())
    assert saved == {"tags": ["baseline", "tiny"], "notes": "first try"}
    assert annotations.read(dirs / "runs" / run) == annotations.Annotations(
        ("baseline", "tiny"), "first try"
    )
    assert (dirs / "runs" / run / "results.csv").exists()  # the run's files untouched
    runs = app("pages/runs.py")
    table = runs.dataframe(key="runs_table").value
    by_id = table.set_index("run_id")
    assert by_id.loc[run, "tags"] == "baseline, tiny" and by_id.loc[run, "notes"] == "first try"
    assert by_id.loc[other, "tags"] == ""
    runs.multiselect(key="f_tags").set_value(["baseline"]).run()
    assert runs.dataframe(key="runs_table").value["run_id"].tolist() == [run]
    csv_text = next(d for d in runs.get("download_button") if "table" in d.proto.label)
    assert csv_text is not None
    runs.multiselect(key="f_tags").set_value([]).run()
    runs.text_input(key="f_text").set_value("first try").run()
    assert runs.dataframe(key="runs_table").value["run_id"].tolist() == [run]


def test_a_bad_tag_is_refused_by_name_and_nothing_is_written(dirs, trained) -> None:
    (run,) = copy_runs(dirs, trained, "20260101-000000-aaaaaa")
    at = app("pages/results.py", run=run)
    at.text_input(key=f"ann_tags_{run}").set_value("ok, not;ok")
    at.button[[b.label for b in at.button].index("Save")].click().run()
    assert "Tags" in texts(at.error) and "not;ok" in texts(at.error)
    assert not (dirs / "runs" / run / "annotations.json").exists()


# -- Runs: compare -----------------------------------------------------------------------------


def test_compare_joins_like_runs_and_overlays_loss_and_calibration(dirs, trained) -> None:
    copy_runs(dirs, trained)
    runs = app("pages/runs.py")
    runs.selectbox(key="sort_by").set_value("run_id").run()
    runs.toggle(key="sort_desc").set_value(False).run()
    runs.session_state["runs_table"] = {"selection": {"rows": [0, 1, 2], "columns": []}}
    runs.run()
    assert not runs.exception, runs.exception
    assert "Comparing 3 runs" in texts(runs.subheader)
    compare = chart(runs, "compare_chart")["spec"]
    be_acc = [
        t
        for t in compare["data"]
        if t["name"] == "BatchEnsemble" and t.get("xaxis") == "x" and t["x"] != [None]
    ]
    # aaaaaa (E=2) and bbbbbb (E=3) differ in E alone: one line; cccccc (width 24): a point
    assert [t["x"] for t in be_acc] == [[2, 3], [3]]
    key = {t["name"]: t["marker"]["symbol"] for t in compare["data"] if "run " in t["name"]}
    symbols = [[key[f"run {r[-6:]}"] for (r,) in t["customdata"]] for t in be_acc]
    assert [t["marker"]["symbol"] for t in be_acc] == symbols and len(set(key.values())) == 3
    assert "lines" in be_acc[0]["mode"] and "lines" not in be_acc[1]["mode"]
    loss = chart(runs, "compare_loss_chart")["spec"]
    legend = [t["name"] for t in loss["data"] if t.get("showlegend") is not False]
    assert legend == ["aaaaaa", "bbbbbb", "cccccc"]
    rel = chart(runs, "compare_reliability_chart")["spec"]
    assert {t["name"] for t in rel["data"] if t.get("name")} >= {"aaaaaa", "bbbbbb", "cccccc"}


# -- the live view -----------------------------------------------------------------------------


@pytest.mark.slow
def test_the_live_view_shows_the_whole_jobs_eta_and_a_smoothed_throughput(dirs) -> None:
    from bedash.dashboard import common
    from bedash.dashboard.jobs import submit_run

    cfg = RunConfig(
        dataset="synthetic", train_size=512, test_size=256, epochs=500, hidden=16, members=2,
        batch_size=64, device="cpu",
    )  # fmt: skip
    job = submit_run(common.registry(), cfg)
    at = app("pages/experiment.py", job=job)
    deadline = time.monotonic() + 60
    while "whole job" not in " ".join(p.proto.text for p in at.get("progress")):
        assert time.monotonic() < deadline, "no progress shown"
        time.sleep(0.2)
        at.run()
    bar = " ".join(p.proto.text for p in at.get("progress"))
    assert "BatchEnsemble (1/3)" in bar and "for the whole job" in bar
    throughput = next(m for m in at.metric if m.label == "Throughput")
    assert throughput.value.endswith("/s")
    loss = chart(at, "loss_chart")
    assert loss["config"]["toImageButtonOptions"]["format"] == "png"
    assert at.slider(key="live_smoothing").value == pytest.approx(0.6)
    common.registry().cancel(job)
    common.registry().wait(job, timeout=30)
