"""Bad input from every door (CLI, dashboard, URL, files) gets a specific message, never a
traceback; docs/RELIABILITY.md lists each case and the test that backs it (checked here too)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from bedash.__main__ import main
from bedash.data import cifar10 as C
from bedash.data import folder as FO
from bedash.data.load import load_dataset
from bedash.names import DatasetError
from tests.conftest import make_cifar_archive
from tests.test_app import app, dirs, run_until, start_button, texts  # noqa: F401  (dirs: the AppTest fixture)
from tests.test_data import _image_folder
from tests.test_runs import _tree_digest

ROOT = Path(__file__).resolve().parents[1]
RELIABILITY = ROOT / "docs" / "RELIABILITY.md"
TINY = ["train", "--dataset", "synthetic", "--train-size", "256", "--test-size", "64",
        "--epochs", "1", "--hidden", "16", "--members", "2", "--device", "cpu",
        "--quiet"]  # fmt: skip


def refused(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    """Run the CLI, expect exit code 2 and no traceback; return what it printed."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2, err
    assert "Traceback" not in err and err.count("\n") == 1  # one line
    return err


# -- CLI: the demo profile's caps -----------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "text"),
    [
        (["--members", "9"], "--members: must be from 1 to 8 (demo limit) (got 9)"),
        (["--hidden", "1024"], "--hidden: must be from 1 to 512 (demo limit) (got 1024)"),
        (["--epochs", "11"], "--epochs: must be from 1 to 10 (demo limit) (got 11)"),
        (["--train-size", "10001"], "--train-size: must be at most 10000 (demo limit)"),
        (["--device", "cuda"], "--device: only cpu is available (demo limit) (got 'cuda')"),
        (["--dataset", "/srv/images"], "folders on the server cannot be used (demo limit)"),
    ],
)
def test_demo_caps_exit_2_and_say_demo_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, flags: list[str], text: str
) -> None:
    monkeypatch.setenv("BEDASH_PROFILE", "demo")
    monkeypatch.setenv("BEDASH_DATA_DIR", str(tmp_path / "data"))
    err = refused([*TINY, *flags, "--out", str(tmp_path / "r")], capsys)
    assert text in err
    assert not (tmp_path / "r").exists()


