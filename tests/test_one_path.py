"""One path in (issue 24): outside bedash/store, no module reads a file another way than the
store's validated readers (no link followed, no FIFO opened, sizes capped, cells typed and
bounded). The code is walked with `ast`: every call that opens or reads a file is refused,
unless this allow-list names it with the reason it is not a run or sweep file."""

from __future__ import annotations

import ast
import builtins
import math
import os
import re
import statistics
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as hs

from bedash.names import RESULT_COLUMNS
from bedash.store.readers import FileProblem, read_table
from bedash.store.runfiles import RESULTS, read_tables
from bedash.store.sweepfiles import read_stats
from bedash.store.writer import csv_text

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(
    p
    for p in [ROOT / "app.py", *ROOT.glob("pages/*.py"), *ROOT.glob("bedash/**/*.py")]
    if "store" not in p.relative_to(ROOT).parts[:2]
)
# calls, by what they resolve to through the module's imports, that open or read a file
READS = {
    "builtins.open", "io.open", "os.open", "os.fdopen", "codecs.open", "gzip.open", "bz2.open",
    "lzma.open", "tarfile.open", "shelve.open", "json.load", "tomllib.load", "pickle.load",
    "marshal.load", "csv.reader", "csv.DictReader", "numpy.load", "numpy.fromfile", "numpy.loadtxt",
    "numpy.genfromtxt", "numpy.memmap", "torch.load", "PIL.Image.open", "mmap.mmap",
    "urllib.request.urlopen", "zipfile.ZipFile", "shutil.copy", "shutil.copy2",
    "shutil.copyfile", "shutil.copyfileobj", "shutil.copytree", "sqlite3.connect",
}  # fmt: skip
READ_PREFIXES = ("pandas.read_",)  # pd.read_csv, pd.read_json, pd.read_table...
# methods of a value (a Path, a file, an unpickler...) that open or read a file
READ_METHODS = {"open", "read_text", "read_bytes", "load", "readinto", "read_csv", "read_table"}

ALLOWED = {  # (module, the call as written): why it is not a run or sweep file
    ("bedash/method/budget.py", "Path('/proc/meminfo').read_text"): "the kernel's memory count",
    ("bedash/method/budget.py", "limit_file.read_text"): "a cgroup's memory limit (/sys)",
    ("bedash/method/budget.py", "usage_file.read_text"): "a cgroup's memory use (/sys)",
    ("bedash/benchmark/run.py", "Path('/proc/cpuinfo').read_text"): "the CPU's name",
    ("bedash/benchmark/report.py", "open"): "writes bench's own CSVs (mode 'w')",
    ("bedash/uncertainty/evaluation.py", "path.open"): "its own temporary file of images",
    ("bedash/uncertainty/evaluation.py", "f.readinto"): "that file, into its buffer",
    ("bedash/data/uploads.py", "zipfile.ZipFile"): "an uploaded dataset, in memory",
    ("bedash/data/uploads.py", "archive.open"): "a member of that uploaded zip",
    ("bedash/data/uploads.py", "open"): "writes an image of that zip (mode 'wb')",
    ("bedash/data/cifar10.py", "urllib.request.urlopen"): "downloads CIFAR-10 (MD5-checked)",
    ("bedash/data/cifar10.py", "open"): "the download's file, and a batch read as a pickle",
    (
        "bedash/data/cifar10.py",
        "_SafeUnpickler(f, encoding='latin1').load",
    ): "a CIFAR-10 batch through an unpickler that allows only arrays and plain values",
    ("bedash/data/load.py", "torch.load"): "the dataset's tensor cache, weights_only=True",
    ("bedash/data/folder.py", "Image.open"): "an image of a dataset folder",
    ("bedash/data/folder.py", "im.load"): "that image's pixels",
    ("bedash/dashboard/rundata.py", "zipfile.ZipFile"): "writes a run's zip in memory",
    ("bedash/serve.py", "path.open"): "the package's own Streamlit config.toml",
    ("bedash/cli.py", "pyproject.read_text"): "the checkout's pyproject.toml: its version",
    ("bedash/serve.py", "tomllib.load"): "that config.toml",
    ("bedash/sweep/folder.py", "os.open"): "the sweep folder itself, held open (O_DIRECTORY) for "
    "writes relative to it; nothing is read through it",
}


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Name -> the dotted name it was imported as, from every import of the module."""
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                out[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                out[a.asname or a.name] = f"{node.module}.{a.name}"
    return out


def _resolve(func: ast.expr, aliases: dict[str, str]) -> str | None:
    """The dotted name a call's function resolves to, or None for a value's method."""
    if isinstance(func, ast.Name):
        if func.id in aliases:
            return aliases[func.id]
        return f"builtins.{func.id}" if hasattr(builtins, func.id) else f"local.{func.id}"
    if isinstance(func, ast.Attribute):
        base = (
            _resolve(func.value, aliases)
            if isinstance(func.value, ast.Name | ast.Attribute)
            else None
        )
        if base and not base.startswith(("local.", "builtins.")):
            return f"{base}.{func.attr}"
    return None


def _zips(tree: ast.Module, aliases: dict[str, str]) -> set[str]:
    """Names bound to a ZipFile (its .write(path) reads path)."""
    names = set()
    for node in ast.walk(tree):
        pairs = []
        if isinstance(node, ast.withitem) and isinstance(node.optional_vars, ast.Name):
            pairs = [(node.context_expr, node.optional_vars.id)]
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            pairs = [(node.value, node.targets[0].id)]
        for value, name in pairs:
            if isinstance(value, ast.Call) and _resolve(value.func, aliases) == "zipfile.ZipFile":
                names.add(name)
    return names


def reads(path: Path) -> list[tuple[str, int]]:
    """(the call as written, line) of every call in path that opens or reads a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases = _aliases(tree)
    zips = _zips(tree, aliases)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _resolve(node.func, aliases)
        if name is not None:
            if name.startswith("bedash."):
                continue  # bedash's own function: checked where it is defined
            bad = name in READS or name.startswith(READ_PREFIXES)
        else:
            attr = node.func.attr if isinstance(node.func, ast.Attribute) else ""
            zipped = attr == "write" and ast.unparse(node.func.value) in zips
            bad = attr in READ_METHODS or zipped
        if bad:
            found.append((ast.unparse(node.func), node.lineno))
    return found


