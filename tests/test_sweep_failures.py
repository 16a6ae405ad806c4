"""Issue 24: failures of the machine during a sweep are named (a full disk, a sweep folder moved
or deleted, a Ray that breaks: one line, exit 1, the cells done kept, the running cell
interrupted and resumable); a sweep is checked like `train` before its folder exists (its
data, its device, its output place); sweep.json's size is counted before anything is built;
a sweep folder is no run folder.

Tests run as root, which chmod does not stop: an unwritable folder is simulated
(tests/test_listings.py, `unwritable`), a full disk by making the store's atomic write raise
ENOSPC."""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bedash.dashboard.rundata import find_run
from bedash.store import atomic
from bedash.store.folders import is_run_dir
from bedash.store.runs import list_runs
from bedash.sweep import cli as sweep_cli
from bedash.sweep.folder import read_snapshot, read_sweep_json
from bedash.sweep.run import run_sweep
from tests.test_runs import _finished_run
from tests.test_sweep import TINY, FakeEngine, cli, spec
from tests.test_sweep_folder import digest

GRID = [*TINY, "--members", "2,4", "--seeds", "0-2"]  # spec(): 6 cells
CELLS = [c.id for c in spec().cells()]


class Breaks(FakeEngine):
    """FakeEngine that calls `then()` once its first cell has ended (or, `running`, once the
    second has started): the disk fills, the folder goes, Ray breaks."""

    def __init__(
        self, then: Callable[[], None] = lambda: None, name: str = "fake", running: bool = False
    ) -> None:
        super().__init__()
        self.then, self.name, self.running = then, name, running
        self.close = lambda: None  # what the CLI's engines have

    def run(self, cells: list[Any], *, started: Any, ended: Any, cancel: Any, **_: Any) -> None:
        def started_then(cell_id: str, info: Any) -> None:
            started(cell_id, info)
            if self.running and len(self.ran) == 1:
                self.then()

        def ended_then(outcome: Any, info: Any) -> None:
            ended(outcome, info)
            if not self.running and len(self.ran) == 1:
                self.then()

        super().run(cells, started=started_then, ended=ended_then, cancel=cancel)


