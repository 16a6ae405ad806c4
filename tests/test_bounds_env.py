"""Issue 24: every size a user types is checked arithmetically before anything is built, and
the BEDASH_* environment is checked like flags at start-up (CLI exit 2, a page's st.error)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from bedash.__main__ import main as bedash_main
from bedash.dashboard.sweepform import parse_grid
from bedash.settings.config import RunConfig
from bedash.settings.profile import current_limits
from bedash.sweep import cli as sweep_cli
from bedash.sweep.grid import SweepError, parse_seeds

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--dataset", "synthetic", "--train-size", "64", "--test-size", "32", "--epochs", "1",
        "--hidden", "8", "--device", "cpu", "--quiet"]  # fmt: skip
HUGE = "0-2147483647"  # every seed there is: 2**31 of them


def sweep(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = sweep_cli.main(argv)
    except SystemExit as e:
        code = int(e.code or 0)
    return code, capsys.readouterr().err


def peak_bytes(call) -> tuple[int, object]:
    """The most memory Python allocated while call() ran (tracemalloc), and what it raised."""
    tracemalloc.start()
    try:
        call()
        raised = None
    except (SweepError, SystemExit) as e:
        raised = e
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak, raised


# -- sizes: refused by arithmetic, before a list is built ---------------------------------------


def test_a_huge_seed_range_is_refused_before_any_list_is_built(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sw"
    # two million seeds: a list of them (and the duplicate check's set) is over 100 MB
    peak, _ = peak_bytes(lambda: sweep_cli.main([*TINY, "--seeds", "0-1999999", "--out", str(out)]))
    assert peak < 5 * 2**20, f"{peak} bytes allocated to refuse a 2,000,000-seed grid"
    capsys.readouterr()
    t0 = time.perf_counter()
    code, err = sweep([*TINY, "--seeds", HUGE, "--out", str(out)], capsys)
    assert time.perf_counter() - t0 < 1.0  # a generous bound: it is arithmetic
    assert code == 2
    assert err.strip().splitlines() == [
        "bedash sweep: error: --max-cells: the grid has 2147483648 cells (1 configs x "
        "2147483648 seeds), more than the limit of 1000"
    ]
    code, err = sweep([*TINY, "--members", "2,3", "--seeds", HUGE, "--out", str(out)], capsys)
    assert code == 2 and "the grid has 4294967296 cells (2 configs x 2147483648 seeds)" in err
    assert not out.exists()


def test_max_cells_is_itself_bounded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--max-cells raises the cap, but not past what fits in memory: a typed 10**12 is refused,
    and so is 0 (which refused every grid with a message about the grid)."""
    out = tmp_path / "sw"
    for value in ("0", "-5", "1000000000000"):
        code, err = sweep([*TINY, "--max-cells", value, "--seeds", HUGE, "--out", str(out)], capsys)
        assert code == 2
        assert err.strip().splitlines() == [
            f"bedash sweep: error: --max-cells: must be from 1 to 10000 (got {value})"
        ]
    assert not out.exists()


def test_parse_seeds_counts_before_it_lists() -> None:
    peak, raised = peak_bytes(lambda: parse_seeds("0-1999999"))
    assert isinstance(raised, SweepError) and raised.field == "seeds"
    assert "2000000 seeds, more than the limit of 10000" in raised.message
    assert peak < 2**20
    assert parse_seeds("5-7,0") == [5, 6, 7, 0]  # the order typed
    with pytest.raises(SweepError, match="twice"):
        parse_seeds(f"0-{2**31 - 1},5")
    for big in ("0-99999999999999999999", "1-" + "9" * 5000):  # int() refuses 4301 digits
        with pytest.raises(SweepError, match="at most 2147483647"):
            parse_seeds(big)


def test_the_sweeps_page_refuses_a_huge_grid_before_building_it() -> None:
    peak, raised = peak_bytes(lambda: parse_grid(RunConfig(), {}, HUGE))
    assert isinstance(raised, SweepError) and raised.field == "max_cells"
    assert raised.message == (
        "the grid has 2147483648 cells (1 configs x 2147483648 seeds), more than the limit of 64"
    )
    assert peak < 2**20
    with pytest.raises(SweepError, match=r"64 cells \(8 configs x 8 seeds\).*limit of 8 \(demo"):
        parse_grid(RunConfig(), {"members": "1,2,3,4,5,6,7,8"}, "0-7",
                   limits=current_limits({"BEDASH_PROFILE": "demo"}))  # fmt: skip


