"""The run store: atomic writes, statuses, damaged runs, safe ids."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import threading
import unicodedata
from pathlib import Path

import pytest

from bedash.names import RESULT_COLUMNS
from bedash.store import atomic
from bedash.store.folders import (
    RunDirError,
    check_out_dir,
    new_run_id,
    run_path,
    valid_run_id,
    written_by_bedash,
)
from bedash.store.lock import LOCK_NAME
from bedash.store.runfiles import read_tables
from bedash.store.runs import delete_run, list_runs, read_run
from bedash.store.writer import RunWriter


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
    assert not written_by_bedash(folder)
    with pytest.raises(RunDirError, match="holds no bedash run") as info:
        RunWriter(folder, overwrite=True)
    assert info.value.field == "out" and str(info.value).startswith("out: ")
    assert _tree_digest(tmp_path) == before  # nothing touched, not even a lock file
    assert read_run(folder).status == "damaged"  # listed, for what it is: not a run


def test_a_folder_of_valid_files_someone_else_wrote_reads_as_not_a_bedash_run(
    tmp_path: Path,
) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "config.json").write_text('{"models": ["single"]}')
    (tmp_path / "r" / "status.json").write_text('{"status": "finished"}')
    (tmp_path / "r" / "results.csv").write_text("model,status\nsingle,finished\n")
    info = read_run(tmp_path / "r")
    assert (info.status, info.results) == ("damaged", [])
    assert info.reason == "not a bedash run (no config.json or status.json that bedash wrote)"


def test_runs_of_this_version_without_a_lock_file_are_still_runs(tmp_path: Path) -> None:
    """A run folder that lost its lock file (copied without hidden files): its config's _meta
    names bedash, or its status.json has bedash's shape."""
    _finished_run(tmp_path / "old")
    (tmp_path / "old" / LOCK_NAME).unlink()
    assert written_by_bedash(tmp_path / "old")
    assert read_run(tmp_path / "old").status == "finished"
    status = tmp_path / "old" / "status.json"
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    assert config["_meta"]["bedash"]  # the signature every run carries
    (tmp_path / "old" / "config.json").write_text("{broken")
    assert written_by_bedash(tmp_path / "old")  # status.json of bedash's shape is enough
    status.write_text("[]")
    assert not written_by_bedash(tmp_path / "old")


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


def test_the_holder_is_named_only_from_a_record_of_its_shape(tmp_path: Path) -> None:
    live = RunWriter(tmp_path / "r")
    (tmp_path / "r" / LOCK_NAME).write_text('{"pid": true, "host": "\\u001b[2J"}')
    with pytest.raises(RunDirError, match=r"another bedash run \(another process\)"):
        RunWriter(tmp_path / "r")
    (tmp_path / "r" / LOCK_NAME).write_text('{"pid": 7, "host": "\\u001b[2J"}')
    with pytest.raises(RunDirError, match=r"\(pid 7 on \\x1b\[2J\)"):
        RunWriter(tmp_path / "r")
    live.close()


def test_json_objects_are_checked_against_their_declared_keys() -> None:
    from bedash.store.readers import record_problem
    from bedash.store.runfiles import STATUS_JSON

    ok = {"status": "running", "started": "2026-12-07", "updated": "2026-12-07", "extra": [1]}
    assert record_problem("status.json", ok, STATUS_JSON) == ""
    assert record_problem("status.json", [ok], STATUS_JSON) == "status.json is not a JSON object"
    assert (
        record_problem("status.json", {**ok, "status": "exploded"}, STATUS_JSON)
        == "status.json has a bad 'status': \"exploded\""
    )
    assert (
        record_problem("status.json", {**ok, "started": None}, STATUS_JSON)
        == "status.json has no 'started'"
    )
    assert record_problem("status.json", {**ok, "updated": 5}, STATUS_JSON).endswith("'updated': 5")


def test_a_lock_just_taken_reads_as_running_not_damaged(tmp_path: Path) -> None:
    w = RunWriter(tmp_path / "r")  # locked; nothing written yet
    assert read_run(tmp_path / "r").status == "running"
    w.close()


def _status_of(path: Path) -> dict:
    return json.loads((path / "status.json").read_text())