def sweep_with(
    engine: FakeEngine, argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> tuple[int, str]:
    monkeypatch.setattr(sweep_cli, "make_engine", lambda *a: engine)
    code, err = cli(argv, capsys)
    assert "Traceback" not in err
    return code, err.strip()


def statuses(out: Path) -> list[str]:
    return [c["status"] for c in json.loads((out / "sweep.json").read_text())["cells"]]


def resume_finishes(
    out: Path, argv: list[str], kept: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """The same command again runs only the cells not done, and keeps the first cell."""
    engine = Breaks()
    code, err = sweep_with(engine, argv, monkeypatch, capsys)
    assert code == 0, err
    assert engine.ran == CELLS[1:]
    assert statuses(out) == ["finished"] * 6
    assert digest(out / CELLS[0]) == kept


def full_disk(monkeypatch: pytest.MonkeyPatch, which: Callable[[Path], bool]) -> Callable[[], None]:
    """A disk that fills when the returned function is called: from then on, every atomic
    write of a path `which` accepts raises ENOSPC."""
    real, full = atomic.atomic_write, []

    def write(path: Any, *args: Any, **kwargs: Any) -> None:
        if full and which(Path(path)):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, *args, **kwargs)

    monkeypatch.setattr(atomic, "atomic_write", write)
    return lambda: full.append(True)


# -- failures of the machine during a sweep ------------------------------------------------------


def test_a_disk_that_fills_after_the_first_cell_stops_the_sweep_in_one_line_and_it_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The second cell's files cannot be written (sweep.json still can): one line naming the
    failure and the file, exit 1, the first cell byte-identical, the second `interrupted` (it
    was left `running`, after a traceback), the rest pending; the same command finishes it."""
    out = tmp_path / "sw"
    argv = [*GRID, "--out", str(out)]
    kept: dict[str, str] = {}
    fill = full_disk(monkeypatch, lambda p: p.parent.name.startswith("c0"))  # a cell's files
    engine = Breaks(lambda: (kept.update(digest(out / CELLS[0])), fill()))
    code, err = sweep_with(engine, argv, monkeypatch, capsys)
    assert code == 1
    assert err.splitlines() == [
        f"bedash sweep: failed: no space left on device writing {out / CELLS[1]}/config.json; "
        "1 of 6 cells done are kept; resume with the same command"
    ]
    assert engine.ran == CELLS[:2]  # no cell after the failure
    assert statuses(out) == ["finished", "interrupted", *["pending"] * 4]
    assert read_sweep_json(out)["status"] == "interrupted"
    assert digest(out / CELLS[0]) == kept
    monkeypatch.undo()  # the disk has room again
    resume_finishes(out, argv, kept, monkeypatch, capsys)


def test_a_disk_too_full_for_sweep_json_is_still_one_line_and_the_sweep_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing can be written after the first cell, sweep.json included: one line naming it,
    exit 1; sweep.json keeps its last whole version (the first cell finished), no reader sees
    a cell or the sweep `running` (no live process writes the folder), and it resumes."""
    out = tmp_path / "sw"
    argv = [*GRID, "--out", str(out)]
    kept: dict[str, str] = {}
    fill = full_disk(monkeypatch, lambda p: True)
    engine = Breaks(lambda: (kept.update(digest(out / CELLS[0])), fill()))
    code, err = sweep_with(engine, argv, monkeypatch, capsys)
    assert code == 1
    assert err.splitlines() == [
        f"bedash sweep: failed: no space left on device writing {out}/sweep.json; "
        "1 of 6 cells done are kept; resume with the same command"
    ]
    state = read_sweep_json(out)  # whole, and valid
    assert state["cells"][0]["status"] == "finished"
    snap = read_snapshot(out)
    assert snap.status == "interrupted" and "running" not in [c["status"] for c in snap.cells]
    assert snap.done == 1
    monkeypatch.undo()
    resume_finishes(out, argv, kept, monkeypatch, capsys)


@pytest.mark.parametrize(("running", "second"), [(True, "interrupted"), (False, "pending")])
def test_a_sweep_folder_moved_mid_sweep_is_named_and_its_cells_resume_there(
    running: bool, second: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Renamed while the second cell runs (or before it starts: it never starts): one line
    saying so, exit 1; sweep.json at the folder's new place says the second cell was
    interrupted (never `running`), the first cell is intact, and `--out NEW` finishes the rest."""
    out, moved = tmp_path / "sw", tmp_path / "moved"
    kept: dict[str, str] = {}
    engine = Breaks(
        lambda: (kept.update(digest(out / CELLS[0])), out.rename(moved)), running=running
    )
    code, err = sweep_with(engine, [*GRID, "--out", str(out)], monkeypatch, capsys)
    assert code == 1
    assert err.splitlines() == [
        f"bedash sweep: failed: the sweep folder {out} was moved while the sweep ran; "
        "1 of 6 cells done are kept in it; resume with --out at its new place"
    ]
    assert not out.exists()
    assert engine.ran == CELLS[: 1 + running]
    assert statuses(moved) == ["finished", second, *["pending"] * 4]
    assert read_sweep_json(moved)["status"] == "interrupted"
    resume_finishes(moved, [*GRID, "--out", str(moved)], kept, monkeypatch, capsys)


def test_a_sweep_folder_deleted_mid_sweep_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sw"
    engine = Breaks(lambda: shutil.rmtree(out))
    code, err = sweep_with(engine, [*GRID, "--out", str(out)], monkeypatch, capsys)
    assert code == 1
    assert err.splitlines() == [
        f"bedash sweep: failed: the sweep folder {out} was deleted while the sweep ran"
    ]
    assert not out.exists()


class RaySystemError(Exception):
    """As ray.exceptions.RaySystemError: the raylet or the GCS is gone."""


def test_a_ray_that_breaks_mid_sweep_is_one_line_and_the_sweep_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The engine raises while the second cell runs (it was a traceback, the cell left
    `running`): one line naming the engine and its error, exit 1, the cell interrupted."""
    out = tmp_path / "sw"
    argv = [*GRID, "--out", str(out)]

    def breaks() -> None:
        raise RaySystemError("System error: the raylet died\nmore lines of Ray's")

    class Broken(Breaks):
        def run(self, cells: list[Any], *, started: Any, ended: Any, cancel: Any, **_: Any) -> None:
            for cell in cells[:1]:
                super().run([cell], started=started, ended=ended, cancel=cancel)
            started(cells[1].id, {"node": "n1"})
            breaks()

    engine = Broken(name="ray")
    code, err = sweep_with(engine, argv, monkeypatch, capsys)
    kept = digest(out / CELLS[0])
    assert code == 1
    assert err.splitlines() == [
        "bedash sweep: failed: the ray engine failed (RaySystemError: System error: the raylet "
        "died); 1 of 6 cells done are kept; resume with the same command"
    ]
    assert statuses(out) == ["finished", "interrupted", *["pending"] * 4]
    resume_finishes(out, argv, kept, monkeypatch, capsys)


def test_run_sweep_raises_one_named_error_for_a_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The library (and the dashboard's sweep jobs) get the same: SweepStopped with the line."""
    from bedash.sweep.grid import SweepStopped

    out = tmp_path / "sw"
    fill = full_disk(monkeypatch, lambda p: p.parent.name.startswith("c0"))
    with pytest.raises(SweepStopped, match="^no space left on device writing .*; 1 of 6 cells"):
        run_sweep(spec(), out, Breaks(fill))
    assert statuses(out)[:2] == ["finished", "interrupted"]


# -- checked like train, before the sweep folder exists --------------------------------------------


def no_engine(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("an engine was made: the sweep went past its checks")


@pytest.mark.parametrize("engine", ["local", "ray"])
def test_a_missing_dataset_folder_is_refused_like_train_before_any_folder(
    engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """It made a sweep folder of failed cells and exited 1. Ray on this machine (no --address):
    the cells read this machine's disk, so the same check applies."""
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(sweep_cli, "make_engine", no_engine)
    out, nope = tmp_path / "sw", tmp_path / "nope"
    argv = [*TINY[:-3], "--quiet", "--engine", engine, "--dataset", str(nope), "--seeds", "0"]
    code, err = cli([*argv, "--out", str(out)], capsys)
    assert code == 2
    assert err.strip().splitlines() == [
        f"bedash sweep: error: --dataset: folder {nope} does not exist "
        "(use cifar10, synthetic or an image folder)"
    ]
    assert not out.exists()


def test_cuda_without_cuda_is_refused_like_train_before_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bedash.method import devices

    monkeypatch.setattr(devices, "available_devices", lambda: ["cpu"])
    monkeypatch.setattr(sweep_cli, "make_engine", no_engine)
    out = tmp_path / "sw"
    argv = [*TINY[:-3], "--quiet", "--engine", "local", "--device", "cuda", "--seeds", "0"]
    code, err = cli([*argv, "--out", str(out)], capsys)
    assert code == 2
    assert err.strip().splitlines() == [
        "bedash sweep: error: --device: 'cuda' is not available here; available: auto, cpu"
    ]
    assert not out.exists()


def test_a_ray_cluster_s_cells_are_not_checked_against_this_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --address the cells run on the cluster's workers, whose disks and devices are not
    the driver's: a folder missing here is no reason to refuse (the cell says so if it is
    missing there too). The engine is made (here: refused as unreachable)."""
    from bedash.sweep.grid import SweepError

    def unreachable(*args: Any, **kwargs: Any) -> None:
        raise SweepError("address", "cannot reach a Ray cluster (test)")

    monkeypatch.setattr(sweep_cli, "make_engine", unreachable)
    argv = [*TINY[:-3], "--quiet", "--engine", "ray", "--address", "10.0.0.1:6379", "--dataset",
            str(tmp_path / "nope"), "--seeds", "0", "--out", str(tmp_path / "sw")]  # fmt: skip
    code, err = cli(argv, capsys)
    assert code == 2
    assert err.strip().splitlines() == [
        "bedash sweep: error: --address: cannot reach a Ray cluster (test)"
    ]


# -- sweep.json's size, counted before anything is built ------------------------------------------


@pytest.mark.parametrize(
    ("field", "grid", "seeds", "says"),
    [
        ("grid", {"lr": [i / 1e4 + 1e-4 for i in range(200)], "hidden": list(range(1, 201))},
         [0, 1, 2], "the grid has 120000 cells (40000 configs x 3 seeds)"),
        ("grid", {"lr": [i / 1e4 + 1e-4 for i in range(1000)], "hidden": list(range(1, 1001)),
                  "epochs": list(range(1, 1001))},
         [0], "the grid has 1000000000 cells (1000000000 configs x 1 seeds)"),
        ("seeds", {}, list(range(20000)), "the grid has 20000 cells (1 configs x 20000 seeds)"),
    ],
    ids=["grid", "huge-grid", "seeds"],
)  # fmt: skip
def test_a_sweep_json_edited_to_a_huge_grid_is_refused_naming_the_file_before_building_it(
    field: str, grid: dict[str, list[Any]], seeds: list[int], says: str,
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """A resume reads the grid and seeds from sweep.json: its size is counted (check_size,
    against the ceiling of --max-cells) before a config or a cell is listed."""
    out = tmp_path / "sw"
    run_sweep(spec(), out, FakeEngine())
    state = json.loads((out / "sweep.json").read_text())
    state["grid"], state["seeds"] = grid, seeds
    state["cells"] = state["cells"][:1]
    (out / "sweep.json").write_text(json.dumps(state))
    t0 = time.perf_counter()
    code, err = cli(["--out", str(out), "--engine", "local", "--quiet"], capsys)
    assert time.perf_counter() - t0 < 5.0  # counted, not listed
    assert code == 2
    assert err.strip().splitlines() == [
        f"bedash sweep: error: --out: {out}/sweep.json has a bad '{field}': {says}, more than "
        "the limit of 10000"
    ]


# -- a sweep folder is no run folder -----------------------------------------------------------


def test_a_sweep_folder_is_no_run_folder_though_it_has_the_lock(tmp_path: Path) -> None:
    """By its own marker, sweep.json: `?run=<sweep>` opened it as a damaged run, and a link to
    it in the runs folder was listed as a damaged run. Its cells are runs."""
    runs = tmp_path / "runs"
    _finished_run(runs / "20260101-000000-aaaaaa")
    sweep = runs / "20260102-000000-bbbbbb"
    run_sweep(spec(), sweep, FakeEngine())
    assert (sweep / ".bedash.lock").is_file()
    (runs / "linked").symlink_to(sweep)
    assert not is_run_dir(sweep) and not is_run_dir(runs / "linked")
    assert is_run_dir(runs / "20260101-000000-aaaaaa") and is_run_dir(sweep / CELLS[0])
    assert [r.run_id for r in list_runs(runs)] == ["20260101-000000-aaaaaa"]
    assert find_run(runs, sweep.name) is None and find_run(runs, "linked") is None
    assert find_run(runs, "20260101-000000-aaaaaa") == runs / "20260101-000000-aaaaaa"


def test_a_sweep_folder_with_a_damaged_sweep_json_is_still_no_run(tmp_path: Path) -> None:
    sweep = tmp_path / "sw"
    run_sweep(spec(), sweep, FakeEngine())
    (sweep / "sweep.json").write_text("{ cut")
    assert not is_run_dir(sweep)
    os.unlink(sweep / "sweep.json")
    os.mkfifo(sweep / "sweep.json")
    assert not is_run_dir(sweep)


# -- output places: the one check of every command (check_output_place) --------------------------


@pytest.mark.parametrize("flag", ["--out", "--sweeps-dir"])
def test_a_sweep_on_a_read_only_file_system_is_exit_2_naming_the_flag(
    flag: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """EROFS (simulated: root writes anywhere) for every file or folder made under ro/."""
    ro = tmp_path / "ro"
    ro.mkdir()
    real_open, real_mkdir = os.open, os.mkdir

    def under_ro(p: Any) -> bool:
        return not isinstance(p, int) and ro in Path(os.path.abspath(os.fsdecode(p))).parents

    def read_only(p: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_CREAT and under_ro(p):
            raise OSError(errno.EROFS, "Read-only file system", p)
        return real_open(p, flags, *args, **kwargs)

    def no_mkdir(p: Any, *args: Any, **kwargs: Any) -> None:
        if under_ro(p):
            raise OSError(errno.EROFS, "Read-only file system", p)
        real_mkdir(p, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    monkeypatch.setattr(os, "mkdir", no_mkdir)
    monkeypatch.setattr(sweep_cli, "make_engine", no_engine)
    code, err = cli([*TINY, "--seeds", "0", flag, str(ro / "x")], capsys)
    assert code == 2
    assert err.strip().splitlines() == [
        f"bedash sweep: error: {flag}: cannot write in {ro}: Read-only file system"
    ]
    assert list(ro.iterdir()) == []


def test_sweep_out_alone_with_a_name_too_long_is_exit_2_naming_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sweep --out DIR` alone (a resume) looks into DIR first: checked before (it was
    `failed: [Errno 36] File name too long`, exit 1)."""
    code, err = cli(["--out", str(tmp_path / ("x" * 300) / "sw")], capsys)
    assert code == 2
    assert err.strip().splitlines() == [
        f"bedash sweep: error: --out: the name '{'x' * 40}…' has 300 bytes, more than 255"
    ]


def test_bad_input_an_engine_finds_late_stays_bad_input(tmp_path: Path) -> None:
    """An engine that refuses its settings when it starts (an unreachable --address) raises
    SweepError naming the setting, as before: that is not a failure of the machine."""
    from bedash.sweep.grid import SweepError

    class Refuses(FakeEngine):
        def run(self, cells: list[Any], *, started: Any, ended: Any, cancel: Any, **_: Any) -> None:
            raise SweepError("address", "cannot reach a Ray cluster at 10.0.0.1:6379")

    with pytest.raises(SweepError) as e:
        run_sweep(spec(), tmp_path / "sw", Refuses())
    assert e.value.field == "address"
    assert set(statuses(tmp_path / "sw")) == {"pending"}