# -- the environment: checked like flags at start-up ----------------------------------------------

BAD_ENV = [
    ("BEDASH_PROFILE", "demos", "unknown profile 'demos'; allowed: default, demo"),
    ("BEDASH_MAX_JOBS", "lots", "must be a whole number from 1 to 64 (got 'lots')"),
    ("BEDASH_MAX_JOBS", "0", "must be a whole number from 1 to 64 (got '0')"),
    ("BEDASH_SWEEP_ENGINE", "rya", "unknown sweep engine 'rya'; allowed: ray, local"),
    ("BEDASH_PROFLE", "demo", "unknown setting; did you mean BEDASH_PROFILE?"),
    ("bedash_profile", "demo", "unknown setting; did you mean BEDASH_PROFILE?"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD_ENV)
def test_a_bad_environment_variable_exits_2_naming_it(
    name: str, value: str, message: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A typo in BEDASH_PROFILE used to drop every demo cap without a word."""
    monkeypatch.setenv(name, value)
    for argv in (["runs", "list", "--runs-dir", str(tmp_path)], ["sweep", "--seeds", "0"]):
        try:
            code = bedash_main(argv)
        except SystemExit as e:
            code = int(e.code or 0)
        assert code == 2
        assert capsys.readouterr().err.strip().splitlines() == [f"bedash: {name}: {message}"]
    assert not any(tmp_path.iterdir())


def test_the_library_refuses_an_unknown_profile_instead_of_dropping_the_caps() -> None:
    from bedash.settings.profile import EnvError

    with pytest.raises(EnvError) as e:
        current_limits({"BEDASH_PROFILE": "demos"})
    assert (e.value.field, e.value.message) == (
        "BEDASH_PROFILE", "unknown profile 'demos'; allowed: default, demo"
    )  # fmt: skip
    assert current_limits({"BEDASH_PROFILE": " Demo "}).name == "demo"  # as before
    assert current_limits({"BEDASH_PROFILE": ""}).name == "default"


@pytest.mark.parametrize(("name", "value", "message"), BAD_ENV)
def test_the_dashboard_names_a_bad_setting_at_start_up(
    name: str, value: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BEDASH_RUNS_DIR", str(tmp_path / "runs"))
    for var in ("BEDASH_PROFILE", "BEDASH_MAX_JOBS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(name, value)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [f"**{name}**: {message}"]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("BEDASH_PROFILE", "demos", "unknown profile 'demos'; allowed: default, demo"),
        ("BEDASH_PROFLE", "demo", "unknown setting; did you mean BEDASH_PROFILE?"),
    ],
)
def test_the_dashboard_names_a_bad_streamlit_secret(
    name: str, value: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BEDASH_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.delenv("BEDASH_PROFILE", raising=False)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.secrets[name] = value  # as .streamlit/secrets.toml or the host's settings
    at.run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [f"**{name}**: {message}"]


@pytest.mark.parametrize("engine", ["ray", "auto"])
def test_a_ray_that_fails_to_import_is_one_line_suggesting_local(
    engine: str, tmp_path: Path
) -> None:
    """Ray installed but broken (a missing shared library, a half upgrade): exit 2 with one
    line suggesting --engine local, instead of a traceback."""
    fake = tmp_path / "fake"
    (fake / "ray").mkdir(parents=True)
    (fake / "ray" / "__init__.py").write_text("raise ImportError('libray.so: cannot open')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake), str(ROOT)])}
    out = tmp_path / "sw"
    argv = [*TINY, "--seeds", "0", "--engine", engine, "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "bedash", "sweep", *argv], capture_output=True, text=True,
        env=env, cwd=str(ROOT), timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "bedash sweep: error: --engine: Ray is installed but cannot be imported (ImportError: "
        "libray.so: cannot open); repair it (pip install 'bedash[ray]') or use --engine local"
    ]
    assert not out.exists()
