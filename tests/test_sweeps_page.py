"""The Sweeps page: bad grid input named, a tiny sweep launched, watched and its tables shown."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from bedash.dashboard.sweepform import parse_grid
from bedash.settings.config import RunConfig
from bedash.sweep.grid import SweepError

ROOT = Path(__file__).resolve().parent.parent
ACC_TITLE = "Accuracy under shift"  # the severity figure of accuracy (one of ECE beside it)


def test_parse_grid_lists_and_errors_name_the_field() -> None:
    spec = parse_grid(RunConfig(dataset="synthetic"), {"members": "1,2", "hidden": "8"}, "0-2")
    assert spec.grid == {"members": [1, 2]} and spec.base.hidden == 8 and spec.seeds == [0, 1, 2]
    with pytest.raises(SweepError) as e:
        parse_grid(RunConfig(), {"test_size": "64,128"}, "0")
    assert e.value.field == "test_size"
    with pytest.raises(SweepError) as e:
        parse_grid(RunConfig(), {}, "3-1")
    assert e.value.field == "seeds"
    with pytest.raises(SweepError) as e:
        parse_grid(RunConfig(), {"members": "1,x"}, "0")
    assert e.value.field == "members"


def _app(tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("BEDASH_RUNS_DIR", str(tmp_path))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("pages/sweeps.py")
    return at


def test_too_many_cells_is_a_message_not_a_traceback(tmp_path, monkeypatch) -> None:
    at = _app(tmp_path, monkeypatch).run()
    at.text_input(key="sw_members").input("1,2,3,4,5,6,7,8")
    at.text_input(key="sw_seeds").input("0-9")
    at.button(key="sw_start").click().run()
    assert not at.exception
    assert any("max_cells" in e.value for e in at.error)
    assert not list(tmp_path.iterdir())  # nothing written


def test_the_uncertainty_fields_are_checked_and_reach_every_cell(tmp_path, monkeypatch) -> None:
    """Corruptions, severities and OOD sets from the form: a bad one is named on the page and
    nothing is written; good ones are the base config of the queued sweep."""
    import json
    import re

    data = tmp_path.parent / f"{tmp_path.name}-data"  # BEDASH_DATA_DIR: no CIFAR-10 in it
    monkeypatch.setenv("BEDASH_DATA_DIR", str(data))
    at = _app(tmp_path, monkeypatch).run()
    tiny = {"hidden": "8", "epochs": "1", "train_size": "64", "test_size": "32"}
    for name, value in tiny.items():  # seconds: no "Start anyway?" first
        at.text_input(key=f"sw_{name}").input(value)
    at.text_input(key="sw_shift").input("contrast,frost")
    at.button(key="sw_start").click().run()
    assert not at.exception
    (error,) = [e.value for e in at.error]
    assert error.startswith("**Corruptions**") and "frost" in error
    assert not list(tmp_path.iterdir())
    # CIFAR-10 as an OOD set is read from the data folder, never downloaded: refused here,
    # not in every cell
    at.text_input(key="sw_shift").input("contrast")
    at.text_input(key="sw_ood").input("uniform,cifar10")
    at.button(key="sw_start").click().run()
    assert not at.exception
    (error,) = [re.sub(r"\\(.)", r"\1", e.value) for e in at.error]  # plain()'s escapes
    assert error.startswith("**OOD sets**") and f"CIFAR-10 is not in {data.resolve()}" in error
    assert not list(tmp_path.iterdir())
    at.text_input(key="sw_severities").input("1,5")
    at.text_input(key="sw_ood").input("uniform")
    at.text_input(key="sw_seeds").input("0")
    at.button(key="sw_start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    from bedash.dashboard.session import sweep_jobs

    (name,) = [p.name for p in tmp_path.iterdir() if p.name.startswith("sweep-")]
    sweep_jobs()[name].cancel()
    sweep_jobs()[name].wait(120)
    base = json.loads((tmp_path / name / "sweep.json").read_text())["base"]
    assert (base["shift"], base["severities"], base["ood"]) == ("contrast", "1,5", "uniform")
    assert base["data_dir"] == str(data)  # the dashboard's data folder, as on Experiment


def test_the_form_shows_what_will_run_and_asks_before_a_long_grid(tmp_path, monkeypatch) -> None:
    """Every grid box shows the value a cell will use; the cells and an estimated duration are
    stated before Start; the defaults (E=5, 20 epochs, 50,000 images, three kinds: many minutes
    on a CPU) start only after "Start anyway"."""
    at = _app(tmp_path, monkeypatch).run()
    defaults = RunConfig()
    assert at.text_input(key="sw_epochs").placeholder == str(defaults.epochs)
    assert at.text_input(key="sw_members").placeholder == str(defaults.members)
    assert at.text_input(key="sw_train_size").placeholder == "all (50,000)"
    stated = " ".join(m.value for m in at.markdown)
    assert "**2 cells** (1 config × 2 seeds)" in stated
    # 2 cells x (5 + 5 + 1 models) x 20 epochs x 50,000 images through a 3072-128-128-10 MLP
    # (0.41 M multiply-adds forward, x3 with backward): 2.7e13; two CPU cores at a generous
    # 1e11 multiply-adds per second take at least 270 s
    took = re.search(r"about (?:(\d+):)?(\d+):(\d\d)\*\*", stated)
    assert took and int(took[1] or 0) * 60 + int(took[2]) >= 4, stated
    assert any("An estimate" in c.value for c in at.caption)
    at.button(key="sw_start").click().run()
    assert not list(tmp_path.iterdir())  # asked, not started
    (ask,) = [w.value for w in at.warning]
    assert "Start it anyway?" in ask
    at.button(key="sw_confirm").click().run()
    assert not at.exception and not at.error
    from bedash.dashboard.session import sweep_jobs

    (name,) = [p.name for p in tmp_path.iterdir() if p.name.startswith("sweep-")]
    sweep_jobs()[name].cancel()
    sweep_jobs()[name].wait(120)


@pytest.mark.slow
def test_tiny_sweep_fills_and_shows_tables(tmp_path, monkeypatch) -> None:
    at = _app(tmp_path, monkeypatch).run()
    for name, value in {"members": "2", "hidden": "8", "epochs": "1", "train_size": "128",
                        "test_size": "64"}.items():  # fmt: skip
        at.text_input(key=f"sw_{name}").input(value)
    at.text_input(key="sw_seeds").input("0-1")
    at.button(key="sw_start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    name = (
        at.query_params["sweep"][0]
        if isinstance(at.query_params["sweep"], list)
        else (at.query_params["sweep"])
    )
    folder = tmp_path / name
    from bedash.dashboard.session import sweep_jobs

    sweep_jobs()[name].wait(300)
    time.sleep(0.1)
    at.run()
    assert not at.exception
    paired = (folder / "paired.csv").read_text()
    assert "batchensemble" in paired and "ensemble_acc" in paired
    assert at.dataframe[1].value["n"].max() == 2
    cells = at.dataframe[0].value  # cells, then paired
    assert list(cells["status"]) == ["finished", "finished"]


def _finished_sweep(root: Path, name: str, **files: bool) -> Path:
    """A sweep folder written by the fake engine of test_sweep_uncertainty (no training)."""
    from bedash.sweep.run import run_sweep
    from tests.test_sweep_uncertainty import Engine, spec

    run_sweep(spec(), root / name, Engine(**files))
    return root / name


def test_uncertainty_section_shows_for_a_sweep_with_its_files(tmp_path, monkeypatch) -> None:
    import json

    from bedash.sweep.uncertainty_stats import UNCERTAINTY_SWEEP_FILES

    folder = _finished_sweep(tmp_path, "sweep-unc")
    at = _app(tmp_path, monkeypatch)
    at.query_params["sweep"] = "sweep-unc"
    at.run().run()  # the charts come on a visit's second run (the fragment's tick)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "Uncertainty under shift" in [h.value for h in at.subheader]
    downloads = {d.label for d in at.get("download_button")}
    assert set(UNCERTAINTY_SWEEP_FILES) <= downloads and "summary.csv" in downloads
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    (spec,) = [c for c in charts if c["layout"].get("title", {}).get("text") == ACC_TITLE]
    be = [t for t in spec["data"] if t.get("name") == "BatchEnsemble"]
    assert be[0]["y"] == pytest.approx([0.9, 0.62])  # clean, mean over corruptions at 1
    picker = at.selectbox(key="sw_shift_corruption")  # the charts' corruption: a mean or one
    assert picker.value == "mean" and len(picker.options) > 1
    one = next(o for o in picker.options if "mean" not in o)
    picker.select(one).run()
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    (spec,) = [c for c in charts if c["layout"].get("title", {}).get("text") == ACC_TITLE]
    assert one in spec["layout"]["xaxis"]["title"]["text"]
    # cells, paired, then the shift verdicts, the OOD table and the OOD verdicts
    _, _, verdicts, ood, ood_verdicts = (d.value for d in at.dataframe)
    # 3 kinds x 2 scores, less the single model's mutual information (0 by definition), said once
    assert list(ood["OOD set"].unique()) == ["uniform"] and len(ood) == 3 * 2 - 1
    assert "BatchEnsemble better than Ensemble (sequential)" in set(ood_verdicts["Verdict"])
    assert "BatchEnsemble better than Single model" in set(verdicts["Verdict"])
    notes = [c.value for c in at.caption if "mutual information is 0" in c.value]
    assert len(notes) == 1 and "AUROC 0.5" in notes[0]
    assert folder.is_dir()


def test_uncertainty_section_is_absent_without_its_files(tmp_path, monkeypatch) -> None:
    _finished_sweep(tmp_path, "sweep-plain", shift=False, ood=False)
    at = _app(tmp_path, monkeypatch)
    at.query_params["sweep"] = "sweep-plain"
    at.run()
    assert not at.exception and not at.error
    assert "Paired over seeds" in [h.value for h in at.subheader]  # the sweep's results show
    assert "Uncertainty under shift" not in [h.value for h in at.subheader]
    downloads = {d.label for d in at.get("download_button")}
    assert downloads == {"summary.csv", "paired.csv"}


def _two_config_sweep(root: Path, name: str) -> Path:
    """Configs members=2 and members=4 from the fake engine; in members=4 every kind is 0.05
    more accurate under shift and at AUROC, and BatchEnsemble 0.03 more under shift (clean
    too); BatchEnsemble's ensemble accuracy in results.csv is 0.61 or 0.66, the others' 0.6."""
    import csv
    import io

    from bedash.names import RESULT_COLUMNS, SHIFT_COLUMNS
    from bedash.store.writer import csv_text
    from bedash.sweep.grid import CellOutcome, SweepSpec
    from bedash.sweep.run import run_sweep
    from tests.test_sweep_uncertainty import BASE, Engine, files

    class TwoConfigs(Engine):
        def run(self, cells, *, started, ended, cancel, **_) -> None:
            for cell in cells:
                started(cell.id, {})
                bump = 0.05 if cell.config.members == 4 else 0.0
                out = files(cell.config, bump=bump)
                rows = list(csv.DictReader(io.StringIO(out["results.csv"].decode())))
                for r in rows:  # BatchEnsemble minus the ensemble: +0.01 (members=2), +0.06
                    if r["model"] == "batchensemble":
                        r["ensemble_acc"] = str(0.61 + bump)
                out["results.csv"] = csv_text(RESULT_COLUMNS, rows).encode()
                rows = list(csv.DictReader(io.StringIO(out["shift.csv"].decode())))
                for r in rows:  # and 0.03 more accurate under shift than the other kinds
                    if r["model"] == "batchensemble" and bump:
                        r["acc"] = str(float(r["acc"]) + 0.03)
                out["shift.csv"] = csv_text(SHIFT_COLUMNS, rows).encode()
                ended(CellOutcome(cell.id, "finished", out, started=1.0, ended=2.0), {})

    run_sweep(SweepSpec(BASE, {"members": [2, 4]}, [0, 1, 2]), root / name, TwoConfigs())
    return root / name


def test_a_visits_first_run_draws_the_tables_and_keeps_room_for_the_charts(
    tmp_path, monkeypatch
) -> None:
    """The first run of a visit leaves the charts out (plotly's bundle and each chart's
    drawing would hold up the tables) but keeps a box of each chart's height in its place, so
    nothing moves when they come on the next run; another page ends the visit."""
    _finished_sweep(tmp_path, "sweep-unc")
    at = _app(tmp_path, monkeypatch)
    at.query_params["sweep"] = "sweep-unc"
    at.run()
    assert not at.exception and not at.get("plotly_chart")
    tables = [d.value for d in at.dataframe]
    assert len(tables) == 5  # cells, paired, shift verdicts, OOD table, OOD verdicts

    def boxes(a: AppTest) -> list[int]:  # the empty fixed-height containers
        return [
            b.proto.height_config.pixel_height
            for b in a.get("flex_container")
            if b.proto.height_config.pixel_height and not b.children
        ]

    at.run()  # the fragment's tick: the same page with its charts
    charts = at.get("plotly_chart")
    assert charts and not at.exception
    assert [d.value.equals(t) for d, t in zip(at.dataframe, tables, strict=True)] == [True] * 5
    at.switch_page("pages/runs.py").run()
    at.switch_page("pages/sweeps.py").run()  # a new visit: deferred again
    assert not at.get("plotly_chart") and len(boxes(at)) == len(charts)
    import json

    heights = sorted(json.loads(c.proto.spec)["layout"].get("height") or 450 for c in charts)
    assert sorted(boxes(at)) == heights


def test_the_config_selector_drives_the_verdict_and_the_uncertainty_section(
    tmp_path, monkeypatch
) -> None:
    import json
    import re

    _two_config_sweep(tmp_path, "sweep-two")
    at = _app(tmp_path, monkeypatch)
    at.query_params["sweep"] = "sweep-two"
    at.run().run()  # the charts come on a visit's second run (the fragment's tick)
    assert not at.exception and not at.error, [e.value for e in at.error]

    def shown() -> tuple[str, list[float], str, str]:
        (info,) = [re.sub(r"\\(.)", r"\1", i.value) for i in at.info  # plain()'s escapes
                   if "Paired over seeds" in i.value]  # fmt: skip
        charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
        (chart,) = [c for c in charts if c["layout"].get("title", {}).get("text") == ACC_TITLE]
        be = [t for t in chart["data"] if t.get("name") == "BatchEnsemble"]
        _, _, verdicts, ood, _ = (d.value for d in at.dataframe)
        auroc = ood[(ood["Model"] == "BatchEnsemble") & (ood["Score"] == ood["Score"].iloc[0])]
        acc = verdicts[(verdicts["Metric"] == "Accuracy") & (verdicts["Corruption"] == "mean")
                       & (verdicts["Baseline"] == "Ensemble (sequential)")]  # fmt: skip
        return info, be[0]["y"], auroc.iloc[0, 3], acc["BatchEnsemble − baseline"].iloc[0]

    box = at.selectbox(key="sw_config")
    assert box.options == ["members=2", "members=4"] and box.value == 0
    info, ys, auroc, diff = shown()
    assert "(members=2)" in info and "+0.0100" in info
    assert ys == pytest.approx([0.9, 0.62]) and auroc.startswith("0.920 ± ")
    assert diff == "+0.0200"  # 0.62 - 0.60
    box.select(1).run()
    assert not at.exception
    info, ys, auroc, diff = shown()
    assert "(members=4)" in info and "+0.0600" in info
    assert ys == pytest.approx([0.93, 0.70]) and auroc.startswith("0.970 ± ")
    assert diff == "+0.0500"  # 0.70 - 0.65
    assert any("members\\=4" in c.value for c in at.caption)


@pytest.mark.parametrize(("members", "diff"), [(2, "+0.0100"), (4, "+0.0600")])
def test_a_cells_results_page_gives_the_verdict_of_its_own_config(
    tmp_path, monkeypatch, members: int, diff: str
) -> None:
    """A cell's Results page reads the sweep's paired.csv for the cell's config, not the
    first config of the sweep (BatchEnsemble minus the ensemble: +0.01 at members=2, +0.06)."""
    import json
    import re

    folder = _two_config_sweep(tmp_path, "sweep-two")
    cells = json.loads((folder / "sweep.json").read_text())["cells"]
    cell = next(c for c in cells if c["values"] == {"members": members})
    stamp = "2026-01-01T00:00:00+00:00"  # the fake engine's status.json, as bedash writes it
    status = {"status": "finished", "started": stamp, "updated": stamp}
    (folder / cell["id"] / "status.json").write_text(json.dumps(status))
    monkeypatch.setenv("BEDASH_RUNS_DIR", str(tmp_path))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("pages/results.py")
    at.query_params["run"] = cell["id"]
    at.query_params["sweep"] = "sweep-two"
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    (info,) = [re.sub(r"\\(.)", r"\1", i.value) for i in at.info if "Paired over seeds" in i.value]
    assert f"(members={members})" in info
    assert f"BatchEnsemble − Ensemble (sequential) {diff}, 95% CI [{diff}, {diff}]" in info


@pytest.mark.parametrize("damage", ["sweep.json", "summary.csv"])
def test_a_damaged_sweep_folder_is_a_message_not_a_traceback(tmp_path, monkeypatch, damage) -> None:
    folder = _finished_sweep(tmp_path, "sweep-bad", shift=False, ood=False)
    (folder / damage).write_bytes(
        b'{"format": 1, "cells": [' if damage == "sweep.json" else b"a,b\n1,2,3,4\n"
    )
    at = _app(tmp_path, monkeypatch)
    at.query_params["sweep"] = "sweep-bad"
    at.run()
    assert not at.exception
    (error,) = [e.value for e in at.error]
    assert "cannot be read" in error and damage.replace(".", "\\.") in error  # plain()'s escapes


# -- one path in (issue 24): the page reads the statistics through the validated reader ------


def _edit_row(path: Path, model: str, metric: str, column: str, value: str) -> None:
    """Set one cell of summary.csv / paired.csv (the row of model/baseline and metric)."""
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    for r in rows:
        if model in (r.get("model"), r.get("baseline")) and r["metric"] == metric:
            r[column] = value
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    path.write_text(buf.getvalue())


def _plain(text: str) -> str:
    import re

    return re.sub(r"\\(.)", r"\1", text)  # plain()'s escapes


@pytest.mark.parametrize(
    ("name", "column", "value", "why"),
    [
        ("summary.csv", "config", "", "config is empty"),
        ("summary.csv", "mean", "7.5", "mean 7.5 of ensemble_acc is outside 0..1"),
        ("summary.csv", "mean", "inf", "mean 'inf' is not a number"),
        ("summary.csv", "mean", "nan", "mean 'nan' is not a number"),
        ("summary.csv", "n", "two", "n 'two' is not a whole number"),
        ("paired.csv", "config", "", "config is empty"),
        ("paired.csv", "mean_model", "7.5", "mean_model 7.5 of ensemble_acc is outside 0..1"),
        ("paired.csv", "mean_diff", "NaN", "mean_diff 'NaN' is not a number"),
    ],
)
def test_a_malformed_or_impossible_statistic_is_refused_with_its_reason(
    tmp_path, monkeypatch, name, column, value, why
) -> None:
    """A blank config, 7.5, inf or NaN in summary.csv or paired.csv: no traceback, and nothing
    of that file is drawn or tabled; the page says which file, line and column, and why."""
    folder = _finished_sweep(tmp_path, "sweep-bad", shift=False, ood=False)
    _edit_row(folder / name, "batchensemble", "ensemble_acc", column, value)
    at = _app(tmp_path, monkeypatch)
    at.query_params["sweep"] = "sweep-bad"
    at.run().run()  # the charts come on a visit's second run
    assert not at.exception
    (error,) = [_plain(e.value) for e in at.error]
    assert error.startswith(f"The sweep's {name} cannot be read: {name} line ") and why in error
    downloads = {d.label for d in at.get("download_button")}
    assert name not in downloads  # the refused file is not served either
    if name == "summary.csv":  # no chart, no table but the cells'
        assert not at.get("plotly_chart") and len(at.dataframe) == 1
        assert any("No statistics to show" in i.value for i in at.info)
    else:  # the summary still shows; no paired verdict nor table
        assert at.get("plotly_chart") and "Paired over seeds" not in [h.value for h in at.subheader]


def test_a_damaged_cell_is_left_out_and_named_on_the_page(tmp_path, monkeypatch) -> None:
    """A cell's results.csv with ensemble_acc 7.5 after the statistics were written: the page
    names it damaged (as `bedash runs list` does), and links no Results page for it."""
    folder = _finished_sweep(tmp_path, "sweep-cell", shift=False, ood=False)
    import json

    first = json.loads((folder / "sweep.json").read_text())["cells"][0]["id"]
    text = (folder / first / "results.csv").read_text()
    (folder / first / "results.csv").write_text(text.replace(",0.6,", ",7.5,", 1))
    at = _app(tmp_path, monkeypatch)
    at.query_params["sweep"] = "sweep-cell"
    at.run()
    assert not at.exception and not at.error
    cells = at.dataframe[0].value
    row = cells[cells["cell"] == first].iloc[0]
    assert row["status"] == "damaged" and "ensemble_acc '7.5' is outside 0..1" in row["error"]
    (warning,) = [_plain(w.value) for w in at.warning if "Left out" in w.value]
    assert first in warning
    links = [link.proto.label for link in at.get("page_link")]
    assert links and not any(first in label for label in links)


def _stopped_sweep(root: Path, name: str, keep: int) -> Path:
    """A sweep of 4 cells (members 2 and 4, seeds 0 and 1) stopped after `keep` cells."""
    import threading

    from bedash.sweep.grid import CellOutcome, SweepSpec
    from bedash.sweep.run import run_sweep
    from tests.test_sweep_uncertainty import BASE, Engine, files

    class Stopping(Engine):
        def run(self, cells, *, started, ended, cancel, **_) -> None:
            for cell in cells[:keep]:
                started(cell.id, {})
                out = files(cell.config, shift=False, ood=False)
                ended(CellOutcome(cell.id, "finished", out, started=1.0, ended=2.0), {})
            cancel.set()  # the user pressed Cancel

    spec = SweepSpec(BASE, {"members": [2, 4]}, [0, 1])
    result = run_sweep(spec, root / name, Stopping(), cancel=threading.Event())
    assert result.status == "interrupted"
    return root / name


def test_a_stopped_sweep_shows_its_kept_cells_and_names_what_did_not_run(
    tmp_path, monkeypatch
) -> None:
    _stopped_sweep(tmp_path, "sweep-stop", keep=2)
    at = _app(tmp_path, monkeypatch)
    at.query_params["sweep"] = "sweep-stop"
    at.run().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    (warning,) = [_plain(w.value) for w in at.warning]
    assert warning.startswith("Stopped: cells 3-4 not run; 2 of 4 cells kept.")
    cells = at.dataframe[0].value
    assert list(cells["status"]) == ["finished", "finished", "pending", "pending"]
    links = [link.proto.label for link in at.get("page_link")]
    assert len(links) == 2 and all("(finished)" in label for label in links)
    assert "Cells" in [h.value for h in at.subheader]
    import json

    for c in at.get("plotly_chart"):  # every chart drawn has data in it
        assert json.loads(c.proto.spec)["data"], json.loads(c.proto.spec)["layout"]


def test_a_sweep_stopped_before_any_cell_shows_no_empty_charts_or_headings(
    tmp_path, monkeypatch
) -> None:
    _stopped_sweep(tmp_path, "sweep-none", keep=0)
    at = _app(tmp_path, monkeypatch)
    at.query_params["sweep"] = "sweep-none"
    at.run().run()
    assert not at.exception and not at.error
    (warning,) = [_plain(w.value) for w in at.warning]
    assert warning.startswith("Stopped: cells 1-4 not run; 0 of 4 cells kept.")
    assert not at.get("plotly_chart") and len(at.dataframe) == 1  # the cells table only
    assert any("No statistics to show" in i.value for i in at.info)
    assert not at.subheader.values or "Cells" not in [h.value for h in at.subheader]
    assert not at.get("page_link") and not at.get("download_button")


def test_a_sweep_cancelled_here_says_the_user_stopped_it(tmp_path, monkeypatch) -> None:
    """The sweep's job in this dashboard ended cancelled: "Stopped by the user"."""
    from types import SimpleNamespace

    from bedash.dashboard.session import sweep_jobs
    from bedash.dashboard.sweepjobs import SweepHandle

    folder = _stopped_sweep(tmp_path, "sweep-cancel", keep=3)

    class Executor:
        def snapshot(self, job_id: str):
            return SimpleNamespace(status="cancelled", active=False, error="")

    at = _app(tmp_path, monkeypatch)
    at.query_params["sweep"] = "sweep-cancel"
    sweep_jobs()["sweep-cancel"] = SweepHandle(Executor(), "job", folder)
    try:
        at.run()
    finally:
        sweep_jobs().pop("sweep-cancel")
    assert not at.exception and not at.error
    (warning,) = [_plain(w.value) for w in at.warning]
    assert warning.startswith("Stopped by the user: cell 4 not run; 3 of 4 cells kept.")


def test_not_run_names_the_cells_by_number() -> None:
    from bedash.dashboard.sweep_tables import not_run

    statuses = ["finished", "pending", "failed", "pending", "pending", "interrupted", "diverged"]
    assert not_run([{"status": s} for s in statuses]) == "cells 2, 4-5 not run; cell 6 interrupted"
    assert not_run([{"status": "finished"}, {"status": "failed"}]) == ""
