"""The sweep folder has the run store's guarantees (issue 24): one writer at a time (the run
store's lock, held for the sweep's life), no write through a link, user files kept on resume,
and sweep.json read against its schema (a message naming the file and the field, never a
traceback nor statistics over a damaged grid)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bedash.sweep import cli as sweep_cli
from bedash.sweep.folder import SweepStore, read_snapshot, read_sweep_json
from bedash.sweep.grid import SweepError
from bedash.sweep.run import run_sweep
from tests.test_sweep import FakeEngine, cli, run_files, spec


def digest(folder: Path) -> dict[str, str]:
    """Every file under folder and a hash of its bytes: to show nothing there changed."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


class HeldEngine(FakeEngine):
    """Runs its first cell, then waits for `go` before the rest: the sweep holds its folder."""

    def __init__(self) -> None:
        super().__init__()
        self.holding, self.go = threading.Event(), threading.Event()

    def run(self, cells: list[Any], *, started: Any, ended: Any, cancel: Any, **_: Any) -> None:
        super().run(cells[:1], started=started, ended=ended, cancel=cancel)
        self.holding.set()
        self.go.wait(30)
        super().run(cells[1:], started=started, ended=ended, cancel=cancel)


# -- one writer ---------------------------------------------------------------------------------


def test_a_second_writer_of_a_sweep_folder_is_refused_naming_the_holder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sw"
    first = HeldEngine()
    thread = threading.Thread(target=run_sweep, args=(spec(), out, first))
    thread.start()
    try:
        assert first.holding.wait(30)
        second = FakeEngine()
        with pytest.raises(SweepError, match=rf"pid {os.getpid()} on ") as e:
            run_sweep(spec(), out, second)
        assert e.value.field == "out" and socket.gethostname() in e.value.message
        assert second.ran == []  # nothing trained twice
        code, err = cli(["--out", str(out), "--engine", "local", "--quiet"], capsys)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1, err
        assert lines[0].startswith("bedash sweep: error: --out: ") and "pid" in lines[0], err
    finally:
        first.go.set()
        thread.join(30)
    assert len(first.ran) == 6 and read_sweep_json(out)["status"] == "finished"
    again = FakeEngine()  # the lock ends with the sweep: resuming is allowed again
    assert run_sweep(spec(), out, again).status == "finished" and again.ran == []


# -- links and user files -----------------------------------------------------------------------


def test_resume_keeps_the_annotations_a_user_added_to_a_cell(tmp_path: Path) -> None:
    out, cid = tmp_path / "sw", spec().cells()[1].id
    run_sweep(spec(), out, FakeEngine(fail=(cid,)))
    note = json.dumps({"tags": ["look"], "notes": "why did this fail?"})
    (out / cid / "annotations.json").write_text(note, encoding="utf-8")
    again = FakeEngine()
    assert run_sweep(spec(), out, again).status == "finished" and again.ran == [cid]
    assert (out / cid / "annotations.json").read_text(encoding="utf-8") == note
    assert (out / cid / "results.csv").is_file()


@pytest.mark.parametrize("which", [0, 1])  # a done cell, a failed one
def test_resume_never_writes_through_a_cell_folder_replaced_by_a_link(
    tmp_path: Path, which: int
) -> None:
    out, cid = tmp_path / "sw", spec().cells()[which].id
    run_sweep(spec(), out, FakeEngine(fail=(spec().cells()[1].id,)))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "config.json").write_text('{"mine": 1}')
    (outside / "status.json").write_text('{"status": "failed"}')
    (outside / "annotations.json").write_text('{"notes": "x"}')
    before = digest(outside)
    for p in (out / cid).iterdir():
        p.unlink()
    (out / cid).rmdir()
    (out / cid).symlink_to(outside, target_is_directory=True)
    again = FakeEngine()
    with pytest.raises(SweepError, match="symbolic link") as e:
        run_sweep(spec(), out, again)
    assert e.value.field == "out" and cid in e.value.message
    assert again.ran == [] and digest(outside) == before


def test_write_run_never_writes_through_a_link_swapped_in_meanwhile(tmp_path: Path) -> None:
    s = spec()
    cell = s.cells()[0]
    store = SweepStore.open(tmp_path / "sw", s, s.cells())
    try:
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "results.csv").write_text("theirs\n")
        before = digest(outside)
        (tmp_path / "sw" / cell.id).symlink_to(outside, target_is_directory=True)
        with pytest.raises((OSError, ValueError), match="symbolic link"):
            store.write_run(cell.id, run_files(cell.config), {})
        assert digest(outside) == before
    finally:
        store.close()


# -- sweep.json's schema ------------------------------------------------------------------------


def _edit(state: dict[str, Any], what: str) -> str:
    """Damage state as a user's hand edit might; return the field the message must name."""
    cells = state["cells"]
    if what == "seeds twice":
        state["seeds"] = [0, 0, 1]
        return "seeds"
    if what == "seed not a number":
        state["seeds"] = [0, "1", 2]
        return "seeds"
    if what == "cells not a list":
        state["cells"] = {"a": 1}
        return "cells"
    if what == "cell without status":
        del cells[1]["status"]
        return "status"
    if what == "cell without seed":
        del cells[2]["seed"]
        return "seed"
    if what == "unknown status":
        cells[0]["status"] = "great"
        return "status"
    if what == "cell not an object":
        cells[3] = "c01"
        return "cells"
    if what == "cell twice":
        cells[4] = dict(cells[3])
        return "id"
    if what == "cell of another seed":
        cells[0]["seed"] = 7
        return "seed"
    if what == "grid not an object":
        state["grid"] = [1, 2]
        return "grid"
    raise AssertionError(what)