def test_demo_refuses_the_whole_split(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("BEDASH_PROFILE", "demo")
    argv = [a for a in TINY if a not in ("--train-size", "256")]
    err = refused([*argv, "--out", str(tmp_path / "r")], capsys)
    assert "--train-size: must be at most 10000 (demo limit) (got all)" in err


# -- CLI: datasets and output folders -------------------------------------------------------


def test_image_folder_problems_exit_2_naming_the_class_or_file(tmp_path: Path, capsys) -> None:
    root = _image_folder(tmp_path / "ds", {"cat": 2, "dog": 2})
    (root / "train" / "bird").mkdir()
    err = refused([*TINY, "--dataset", str(root), "--out", str(tmp_path / "r")], capsys)
    assert "class 'bird'" in err and "has no images" in err
    (root / "train" / "bird").rmdir()
    (root / "test" / "dog" / "broken.png").write_bytes(b"\x89PNG not really")
    err = refused([*TINY, "--dataset", str(root), "--out", str(tmp_path / "r")], capsys)
    assert "cannot read image" in err and "broken.png" in err
    assert not (tmp_path / "r").exists()


def test_unreadable_class_folder_is_a_dataset_error(tmp_path: Path, monkeypatch) -> None:
    root = _image_folder(tmp_path / "ds", {"cat": 1})

    def denied(split_dir: Path) -> dict:
        raise PermissionError(13, "Permission denied", str(split_dir / "cat"))

    monkeypatch.setattr(FO, "_class_images", denied)
    with pytest.raises(DatasetError, match=r"cannot read .*train/cat: Permission denied"):
        load_dataset(str(root), tmp_path / "data")


def _no_network(url: str, dest: Path, progress: object) -> None:
    raise AssertionError("--no-download went to the network")


def test_corrupt_cifar_archive_on_disk_is_refused_by_checksum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setattr(C, "_download", _no_network)
    data = tmp_path / "data"
    archive, _ = make_cifar_archive(tmp_path / "server")
    data.mkdir()
    (data / "cifar-10-python.tar.gz").write_bytes(archive.read_bytes()[:500])  # cut short
    argv = [*TINY, "--dataset", "cifar10", "--no-download", "--data-dir", str(data)]
    err = refused([*argv, "--out", str(tmp_path / "r")], capsys)
    assert "failed its MD5 check" in err and "c58f30108f718f92721af3b95e74349a" in err
    assert (data / "cifar-10-python.tar.gz").is_file()  # the user's file is not deleted
    assert not (tmp_path / "r").exists()


def test_no_download_never_goes_to_the_network(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(C, "_download", _no_network)
    argv = [*TINY, "--dataset", "cifar10", "--no-download", "--data-dir", str(tmp_path / "d")]
    err = refused([*argv, "--out", str(tmp_path / "r")], capsys)
    assert "CIFAR-10 is not in" in err and "by hand" in err
    err = refused([*argv, "--members", "0", "--out", str(tmp_path / "r")], capsys)
    assert "--members: must be from 1" in err  # the flags are checked first


def test_data_dir_that_is_a_file_is_named(tmp_path: Path, capsys) -> None:
    (tmp_path / "data").write_text("not a folder")
    argv = [*TINY, "--dataset", "cifar10", "--data-dir", str(tmp_path / "data")]
    err = refused([*argv, "--out", str(tmp_path / "r")], capsys)
    assert "--data-dir: cannot use" in err


def test_out_that_is_a_file_or_a_foreign_folder_is_refused(tmp_path: Path, capsys) -> None:
    (tmp_path / "file").write_text("x")
    err = refused([*TINY, "--out", str(tmp_path / "file")], capsys)
    assert "exists and is not a folder" in err
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    err = refused([*TINY, "--out", str(tmp_path / "mine")], capsys)
    assert "is not empty and holds no bedash run" in err
    refused([*TINY, "--out", str(tmp_path / "mine"), "--overwrite"], capsys)
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]


# -- files: the decoded-tensor cache is untrusted ---------------------------------------------


class _Payload:
    """Pickles to a call of open(marker, 'w'): a file appears if the cache ever runs code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (open, (str(self.marker), "w"))


def _cache_file(tiny_cifar_dir: Path) -> Path:
    return tiny_cifar_dir / "cifar-10-batches-py" / "bedash-cache.pt"


def test_a_code_running_cache_file_never_runs_and_is_rebuilt(tiny_cifar_dir: Path) -> None:
    good = load_dataset("cifar10", tiny_cifar_dir, download=False)
    cache = _cache_file(tiny_cifar_dir)
    marker = tiny_cifar_dir / "pwned"
    torch.save({"key": "x", "tensors": _Payload(marker)}, cache)
    again = load_dataset("cifar10", tiny_cifar_dir, download=False)
    assert not marker.exists()  # weights_only=True refused the pickle
    assert torch.equal(again.train.x, good.train.x)
    assert torch.load(cache, weights_only=True)["tensors"]["train_x"].shape == (100, 3, 32, 32)


@pytest.mark.parametrize(
    "tensors",
    [
        {"train_x": "not a tensor"},
        {"train_x": torch.zeros(3, 3), "train_y": torch.zeros(3), "test_x": 1, "test_y": 2},
        {s: torch.zeros(2, 3, 32, 32, dtype=torch.float32) for s in ("train_x", "test_x")},
    ],
)
def test_a_cache_with_the_right_key_but_no_images_is_rebuilt(tiny_cifar_dir: Path, tensors) -> None:
    good = load_dataset("cifar10", tiny_cifar_dir, download=False)
    key = torch.load(_cache_file(tiny_cifar_dir), weights_only=True)["key"]  # the right key
    torch.save({"key": key, "tensors": tensors}, _cache_file(tiny_cifar_dir))
    again = load_dataset("cifar10", tiny_cifar_dir, download=False)
    assert torch.equal(again.train.x, good.train.x) and torch.equal(again.test.y, good.test.y)


def test_a_garbage_cache_file_is_rebuilt(tiny_cifar_dir: Path) -> None:
    load_dataset("cifar10", tiny_cifar_dir, download=False)
    _cache_file(tiny_cifar_dir).write_bytes(b"\x00garbage" * 10)
    assert len(load_dataset("cifar10", tiny_cifar_dir, download=False).train) == 100


# -- the dashboard --------------------------------------------------------------------------

WIDGETS = [  # (key, typed text, the field's label, what the page says)
    ("members", "0", "Members (E)", "must be from 1 to 64 (got 0)"),
    ("members", "65", "Members (E)", "must be from 1 to 64 (got 65)"),
    ("hidden", "0", "Hidden width", "must be from 1 to 16384 (got 0)"),
    ("epochs", "0", "Epochs", "must be from 1 to 10000 (got 0)"),
    ("batch_size", "0", "Batch size", "must be from 1 to 65536 (got 0)"),
    ("lr", "0", "Learning rate", "must be a finite number > 0 (got 0.0)"),
    ("lr", "nan", "Learning rate", "must be a finite number > 0 (got nan)"),
    ("members", "1e", "Members (E)", "'1e' is not a number"),  # half-typed
    ("epochs", "", "Epochs", "is empty; type a number"),
    ("hidden", "12.5", "Hidden width", "must be a whole number"),
]


def common_registry_jobs() -> list:
    from bedash.dashboard import common

    return common.registry().jobs()


def test_out_of_range_or_half_typed_values_block_start_naming_the_field(dirs: Path) -> None:  # noqa: F811
    """The form never runs a config the user did not see: a value that does not pass blocks
    Start (disabled, the field named); nothing is queued, no run folder is made."""
    for key, bad, label, said in WIDGETS:
        at = app()
        at.text_input(key=key).set_value(bad).run()
        assert not at.exception
        errors = texts(at.error)
        assert f"**{label}**: {said}" in errors, (key, bad, errors)
        assert start_button(at).disabled, (key, bad)  # AppTest, like a browser, cannot click it
        assert not common_registry_jobs(), (key, bad)


def _until_failed(at) -> object:
    return run_until(at, lambda a: "The job failed" in texts(a.error), timeout=60)


def test_an_unreadable_image_fails_the_job_naming_the_file(dirs: Path) -> None:  # noqa: F811
    root = _image_folder(dirs / "ds", {"cat": 4, "dog": 4})
    (root / "train" / "dog" / "broken.png").write_bytes(b"\x89PNG not really")
    at = app()
    at.radio(key="dataset_kind").set_value("folder").run()
    at.text_input(key="folder").set_value(str(root)).run()
    at.text_input(key="batch_size").set_value("4")
    start_button(at).click().run()
    errors = texts(_until_failed(at).error)
    assert "cannot read image" in errors and "broken.png" in errors
    assert not (dirs / "runs").exists() or not any((dirs / "runs").iterdir())


def test_cifar10_offline_fails_the_job_saying_where_to_put_the_files(
    dirs: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(C, "CIFAR10_URL", (dirs / "nowhere.tar.gz").as_uri())
    at = app()
    at.radio(key="dataset_kind").set_value("cifar10").run()
    start_button(at).click().run()
    errors = texts(_until_failed(at).error)
    assert "CIFAR-10 could not be downloaded" in errors and "by hand" in errors
    assert str((dirs / "data").resolve()) in errors and "data_batch_1" in errors


def test_an_upload_that_is_not_a_zip_is_refused(dirs: Path) -> None:  # noqa: F811
    at = app()
    at.radio(key="dataset_kind").set_value("folder").run()
    at.get("file_uploader")[0].upload("pets.zip", b"PK not a zip", "application/zip").run()
    assert "**Upload**: not a zip archive" in texts(at.error)
    assert not (dirs / "data" / "uploads").exists() or not any(
        (dirs / "data" / "uploads").iterdir()
    )


def test_a_malformed_job_id_in_the_url_is_not_found(dirs: Path) -> None:  # noqa: F811
    for bad in ("../../etc", "x" * 500):
        assert "Job not found" in texts(app(job=bad).warning)


def _damaged_runs(runs: Path) -> None:
    """Four run folders, each damaged another way."""
    for name in ("20260101-000000-aaaaaa", "20260101-000000-bbbbbb", "20260101-000000-cccccc"):
        (runs / name).mkdir(parents=True)
        (runs / name / "config.json").write_text(json.dumps({"models": ["single"]}))
        (runs / name / "status.json").write_text(json.dumps({"status": "finished"}))
    (runs / "20260101-000000-aaaaaa" / "config.json").write_text('{"models": [')
    (runs / "20260101-000000-bbbbbb" / "results.csv").write_text("model,status\nsingle,fini")
    # cccccc: finished, but results.csv is missing
    (runs / "20260101-000000-dddddd").mkdir()
    (runs / "20260101-000000-dddddd" / "config.json").write_text(
        json.dumps({"models": 5, "members": "abc", "extra": "x", "_meta": []})
    )
    (runs / "20260101-000000-dddddd" / "status.json").write_text('{"status": "cancelled"}')


def test_damaged_run_folders_show_as_damaged_and_stay_untouched(dirs: Path) -> None:  # noqa: F811
    runs = dirs / "runs"
    _damaged_runs(runs)
    before = _tree_digest(runs)
    table = app("pages/runs.py").dataframe(key="runs_table").value
    notes = dict(zip(table["run_id"], table["note"], strict=True))
    assert set(table["status"]) == {"damaged"}
    assert "invalid JSON in config.json" in notes["20260101-000000-aaaaaa"]
    assert "results.csv is truncated" in notes["20260101-000000-bbbbbb"]
    assert "missing file results.csv" in notes["20260101-000000-cccccc"]
    assert "config.json has a bad 'models'" in notes["20260101-000000-dddddd"]
    res = app("pages/results.py", run="20260101-000000-dddddd")
    assert "This run folder is damaged: config.json has a bad 'models'" in texts(res.error)
    res = app("pages/results.py", run="20260101-000000-aaaaaa")
    assert "This run folder is damaged: invalid JSON in config.json" in texts(res.error)
    res = app("pages/results.py", run="20260101-000000-bbbbbb")
    assert "This run folder is damaged: results.csv is truncated" in texts(res.error)
    assert _tree_digest(runs) == before  # reading never modifies a run


def test_a_word_in_history_loss_leaves_the_results_page_whole(
    dirs: Path,  # noqa: F811
    capsys: pytest.CaptureFixture,
) -> None:
    run = dirs / "runs" / "20260101-000000-eeeeee"
    assert main([*TINY, "--out", str(run)]) == 0
    capsys.readouterr()
    history = run / "history.csv"
    lines = history.read_text().splitlines()
    cells = lines[1].split(",")
    cells[3] = "lots"  # model, member, epoch, loss, ...
    history.write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")
    res = app("pages/results.py", run=run.name)  # app() asserts no exception on the page
    assert "This run folder is damaged" in texts(res.error)
    assert "history.csv" in texts(res.error)


# -- docs/RELIABILITY.md stays honest ---------------------------------------------------------

TEST_REF = re.compile(r"`?(tests/test_\w+\.py)::(test_\w+)`?")


def reliability_rows() -> list[list[str]]:
    """The cells of every row of the bad-input table (the one whose header says 'Input')."""
    rows, inside = [], False
    for line in RELIABILITY.read_text(encoding="utf-8").splitlines():
        if line.startswith("|") and "Input" in line and "Test" in line:
            inside = True
            continue
        if inside and not line.startswith("|"):
            break
        if inside and not re.match(r"^\|[\s:|-]+\|$", line):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def test_reliability_table_has_30_rows_each_backed_by_a_real_test() -> None:
    rows = reliability_rows()
    assert len(rows) >= 30, len(rows)
    for cells in rows:
        assert len(cells) == 5 and all(cells), cells  # input, where, gets, exit/shown, test
        refs = TEST_REF.findall(cells[-1])
        assert refs, f"no test named in {cells}"
        for path, name in refs:
            source = (ROOT / path).read_text(encoding="utf-8")
            assert re.search(rf"^def {name}\(", source, re.M), f"{path}::{name} does not exist"
    wheres = {cells[1].split()[0].strip("*") for cells in rows}
    assert {"UI", "CLI", "URL", "File"} <= wheres, wheres
    text = RELIABILITY.read_text(encoding="utf-8")
    assert "## Load and faults" in text and "<!-- load-and-faults -->" in text
    for path, name in TEST_REF.findall(text):  # the load and fault table's tests too
        source = (ROOT / path).read_text(encoding="utf-8")
        assert re.search(rf"^def {name}\(", source, re.M), f"{path}::{name} does not exist"