def test_the_walk_finds_what_it_looks_for() -> None:
    """The checker itself: each way of reading a file is found, the store's readers are not."""
    code = (
        "import json, csv\nimport pandas as pd\nimport zipfile\n"
        "from bedash.store.readers import read_bytes, read_table\n"
        "from pathlib import Path\n"
        "def f(p):\n"
        "    pd.read_csv(p / 'summary.csv'); p.read_bytes(); (p / 'x').read_text()\n"
        "    json.load(open(p)); csv.DictReader(p.open()); read_bytes(p, 9); read_table(p, {})\n"
        "    with zipfile.ZipFile(p, 'w') as z:\n        z.write(p)\n"
    )
    tmp = ROOT / "tests" / "_one_path_probe.py"
    tmp.write_text(code)
    try:
        got = {c for c, _ in reads(tmp)}
    finally:
        tmp.unlink()
    want = {"pd.read_csv", "p.read_bytes", "(p / 'x').read_text", "json.load", "open"}
    assert got == want | {"csv.DictReader", "p.open", "zipfile.ZipFile", "z.write"}


def test_no_module_reads_a_file_around_the_validated_readers() -> None:
    found, used = [], set()
    for path in SOURCES:
        rel = path.relative_to(ROOT).as_posix()
        for call, line in reads(path):
            if (rel, call) in ALLOWED:
                used.add((rel, call))
            else:
                found.append(f"{rel}:{line}: {call}")
    assert not found, "read through bedash.store.readers / runfiles / sweepfiles:\n" + "\n".join(
        found
    )
    assert used == set(ALLOWED), f"allow-list entries that match nothing: {set(ALLOWED) - used}"


# -- a cell's numbers are validated before any statistic (the run store's schema) --------------