EDITS = ["seeds twice", "seed not a number", "cells not a list", "cell without status",
         "cell without seed", "unknown status", "cell not an object", "cell twice",
         "cell of another seed", "grid not an object"]  # fmt: skip


@pytest.mark.parametrize("what", EDITS)
def test_a_hand_edited_sweep_json_is_refused_naming_the_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], what: str
) -> None:
    out = tmp_path / "sw"
    run_sweep(spec(), out, FakeEngine())
    state = json.loads((out / "sweep.json").read_text())
    field = _edit(state, what)
    (out / "sweep.json").write_text(json.dumps(state))
    before = digest(out)
    with pytest.raises(SweepError, match="sweep.json") as e:
        read_sweep_json(out)
    assert field in e.value.message and e.value.field == "out"
    with pytest.raises(SweepError, match="sweep.json"):
        run_sweep(spec(), out, FakeEngine())
    code, err = cli(["--out", str(out), "--engine", "local", "--quiet"], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("bedash sweep: error: --out: ") and "sweep.json" in lines[0]
    snap = read_snapshot(out)  # the pages: a failed sweep with the reason, no traceback
    assert snap.status == "failed" and "sweep.json" in snap.error
    assert digest(out) == before  # nothing written, summary.csv not recomputed


def _check_any(out: Path) -> None:
    try:
        state = read_sweep_json(out)
    except SweepError as e:
        assert e.field == "out" and "sweep.json" in e.message
        return
    assert isinstance(state["cells"], list) and len(set(state["seeds"])) == len(state["seeds"])


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=400))
def test_any_bytes_as_sweep_json_give_a_spec_or_a_sweep_error(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "sweep.json").write_bytes(data)
    _check_any(tmp_path)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 2**40) | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=8,
)  # fmt: skip


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=st.sampled_from([("format",), ("version",), ("status",), ("base",), ("grid",),
                             ("seeds",), ("cells",), ("grid", "members"), ("seeds", 1),
                             ("cells", 0), ("cells", 1, "status"), ("cells", 2, "seed"),
                             ("cells", 3, "id"), ("cells", 4, "config"), ("base", "lr"),
                             ("follow",)]),
       value=JSON)  # fmt: skip
def test_any_value_in_any_field_of_sweep_json_gives_a_spec_or_a_sweep_error(
    tmp_path: Path, path: tuple[Any, ...], value: Any
) -> None:
    s = spec()
    state = {"format": "bedash-sweep", "version": 1, "status": "finished", **s.to_dict()}
    state["cells"] = [{"id": c.id, "config": c.config_index, "values": c.values, "seed": c.seed,
                       "status": "pending", "attempts": 0} for c in s.cells()]  # fmt: skip
    target = state
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    (tmp_path / "sweep.json").write_text(json.dumps(state))
    _check_any(tmp_path)


def test_resuming_a_sweep_json_with_a_bad_setting_names_the_file_not_a_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sw"
    run_sweep(spec(), out, FakeEngine())
    state = json.loads((out / "sweep.json").read_text())
    state["base"]["lr"], state["grid"]["members"] = -1.0, [2, 100]
    (out / "sweep.json").write_text(json.dumps(state))
    code, err = cli(["--out", str(out), "--engine", "local", "--quiet"], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("bedash sweep: error: --out: "), err
    assert "sweep.json" in lines[0] and ("lr" in lines[0] or "members" in lines[0]), err


def test_a_write_that_fails_in_the_sweep_folder_is_one_line_exit_1_and_keeps_the_cells(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out, cid = tmp_path / "sw", spec().cells()[0].id
    run_sweep(spec(), out, FakeEngine(fail=(cid,)))
    (out / "summary.csv").unlink()
    (out / "summary.csv").mkdir()  # it cannot be replaced now: as a failing disk would do
    engine = FakeEngine()
    engine.close = lambda: None  # type: ignore[attr-defined]  # what the CLI's engines have
    monkeypatch.setattr(sweep_cli, "make_engine", lambda *a: engine)
    code, err = cli(["--out", str(out), "--engine", "local", "--quiet"], capsys)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1, err
    assert lines[0].startswith("bedash sweep: failed: ") and "summary.csv" in lines[0], err
    state = read_sweep_json(out)  # whole, and the cell that ran is kept
    assert [c["status"] for c in state["cells"]].count("finished") == 6 and engine.ran == [cid]


def test_a_sweep_json_of_thousands_of_cells_reads_back(tmp_path: Path) -> None:
    """--max-cells allows 10,000 cells: their sweep.json (over the run files' 1 MiB cap) must
    read back, or the sweep could never be resumed or shown."""
    from bedash.settings.config import RunConfig
    from bedash.sweep.folder import SweepStore, read_sweep_json
    from bedash.sweep.grid import SweepSpec

    spec = SweepSpec(RunConfig(dataset="synthetic"), {}, list(range(10_000)))  # the ceiling
    SweepStore.open(tmp_path / "sw", spec, spec.cells()).close()
    assert (tmp_path / "sw" / "sweep.json").stat().st_size > 1 << 20
    assert len(read_sweep_json(tmp_path / "sw")["cells"]) == 10_000
