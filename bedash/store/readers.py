"""Reading a run's files without trusting them: every file, cell and string is checked.

- Only regular files are opened (lstat first): a FIFO would block forever, a device may never
  end, a symbolic link may lead anywhere. Bytes read are capped.
- CSV cells become typed values (int, float, str or None for an empty cell) within bounds; a
  word, NaN, infinity (except a diverged epoch's loss), a missing column or a row with the
  wrong number of cells is a FileProblem naming the file, the line and the column.
- Text that reaches a user (reasons, names, config strings) goes through `safe_text`: control
  and formatting characters escaped, lone surrogates replaced, length capped.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import stat
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bedash.names import (
    FINAL_STATUSES,
    HISTORY_COLUMNS,
    MEMBER_COLUMNS,
    RELIABILITY_COLUMNS,
    RESULT_COLUMNS,
)

JSON_LIMIT = 1 << 20  # config.json, status.json: a few KiB when bedash writes them
CSV_LIMIT = 64 << 20  # history.csv of 10,000 epochs x 64 members is ~30 MiB
MAX_MATRIX = 4096  # members of an agreement matrix
TEXT_LIMIT = 500  # characters of a reason or a name shown to a user
MODEL_RE = re.compile(r"^[A-Za-z0-9_]{1,64}$")
TABLE_RE = re.compile(r"^(agreement|reliability)_([A-Za-z0-9_]{1,64})\.csv$")
_INF = {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf}
Row = dict[str, Any]
_UNSEEN = object()


class FileProblem(ValueError):
    """One run file cannot be used; str(e) says which file and why (safe to print)."""


# -- text --------------------------------------------------------------------------------------


def safe_text(value: Any, limit: int = TEXT_LIMIT, *, newlines: bool = False) -> str:
    """value as text that is safe to print on a terminal or a page: control and formatting
    characters (ESC, bidi overrides...) escaped as \\xNN / \\uNNNN, lone surrogates replaced
    by U+FFFD, at most `limit` characters (then '…'). newlines=True keeps \\n and \\t."""
    text = value if isinstance(value, str) else str(value)
    out: list[str] = []
    for ch in text[: limit + 1]:
        cat = unicodedata.category(ch)
        if cat == "Cs":
            out.append("\ufffd")
        elif newlines and ch in "\n\t":
            out.append(ch)
        elif cat in ("Cc", "Cf", "Zl", "Zp", "Co", "Cn"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    s = "".join(out)
    return s[:limit] + "…" if len(text) > limit or len(s) > limit else s


def clean_json(value: Any, limit: int = 2000) -> Any:
    """A JSON value with every string (keys included) made safe_text (newlines kept)."""
    if isinstance(value, str):
        return safe_text(value, limit, newlines=True)
    if isinstance(value, list):
        return [clean_json(v, limit) for v in value]
    if isinstance(value, dict):
        return {safe_text(k, 200): clean_json(v, limit) for k, v in value.items()}
    return value


# -- files -------------------------------------------------------------------------------------


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def read_bytes(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most limit bytes. FileNotFoundError when absent;
    FileProblem for a link, a FIFO, a device, a folder or a larger file. Never blocks."""
    name = safe_text(path.name, 100)
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise FileProblem(f"{name} is a symbolic link (bedash writes none; it is not followed)")
    if not stat.S_ISREG(st.st_mode):
        raise FileProblem(f"{name} is {_kind(st.st_mode)}, not a file bedash wrote")
    if st.st_size > limit:
        raise FileProblem(f"{name} is larger than {limit >> 20} MiB ({st.st_size} bytes)")
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped since the lstat
            raise FileProblem(f"{name} is not a regular file")
        chunks, size = [], 0
        while size <= limit and (chunk := os.read(fd, min(1 << 20, limit + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise FileProblem(f"{name} is larger than {limit >> 20} MiB")
    return b"".join(chunks)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def read_json(path: Path) -> Any:
    """The JSON value of path; FileNotFoundError when absent, FileProblem when unusable."""
    data = read_bytes(path, JSON_LIMIT)
    name = safe_text(path.name, 100)
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise FileProblem(f"invalid JSON in {name} (not UTF-8 text)") from None
    except RecursionError:
        raise FileProblem(f"invalid JSON in {name} (nested too deeply)") from None
    except ValueError as e:
        raise FileProblem(f"invalid JSON in {name} ({safe_text(e, 120)})") from None


# -- cells -------------------------------------------------------------------------------------

Parse = Callable[[str], Any]  # cell text -> value; ValueError says why (without the cell)


def _int(lo: int, hi: int) -> Parse:
    def parse(text: str) -> int:
        digits = text[1:] if text[:1] in "+-" else text
        if not (digits.isascii() and digits.isdigit() and len(digits) <= 20):
            raise ValueError("is not a whole number")
        v = int(text)
        if not lo <= v <= hi:
            raise ValueError(f"is outside {lo}..{hi}")
        return v

    return parse


_WORDS = {"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "nan", "+nan", "-nan"}


def _float(lo: float, hi: float, *, infinite: bool = False) -> Parse:
    def parse(text: str) -> float:
        try:  # float() first: the common case costs one call (history.csv has 100k cells)
            v = float(text)
        except ValueError:
            raise ValueError("is not a number") from None
        if not text.isascii() or "_" in text or text[0].isspace() or text[-1].isspace():
            raise ValueError("is not a number")  # what float() takes and bedash never writes
        if v - v != 0.0:  # inf or nan
            low = text.lower()
            if infinite and low in _INF:
                return _INF[low]
            raise ValueError("is not a number" if low in _WORDS else "is not a finite number")
        if not lo <= v <= hi:
            raise ValueError(f"is outside {lo:g}..{hi:g}")
        return v

    return parse


def _choice(allowed: tuple[str, ...]) -> Parse:
    def parse(text: str) -> str:
        if text not in allowed:
            raise ValueError(f"is not one of {', '.join(allowed)}")
        return text

    return parse


def _model(text: str) -> str:
    if not MODEL_RE.match(text):
        raise ValueError("is not a model name")
    return text


def _text(text: str) -> str:
    return safe_text(text, 300)


BIG = 2**63 - 1
_COUNT = _int(0, BIG)
_SECONDS = _float(0.0, 1e12)
_UNIT = _float(0.0, 1.0)
_POS = _float(0.0, 1e300)

# column -> (parse, required): a required column must exist and its cells must not be empty
Spec = dict[str, tuple[Parse, bool]]
RESULT_SPEC: Spec = {
    "model": (_model, True), "status": (_choice(FINAL_STATUSES), True),
    "members": (_int(1, 1 << 20), False), "arch": (_text, False), "hidden": (_COUNT, False),
    "layers": (_COUNT, False), "epochs": (_COUNT, False), "batch_size": (_COUNT, False),
    "dataset": (_text, False), "device": (_text, False), "seed": (_int(-BIG - 1, 2**64), False),
    "params": (_COUNT, False), "param_bytes": (_COUNT, False), "param_mb": (_POS, False),
    "params_rel_single": (_POS, False), "train_seconds": (_SECONDS, False),
    "epoch_seconds": (_SECONDS, False), "infer_seconds": (_SECONDS, False),
    "member_samples_per_s": (_POS, False), "mean_member_acc": (_UNIT, False),
    "ensemble_acc": (_UNIT, False), "vote_acc": (_UNIT, False), "oracle_acc": (_UNIT, False),
    "nll": (_POS, False), "ece": (_UNIT, False), "brier": (_float(0.0, 2.0), False),
    "mean_disagreement": (_UNIT, False), "infer_repeats": (_COUNT, False),
    "load_avg": (_float(0.0, 1e9), False), "cpu_count": (_COUNT, False),
}  # fmt: skip
HISTORY_SPEC: Spec = {
    "model": (_model, True), "member": (_int(0, 1 << 20), False), "epoch": (_COUNT, True),
    "loss": (_float(-1e300, 1e300, infinite=True), False),  # a diverged epoch's loss is inf
    "epoch_seconds": (_SECONDS, False), "samples_per_s": (_POS, False),
}  # fmt: skip
MEMBER_SPEC: Spec = {
    "model": (_model, True), "member": (_int(0, 1 << 20), True), "accuracy": (_UNIT, False),
    "nll": (_POS, False),
}  # fmt: skip
RELIABILITY_SPEC: Spec = {
    "bin": (_COUNT, True), "lower": (_UNIT, True), "upper": (_UNIT, True),
    "count": (_COUNT, True), "accuracy": (_UNIT, False), "confidence": (_UNIT, False),
}  # fmt: skip
assert list(RESULT_SPEC) == RESULT_COLUMNS and list(HISTORY_SPEC) == HISTORY_COLUMNS
assert list(MEMBER_SPEC) == MEMBER_COLUMNS and list(RELIABILITY_SPEC) == RELIABILITY_COLUMNS
# the columns a file must have (older runs may lack the later result columns: None then)
REQUIRED_COLUMNS = {
    "results.csv": ["model", "status"],
    "history.csv": HISTORY_COLUMNS,
    "members.csv": MEMBER_COLUMNS,
    "reliability": RELIABILITY_COLUMNS,
}


def _csv_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(header, [(line number, cells)]) of a whole CSV file bedash wrote."""
    name = safe_text(path.name, 100)
    try:
        text = read_bytes(path, CSV_LIMIT).decode("utf-8")
    except UnicodeDecodeError:
        raise FileProblem(f"{name} is not UTF-8 text") from None
    if not text:
        raise FileProblem(f"{name} is empty")
    if not text.endswith("\n"):
        raise FileProblem(f"{name} is truncated (no final newline)")
    try:
        lines = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as e:
        raise FileProblem(f"{name} is not valid CSV ({safe_text(e, 100)})") from None
    header, rows = lines[0], lines[1:]
    return header, [(i, r) for i, r in enumerate(rows, 2)]


def parse_table(path: Path, spec: Spec, required: list[str]) -> list[Row]:
    """Typed rows of a CSV: every column of spec in every row (None when empty or absent
    from an older file); FileProblem for anything else."""
    name = safe_text(path.name, 100)
    header, rows = _csv_rows(path)
    missing = [c for c in required if c not in header]
    if missing:
        raise FileProblem(f"{name} lacks columns {missing}")
    if len(set(header)) != len(header):
        raise FileProblem(f"{name} repeats a column")
    n = len(header)
    # in the spec's column order; a column absent from an older file reads as empty cells
    plan = [(c, header.index(c) if c in header else -1, *spec[c], {"": None}) for c in spec]
    out: list[Row] = []
    for line, cells in rows:
        if len(cells) != n:
            raise FileProblem(f"{name} line {line} has the wrong number of cells")
        row: Row = {}
        for col, i, parse, needed, seen in plan:
            text = cells[i] if i >= 0 else ""
            # the same cell text parses to the same value: model names, members and epochs
            # repeat on every row of history.csv (a memo halves the time of a long one)
            value = seen.get(text, _UNSEEN)
            if value is _UNSEEN:
                try:
                    value = parse(text)
                except ValueError as e:
                    raise FileProblem(
                        f"{name} line {line}: {col} '{safe_text(text, 20)}' {e}"
                    ) from None
                if len(seen) < 256:
                    seen[text] = value
            elif value is None and needed:
                raise FileProblem(f"{name} line {line}: {col} is empty")
            row[col] = value
        out.append(row)
    return out


def parse_matrix(path: Path) -> list[Row]:
    """An agreement matrix: header member,0..n-1; row i is {"member": i, "0": v, ...} with
    every v in 0..1 (None when empty)."""
    name = safe_text(path.name, 100)
    header, rows = _csv_rows(path)
    n = len(header) - 1
    if header[:1] != ["member"] or header[1:] != [str(j) for j in range(n)] or n < 1:
        raise FileProblem(f"{name} has an unexpected header (member,0,1,...)")
    if n > MAX_MATRIX:
        raise FileProblem(f"{name} has more than {MAX_MATRIX} members")
    if len(rows) != n:
        raise FileProblem(f"{name} has {len(rows)} rows for {n} members")
    out: list[Row] = []
    for i, (line, cells) in enumerate(rows):
        if len(cells) != n + 1:
            raise FileProblem(f"{name} line {line} has the wrong number of cells")
        if cells[0] != str(i):
            raise FileProblem(f"{name} line {line}: member '{safe_text(cells[0], 20)}' is not {i}")
        row: Row = {"member": i}
        for j, text in enumerate(cells[1:]):
            try:
                row[str(j)] = _UNIT(text) if text else None
            except ValueError as e:
                raise FileProblem(f"{name} line {line}: {j} '{safe_text(text, 20)}' {e}") from None
        out.append(row)
    return out


# -- a run's tables ----------------------------------------------------------------------------


@dataclass
class RunTables:
    """A run's CSVs as plain Python rows, each value int, float, str or None (empty cell).

    results: results.csv rows with every RESULT_COLUMNS key; members: members.csv rows
    (model, member, accuracy, nll); history: history.csv rows (member None for the whole
    model); agreement[model]: rows {"member": i, "0": v0, "1": v1, ...}; reliability[model]:
    rows (bin, lower, upper, count, accuracy, confidence). A file that is absent gives an
    empty table; a file that fails validation gives an empty table and a line in `problems`
    ("results.csv line 3: nll 'abc' is not a number"), safe to show as plain text.
    `pandas.DataFrame(rows)` turns any table into a frame with the file's columns.
    """

    results: list[Row] = field(default_factory=list)
    members: list[Row] = field(default_factory=list)
    history: list[Row] = field(default_factory=list)
    agreement: dict[str, list[Row]] = field(default_factory=dict)
    reliability: dict[str, list[Row]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _table_files(path: Path) -> list[tuple[str, str, Path]]:
    """(kind, model, path) of the agreement_/reliability_ files, sorted by name."""
    try:
        names = sorted(e.name for e in os.scandir(path))
    except OSError:
        return []
    found = []
    for n in names[:10_000]:
        if m := TABLE_RE.match(n):
            found.append((m.group(1), m.group(2), path / n))
    return found


def read_tables(path: str | os.PathLike) -> RunTables:
    """Every CSV of the run folder path, validated (see RunTables). Never raises for what is
    in the folder, never blocks, never modifies anything."""
    p = Path(path)
    t = RunTables()

    def load(file: Path, reader: Callable[[Path], list[Row]]) -> list[Row]:
        try:
            return reader(file)
        except FileNotFoundError:
            return []
        except FileProblem as e:
            t.problems.append(str(e))
        except OSError as e:
            t.problems.append(f"cannot read {safe_text(file.name, 100)} ({safe_text(e, 100)})")
        return []

    def spec_reader(spec: Spec, required: list[str]) -> Callable[[Path], list[Row]]:
        return lambda f: parse_table(f, spec, required)

    t.results = load(p / "results.csv", spec_reader(RESULT_SPEC, REQUIRED_COLUMNS["results.csv"]))
    t.members = load(p / "members.csv", spec_reader(MEMBER_SPEC, MEMBER_COLUMNS))
    t.history = load(p / "history.csv", spec_reader(HISTORY_SPEC, HISTORY_COLUMNS))
    for kind, model, file in _table_files(p):
        if kind == "agreement":
            rows = load(file, parse_matrix)
            if rows:
                t.agreement[model] = rows
        else:
            rows = load(file, spec_reader(RELIABILITY_SPEC, RELIABILITY_COLUMNS))
            if rows:
                t.reliability[model] = rows
    return t
