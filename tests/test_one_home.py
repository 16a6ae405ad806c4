"""One home (issue 20): `bedash sweep` writes to the folder of runs and sweeps the dashboard reads
(BEDASH_RUNS_DIR, else runs), the Sweeps page lists every sweep there (and in ./sweeps, where an
older bedash put them, never moved) and opens any of them, and the Runs page shows sweep cells
grouped under their sweep. (The browser test: tests/test_e2e_installed.py.)"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from bedash.sweep import cli as sweep_cli
from bedash.sweep.listing import find_sweep, list_cells, list_sweeps

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--dataset", "synthetic", "--train-size", "64", "--test-size", "32", "--epochs", "1",
        "--hidden", "8", "--members", "2", "--models", "batchensemble,single", "--device", "cpu",
        "--engine", "local", "--quiet", "--seeds", "0-1"]  # fmt: skip


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home holding one finished CLI sweep of 2 cells, made as a user makes it:
    BEDASH_RUNS_DIR set, no --out."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BEDASH_RUNS_DIR", str(home))
        assert sweep_cli.main(TINY) == 0
    return home


def test_a_cli_sweep_goes_to_the_home_as_a_sweep_folder(home: Path) -> None:
    (folder,) = home.iterdir()
    assert folder.name.startswith("sweep-") and (folder / "sweep.json").is_file()
    (info,) = list_sweeps(home)
    assert (info.name, info.status, info.done, info.total) == (folder.name, "finished", 2, 2)
    assert info.grid == "2 seeds"
    assert "BatchEnsemble vs Single model" in info.verdict  # the paired verdict on accuracy
    cells = list_cells(home)
    assert sorted(c.sweep for c in cells) == [folder.name] * 2
    state = json.loads((folder / "sweep.json").read_text())
    assert sorted(c.run_id for c in cells) == sorted(c["id"] for c in state["cells"])
    assert all(c.status == "finished" and c.results for c in cells)


def test_the_flag_wins_and_runs_dir_is_the_same_flag(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("BEDASH_RUNS_DIR", str(tmp_path / "env"))
    args = sweep_cli.build_parser().parse_args(["--runs-dir", str(tmp_path / "flag")])
    assert args.sweeps_dir == str(tmp_path / "flag")
    args = sweep_cli.build_parser().parse_args(["--sweeps-dir", str(tmp_path / "old")])
    assert args.sweeps_dir == str(tmp_path / "old")


def test_sweeps_from_before_in_dot_sweeps_are_listed_and_opened_never_moved(
    home: Path, tmp_path: Path, monkeypatch
) -> None:
    (sweep,) = home.iterdir()
    legacy = tmp_path / "sweeps" / "20261101-120000-abcdef"  # an old CLI sweep's name
    shutil.copytree(sweep, legacy)
    monkeypatch.chdir(tmp_path)
    empty = tmp_path / "runs"
    assert [s.name for s in list_sweeps(empty)] == [legacy.name]
    assert find_sweep(legacy.name, empty) == Path("sweeps") / legacy.name
    assert find_sweep("../sweeps", empty) is None and find_sweep("nope", empty) is None
    assert [c.sweep for c in list_cells(empty)] == [legacy.name] * 2
    assert legacy.is_dir() and not empty.exists()  # found where it is; nothing moved or made


def _page(page: str, home: Path, monkeypatch, **query: str) -> AppTest:
    monkeypatch.setenv("BEDASH_RUNS_DIR", str(home))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page(page)
    for k, v in query.items():
        at.query_params[k] = v
    return at.run().run()  # the charts and tables come on a visit's second run


def test_the_sweeps_page_lists_every_sweep_and_opens_one_by_any_name(
    home: Path, tmp_path: Path, monkeypatch
) -> None:
    (sweep,) = home.iterdir()
    shutil.copytree(sweep, tmp_path / "home" / "my-grid")  # not named sweep-...
    shutil.copytree(sweep, tmp_path / "home" / sweep.name)
    at = _page("pages/sweeps.py", tmp_path / "home", monkeypatch)
    assert not at.exception
    listed = at.dataframe(key="sweep_list").value
    assert sorted(listed["Sweep"]) == sorted(["my-grid", sweep.name])
    assert set(listed["Cells done"]) == {"2 of 2"} and set(listed["Status"]) == {"finished"}
    at = _page("pages/sweeps.py", tmp_path / "home", monkeypatch, sweep="my-grid")
    assert not at.exception and not at.error
    (cells,) = [d.value for d in at.dataframe if "cell" in d.value]
    assert cells["status"].tolist() == ["finished"] * 2
    charts = at.get("plotly_chart")
    assert charts  # and each with its toolbar on hover only: shown, it covers a phone's legends
    assert all(json.loads(c.proto.config)["displayModeBar"] == "hover" for c in charts)


def test_the_runs_page_shows_sweep_cells_grouped_and_opens_them(home: Path, monkeypatch) -> None:
    (sweep,) = home.iterdir()
    at = _page("pages/runs.py", home, monkeypatch)
    assert not at.exception
    table = at.dataframe(key="runs_table").value
    assert set(table["sweep"]) == {sweep.name}
    assert all(r.startswith(f"{sweep.name}/") for r in table["run_id"])
    at.multiselect(key="f_sweep").select("(not in a sweep)").run()
    assert len(at.dataframe(key="runs_table").value) == 0


def test_a_sweep_whose_process_was_killed_shows_stopped_not_running(
    home: Path, tmp_path: Path, monkeypatch
) -> None:
    """sweep.json still says running after a kill -9; no process holds the sweep's lock, so the
    page says what was stopped (the lock's word, as `read_snapshot` gives it)."""
    (sweep,) = home.iterdir()
    killed = tmp_path / "home" / "killed"
    shutil.copytree(sweep, killed)
    state = json.loads((killed / "sweep.json").read_text())
    state["status"] = "running"
    state["cells"][1]["status"] = "running"
    (killed / "sweep.json").write_text(json.dumps(state))
    at = _page("pages/sweeps.py", tmp_path / "home", monkeypatch, sweep="killed")
    assert not at.exception
    (warning,) = [w.value for w in at.warning if w.value.startswith("Stopped")]
    assert warning.startswith("Stopped: cell 2 interrupted; 1 of 2 cells kept")


def test_a_running_cells_progress_reads_as_written_in_the_cells_table(
    home: Path, tmp_path: Path, monkeypatch
) -> None:
    """The progress column is a table cell, not markdown: "epoch 3/4", never "epoch 3\\/4"."""
    from bedash.store.lock import RunLock

    (sweep,) = home.iterdir()
    live = tmp_path / "home" / "live"
    shutil.copytree(sweep, live)
    state = json.loads((live / "sweep.json").read_text())
    state["status"] = "running"
    state["cells"][1]["status"] = "running"
    state["cells"][1]["progress"] = {"model": "batchensemble", "epoch": 3, "epochs": 4,
                                     "loss": 0.5}  # fmt: skip
    (live / "sweep.json").write_text(json.dumps(state))
    lock = RunLock(live)
    lock.acquire()  # a live process holds it: the sweep runs
    try:
        at = _page("pages/sweeps.py", tmp_path / "home", monkeypatch, sweep="live")
    finally:
        lock.release()
    assert not at.exception
    (cells,) = [d.value for d in at.dataframe if "progress" in d.value]
    shown = cells["progress"].tolist()[1]
    assert "epoch 3/4" in shown and "\\" not in shown, shown