PROPS = settings(
    max_examples=int(os.environ.get("BEDASH_PROP_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
ACC = (0.61, 0.65, 0.70)  # BatchEnsemble's ensemble accuracy in the cells of seeds 0, 1, 2


def results_csv(acc: str) -> bytes:
    """A cell's results.csv as bedash writes it, BatchEnsemble's ensemble_acc the text acc."""
    rows = [
        {"model": m, "status": "finished", "members": 2, "seed": 0, "ensemble_acc": 0.6,
         "nll": 1.0}
        for m in ("batchensemble", "ensemble")
    ]  # fmt: skip
    text = csv_text(RESULT_COLUMNS, rows)
    return text.replace(",0.6,", f",{acc},", 1).encode()  # the first row's ensemble_acc


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory):
    """A finished sweep of three seeds (the fake engine: no training), its store open, each
    cell's results.csv with BatchEnsemble's ensemble_acc from ACC."""
    from bedash.settings.profile import current_limits
    from bedash.sweep.folder import SweepStore
    from bedash.sweep.grid import check_cells
    from bedash.sweep.run import run_sweep
    from tests.test_sweep_uncertainty import Engine, spec

    out = tmp_path_factory.mktemp("one_path") / "sw"
    run_sweep(spec(), out, Engine(shift=False, ood=False))
    store = SweepStore.open(out, spec(), check_cells(spec(), current_limits({})))
    for cell, acc in zip(store.cells, ACC, strict=True):
        (out / cell.id / "results.csv").write_bytes(results_csv(repr(acc)))
    yield store
    store.close()


def be_acc(store) -> dict:
    """summary.csv's row of BatchEnsemble's ensemble accuracy, as the sweep writes it now."""
    from bedash.sweep.rows import load_records, summary_rows

    rows = summary_rows(load_records(store), list(store.spec.grid))
    for r in rows:  # every mean within its metric's bounds, as results.csv's cells are
        cell = RESULTS[r["metric"]]
        assert cell.lo <= r["mean"] <= cell.hi and math.isfinite(r["mean"]), r
    found = [r for r in rows if r["model"] == "batchensemble" and r["metric"] == "ensemble_acc"]
    return found[0] if found else {}


@pytest.mark.parametrize(
    ("acc", "why"),
    [("7.5", "is outside 0..1"), ("inf", "is not a number"), ("nan", "is not a number"),
     ("1e400", "is not a finite number"), ("0.6x", "is not a number")],
)  # fmt: skip
def test_an_impossible_value_in_a_cell_leaves_the_cell_out_and_names_it(sweep, acc, why) -> None:
    from bedash.sweep.cli import format_verdicts
    from bedash.sweep.rows import damaged_cells

    first = sweep.path / sweep.cells[0].id
    (first / "results.csv").write_bytes(results_csv(acc))
    try:
        row = be_acc(sweep)
        assert row["n"] == 2 and row["mean"] == pytest.approx(statistics.fmean(ACC[1:]))
        damaged = damaged_cells(sweep.path, [c.id for c in sweep.cells])
        assert list(damaged) == [sweep.cells[0].id] and why in damaged[sweep.cells[0].id]
        # the reason `bedash runs list` gives for the same folder
        assert damaged[sweep.cells[0].id] == read_tables(first).problems[0]
        assert f"left out of the statistics: cell {sweep.cells[0].id}" in format_verdicts(
            sweep.path
        )
    finally:
        (first / "results.csv").write_bytes(results_csv(repr(ACC[0])))


def test_a_results_csv_cut_mid_number_is_damaged_not_a_smaller_number(sweep) -> None:
    from bedash.sweep.rows import damaged_cells

    first = sweep.path / sweep.cells[0].id
    data = results_csv("0.6125")
    (first / "results.csv").write_bytes(data[: data.index(b"0.6125") + 3])  # "...,0.6"
    try:
        row = be_acc(sweep)
        assert row["n"] == 2 and row["mean"] == pytest.approx(statistics.fmean(ACC[1:]))
        damaged = damaged_cells(sweep.path, [c.id for c in sweep.cells])
        assert "truncated" in damaged[sweep.cells[0].id]
    finally:
        (first / "results.csv").write_bytes(results_csv(repr(ACC[0])))


def test_the_mean_and_interval_are_those_of_the_valid_cells(sweep) -> None:
    """Against numpy and scipy on the three cells' values (no cell damaged)."""
    import numpy as np
    from scipy import stats

    row = be_acc(sweep)
    xs = np.array(ACC)
    low, high = stats.t.interval(0.95, len(xs) - 1, loc=xs.mean(), scale=stats.sem(xs))
    assert row["n"] == 3 and row["mean"] == pytest.approx(xs.mean())
    assert row["std"] == pytest.approx(xs.std(ddof=1))
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))


