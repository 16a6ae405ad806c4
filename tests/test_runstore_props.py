"""Property tests of the run-store readers: whatever bytes a run file holds, read_run answers
with a known status and printable text, read_tables with typed rows, and list_runs still lists
every other run. Nothing is modified, nothing raises."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bedash.names import HISTORY_COLUMNS, RESULT_COLUMNS, RUN_STATUSES
from bedash.store.readers import safe_text
from bedash.store.runfiles import read_tables
from bedash.store.runs import list_runs, read_run
from bedash.store.writer import RunWriter

FILES = [
    "config.json", "status.json", "history.csv", "results.csv", "members.csv",
    "agreement_single.csv", "reliability_single.csv",
]  # fmt: skip
UNSAFE = ("Cc", "Cf", "Cs", "Zl", "Zp", "Co", "Cn")
PROPS = settings(
    max_examples=int(os.environ.get("BEDASH_PROP_EXAMPLES", "80")),  # more: a deeper search
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# -- what a run file may hold ----------------------------------------------------------------

chars = st.one_of(st.characters(), st.integers(0xD800, 0xDFFF).map(chr))  # lone surrogates too
any_text = st.text(chars, max_size=40)
json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-(10**40), 10**40),
    st.floats(allow_nan=True, allow_infinity=True), any_text,
    st.sampled_from(["finished", "running", "\x1b[31m", "\u202e", ""]),
)  # fmt: skip
json_value = st.recursive(
    json_scalar,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(any_text, c, max_size=4),
    max_leaves=16,
)
config_like = st.dictionaries(
    st.sampled_from(["models", "members", "hidden", "lr", "dataset", "extra", "_meta", "seed",
                     "compile", "epochs", "device"]) | any_text,
    json_value, max_size=8,
)  # fmt: skip
status_like = st.fixed_dictionaries(
    {"status": st.sampled_from([*RUN_STATUSES, "exploded"]) | any_text},
    optional={
        "started": any_text | json_value, "updated": any_text, "error": json_value,
        "pid": st.integers(-5, 2**40) | json_value, "host": any_text,
        "pid_start": st.integers(-1, 2**40) | json_value, "boot_id": any_text,
    },
)  # fmt: skip
cell = st.one_of(
    st.sampled_from(["", "0", "1", "-1", "0.5", "2", "1e3", "inf", "-inf", "nan", "1e999",
                     "single", "finished", "diverged", "abc", "\x1b[2J", "1_0", " 1"]),
    any_text,
)  # fmt: skip
header = st.one_of(
    st.just(RESULT_COLUMNS),
    st.just(HISTORY_COLUMNS),
    st.just(["model", "member", "accuracy", "nll"]),
    st.just(["member", "0", "1"]),
    st.just(["bin", "lower", "upper", "count", "accuracy", "confidence"]),
    st.lists(cell, max_size=6),
)


@st.composite
def csv_text(draw: Any) -> str:
    cols = draw(header)
    n = len(cols)
    rows = draw(st.lists(st.lists(cell, min_size=max(0, n - 1), max_size=n + 1), max_size=5))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    w.writerows(rows)
    text = buf.getvalue()
    return text if draw(st.booleans()) else text[: draw(st.integers(0, len(text)))]


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # lone surrogates become invalid UTF-8


content = st.one_of(
    st.binary(max_size=200),
    any_text.map(_bytes),
    json_value.map(lambda v: _bytes(json.dumps(v))),
    config_like.map(lambda v: _bytes(json.dumps(v))),
    status_like.map(lambda v: _bytes(json.dumps(v))),
    status_like.map(lambda v: _bytes(json.dumps(v, ensure_ascii=False))),
    csv_text().map(_bytes),
)

# -- a finished run to damage ----------------------------------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "good"
    w = RunWriter(path)
    w.write_config({"models": ["single"], "members": 1, "extra": {"notes": "a\nb"}}, {})
    w.set_status("running")
    w.add_history([{"model": "single", "member": None, "epoch": 1, "loss": 1.5,
                    "epoch_seconds": 0.1, "samples_per_s": 10.0}])  # fmt: skip
    w.add_result({"model": "single", "status": "finished", "members": 1, "ensemble_acc": 0.5},
                 [{"model": "single", "member": 0, "accuracy": 0.5, "nll": 1.2}])  # fmt: skip
    w.write_matrix("agreement_single.csv", [[1.0]])
    w.write_table("reliability_single.csv", ["bin", "lower", "upper", "count", "accuracy",
                  "confidence"], [{"bin": 0, "lower": 0.0, "upper": 1.0, "count": 4,
                                   "accuracy": 0.5, "confidence": 0.6}])  # fmt: skip
    w.set_status("finished")
    assert read_run(path).status == "finished"
    return path


def _runs_dir(template: Path) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="bedash-props-"))
    try:
        shutil.copytree(template, root / "good")
        shutil.copytree(template, root / "fuzzed")
        yield root
    finally:
        shutil.rmtree(root)


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def printable(text: str, *, newlines: bool = False) -> bool:
    ok = "\n\t" if newlines else ""
    return isinstance(text, str) and all(
        c in ok or unicodedata.category(c) not in UNSAFE for c in text
    )


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)


def _typed_rows(rows: list[dict[str, Any]], infinite: tuple[str, ...] = ()) -> bool:
    for row in rows:
        for col, v in row.items():
            if v is None or (isinstance(v, (int, str)) and not isinstance(v, bool)):
                if isinstance(v, str) and not printable(v):
                    return False
                continue
            if not isinstance(v, float) or math.isnan(v):
                return False
            if math.isinf(v) and col not in infinite:
                return False
    return True


def _check_info(info: Any) -> None:
    assert info.status in RUN_STATUSES
    assert printable(info.reason) and printable(info.started) and printable(info.run_id)
    assert len(info.reason) <= 501 and len(info.started) <= 65
    assert info.status != "damaged" or info.reason  # damage is always explained
    assert isinstance(info.config, dict)
    assert all(printable(s, newlines=True) for s in _strings(info.config))
    assert _typed_rows(info.results)


# -- the properties ----------------------------------------------------------------------------


@PROPS
@given(name=st.sampled_from(FILES), data=content)
def test_read_run_answers_for_any_content_of_any_file(
    template: Path, name: str, data: bytes
) -> None:
    for root in _runs_dir(template):
        (root / "fuzzed" / name).write_bytes(data)
        before = _snapshot(root)
        info = read_run(root / "fuzzed")
        _check_info(info)
        tables = read_tables(root / "fuzzed")
        assert all(printable(p) for p in tables.problems)
        assert _typed_rows(tables.history, infinite=("loss",))
        for rows in (tables.results, tables.members, *tables.agreement.values(),
                     *tables.reliability.values()):  # fmt: skip
            assert _typed_rows(rows)
        assert _snapshot(root) == before  # reading changes nothing


@PROPS
@given(files=st.dictionaries(st.sampled_from(FILES), content, min_size=1, max_size=len(FILES)))
def test_a_fuzzed_folder_never_hides_or_breaks_another_run(
    template: Path, files: dict[str, bytes]
) -> None:
    for root in _runs_dir(template):
        for name, data in files.items():
            (root / "fuzzed" / name).write_bytes(data)
        got = {r.run_id: r for r in list_runs(root)}
        assert set(got) == {"good", "fuzzed"}
        assert got["good"].status == "finished" and got["good"].results[0]["ensemble_acc"] == 0.5
        _check_info(got["fuzzed"])


@PROPS
@given(text=st.text(chars, max_size=800), limit=st.integers(1, 600), newlines=st.booleans())
def test_safe_text_is_printable_capped_and_idempotent(
    text: str, limit: int, newlines: bool
) -> None:
    out = safe_text(text, limit, newlines=newlines)
    assert printable(out, newlines=newlines)
    assert len(out) <= limit + 1
    assert safe_text(out, limit, newlines=newlines) == out
    if printable(text) and len(text) <= limit and "\\" not in text:
        assert out == text  # plain text passes unchanged
