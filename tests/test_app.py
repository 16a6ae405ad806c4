"""The dashboard's pages under streamlit's AppTest: configure, train, watch, stop, read results,
compare and delete runs, and every kind of bad input. run_every does not fire here, so tests
call at.run() until the job is where they want it."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from bedash import names as charts  # the shared names
from bedash.dashboard.jobs import submit_run
from bedash.names import MODEL_KINDS
from bedash.settings.config import RunConfig
from bedash.settings.profile import DEMO_LIMITS

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TINY = {  # widget key -> value: a run of a second or two
    "members": 2, "hidden": 16, "epochs": 1, "batch_size": 64,
    "train_size_synthetic": 512, "test_size_synthetic": 256,
}  # fmt: skip


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fresh run and data folders, and a fresh process-wide registry (cleared caches shut the
    old one down and join its jobs, so nothing leaks from one test to the next)."""
    monkeypatch.setenv("BEDASH_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("BEDASH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("BEDASH_PROFILE", raising=False)
    monkeypatch.delenv("BEDASH_MAX_JOBS", raising=False)
    st.cache_resource.clear()
    yield tmp_path
    st.cache_resource.clear()


def app(page: str | None = None, **query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(query)
    at.run()
    if page:
        at.switch_page(page).run()
    if page == "pages/results.py":  # its charts come on the next run (the browser's timer,
        at.run()  # charts_soon's run_every, does not fire under AppTest)
    assert not at.exception, at.exception
    return at


def run_until(at: AppTest, test: Callable[[AppTest], bool], timeout: float = 90) -> AppTest:
    """Rerun the page (as the live fragment would) until test(at) holds."""
    deadline = time.monotonic() + timeout
    while True:
        at.run()
        assert not at.exception, at.exception
        if test(at):
            return at
        if time.monotonic() > deadline:
            texts = [m.value for m in [*at.markdown, *at.info, *at.warning, *at.error]]
            pytest.fail(f"the page never got there; it shows {texts}")
        time.sleep(0.1)


def texts(elements) -> str:
    """What the elements read as on screen: the pages escape punctuation in text that comes
    from users and files (no links or images made of it), the browser shows it plain."""
    return re.sub(r"\\(.)", r"\1", " | ".join(str(e.value) for e in elements))


def configure(at: AppTest, **values) -> AppTest:
    """Type numbers into the form by key (TINY, then values; a None value skips that key)."""
    for key, value in {**TINY, **values}.items():
        if value is not None:
            at.text_input(key=key).set_value(str(value))
    return at


def start_button(at: AppTest):
    """Start's key changes once a job is queued (a double click queues one job)."""
    (button,) = [b for b in at.button if b.key and b.key.startswith("start_")]
    return button


def start(at: AppTest, **values) -> AppTest:
    configure(at, **values)
    start_button(at).click().run()
    assert not at.exception, at.exception
    assert not at.error, texts(at.error)
    return at


def model_table(at: AppTest):
    """The results table (a dataframe without selection has no key to look it up by)."""
    found = [d for d in at.dataframe if "Model" in d.value]
    assert len(found) == 1, f"{len(found)} results tables"
    assert found[0].proto.placeholder == "—"  # a missing metric reads "—", not "None"
    return found[0].value


def progress(at: AppTest) -> str:
    return " | ".join(p.proto.text for p in at.get("progress"))


def badges(at: AppTest) -> str:
    return " | ".join(m.value for m in at.markdown if "-badge[" in m.value)


def finished(at: AppTest) -> bool:
    return "Finished in" in texts(at.success)


def probed(at: AppTest) -> bool:
    return "Looking for GPUs" not in texts(at.caption)


# -- Experiment page --------------------------------------------------------------------------


def test_experiment_page_offers_every_field_with_bounds_and_help(dirs: Path) -> None:
    at = run_until(app(), probed)
    keys = [
        "members", "hidden", "layers", "channels", "epochs", "batch_size", "lr", "seed",
        "train_size_synthetic", "test_size_synthetic", "fast_init_std", "fast_lr_mult",
        "weight_decay", "eval_batch_size",
    ]  # fmt: skip
    for key in keys:
        w = at.text_input(key=key)
        assert w.help, f"{key} has no help text"
        assert re.search(r"(From|above|at least|At most) [0-9]", w.help), f"{key}: no bounds"
    assert "From 1 to 64." in at.text_input(key="members").help
    assert "At most 50,000 here." in at.text_input(key="train_size_synthetic").help
    models = at.button_group(key="models")
    assert models.value == ["batchensemble", "ensemble", "single"]
    # the form's names for the kinds are the charts' names
    assert [models.proto.options[i].content for i in range(4)] == [
        charts.MODEL_LABELS[k] for k in MODEL_KINDS
    ]
    assert at.radio(key="arch").options == [
        "MLP (the seed's)",
        "CNN (3 conv blocks)",
        "ResNet (GPU)",
    ]
    assert {"fast_init", "bias", "member_batch", "dataset_kind"} <= {r.key for r in at.radio}
    assert at.checkbox(key="compile").value is False
    assert at.text_input(key="notes").value == ""
    # only devices this machine has (the CPU here), plus auto
    assert at.selectbox(key="device").options == ["auto", "cpu"]
    # first visit, offline: synthetic is the default; the note on how to get CIFAR-10 shows
    # only once CIFAR-10 is chosen
    assert at.radio(key="dataset_kind").value == "synthetic"
    assert "CIFAR-10 is not on disk" not in texts(at.info)
    at.radio(key="dataset_kind").set_value("cifar10").run()
    note = texts(at.info)
    assert "CIFAR-10 is not on disk" in note and "cifar-10-python.tar.gz" in note
    assert str(dirs / "data") in note


def test_every_runconfig_field_has_a_widget(dirs: Path) -> None:
    at = app()
    at.radio(key="dataset_kind").set_value("folder").run()
    keys = {w.key for kind in ("radio", "selectbox", "checkbox", "text_input",
                               "button_group", "file_uploader") for w in at.get(kind)}  # fmt: skip
    # fields whose widget has another key: the dataset (a choice + a folder), the sizes (one
    # per dataset kind), extra (the notes); data_dir is the server's, shown in the CIFAR note
    other = {"dataset": "dataset_kind", "train_size": "train_size_folder",
             "test_size": "test_size_folder", "extra": "notes", "data_dir": None}  # fmt: skip
    for f in fields(RunConfig):
        key = other.get(f.name, f.name)
        assert key is None or key in keys, f"RunConfig.{f.name} has no widget"
    assert {"folder", "folder_zip"} <= keys  # a path or an uploaded zip


def test_the_demo_profile_tightens_the_widgets(dirs: Path, monkeypatch) -> None:
    monkeypatch.setenv("BEDASH_PROFILE", "demo")
    at = app()
    assert f"to {DEMO_LIMITS.max_members}." in at.text_input(key="members").help
    assert f"to {DEMO_LIMITS.max_hidden}." in at.text_input(key="hidden").help
    assert f"to {DEMO_LIMITS.max_epochs}." in at.text_input(key="epochs").help
    cap = f"At most {DEMO_LIMITS.max_train_size:,} here."
    assert cap in at.text_input(key="train_size_synthetic").help
    assert at.selectbox(key="device").options == ["cpu"]  # a shared host: CPU only
    at.radio(key="dataset_kind").set_value("folder").run()
    assert not [w for w in at.text_input if w.key == "folder"]  # no server paths: uploads only
    assert at.get("file_uploader")[0].label == "Upload a zip of an image folder"


def image_folder_zip(train: int = 4, test: int = 2) -> bytes:
    """A zip of an image folder: train/<class>/*.png and test/<class>/*.png, two classes."""
    from PIL import Image

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for split, n in (("train", train), ("test", test)):
            for c, color in (("cat", (200, 30, 30)), ("dog", (30, 30, 200))):
                for i in range(n):
                    png = io.BytesIO()
                    Image.new("RGB", (8, 8), color).save(png, format="PNG")
                    z.writestr(f"pets/{split}/{c}/{i}.png", png.getvalue())
    return buf.getvalue()


def test_an_uploaded_image_folder_trains(dirs: Path) -> None:
    at = app()
    at.radio(key="dataset_kind").set_value("folder").run()
    at.get("file_uploader")[0].upload("pets.zip", image_folder_zip(), "application/zip").run()
    assert "Uploaded pets.zip" in texts(at.caption) and not at.error
    configure(at, batch_size=4, train_size_folder=8, test_size_folder=4, **{
        "train_size_synthetic": None, "test_size_synthetic": None})  # fmt: skip
    start_button(at).click().run()
    assert not at.error, texts(at.error)
    at = run_until(at, finished)
    config = json.loads(next((dirs / "runs").iterdir()).joinpath("config.json").read_text())
    assert config["dataset"].startswith(str(dirs / "data" / "uploads"))
    assert config["_meta"]["classes"] == ["cat", "dog"]


def test_a_zip_that_is_not_an_image_folder_is_refused(dirs: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("../evil.txt", "x")
    at = app()
    at.radio(key="dataset_kind").set_value("folder").run()
    at.get("file_uploader")[0].upload("evil.zip", buf.getvalue(), "application/zip").run()
    assert "**Upload**" in texts(at.error) and "outside the folder" in texts(at.error)
    assert not (dirs / "evil.txt").exists()
    # nothing to train on: the field is named and Start stays disabled, no job
    assert "**Dataset**" in texts(at.error) and start_button(at).disabled
    assert "job" not in at.query_params


def test_start_trains_in_the_background_and_shows_the_results(dirs: Path) -> None:
    at = start(app())
    job = at.query_params["job"]
    assert len(job) == 32 and at.session_state["job"] == job
    at = run_until(at, finished)
    assert "Training loss" in texts(at.markdown) and "Seconds per epoch" in texts(at.markdown)
    assert len(at.get("plotly_chart")) == 2
    table = model_table(at)
    assert table["Model"].tolist() == ["BatchEnsemble", "Ensemble (sequential)", "Single model"]
    runs = list((dirs / "runs").iterdir())
    assert len(runs) == 1
    assert json.loads((runs[0] / "status.json").read_text())["status"] == "finished"
    links = [p.proto for p in at.get("page_link") if "full results" in p.proto.label]
    assert [link.query_string for link in links] == [f"run={runs[0].name}"]


def in_order(block) -> list[tuple[str, str]]:
    """(type, text) of every element and block under block, in the order the page draws
    them (a block before what it holds)."""
    out = []
    for child in block.children.values():
        out.append((child.type, str(getattr(child, "value", ""))))
        if getattr(child, "children", None):
            out += in_order(child)
    return out


def form_position(at: AppTest) -> int:
    """The index, among the main area's children, of the block that holds the form."""

    def holds(node) -> bool:
        if node.type == "subheader" and getattr(node, "value", "") == "Configure":
            return True
        return any(holds(c) for c in (getattr(node, "children", None) or {}).values())

    return next(i for i, child in at.main.children.items() if holds(child))


def test_after_start_the_live_view_is_drawn_above_the_form(dirs: Path) -> None:
    """A phone stacks columns: the live view goes above the form (full width) once there is a
    job, and the page scrolls to it once, right after Start, never on a later rerun."""
    at = app()
    drawn = in_order(at.main)
    assert ("subheader", "Configure") in drawn and not at.get("html")  # no job: form first
    at = start(at, epochs=500)
    drawn = in_order(at.main)
    heading = next(i for i, (t, v) in enumerate(drawn) if v.startswith("### Run"))
    bar = next(i for i, (t, v) in enumerate(drawn) if t == "progress")
    assert heading < bar < drawn.index(("subheader", "Configure"))
    scrolls = [h for h in at.get("html") if "scrollIntoView" in h.proto.body]
    assert len(scrolls) == 1 and "st-key-live_view" in scrolls[0].proto.body
    assert [t for t, v in drawn].index("html") < drawn.index(("subheader", "Configure"))
    where = form_position(at)
    at.run()  # the fragment's reruns and any later rerun leave the scroll position alone
    assert not at.get("html")
    # the form keeps its place in the page's tree: moved, it would be drawn twice (its old
    # copy kept, faded, until the run ends) in the rerun at the job's end
    assert form_position(at) == where
    assert start_button(at).label == "Start"  # still there, above Advanced
    labels = [t for t, v in in_order(at.main)]
    assert labels.index("button") < labels.index("expander")
    other = app(job=at.query_params["job"])  # a refresh, a second tab: a new session scrolls
    assert len([h for h in other.get("html") if "scrollIntoView" in h.proto.body]) == 1
    at.button(key="stop").click().run()
    run_until(at, lambda a: "cancelled" in badges(a), timeout=20)


def test_a_refresh_or_a_second_tab_reattaches_through_the_url(dirs: Path) -> None:
    first = start(app(), epochs=500)  # long enough to still run when the second tab opens
    job = first.query_params["job"]
    second = run_until(app(job=job), lambda a: "ETA" in progress(a))
    run_heading = [m.value for m in second.markdown if m.value.startswith("### Run")]
    assert run_heading and run_heading == [
        m.value for m in first.run().markdown if m.value.startswith("### Run")
    ]
    bar = progress(second)
    assert "epoch" in bar and "ETA" in bar and "BatchEnsemble (1/3)" in bar
    assert {m.label for m in second.metric} == {"Throughput", "Loss (this epoch)", "Elapsed"}
    second.button(key="stop").click().run()
    run_until(second, lambda a: "Stopped; everything" in texts(a.warning), timeout=20)


def test_stop_cancels_and_keeps_what_was_measured(dirs: Path) -> None:
    at = start(app(), epochs=500)
    at = run_until(
        at, lambda a: re.search(r"BatchEnsemble \(1/3\) · epoch ([2-9]|\d\d)", progress(a))
    )
    at.button(key="stop").click().run()
    at = run_until(at, lambda a: "cancelled" in badges(a), timeout=20)
    assert "everything measured until then is kept" in texts(at.warning)
    run = next((dirs / "runs").iterdir())
    assert json.loads((run / "status.json").read_text())["status"] == "cancelled"
    assert len((run / "history.csv").read_text().splitlines()) >= 2
    # its results page shows what was measured
    res = app("pages/results.py", run=run.name)
    assert "Stopped before the end" in texts(res.warning)
    assert model_table(res)["Status"].tolist() == ["cancelled"]


def test_a_second_job_waits_in_the_queue_and_can_be_cancelled(dirs: Path) -> None:
    first = start(app(), epochs=500)
    second = start(app(), epochs=1)
    assert "number 1 in the queue" in texts(second.info)
    assert second.button(key="stop").label == "Cancel"
    second.button(key="stop").click().run()
    run_until(second, lambda a: "Cancelled before it started" in texts(a.warning))
    runs = dirs / "runs"
    # the first job's folder exists once it trains (stopped while it still loaded its data,
    # it would write none, by design): only then is the count below the queued job's doing
    run_until(first, lambda a: runs.is_dir() and any(runs.iterdir()), timeout=60)
    first.button(key="stop").click().run()
    run_until(first, lambda a: bool(a.warning), timeout=20)
    assert len(list(runs.iterdir())) == 1  # the queued job wrote nothing


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"batch_size": 1024}, "Batch size", "larger than the training set (512 images)"),
        ({"models": []}, "Models", "choose at least one of BatchEnsemble, Ensemble (sequential)"),
        ({"folder": "missing"}, "Dataset", "does not exist"),
        ({"folder": "empty"}, "Dataset", "is missing"),
    ],
)
def test_bad_input_gets_a_specific_error_next_to_start(dirs: Path, values, field, message) -> None:
    at = configure(app(), **{k: v for k, v in values.items() if k == "batch_size"})
    if "models" in values:
        at.button_group(key="models").set_value(values["models"])
    if "folder" in values:
        folder = dirs / values["folder"]
        if folder.name == "empty":
            folder.mkdir()
        at.radio(key="dataset_kind").set_value("folder").run()
        at.text_input(key="folder").set_value(str(folder)).run()  # the browser's blur
    start_button(at).click().run()
    assert not at.exception
    errors = texts(at.error)
    assert f"**{field}**" in errors and message in errors
    assert "job" not in at.query_params and not (dirs / "runs").exists()


