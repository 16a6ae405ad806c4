"""The run store: atomic writes, statuses, damaged runs, safe ids."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bedash import atomic
from bedash.lock import LOCK_NAME, process_start_ticks
from bedash.runs import (
    RunDirError,
    RunWriter,
    check_out_dir,
    delete_run,
    is_run_dir,
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


# -- a run is a folder bedash wrote; --overwrite removes only bedash's files ----------------------


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("config.json", '{"lr": 0.1, "model": "resnet"}'),  # another tool's config
        ("status.json", '{"status": "finished"}'),  # another tool's status, a known word
        ("config.json", '{"_meta": {"device": "cpu"}}'),  # _meta, but bedash's name missing
    ],
)
def test_someone_elses_config_or_status_is_not_a_run(tmp_path: Path, name: str, text: str) -> None:
    folder = tmp_path / "theirs"
    folder.mkdir()
    (folder / name).write_text(text)
    (folder / "results.csv").write_text("their,results\n")
    before = _tree_digest(tmp_path)
    assert not is_run_dir(folder)
    with pytest.raises(RunDirError, match="holds no bedash run") as info:
        RunWriter(folder, overwrite=True)
    assert info.value.field == "out" and str(info.value).startswith("out: ")
    assert _tree_digest(tmp_path) == before  # nothing touched, not even a lock file
    assert read_run(folder).status == "damaged"
    assert "not a bedash run" in read_run(folder).reason


def test_runs_of_this_version_without_a_lock_file_are_still_runs(tmp_path: Path) -> None:
    """Runs written before the lock existed: their config's _meta names bedash."""
    _finished_run(tmp_path / "old")
    (tmp_path / "old" / LOCK_NAME).unlink()
    assert is_run_dir(tmp_path / "old") and read_run(tmp_path / "old").status == "finished"
    status = tmp_path / "old" / "status.json"
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    assert config["_meta"]["bedash"]  # the signature every run carries
    (tmp_path / "old" / "config.json").write_text("{broken")
    assert is_run_dir(tmp_path / "old")  # status.json of bedash's shape is enough
    status.write_text("[]")
    assert not is_run_dir(tmp_path / "old")


def test_overwrite_removes_only_bedash_files_and_only_at_the_first_write(tmp_path: Path) -> None:
    run = tmp_path / "r"
    _finished_run(run)
    (run / "agreement_single.csv").write_text("member,0\n0,1.0\n")
    (run / ".results.csv.abc123.tmp").write_text("half")  # left by a kill -9 mid-write
    (run / "notes.txt").write_text("keep me")
    (run / "config.json.bak").write_text("keep me too")
    old = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    w = RunWriter(run, overwrite=True)
    assert {
        p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != LOCK_NAME
    } == {k: v for k, v in old.items() if k != LOCK_NAME}  # still the earlier run, whole
    w.write_config({"models": ["single"]}, {})
    names = {p.name for p in run.iterdir()}
    assert names == {"config.json", "notes.txt", "config.json.bak", LOCK_NAME}
    w.close()


# -- a live run is never written by another process -------------------------------------------


def test_a_live_run_is_refused_with_or_without_overwrite(tmp_path: Path) -> None:
    live = RunWriter(tmp_path / "r")
    live.write_config({"models": ["single"]}, {})
    live.set_status("running")
    before = _tree_digest(tmp_path)
    for overwrite in (False, True):
        with pytest.raises(RunDirError, match="is being written by another bedash run") as info:
            RunWriter(tmp_path / "r", overwrite=overwrite)
        assert f"pid {os.getpid()} on " in str(info.value) and info.value.field == "out"
        with pytest.raises(RunDirError, match="is being written"):
            check_out_dir(tmp_path / "r", overwrite)
    with pytest.raises(ValueError, match="is being written"):
        delete_run(tmp_path, "r")
    assert _tree_digest(tmp_path) == before
    assert read_run(tmp_path / "r").status == "running"
    live.set_status("cancelled")  # the final status releases the lock
    assert read_run(tmp_path / "r").status == "cancelled"
    RunWriter(tmp_path / "r", overwrite=True).close()


def test_a_lock_just_taken_reads_as_running_not_damaged(tmp_path: Path) -> None:
    w = RunWriter(tmp_path / "r")  # locked; nothing written yet
    assert read_run(tmp_path / "r").status == "running"
    w.close()


def _status_of(path: Path) -> dict:
    return json.loads((path / "status.json").read_text())