number_text = hs.one_of(
    hs.floats(allow_nan=True, allow_infinity=True).map(repr),
    hs.sampled_from(["7.5", "-0.1", "1", "0", "1e400", "nan", "NaN", "inf", "0.", ".5", "1_0"]),
    hs.text(max_size=8),
)


@PROPS
@given(
    body=hs.one_of(
        hs.binary(max_size=300),
        hs.tuples(number_text, hs.integers(0, 400)).map(
            lambda t: results_csv(t[0].replace(",", "").replace("\n", ""))[: t[1] or None]
        ),
    )
)
@example(body=results_csv("7.5"))
@example(body=results_csv("0.5")[:-5])
def test_any_bytes_in_a_cells_results_csv_are_validated_before_the_mean(sweep, body) -> None:
    """Whatever the first cell's results.csv holds: the cell is either valid by the run store's
    reader (and counts with the value that reader gives) or named damaged (and left out); the
    mean is that of the values the reader accepts, and within 0..1."""
    from bedash.sweep.rows import damaged_cells

    first = sweep.path / sweep.cells[0].id
    (first / "results.csv").write_bytes(body)
    try:
        damaged = damaged_cells(sweep.path, [c.id for c in sweep.cells])
        values = list(ACC[1:])
        try:
            rows = read_table(first / "results.csv", RESULTS)
        except FileProblem as e:
            assert damaged == {sweep.cells[0].id: str(e)}
        else:
            assert not damaged
            be = [r for r in rows if r["model"] == "batchensemble" and r["status"] == "finished"]
            values += [r["ensemble_acc"] for r in be if r["ensemble_acc"] is not None]
        assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in values)
        row = be_acc(sweep)
        assert row["n"] == len(values) and row["mean"] == pytest.approx(statistics.fmean(values))
    finally:
        (first / "results.csv").write_bytes(results_csv(repr(ACC[0])))


# -- the statistics files: any bytes give rows that are possible, or a FileProblem -------------


def _mutate(text: str, line: int, col: int, cell: str) -> bytes:
    lines = text.splitlines()
    i = line % len(lines)
    cells = lines[i].split(",")
    cells[col % len(cells)] = cell
    lines[i] = ",".join(cells)
    return ("\n".join(lines) + "\n").encode()


@PROPS
@given(
    name=hs.sampled_from(["summary.csv", "paired.csv"]),
    edit=hs.one_of(
        hs.binary(max_size=300).map(lambda b: ("raw", b)),
        hs.tuples(hs.integers(0, 50), hs.integers(0, 30), number_text).map(lambda t: ("cell", t)),
    ),
)
def test_any_bytes_in_summary_or_paired_give_possible_rows_or_a_problem(sweep, name, edit) -> None:
    from bedash.store.sweepfiles import METRICS
    from bedash.sweep.run import write_stats

    write_stats(sweep)
    path = sweep.path / name
    kind, what = edit
    body = what if kind == "raw" else _mutate(path.read_text(), *what)
    path.write_bytes(body)
    try:
        data, rows = read_stats(path, paired=name == "paired.csv")
    except FileProblem as e:
        assert str(e).startswith(name) and len(str(e)) < 400
        return
    assert data == body
    for r in rows:
        cell = METRICS.get(r["metric"])
        lo, hi = (cell.lo, cell.hi) if hasattr(cell, "lo") else (-1e300, 1e300)
        for k in ("mean", "mean_model", "mean_baseline"):
            if k in r:
                assert math.isfinite(r[k]) and lo <= r[k] <= hi
        assert r["config"] >= 0 and r["n"] >= 1


# -- run files: pages, downloads and a cell's shipped files never follow a link or a FIFO -----


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from bedash.experiment import run_experiment
    from bedash.settings.config import RunConfig

    root = tmp_path_factory.mktemp("one_path_runs")
    cfg = RunConfig(dataset="synthetic", train_size=128, test_size=64, epochs=2, hidden=8,
                    members=2, batch_size=64, device="cpu")  # fmt: skip
    assert run_experiment(cfg, root / "20260101-000000-aaaaaa").status == "finished"
    return root / "20260101-000000-aaaaaa"


def _copy(run: Path, tmp_path: Path) -> Path:
    import shutil

    dest = tmp_path / "runs" / run.name
    shutil.copytree(run, dest)
    return dest