def test_a_running_run_without_a_lock_file_is_interrupted_whatever_the_pid(
    tmp_path: Path,
) -> None:
    """Only a held lock makes a run live: a `running` status.json that names this very (live)
    process but has no lock file beside it is a run nobody writes, which may be overwritten
    and deleted."""
    w = RunWriter(tmp_path / "r")
    w.write_config({"models": ["single"]}, {})
    w.set_status("running")
    w.close()
    (tmp_path / "r" / LOCK_NAME).unlink()
    assert _status_of(tmp_path / "r")["pid"] == os.getpid()
    info = read_run(tmp_path / "r")
    assert (info.status, info.reason) == (
        "interrupted",
        "the process that ran it stopped before it finished",
    )
    check_out_dir(tmp_path / "r", overwrite=True)  # may be overwritten
    delete_run(tmp_path, "r")  # and deleted
    assert not (tmp_path / "r").exists()


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
        "import sys, time; from bedash.store.writer import RunWriter\n"
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


# -- every file read is validated ------------------------------------------------------------

H = "model,status,ensemble_acc,nll\n"
RES = "results.csv"


@pytest.mark.parametrize(
    ("name", "text", "reason"),
    [
        (RES, H + "single,finished,abc,1\n", "ensemble_acc 'abc' is not a number"),
        (RES, H + "single,finished,inf,1\n", "ensemble_acc 'inf' is not a number"),
        (RES, H + "single,finished,nan,1\n", "ensemble_acc 'nan' is not a number"),
        (RES, H + "single,finished,1e999,1\n", "is not a finite number"),
        (RES, H + "single,finished,1.7,1\n", "ensemble_acc '1.7' is outside 0..1"),
        (RES, H + "single,finished,0.5\n", "line 2 has the wrong number of cells"),
        (RES, H + "single,exploded,0.5,1\n", "status 'exploded' is not one of"),
        (RES, H + "\x1b[2J,finished,0.5,1\n", "model '\\x1b[2J' is not a model"),
        ("results.csv", "model,ensemble_acc\nsingle,0.5\n", "results.csv lacks columns ['status']"),
        (RES, "model,status,members\nsingle,finished,1e3\n", "members '1e3' is not a whole"),
        ("results.csv", "model,status,members\nsingle,finished,0\n", "members '0' is outside 1.."),
        ("results.csv", "", "results.csv is empty"),
        ("results.csv", "model,status\n\x00\n", "results.csv"),
        ("members.csv", "model,member,accuracy,nll\nsingle,0,high,1\n", "accuracy 'high' is not"),
        ("members.csv", "model,member,accuracy\nsingle,0,1\n", "members.csv lacks columns ['nll']"),
        ("members.csv", "model,member,accuracy,nll\nsingle,-1,0.5,1\n", "member '-1' is outside"),
        ("history.csv", "model,member,epoch,loss,epoch_seconds,samples_per_s\nsingle,,1,1,nan,1\n",
         "epoch_seconds 'nan' is not a number"),
        ("agreement_single.csv", "member,0,1\n0,1,0.5\n", "has 1 rows for 2 members"),
        ("agreement_single.csv", "member,1\n0,1\n", "unexpected header"),
        ("agreement_single.csv", "member,0\n0,2\n", "0 '2' is outside 0..1"),
        ("reliability_single.csv", "bin,lower,upper,count,accuracy,confidence\n0,0,0.1,x,,\n",
         "count 'x' is not a whole number"),
        ("reliability_single.csv", "bin,lower\n0,0\n", "reliability_single.csv lacks columns"),
        ("config.json", '{"members": 10000000000000000000000000000000000000000}',
         "config.json has a bad 'members': 1000000000"),
        ("config.json", '{"members": true}', "config.json has a bad 'members': true"),
        ("config.json", '{"epochs": 2.5}', "config.json has a bad 'epochs': 2.5"),
        ("config.json", '{"lr": NaN}', "invalid JSON in config.json (NaN is not a number"),
        ("config.json", '{"lr": 1e999}', "config.json has a bad 'lr'"),
        ("config.json", '{"compile": "yes"}', "config.json has a bad 'compile'"),
        ("config.json", '{"models": ["a b"]}', "config.json has a bad 'models'"),
        ("config.json", "[" * 100_000, "invalid JSON in config.json (nested too deeply)"),
        ("config.json", '{"members": ' + "9" * 5000 + "}", "invalid JSON in config.json"),
        ("status.json", '{"status": "\\u001b[31m"}', "unknown status '\\x1b[31m' in status.json"),
        ("status.json", '{"status": 5}', "unknown status '5' in status.json"),
    ],
)  # fmt: skip
def test_every_file_is_validated_and_the_damage_named(
    tmp_path: Path, name: str, text: str, reason: str
) -> None:
    _finished_run(tmp_path / "r")
    (tmp_path / "r" / name).write_text(text)
    before = _tree_digest(tmp_path)
    info = read_run(tmp_path / "r")
    assert (info.status, info.results) == ("damaged", [])
    assert reason in info.reason, info.reason
    assert _tree_digest(tmp_path) == before


