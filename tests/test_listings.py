"""Issue 24: a listing survives any one bad entry, and every output place (`train --out`,
`train --runs-dir`, `bench --out`) is checked writable before the first measurement.

The tests run as root, which chmod 000 does not stop: `unreadable` simulates a folder its user
may not read (what a real chmod 000 folder does to a non-root user: listing it, and stat, open
or listing anything inside it, raise PermissionError), and `unwritable` one where a new file
cannot be made."""

from __future__ import annotations

import builtins
import errno
import os
from pathlib import Path

import pytest

from bedash.__main__ import main
from bedash.store.folders import RunDirError, check_output_place
from bedash.store.runs import list_runs
from tests.test_app import app, dirs, texts  # noqa: F401  (dirs: the AppTest fixture)
from tests.test_runs import _finished_run

TRAIN = ["train", "--dataset", "synthetic", "--train-size", "256", "--test-size", "64",
         "--epochs", "1", "--hidden", "16", "--members", "2", "--device", "cpu",
         "--quiet"]  # fmt: skip
BENCH = ["bench", "--device", "cpu", "--dataset", "synthetic", "--train-size", "640",
         "--test-size", "64"]  # fmt: skip
SWEEP = ["sweep", "--dataset", "synthetic", "--train-size", "64", "--test-size", "32",
         "--epochs", "1", "--hidden", "8", "--device", "cpu", "--engine", "local", "--seeds", "0",
         "--quiet"]  # fmt: skip
LONG = "x" * 300  # longer than any file system's name limit (255 bytes)


def _denied(path: object) -> OSError:
    return PermissionError(errno.EACCES, "Permission denied", str(path))