def _results_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_id: str):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("BEDASH_RUNS_DIR", str(tmp_path / "runs"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["run"] = run_id
    at.run()
    at.switch_page("pages/results.py").run()
    return at.run()


@pytest.mark.parametrize("kind", ["fifo", "inf", "huge"])
def test_steps_csv_is_read_by_the_validated_reader(run_folder, tmp_path, monkeypatch, kind):
    """steps.csv as a FIFO (it used to hang the page), with a loss of 1e400 (OverflowError on
    the Training tab), or larger than the cap: the page names the file, never hangs or raises."""
    run = _copy(run_folder, tmp_path)
    steps = run / "steps.csv"
    steps.unlink()
    if kind == "fifo":
        os.mkfifo(steps)
    elif kind == "inf":
        steps.write_text("model,member,x,loss\nbatchensemble,,1.0,1e400\n")
    else:
        with steps.open("wb") as f:  # sparse: 65 MiB of nothing
            f.truncate(65 << 20)
    at = _results_page(tmp_path, monkeypatch, run.name)
    assert not at.exception
    (shown,) = [re.sub(r"\\(.)", r"\1", w.value) for w in at.warning if "steps" in w.value]
    why = {"fifo": "is a FIFO", "inf": "'1e400' is not a finite number", "huge": "larger than"}
    assert shown.startswith("Left out, damaged: steps.csv") and why[kind] in shown, shown


def test_a_linked_members_csv_is_not_downloaded_nor_zipped(run_folder, tmp_path) -> None:
    """members.csv replaced by a link to a file outside: the download serves nothing (the
    button greys out) and the run's zip leaves it out; a FIFO too."""
    import io
    import zipfile

    from bedash.dashboard.rundata import file_bytes, run_zip

    run = _copy(run_folder, tmp_path)
    secret = tmp_path / "secret.csv"
    secret.write_bytes((run / "members.csv").read_bytes())
    (run / "members.csv").unlink()
    (run / "members.csv").symlink_to(secret)
    os.mkfifo(run / "history.csv.fifo.csv")
    assert (
        file_bytes(run / "members.csv") == b"" and file_bytes(run / "history.csv.fifo.csv") == b""
    )
    assert file_bytes(run / "results.csv") == (run / "results.csv").read_bytes()
    names = set(zipfile.ZipFile(io.BytesIO(run_zip(run))).namelist())
    assert f"{run.name}/results.csv" in names and f"{run.name}/members.csv" not in names
    assert f"{run.name}/history.csv.fifo.csv" not in names


def test_a_cells_shipped_files_follow_no_link_and_open_no_fifo(tmp_path) -> None:
    from bedash.sweep.cell import run_files

    (tmp_path / "results.csv").write_text("model\n")
    (tmp_path / "members.csv").symlink_to("/etc/passwd")
    os.mkfifo(tmp_path / "history.csv")
    assert run_files(tmp_path) == {"results.csv": b"model\n"}


def test_a_damaged_paired_csv_is_a_message_on_a_cells_results_page(tmp_path, monkeypatch):
    """The verdict of a sweep's cell reads paired.csv through the reader: a blank config is a
    warning naming the file, and the page falls back to the one-seed verdict."""
    import json

    from tests.test_sweeps_page import _edit_row, _two_config_sweep

    (tmp_path / "runs").mkdir()
    folder = _two_config_sweep(tmp_path / "runs", "sweep-two")
    _edit_row(folder / "paired.csv", "batchensemble", "ensemble_acc", "config", "")
    cell = json.loads((folder / "sweep.json").read_text())["cells"][0]
    stamp = "2026-01-01T00:00:00+00:00"
    status = {"status": "finished", "started": stamp, "updated": stamp}
    (folder / cell["id"] / "status.json").write_text(json.dumps(status))
    monkeypatch.setenv("BEDASH_RUNS_DIR", str(tmp_path / "runs"))
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("pages/results.py")
    at.query_params["run"] = cell["id"]
    at.query_params["sweep"] = "sweep-two"
    at.run()
    assert not at.exception
    (warning,) = [w.value for w in at.warning if "paired statistics" in w.value]
    assert "paired\\.csv line" in warning and "config is empty" in warning
    assert not any("Paired over seeds" in i.value for i in at.info)