def test_a_device_that_vanished_is_refused(dirs: Path, monkeypatch) -> None:
    import bedash.method.devices as devices

    monkeypatch.setattr(devices, "available_devices", lambda: ["cpu", "cuda:0"])
    at = run_until(app(), probed)
    assert at.selectbox(key="device").options == ["auto", "cpu", "cuda:0"]
    at.selectbox(key="device").set_value("cuda:0")
    monkeypatch.setattr(devices, "available_devices", lambda: ["cpu"])  # the GPU is gone
    start_button(configure(at)).click().run()
    errors = texts(at.error)
    assert "**Device**" in errors and "'cuda:0' is not available here" in errors


def test_a_crashing_job_shows_its_error_and_the_app_keeps_working(dirs: Path, monkeypatch) -> None:
    import bedash.experiment as experiment

    real = experiment.build_model

    def build_model(kind, *args, **kwargs):
        if kind == "ensemble":
            raise RuntimeError("the model builder broke")
        return real(kind, *args, **kwargs)

    monkeypatch.setattr(experiment, "build_model", build_model)
    at = run_until(start(app()), lambda a: bool(a.error))
    assert "The job failed: RuntimeError: the model builder broke" in texts(at.error)
    assert "red-badge[failed]" in badges(at)
    runs = app("pages/runs.py")  # the rest of the app is fine
    assert runs.dataframe(key="runs_table").value["status"].tolist() == ["failed"]