def _printable(text: str) -> bool:
    return all(
        unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Zl", "Zp", "Co", "Cn") for c in text
    )


def test_text_from_status_json_is_safe_to_print(tmp_path: Path) -> None:
    _finished_run(tmp_path / "r")
    status = json.loads((tmp_path / "r" / "status.json").read_text())
    status.update(status="failed", error="\x1b]0;pwned\x07\x1b[2J\udcff\u202eboom" + "x" * 5000)
    status["started"] = "\x1b[31m2026\ud800"
    (tmp_path / "r" / "status.json").write_text(json.dumps(status))  # \u escapes: valid JSON
    info = read_run(tmp_path / "r")
    assert info.status == "failed"
    assert info.reason.startswith("\\x1b]0;pwned\\x07\\x1b[2J\ufffd\\u202eboom")
    assert len(info.reason) == 501 and info.reason.endswith("…")
    assert info.started == "\\x1b[31m2026\ufffd"
    assert _printable(info.reason) and _printable(info.started)


def test_config_strings_are_made_safe(tmp_path: Path) -> None:
    _finished_run(tmp_path / "r")
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    config["extra"] = {"notes": "line 1\nline 2\x1b[0m", "\udcffkey": ["\x9b"]}
    (tmp_path / "r" / "config.json").write_text(json.dumps(config))
    info = read_run(tmp_path / "r")
    assert info.status == "finished"
    assert info.config["extra"] == {"notes": "line 1\nline 2\\x1b[0m", "\ufffdkey": ["\\x9b"]}


def test_special_files_are_never_opened(tmp_path: Path) -> None:
    """A FIFO would block forever, a device may never end, a link may lead anywhere."""
    for name in ("fifo", "link", "outlink", "big", "dev"):
        _finished_run(tmp_path / name)
    os.mkfifo(tmp_path / "fifo" / "tmp")
    (tmp_path / "fifo" / "config.json").unlink()
    os.mkfifo(tmp_path / "fifo" / "config.json")
    (tmp_path / "link" / "results.csv").unlink()
    (tmp_path / "link" / "results.csv").symlink_to("/dev/zero")
    secret = tmp_path.parent / f"{tmp_path.name}-secret"
    secret.mkdir()
    (tmp_path / "outlink" / "history.csv").unlink()
    (tmp_path / "outlink" / "history.csv").symlink_to(secret / "history.csv")
    with open(tmp_path / "big" / "history.csv", "r+b") as f:
        f.truncate(65 << 20)  # sparse: 65 MiB that take no disk
    (tmp_path / "dev" / "members.csv").unlink()
    try:
        os.mknod(
            tmp_path / "dev" / "members.csv", 0o600 | stat.S_IFCHR, os.stat("/dev/null").st_rdev
        )
    except PermissionError:
        (tmp_path / "dev" / "members.csv").symlink_to("/dev/null")
    (tmp_path / "away").symlink_to(secret, target_is_directory=True)  # a run folder elsewhere
    _finished_run(tmp_path / "ok")
    got = {r.run_id: r for r in list_runs(tmp_path)}  # returns: nothing blocked
    assert got["ok"].status == "finished"
    assert got["fifo"].reason == "config.json is a FIFO, not a file bedash wrote"
    assert (
        got["link"].reason
        == "results.csv is a symbolic link (bedash writes none; it is not followed)"
    )
    assert got["outlink"].reason.startswith("history.csv is a symbolic link")
    assert got["big"].reason.startswith("history.csv is larger than 64 MiB")
    assert got["dev"].reason.startswith("members.csv is ")
    assert (
        got["away"].reason == "the run folder is a symbolic link that leads outside the runs folder"
    )
    assert {r.status for n, r in got.items() if n != "ok"} == {"damaged"}