def _unlocked_running_run(path: Path, **status: object) -> None:
    """A run left `running` by a process of an earlier version (no lock file)."""
    w = RunWriter(path)
    w.write_config({"models": ["single"]}, {})
    w.set_status("running")
    w.close()
    (path / LOCK_NAME).unlink()
    (path / "status.json").write_text(json.dumps({**_status_of(path), **status}))


def test_a_stale_run_is_found_by_process_identity_not_by_pid(tmp_path: Path) -> None:
    me = os.getpid()
    start = process_start_ticks(me)
    assert start is not None
    _unlocked_running_run(tmp_path / "me", pid=me, pid_start=start)
    assert read_run(tmp_path / "me").status == "running"  # same pid, same start: alive
    # a crash and restart: the pid is alive again, but it is another process
    _unlocked_running_run(tmp_path / "reused", pid=me, pid_start=start - 1)
    # pid 1 in a container: alive, started after the run (an earlier version's record)
    _unlocked_running_run(
        tmp_path / "pid1", pid=1, pid_start=None, started="2000-01-01T00:00:00+00:00"
    )
    _unlocked_running_run(tmp_path / "reboot", pid=me, pid_start=start, boot_id="another-boot")
    _unlocked_running_run(tmp_path / "elsewhere", pid=me, host="another-host")
    for name in ("reused", "pid1", "reboot", "elsewhere"):
        info = read_run(tmp_path / name)
        assert (info.status, info.reason) == (
            "interrupted",
            "the process that ran it stopped before it finished",
        ), name
        check_out_dir(tmp_path / name, overwrite=True)  # may be overwritten
    delete_run(tmp_path, "pid1")  # and deleted
    assert not (tmp_path / "pid1").exists()
    with pytest.raises(ValueError, match="is being written"):
        delete_run(tmp_path, "me")


def test_a_released_lock_means_interrupted_whatever_the_pid(tmp_path: Path) -> None:
    """The lock file decides where there is one: this live process's pid does not keep a run
    whose writer released the lock (a job that failed without its final status) running."""
    w = RunWriter(tmp_path / "r")
    w.write_config({}, {})
    w.set_status("running")
    w.close()
    assert read_run(tmp_path / "r").status == "interrupted"
    delete_run(tmp_path, "r")
    assert not (tmp_path / "r").exists()


@pytest.mark.slow  # a subprocess
def test_a_run_locked_by_another_process_is_refused_until_that_process_dies(
    tmp_path: Path,
) -> None:
    code = (
        "import sys, time; from bedash.runs import RunWriter\n"
        "w = RunWriter(sys.argv[1]); w.write_config({}, {}); w.set_status('running')\n"
        "print('ready', flush=True); time.sleep(120)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path / "r")],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        assert read_run(tmp_path / "r").status == "running"
        with pytest.raises(RunDirError, match=f"pid {proc.pid} on "):
            RunWriter(tmp_path / "r", overwrite=True)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert read_run(tmp_path / "r").status == "interrupted"  # the kernel dropped its lock
    RunWriter(tmp_path / "r", overwrite=True).close()


# -- the earlier run survives a run that never started ---------------------------------------


def test_cancel_before_the_run_starts_leaves_the_earlier_run_whole(
    tmp_path: Path, tiny_cfg
) -> None:
    from bedash.experiment import run_experiment

    run = tmp_path / "r"
    assert run_experiment(tiny_cfg.replace(models=("single",)), run).status == "finished"
    before = _tree_digest(tmp_path)
    cancel = threading.Event()
    cancel.set()  # Ctrl-C while the data loaded
    res = run_experiment(tiny_cfg, run, overwrite=True, cancel=cancel)
    assert (res.status, res.written, res.rows) == ("cancelled", False, [])
    assert res.error == "stopped before the run started; nothing was written"
    assert _tree_digest(tmp_path) == before
    assert read_run(run).status == "finished"


# -- run folder names: one rule everywhere ---------------------------------------------------


@pytest.mark.parametrize("name", ["my run", "résumé", "run\n1", ".hidden", "-x", "a" * 129])
def test_a_run_folder_name_outside_the_rule_is_refused_before_anything_is_written(
    tmp_path: Path, tiny_cfg, name: str
) -> None:
    from bedash.experiment import run_experiment

    with pytest.raises(RunDirError) as info:
        run_experiment(tiny_cfg, tmp_path / name)
    assert info.value.field == "out"
    assert (
        "is not allowed: use 1 to 128 ASCII letters, digits, '.', '_' or '-', starting with "
        "a letter or digit" in info.value.message
    )
    assert "\n" not in info.value.message
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RunDirError):
        RunWriter(tmp_path / name)