def unreadable(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Simulate `chmod 000 folder` for a non-root user: listing it raises, and so does every
    stat, open or listing of a path inside it (the folder's own stat still answers)."""
    folder = Path(os.path.abspath(folder))

    def inside(p: object, itself: bool = False) -> bool:
        if isinstance(p, int):  # a file descriptor
            return False
        q = Path(os.path.abspath(os.fsdecode(p)))
        return (itself and q == folder) or folder in q.parents

    def guard(real, itself: bool = False):
        def wrapped(p=".", *args, **kwargs):
            if inside(p, itself):
                raise _denied(p)
            return real(p, *args, **kwargs)

        return wrapped

    monkeypatch.setattr(os, "scandir", guard(os.scandir, itself=True))
    monkeypatch.setattr(os, "listdir", guard(os.listdir, itself=True))
    for name in ("stat", "lstat", "open"):
        monkeypatch.setattr(os, name, guard(getattr(os, name)))
    monkeypatch.setattr(builtins, "open", guard(builtins.open))


def unwritable(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Simulate a folder in which no new file can be made (no write permission for a
    non-root user): creating a file directly inside it raises PermissionError."""
    folder = Path(os.path.abspath(folder))
    real = os.open

    def wrapped(p, flags, *args, **kwargs):
        if (
            not isinstance(p, int)
            and flags & os.O_CREAT
            and Path(os.path.abspath(os.fsdecode(p))).parent == folder
        ):
            raise _denied(p)
        return real(p, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", wrapped)


def one_line_exit(argv: list[str], code: int, capsys: pytest.CaptureFixture) -> str:
    """Run the CLI; expect `code`, one line on stderr and no traceback; return that line."""
    try:
        got = main(argv)
    except SystemExit as e:
        got = e.code
    err = capsys.readouterr().err
    assert got == code, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


# -- listings ---------------------------------------------------------------------------------


def test_an_unreadable_run_folder_is_listed_as_damaged_and_the_others_are_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """chmod 000 on one run folder (simulated, see `unreadable`): it is `damaged` with the
    reason, the other run is listed as it is, `runs list` exits 0 (it raised PermissionError)."""
    _finished_run(tmp_path / "good")
    _finished_run(tmp_path / "locked")
    unreadable(monkeypatch, tmp_path / "locked")
    got = {r.run_id: (r.status, r.reason) for r in list_runs(tmp_path)}
    assert got["good"] == ("finished", "")
    assert got["locked"][0] == "damaged" and "Permission denied" in got["locked"][1]
    assert main(["runs", "list", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr()
    assert "Traceback" not in out.err and out.err == ""
    lines = sorted(out.out.splitlines())
    assert lines[0].startswith("good  finished")
    assert lines[1].startswith("locked  damaged") and "Permission denied" in lines[1]


def test_an_unreadable_runs_folder_is_an_error_not_no_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """chmod 000 on the runs folder itself (simulated): an error naming it, not 'no runs'."""
    runs = tmp_path / "runs"
    _finished_run(runs / "good")
    unreadable(monkeypatch, runs)
    with pytest.raises(RunDirError, match="cannot read .*runs: Permission denied"):
        list_runs(runs)
    err = one_line_exit(["runs", "list", "--runs-dir", str(runs)], 2, capsys)
    assert err.startswith("bedash runs: error: --runs-dir: cannot read ")
    assert "Permission denied" in err


def test_a_runs_dir_with_a_300_character_name_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    err = one_line_exit(["runs", "list", "--runs-dir", str(tmp_path / LONG / "runs")], 2, capsys)
    assert err.startswith("bedash runs: error: --runs-dir: ")
    assert "has 300 bytes, more than 255" in err


def test_a_fifo_or_a_file_where_a_run_folder_is_expected_hides_no_run(tmp_path: Path) -> None:
    """A FIFO and a plain file with a run's name (bedash writes neither) are not runs; listing
    does not open them (a FIFO would block) and every real run is listed."""
    _finished_run(tmp_path / "good")
    os.mkfifo(tmp_path / "20260101-000000-aaaaaa")
    (tmp_path / "20260101-000000-bbbbbb").write_text("x")
    assert [(r.run_id, r.status) for r in list_runs(tmp_path)] == [("good", "finished")]


def test_an_entry_that_cannot_be_inspected_is_damaged_and_hides_no_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 300-character entry (a file system that allows it, simulated) is no run id: skipped;
    an entry whose type cannot be read is damaged with the reason; the good run is listed."""
    _finished_run(tmp_path / "good")
    _finished_run(tmp_path / "odd")
    real = os.scandir

    class Broken:
        name, path = "odd", str(tmp_path / "odd")

        def is_symlink(self) -> bool:
            raise OSError(errno.EIO, "Input/output error")

        is_dir = is_symlink

    class Long(Broken):
        name, path = LONG, str(tmp_path / LONG)

    def scandir(p):
        if Path(p) == tmp_path:
            return iter([*(e for e in real(p) if e.name == "good"), Broken(), Long()])
        return real(p)

    monkeypatch.setattr(os, "scandir", scandir)
    got = {r.run_id: (r.status, r.reason) for r in list_runs(tmp_path)}
    assert got["good"] == ("finished", "")
    assert got["odd"][0] == "damaged" and "Input/output error" in got["odd"][1]
    assert len(got) == 2


def test_a_symbolic_link_loop_named_like_a_run_is_damaged_and_breaks_nothing(
    tmp_path: Path,
) -> None:
    """It used to be skipped by the listing, and opening it by its id (the Results page's
    address, delete) raised RuntimeError."""
    from bedash.dashboard.rundata import find_run
    from bedash.store.runs import delete_run

    _finished_run(tmp_path / "good")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    got = {r.run_id: (r.status, r.reason) for r in list_runs(tmp_path)}
    assert got["good"] == ("finished", "")
    assert got["loop"][0] == "damaged" and "Symlink loop" in got["loop"][1]
    assert find_run(tmp_path, "loop") is None
    with pytest.raises(ValueError, match="loop cannot be opened"):
        delete_run(tmp_path, "loop")


def test_the_pages_show_an_unreadable_run_as_damaged_and_an_unreadable_root_as_an_error(
    dirs: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Runs and Results pages with one run folder unreadable (simulated): no exception, the
    other run opens; with the runs folder unreadable: an error, not 'No runs'."""
    runs = dirs / "runs"
    _finished_run(runs / "20260101-000000-aaaaaa")
    _finished_run(runs / "20260101-000000-bbbbbb")
    with pytest.MonkeyPatch.context() as mp:
        unreadable(mp, runs / "20260101-000000-bbbbbb")
        res = app("pages/runs.py")  # app() asserts no exception on the page
        assert not res.error, texts(res.error)
        res = app("pages/results.py", run="20260101-000000-aaaaaa")
        assert not res.error, texts(res.error)
        res = app("pages/results.py", run="20260101-000000-bbbbbb")
        assert "damaged: cannot be read (Permission denied)" in texts(res.error)
    unreadable(monkeypatch, runs)
    for page in ("pages/runs.py", "pages/results.py"):
        res = app(page)
        assert "cannot read" in texts(res.error) and "Permission denied" in texts(res.error)
        assert "No runs" not in texts(res.info)


# -- output places ----------------------------------------------------------------------------


def _place(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An output folder that cannot be made or written, of the given kind."""
    if kind == "under a file":
        (tmp_path / "file").write_text("x")
        return tmp_path / "file" / "x"
    if kind == "unwritable":
        (tmp_path / "ro").mkdir()
        unwritable(monkeypatch, tmp_path / "ro")
        return tmp_path / "ro" / "x"
    if kind == "dangling link":
        (tmp_path / "link").symlink_to(tmp_path / "gone")
        return tmp_path / "link" / "x"
    return tmp_path / LONG / "x"


SAYS = {
    "under a file": "is not a folder",
    "dangling link": "is a symbolic link to nothing",
    "unwritable": "Permission denied",
    "long": "has 300 bytes, more than 255",
}


@pytest.mark.parametrize("kind", list(SAYS))
@pytest.mark.parametrize(
    ("command", "flag"),
    [
        ("train", "--out"),
        ("train", "--runs-dir"),
        ("bench", "--out"),
        ("sweep", "--out"),
        ("sweep", "--sweeps-dir"),
    ],
)
def test_every_output_place_is_checked_before_the_first_measurement(
    command: str,
    flag: str,
    kind: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    """Under a regular file, in an unwritable folder (simulated), under a symbolic link to
    nothing, a 300-character name: exit 2
    naming the flag before anything is loaded or timed (bench ran to the end, then failed)."""
    from bedash import experiment
    from bedash.benchmark import run
    from bedash.sweep import cli as sweep_cli

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("measured before the output place was checked")

    monkeypatch.setattr(run, "run_bench", never)
    monkeypatch.setattr(experiment, "load_dataset", never)
    monkeypatch.setattr(sweep_cli, "make_engine", never)
    place = _place(kind, tmp_path, monkeypatch)
    argv = [*{"train": TRAIN, "bench": BENCH, "sweep": SWEEP}[command], flag, str(place)]
    err = one_line_exit(argv, 2, capsys)
    assert err.startswith(f"bedash {command}: error: {flag}: "), err
    assert SAYS[kind] in err
    assert not os.path.lexists(place)


def test_check_output_place_accepts_new_and_existing_folders_and_changes_nothing(
    tmp_path: Path,
) -> None:
    (tmp_path / "old").mkdir()
    for place in (tmp_path / "old", tmp_path / "new" / "deeper"):
        check_output_place(place, "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]
    assert list((tmp_path / "old").iterdir()) == []
    with pytest.raises(RunDirError, match="is not a folder") as e:
        (tmp_path / "f").write_text("x")
        check_output_place(tmp_path / "f", "runs_dir")
    assert e.value.field == "runs_dir"