def test_annotations_in_a_fifo_or_behind_a_link_read_as_none(tmp_path: Path) -> None:
    """annotations.json is read like every run file: a FIFO is never opened (it would block the
    runs page forever), a link never followed."""
    import bedash.store.annotations as notes

    _finished_run(tmp_path / "r")
    file = tmp_path / "r" / "annotations.json"
    notes.write(tmp_path / "r", notes.Annotations(("baseline",), "first try"))
    assert notes.read(tmp_path / "r") == notes.Annotations(("baseline",), "first try")
    secret = tmp_path / "elsewhere.json"
    os.replace(file, secret)
    file.symlink_to(secret)
    assert notes.read(tmp_path / "r") == notes.Annotations()
    file.unlink()
    os.mkfifo(file)
    assert notes.read(tmp_path / "r") == notes.Annotations()  # returned: nothing blocked


def test_one_damaged_folder_hides_no_other(tmp_path: Path) -> None:
    _finished_run(tmp_path / "good")
    _finished_run(tmp_path / "bad")
    (tmp_path / "bad" / "results.csv").write_bytes(b"\xff\xfe")
    (tmp_path / "not a run id").mkdir()  # never written by bedash (the name rule)
    (tmp_path / "plainfile").write_text("x")
    got = {r.run_id: (r.status, r.reason) for r in list_runs(tmp_path)}
    assert got == {"good": ("finished", ""), "bad": ("damaged", "results.csv is not UTF-8 text")}


def test_read_tables_gives_typed_rows_and_names_each_problem(tmp_path: Path) -> None:
    w = _finished_run(tmp_path / "r")
    w = RunWriter(tmp_path / "r2")
    w.write_config({"models": ["single"]}, {})
    w.set_status("running")
    w.add_history([{"model": "single", "member": 0, "epoch": 1, "loss": float("inf"),
                    "epoch_seconds": 0.25, "samples_per_s": 8.0}])  # fmt: skip
    w.add_result({"model": "single", "status": "diverged", "members": 1, "params": 10}, [
        {"model": "single", "member": 0, "accuracy": 0.5, "nll": float("nan")}
    ])  # fmt: skip
    w.write_matrix("agreement_be.csv", [[1.0, 0.25], [0.25, 1.0]])
    w.set_status("diverged")
    t = read_tables(tmp_path / "r2")
    assert t.problems == []
    assert t.history == [{"model": "single", "member": 0, "epoch": 1, "loss": float("inf"),
                          "epoch_seconds": 0.25, "samples_per_s": 8.0}]  # fmt: skip
    assert t.results[0]["members"] == 1 and isinstance(t.results[0]["members"], int)
    assert t.results[0]["status"] == "diverged" and t.results[0]["ensemble_acc"] is None
    assert list(t.results[0]) == RESULT_COLUMNS
    assert t.members == [{"model": "single", "member": 0, "accuracy": 0.5, "nll": None}]
    assert t.agreement == {
        "be": [{"member": 0, "0": 1.0, "1": 0.25}, {"member": 1, "0": 0.25, "1": 1.0}]
    }
    (tmp_path / "r2" / "members.csv").write_text("model,member,accuracy,nll\nsingle,zero,1,1\n")
    os.mkfifo(tmp_path / "r2" / "reliability_be.csv")
    t = read_tables(tmp_path / "r2")
    assert t.members == [] and t.results  # one bad file empties only its table
    assert t.problems == [
        "members.csv line 2: member 'zero' is not a whole number",
        "reliability_be.csv is a FIFO, not a file bedash wrote",
    ]


def test_a_sweep_folder_among_the_runs_is_not_listed_as_a_damaged_run(tmp_path: Path) -> None:
    """A sweep keeps its cells (ordinary runs) in its own folder, marked by sweep.json: the
    runs listing leaves that folder out instead of calling it damaged."""
    sweep = tmp_path / "sweep-abc"
    (sweep / "c00_s0").mkdir(parents=True)
    (sweep / "sweep.json").write_text("{}")
    (tmp_path / "other").mkdir()  # not bedash's: listed as damaged, as before
    assert [r.run_id for r in list_runs(tmp_path)] == ["other"]