def test_an_unknown_job_in_the_url_is_reported(dirs: Path) -> None:
    at = app(job="0" * 32)
    assert "Job not found" in texts(at.warning)


# -- Results page -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny finished run, trained once for the module (the CLI's code path writes the same
    folder the dashboard does; test_start_trains... covers training through the page)."""
    from bedash.experiment import run_experiment

    path = tmp_path_factory.mktemp("trained") / "20260101-000000-abcdef"
    cfg = RunConfig(
        dataset="synthetic", train_size=512, test_size=256, epochs=1, hidden=16, members=2,
        batch_size=64, device="cpu",
    )  # fmt: skip
    assert run_experiment(cfg, path).status == "finished"
    return path


@pytest.fixture
def finished_run(dirs: Path, trained: Path) -> str:
    """A copy of the trained run in this test's runs folder; returns its id."""
    shutil.copytree(trained, dirs / "runs" / trained.name)
    return trained.name


def every_tab(at: AppTest) -> tuple[dict, set]:
    """The Results page's charts (by id) and download labels over all of its tabs: only the
    open tab is drawn, so each is opened in turn."""
    specs, downloads = {}, set()
    for label in [t.label for t in at.tabs]:
        at.session_state["results_tab"] = label
        at.run()
        assert not at.exception, at.exception
        specs |= {c.proto.id: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
        downloads |= {d.label for d in at.get("download_button")}
    return specs, downloads


def test_results_page_shows_table_charts_heatmaps_and_downloads(dirs, finished_run) -> None:
    at = app("pages/results.py", run=finished_run)
    table = model_table(at)
    assert table["Model"].tolist() == ["BatchEnsemble", "Ensemble (sequential)", "Single model"]
    for col in ["E", "Params", "MB", "× single", "Train s", "s / epoch", "Infer s",
                "Acc mean member", "Acc ensemble (mean softmax)", "Acc majority vote",
                "Acc oracle", "NLL", "ECE", "Brier", "Disagreement"]:  # fmt: skip
        assert col in table, col
    # the first screen draws the Accuracy tab alone: accuracy and parameters
    assert [t.label for t in at.tabs][:2] == ["Accuracy", "Time"]
    assert len(at.get("plotly_chart")) == 2
    first = AppTest.from_file(APP, default_timeout=60)  # a visit's first run: no chart yet
    first.query_params.update(run=finished_run)
    first.run()
    first.switch_page("pages/results.py").run()
    assert not first.get("plotly_chart") and model_table(first) is not None
    assert "Side by side" in texts(first.subheader)
    assert len(first.run().get("plotly_chart")) == 2  # the next run (the fragment's tick)
    first.switch_page("pages/runs.py").run()  # another page ends the visit: deferred again
    assert not first.switch_page("pages/results.py").run().get("plotly_chart")
    specs, downloads = every_tab(at)
    assert len(specs) == 8
    heat = next(s for s in specs.values() if any(t["type"] == "heatmap" for t in s["data"]))
    assert [t["type"] for t in heat["data"]] == ["heatmap", "heatmap"]  # BE and ensemble
    assert heat["layout"]["coloraxis"]["cmin"] == 0 and heat["layout"]["coloraxis"]["cmax"] == 1
    assert all(t["texttemplate"] == "%{z:.2f}" for t in heat["data"])
    assert downloads == {
        "results.csv", "members.csv", "history.csv", "agreement_batchensemble.csv",
        "agreement_ensemble.csv", "reliability_batchensemble.csv", "reliability_ensemble.csv",
        "reliability_single.csv", "Download the whole run (zip)",
    }  # fmt: skip
    assert at.query_params["run"] == finished_run


def test_the_run_zip_holds_its_csvs_and_config(dirs, finished_run) -> None:
    from bedash.dashboard import common

    path = dirs / "runs" / finished_run
    with zipfile.ZipFile(io.BytesIO(common.run_zip(path))) as z:
        names = set(z.namelist())
        assert f"{finished_run}/config.json" in names and f"{finished_run}/results.csv" in names
        assert z.read(f"{finished_run}/results.csv") == (path / "results.csv").read_bytes()
    assert names == {f"{finished_run}/{p.name}" for p in common.run_files(path)}
    assert len(names) == 11  # config, status, history, steps, results, members, 2 agreement, 3 rel.


@pytest.mark.parametrize("bad", ["20990101-000000-ffffff", "../../etc", "a/b", "%00"])
def test_an_unknown_or_malformed_run_id_shows_run_not_found(dirs, finished_run, bad) -> None:
    at = app("pages/results.py", run=bad)
    assert "Run not found" in texts(at.error)
    assert not at.exception
    # the picker still offers the runs there are
    assert at.selectbox(key="run_pick").value == finished_run


def test_results_page_without_runs_says_so(dirs: Path) -> None:
    at = app("pages/results.py")
    assert "No runs yet" in texts(at.info)


# -- Runs page --------------------------------------------------------------------------------


def test_runs_page_lists_filters_compares_and_opens(dirs: Path) -> None:
    at = app()
    for members in (2, 3):
        at = run_until(start(at, members=members), finished)
    runs = app("pages/runs.py")
    table = runs.dataframe(key="runs_table").value
    assert len(table) == 2 and set(table["members"]) == {2, 3}
    assert runs.dataframe(key="runs_table").proto.placeholder == "—"  # not "None"
    assert {"acc batchensemble", "acc ensemble", "acc single", "train s (all)"} <= set(table)
    assert {d.label for d in runs.get("download_button")} == {"Download this table (CSV)"}
    # sort and filter
    runs.selectbox(key="sort_by").set_value("members").run()
    runs.toggle(key="sort_desc").set_value(False).run()
    assert runs.dataframe(key="runs_table").value["members"].tolist() == [2, 3]
    runs.text_input(key="f_text").set_value("no-such-run").run()
    assert len(runs.dataframe(key="runs_table").value) == 0
    runs.text_input(key="f_text").set_value("").run()
    runs.multiselect(key="f_status").set_value(["finished"]).run()
    assert len(runs.dataframe(key="runs_table").value) == 2
    # select both: the comparison against the member count appears
    runs.session_state["runs_table"] = {"selection": {"rows": [0, 1], "columns": []}}
    runs.run()
    assert "Comparing 2 runs" in texts(runs.subheader)
    spec = json.loads(runs.get("plotly_chart")[0].proto.spec)
    be = [t for t in spec["data"] if t["name"] == "BatchEnsemble" and t["x"] != [None]]
    assert len(be) == 3 and be[0]["x"] == [2, 3]  # accuracy, parameters, time vs E
    # select one: open its results
    runs.session_state["runs_table"] = {"selection": {"rows": [0], "columns": []}}
    runs.run()
    runs.button(key="open").click().run()
    assert [t.value for t in runs.title] == ["Results"]
    assert runs.query_params["run"] == table.sort_values("members")["run_id"].iloc[0]


def test_runs_are_read_from_disk_after_a_restart(dirs, finished_run) -> None:
    st.cache_resource.clear()  # a new server process: no jobs in memory
    table = app("pages/runs.py").dataframe(key="runs_table").value
    assert table["run_id"].tolist() == [finished_run]


def test_delete_asks_first_then_removes_the_run(dirs, finished_run) -> None:
    runs = app("pages/runs.py")
    runs.session_state["runs_table"] = {"selection": {"rows": [0], "columns": []}}
    runs.run()
    runs.button(key="delete").click().run()
    assert "for good" in texts(runs.warning)
    assert (dirs / "runs" / finished_run).exists()  # nothing happens before the confirmation
    runs.button(key="confirm_no").click().run()
    assert not runs.warning and (dirs / "runs" / finished_run).exists()
    runs.button(key="delete").click().run()
    runs.button(key="confirm_yes").click().run()
    assert not (dirs / "runs" / finished_run).exists()
    assert "No runs" in texts(runs.info)


def test_deleting_a_run_that_trains_is_refused(dirs: Path) -> None:
    trainer = run_until(start(app(), epochs=500), lambda a: "ETA" in progress(a))
    runs = app("pages/runs.py")
    runs.session_state["runs_table"] = {"selection": {"rows": [0], "columns": []}}
    runs.run()
    runs.button(key="delete").click().run()
    assert "is training right now" in texts(runs.error)
    assert "for good" not in texts(runs.warning)  # no confirmation is even offered
    trainer.button(key="stop").click().run()
    assert len(list((dirs / "runs").iterdir())) == 1


def test_deleting_a_run_open_in_another_tab_is_refused(dirs, finished_run) -> None:
    viewer = app("pages/results.py", run=finished_run)  # another browser tab shows it
    runs = app("pages/runs.py")
    runs.session_state["runs_table"] = {"selection": {"rows": [0], "columns": []}}
    runs.run()
    runs.button(key="delete").click().run()
    assert "open on the Results page in 1 other browser tab" in texts(runs.error)
    assert (dirs / "runs" / finished_run).exists()
    viewer.switch_page("pages/runs.py").run()  # that tab moves on: now it may go
    runs.button(key="delete").click().run()
    runs.button(key="confirm_yes").click().run()
    assert not (dirs / "runs" / finished_run).exists()


# -- speed: no torch and no pandas for the first render ---------------------------------------


def test_the_first_render_imports_neither_torch_nor_pandas(tmp_path: Path) -> None:
    code = (
        "import sys; from streamlit.testing.v1 import AppTest;"
        f"at = AppTest.from_file({APP!r}, default_timeout=30).run();"
        "assert not at.exception, at.exception;"
        "assert [t.value for t in at.title] == ['Experiment'];"
        "print(sorted(m for m in ('torch', 'pandas') if m in sys.modules))"
    )
    env = {"BEDASH_RUNS_DIR": str(tmp_path / "runs"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
        cwd=str(Path(APP).parent),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


# -- the hosted demo: a secret sets the profile, the watchdog, uploads housekeeping -------------


def test_the_demo_profile_can_come_from_a_streamlit_secret(dirs: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["BEDASH_PROFILE"] = "demo"  # as .streamlit/secrets.toml or the host's settings
    at.run()
    assert not at.exception, at.exception
    assert f"to {DEMO_LIMITS.max_members}." in at.text_input(key="members").help
    assert f"to {DEMO_LIMITS.max_epochs}." in at.text_input(key="epochs").help
    assert at.selectbox(key="device").options == ["cpu"]
    at = start(at)
    assert "no page shows for 120 s is stopped" in texts(at.caption)
    at = run_until(at, finished)
    (run,) = (dirs / "runs").iterdir()  # the job ran under the demo's limits: one thread
    assert json.loads((run / "config.json").read_text())["_meta"]["threads"] == 1
    plain = app()  # no secret, no variable: the default profile
    assert "From 1 to 64." in plain.text_input(key="members").help


def test_the_demo_runs_one_job_at_a_time_whatever_max_jobs_says(dirs, monkeypatch) -> None:
    from bedash.dashboard import common

    monkeypatch.setenv("BEDASH_MAX_JOBS", "4")
    assert common.max_jobs() == 4
    monkeypatch.setenv("BEDASH_PROFILE", "demo")
    assert common.max_jobs() == 1 and common.registry().max_running == 1


@pytest.fixture
def quick_demo(dirs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo profile with a 3 s watchdog and long runs allowed (so a job outlives it)."""
    import dataclasses

    import bedash.settings.profile as profile

    demo = dataclasses.replace(DEMO_LIMITS, unwatched_seconds=3.0, max_epochs=10_000)
    monkeypatch.setattr(profile, "DEMO_LIMITS", demo)
    monkeypatch.setenv("BEDASH_PROFILE", "demo")


@pytest.mark.slow  # a subprocess, a server or several seconds of training
def test_the_demo_stops_a_job_nobody_watches_and_keeps_a_watched_one(quick_demo) -> None:
    at = run_until(start(app(), epochs=500), lambda a: "ETA" in progress(a))
    assert "no page shows for 3 s is stopped" in texts(at.caption)
    deadline = time.monotonic() + 5  # longer than the 3 s: each rerun is a heartbeat
    while time.monotonic() < deadline:
        at.run()
        time.sleep(0.2)
    assert "ETA" in progress(at)  # still training
    time.sleep(5)  # the tab is closed: nobody polls
    at = run_until(at, lambda a: "cancelled" in badges(a), timeout=20)
    assert "Stopped: nobody watched it for 3 s" in texts(at.warning)


def test_a_demo_upload_removes_old_uploads(dirs: Path, monkeypatch) -> None:
    import os

    monkeypatch.setenv("BEDASH_PROFILE", "demo")
    old = dirs / "data" / "uploads" / "old-upload"
    (old / "x").mkdir(parents=True)
    stamp = time.time() - 7 * 3600
    os.utime(old, (stamp, stamp))
    at = app()
    at.radio(key="dataset_kind").set_value("folder").run()
    at.get("file_uploader")[0].upload("pets.zip", image_folder_zip(), "application/zip").run()
    assert "Uploaded pets.zip" in texts(at.caption) and not at.error
    assert not old.exists()
    assert len(list((dirs / "data" / "uploads").iterdir())) == 1  # the new one


# -- faults: a job that raises mid-epoch, a read-only or full runs folder ----------------------


def test_a_job_that_raises_mid_epoch_fails_alone(dirs: Path, monkeypatch) -> None:
    from tests.test_jobs import raise_in_epoch

    raise_in_epoch(monkeypatch, seed=13)
    monkeypatch.setenv("BEDASH_MAX_JOBS", "2")
    good = start(app(), epochs=3)
    bad = run_until(start(app(), seed=13, epochs=3), lambda a: bool(a.error))
    assert "The job failed: RuntimeError: boom in epoch 2" in texts(bad.error)
    assert "red-badge[failed]" in badges(bad) and bad.get("expander")  # the traceback, folded
    run_until(good, finished)  # the other job trained on, alongside
    table = app("pages/runs.py").dataframe(key="runs_table").value
    assert sorted(table["status"]) == ["failed", "finished"]


def test_a_runs_folder_under_a_file_is_a_clear_error_at_start(dirs, monkeypatch) -> None:
    (dirs / "file").write_text("x")  # root ignores chmod: a folder that cannot be made instead
    monkeypatch.setenv("BEDASH_RUNS_DIR", str(dirs / "file" / "runs"))
    at = configure(app())
    start_button(at).click().run()
    assert not at.exception
    assert "**Runs folder**: cannot write runs to" in texts(at.error)
    assert "Not a directory" in texts(at.error) and "job" not in at.query_params
    assert "No runs" in texts(app("pages/runs.py").info)  # the other pages still work


def snapshot_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_read_only_runs_folder_is_a_clear_error_and_loses_nothing(
    dirs, finished_run, monkeypatch
) -> None:
    import errno
    import tempfile

    runs = dirs / "runs"
    before = snapshot_files(runs)
    real = tempfile.mkstemp

    def read_only(*args, dir=None, **kw):
        # as root chmod is ignored: fail every new file in the runs folder, as a ro mount does
        if dir is not None and Path(dir).resolve().is_relative_to(runs.resolve()):
            raise OSError(errno.EROFS, "Read-only file system")
        return real(*args, dir=dir, **kw)

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    at = configure(app())
    start_button(at).click().run()
    assert not at.exception
    assert "**Runs folder**" in texts(at.error) and "Read-only file system" in texts(at.error)
    assert snapshot_files(runs) == before
    table = app("pages/runs.py").dataframe(key="runs_table").value
    assert table["run_id"].tolist() == [finished_run]


def test_a_full_disk_mid_run_fails_the_job_and_keeps_earlier_runs(
    dirs, finished_run, monkeypatch
) -> None:
    import errno

    from bedash.store import writer as R

    runs = dirs / "runs"
    before = snapshot_files(runs / finished_run)
    real = R.atomic_write_text

    def full(path, text: str) -> None:
        if Path(path).name == "results.csv":
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, text)

    monkeypatch.setattr(R, "atomic_write_text", full)
    at = run_until(start(app()), lambda a: bool(a.error))
    error = texts(at.error)
    assert "The job failed: cannot write results.csv" in error
    assert "No space left on device; the files written before are intact" in error
    assert snapshot_files(runs / finished_run) == before
    table = app("pages/runs.py").dataframe(key="runs_table").value
    assert dict(zip(table["run_id"], table["status"], strict=True)) == {
        finished_run: "finished",
        next(p.name for p in runs.iterdir() if p.name != finished_run): "failed",
    }


# -- the form never runs a config the user did not see (issue 9 item 8) ---------------------


def test_a_double_click_on_start_queues_one_job(dirs: Path) -> None:
    """Start's key changes once a job is queued: the second click of a double click targets a
    button that is gone; and the registry returns the first job for a repeated submit key."""
    from bedash.dashboard import common

    at = configure(app())
    first = start_button(at)
    first.click().run()
    assert not at.exception and len(common.registry().jobs()) == 1
    at.run()  # the next run draws a Start with a new key; the old one's clicks are ignored
    assert start_button(at).key != first.key and len(common.registry().jobs()) == 1
    reg = common.registry()
    cfg = reg.snapshot(reg.jobs()[0].id).config
    assert submit_run(reg, cfg, key="k1") == submit_run(reg, cfg, key="k1")  # idempotent by key
    run_until(at, finished)


def test_reloading_a_job_address_shows_that_jobs_settings(dirs: Path, monkeypatch, caplog) -> None:
    """...with each widget's value set one way only: Streamlit's server-log warning about a
    widget default that Session State also sets (once per process) does not come."""
    from streamlit.elements.lib import policies

    monkeypatch.setattr(policies, "_shown_default_value_warning", False)
    at = start(app(), members=3, hidden=24)
    job = at.query_params["job"]
    fresh = app(job=job)  # a new session: the reload or a second tab
    assert fresh.text_input(key="members").value == "3"
    assert fresh.text_input(key="hidden").value == "24"
    assert not [r for r in caplog.records if "Session State" in r.getMessage()]
    run_until(at, finished)


def test_an_address_in_a_note_is_no_link() -> None:
    """GFM makes links of bare addresses even when escaped (https://github.github.com/gfm/
    #autolinks-extension-: www., a scheme's //, an e-mail): plain() leaves none of them, and the
    text reads the same (the word joiner between is unseen)."""
    from bedash.dashboard.form import plain

    text = "see https://example.com/x, HTTP://a.b, www.foo.org and me@host.org"
    shown = re.sub(r"\\(.)", r"\1", plain(text))  # as the browser shows it
    assert shown.replace("\u2060", "") == text
    assert not re.search(r"(?i)https?://|www\.|[\w.+-]@[\w-]", shown)


def test_notes_and_names_from_users_are_shown_as_plain_text(dirs: Path) -> None:
    """A note with a Markdown link and a remote image stays text: every punctuation mark is
    escaped, so no link or image is made of it (on the Results page too)."""
    at = configure(app())
    at.text_input(key="notes").set_value("see [x](https://evil.example) ![i](https://e.x/i.png)")
    at = start(at)
    at = run_until(at, finished)
    run_id = at.query_params["job"] and next((dirs / "runs").iterdir()).name
    results = app("pages/results.py", run=run_id)
    raw = " ".join(str(c.value) for c in results.caption if "Notes" in str(c.value))
    assert "\\[x\\]\\(https\\:" in raw and "](" not in raw and "![" not in raw
    # the note typed on the form is found by the Runs page's search, as one added on Results
    runs = app("pages/runs.py")
    runs.text_input(key="f_text").set_value("evil.example").run()
    assert runs.dataframe(key="runs_table").value["run_id"].tolist() == [run_id]
    runs.text_input(key="f_text").set_value("in no note").run()
    assert runs.dataframe(key="runs_table").value.empty
