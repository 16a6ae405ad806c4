"""The run store: atomic writes, statuses, damaged runs, safe ids."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from bedash import atomic
from bedash.runs import (
    RunWriter,
    delete_run,
    list_runs,
    new_run_id,
    read_run,
    run_path,
    valid_run_id,
)


def _finished_run(path: Path) -> RunWriter:
    w = RunWriter(path)
    w.write_config({"models": ["single"]}, {"device": "cpu"})
    w.set_status("running")
    w.add_history([{"model": "single", "member": None, "epoch": 1, "loss": 1.5,
                    "epoch_seconds": 0.1, "samples_per_s": 10.0}])  # fmt: skip
    w.add_result({"model": "single", "status": "finished", "ensemble_acc": 0.5}, [])
    w.set_status("finished")
    return w


def _tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p).encode())
        if p.is_file():
            h.update(p.read_bytes())
            h.update(str(p.stat().st_mtime_ns).encode())
    return h.hexdigest()


def test_statuses_and_reasons(tmp_path: Path) -> None:
    _finished_run(tmp_path / "ok")
    w = RunWriter(tmp_path / "live")
    w.write_config({}, {})
    w.set_status("running")  # this very process: alive
    dead = RunWriter(tmp_path / "dead")
    dead.write_config({}, {})
    dead.set_status("running")
    status = json.loads((tmp_path / "dead" / "status.json").read_text())
    status["pid"] = 2**22 + 12345  # no such process (above the default pid_max)
    (tmp_path / "dead" / "status.json").write_text(json.dumps(status))
    dead.close()  # its process ended: the kernel dropped the lock
    _finished_run(tmp_path / "trunc")
    p = tmp_path / "trunc" / "results.csv"
    p.write_text(p.read_text()[:-5])
    _finished_run(tmp_path / "badjson")
    (tmp_path / "badjson" / "config.json").write_text('{"models": [')
    _finished_run(tmp_path / "nostatus")
    (tmp_path / "nostatus" / "status.json").unlink()
    _finished_run(tmp_path / "noresults")
    (tmp_path / "noresults" / "results.csv").unlink()
    _finished_run(tmp_path / "cells")
    (tmp_path / "cells" / "history.csv").write_text(
        "model,member,epoch,loss,epoch_seconds,samples_per_s\nsingle,,1\n"
    )
    before = _tree_digest(tmp_path)
    got = {r.run_id: r for r in list_runs(tmp_path)}
    assert _tree_digest(tmp_path) == before  # listing never modifies a run
    assert got["ok"].status == "finished"
    assert got["live"].status == "running"
    assert got["dead"].status == "interrupted"
    assert got["trunc"].status == "damaged" and "truncated" in got["trunc"].reason
    assert got["badjson"].status == "damaged" and "invalid JSON" in got["badjson"].reason
    assert got["nostatus"].status == "damaged" and "status.json" in got["nostatus"].reason
    assert got["noresults"].status == "damaged" and "results.csv" in got["noresults"].reason
    assert got["cells"].status == "damaged" and "wrong number of cells" in got["cells"].reason


def test_atomic_write_leaves_the_old_file_when_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "results.csv"
    atomic.atomic_write_text(target, "old\n")

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        atomic.atomic_write_text(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"]  # no temp file left


def test_run_ids_are_validated(tmp_path: Path) -> None:
    assert valid_run_id(new_run_id())
    for bad in ("", "..", "../etc", "a/b", "/abs", ".hidden", "a\\b", "x" * 200, "a\x00b"):
        assert not valid_run_id(bad), bad
        with pytest.raises(ValueError, match="invalid run id"):
            run_path(tmp_path, bad)
    assert run_path(tmp_path, "abc-1") == (tmp_path / "abc-1").resolve()


def test_delete_run(tmp_path: Path) -> None:
    _finished_run(tmp_path / "r1")
    (tmp_path / "plain").mkdir()
    with pytest.raises(ValueError, match="not found"):
        delete_run(tmp_path, "plain")
    with pytest.raises(ValueError, match="invalid run id"):
        delete_run(tmp_path, "..")
    delete_run(tmp_path, "r1")
    assert not (tmp_path / "r1").exists() and (tmp_path / "plain").exists()


def test_list_runs_of_missing_folder_is_empty(tmp_path: Path) -> None:
    assert list_runs(tmp_path / "none") == []
    assert read_run(tmp_path / "none").status == "damaged"


@pytest.mark.parametrize(
    ("name", "text", "reason"),
    [
        ("status.json", "[]", "not a JSON object"),
        ("status.json", '{"status": "exploded"}', "unknown status 'exploded'"),
        ("results.csv", "model,ensemble_acc\nsingle,0.5\n", "results.csv lacks columns"),
        ("config.json", "\udcff", "invalid JSON in config.json"),
        ("config.json", '{"models": 5}', "config.json has a bad 'models': 5"),
        (
            "history.csv",
            "model,member,epoch,loss,epoch_seconds,samples_per_s\nsingle,,1,abc,0.1,9\n",
            "history.csv line 2: loss 'abc' is not a number",
        ),
        ("config.json", '{"models": [1]}', "config.json has a bad 'models': [1]"),
        ("config.json", '{"members": "five"}', "config.json has a bad 'members'"),
        ("config.json", '{"extra": "notes", "_meta": []}', "config.json has a bad 'extra'"),
    ],
)
def test_more_kinds_of_damage_are_named(tmp_path: Path, name: str, text: str, reason: str) -> None:
    _finished_run(tmp_path / "r")
    (tmp_path / "r" / name).write_bytes(text.encode("utf-8", "surrogateescape"))
    before = _tree_digest(tmp_path)
    info = read_run(tmp_path / "r")
    assert info.status == "damaged" and reason in info.reason
    assert _tree_digest(tmp_path) == before
