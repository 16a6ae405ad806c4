"""The files of a run folder, declared once: each CSV's columns (type, bounds, need) and the
shape of the JSON objects that mark a run bedash wrote. bedash.store.readers' one generic
reader interprets them; `read_tables` reads a run's tables with them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bedash.names import (
    FINAL_STATUSES,
    HISTORY_COLUMNS,
    MEMBER_COLUMNS,
    OOD_COLUMNS,
    RELIABILITY_COLUMNS,
    RESULT_COLUMNS,
    SELECTIVE_COLUMNS,
    SHIFT_COLUMNS,
    STEP_COLUMNS,
    UNCERTAINTY_COLUMNS,
)
from bedash.store.readers import (
    CSV_LIMIT,
    JSON_LIMIT,
    Choice,
    FileProblem,
    Float,
    Int,
    Match,
    Row,
    Schema,
    Text,
    column,
    csv_rows,
    read_bytes,
    read_json,
    read_table,
    required,
    safe_text,
)

MAX_MATRIX = 4096  # members of an agreement matrix
MODEL_RE = re.compile(r"^[A-Za-z0-9_]{1,64}$")
TABLE_RE = re.compile(r"^(agreement|reliability)_([A-Za-z0-9_]{1,64})\.csv$")
UNCERTAINTY_RE = re.compile(r"^uncertainty_([A-Za-z0-9_]{1,64})\.csv$")  # per model, with --ood

BIG = 2**63 - 1
MODEL = Match(MODEL_RE, "a model name")
NAME = Text()  # a corruption, an OOD set, a score: newer runs may add names
COUNT = Int(0, BIG)
MEMBER = Int(0, 1 << 20)
SECONDS = Float(0.0, 1e12)
UNIT = Float(0.0, 1.0)
POS = Float(0.0, 1e300)  # NLL, entropies, sizes, speeds: never negative
BRIER = Float(0.0, 2.0)

RESULTS: Schema = {  # older runs may lack the later columns: None then
    "model": required(MODEL), "status": required(Choice(FINAL_STATUSES)),
    "members": Int(1, 1 << 20), "arch": Text(), "hidden": COUNT, "layers": COUNT,
    "epochs": COUNT, "batch_size": COUNT, "dataset": Text(), "device": Text(),
    "seed": Int(-BIG - 1, 2**64), "params": COUNT, "param_bytes": COUNT, "param_mb": POS,
    "params_rel_single": POS, "train_seconds": SECONDS, "epoch_seconds": SECONDS,
    "infer_seconds": SECONDS, "member_samples_per_s": POS, "mean_member_acc": UNIT,
    "ensemble_acc": UNIT, "vote_acc": UNIT, "oracle_acc": UNIT, "nll": POS, "ece": UNIT,
    "brier": BRIER, "mean_disagreement": UNIT, "infer_repeats": COUNT,
    "load_avg": Float(0.0, 1e9), "cpu_count": COUNT, "niceness": Int(-20, 19),
}  # fmt: skip
HISTORY: Schema = {
    "model": required(MODEL), "member": column(MEMBER), "epoch": required(COUNT),
    "loss": column(Float(-1e300, 1e300, infinite=True)),  # a diverged epoch's loss is inf
    "epoch_seconds": column(SECONDS), "samples_per_s": column(POS),
}  # fmt: skip
STEPS: Schema = {  # the log points of training; x: epochs done (fractional)
    "model": required(MODEL), "member": column(MEMBER), "x": required(Float(0.0, 1e12)),
    "loss": column(Float(-1e300, 1e300, infinite=True)),
}  # fmt: skip
MEMBERS: Schema = {
    "model": required(MODEL), "member": required(MEMBER), "accuracy": column(UNIT),
    "nll": column(POS),
}  # fmt: skip
RELIABILITY: Schema = {
    "bin": required(COUNT), "lower": required(UNIT), "upper": required(UNIT),
    "count": required(COUNT), "accuracy": column(UNIT), "confidence": column(UNIT),
}  # fmt: skip
SHIFT: Schema = {  # *_ts and the later columns: absent from older runs
    "model": required(MODEL), "corruption": required(NAME), "severity": required(Int(0, 5)),
    "acc": column(UNIT), "nll": POS, "ece": column(UNIT), "brier": BRIER, "entropy": POS,
    "mutual_info": POS, "expected_entropy": POS, "aurc": UNIT, "temperature": POS,
    "acc_ts": UNIT, "nll_ts": POS, "ece_ts": UNIT, "brier_ts": BRIER,
}  # fmt: skip
OOD: Schema = {
    "model": required(MODEL), "ood_set": required(NAME), "score": required(NAME),
    "auroc": column(UNIT), "aupr": column(UNIT), "fpr95": column(UNIT),
}  # fmt: skip
SELECTIVE: Schema = {
    "model": required(MODEL), "coverage": required(UNIT), "accuracy": column(UNIT),
    "risk": UNIT,
}  # fmt: skip
UNCERTAINTY: Schema = {  # uncertainty_<model>.csv
    "model": required(MODEL), "set": required(NAME), "quantity": required(NAME),
    "bin": required(COUNT), "lower": required(POS), "upper": required(POS),
    "count": required(COUNT), "fraction": column(UNIT),
}  # fmt: skip
_SCHEMAS = (RESULTS, HISTORY, STEPS, MEMBERS, RELIABILITY, SHIFT, OOD, SELECTIVE, UNCERTAINTY)
_COLUMNS = (RESULT_COLUMNS, HISTORY_COLUMNS, STEP_COLUMNS, MEMBER_COLUMNS, RELIABILITY_COLUMNS)
_COLUMNS += (SHIFT_COLUMNS, OOD_COLUMNS, SELECTIVE_COLUMNS, UNCERTAINTY_COLUMNS)
for schema, names in zip(_SCHEMAS, _COLUMNS, strict=True):
    assert list(schema) == names, names[:2]

# JSON objects: what makes a status.json or a config.json's _meta bedash's (keys not named
# here are free: a newer version may add some)
STATUS_JSON: Schema = {
    "status": required(Choice(("running", *FINAL_STATUSES))),
    "started": required(Text()),
    "updated": required(Text()),
}
CONFIG_META: Schema = {"bedash": required(Text())}  # config.json's _meta: bedash's version


def read_matrix(path: Path, data: bytes | None = None) -> list[Row]:
    """An agreement matrix (its columns depend on E, so no schema): header member,0..n-1; row
    i is {"member": i, "0": v, ...} with every v in 0..1 (None when empty)."""
    name = safe_text(path.name, 100)
    header, rows = csv_rows(path, data)
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
                row[str(j)] = UNIT.parse(text) if text else None
            except ValueError as e:
                raise FileProblem(f"{name} line {line}: {j} '{safe_text(text, 20)}' {e}") from None
        out.append(row)
    return out


def _load(file: Path, read: Callable[[Path], list[Row]], problems: list[str]) -> list[Row]:
    """read(file)'s rows; [] when the file is absent, plus a line in problems when unusable."""
    try:
        return read(file)
    except FileNotFoundError:
        pass
    except FileProblem as e:
        problems.append(str(e))
    except OSError as e:
        problems.append(f"cannot read {safe_text(file.name, 100)} ({safe_text(e, 100)})")
    return []


# -- a run's tables ----------------------------------------------------------------------------


@dataclass
class RunTables:
    """A run's CSVs as rows of int, float, str or None (empty cell), with every column of
    the file's schema (history: member None for the whole model). A file that is absent gives
    an empty table; one that fails validation, an empty table and a line in `problems` (safe
    to show as plain text)."""

    results: list[Row] = field(default_factory=list)
    members: list[Row] = field(default_factory=list)
    history: list[Row] = field(default_factory=list)
    agreement: dict[str, list[Row]] = field(default_factory=dict)
    reliability: dict[str, list[Row]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _per_model_files(path: Path, pattern: re.Pattern[str]) -> list[tuple[re.Match[str], Path]]:
    """(match, file) of the files in folder path whose names match pattern, sorted by name."""
    try:
        names = sorted(e.name for e in os.scandir(path))
    except OSError:
        return []
    return [(m, path / n) for n in names[:10_000] if (m := pattern.match(n))]


def read_tables(path: str | os.PathLike) -> RunTables:
    """Every CSV of the run folder path, validated (see RunTables). Never raises for what is
    in the folder, never blocks, never modifies anything."""
    p = Path(path)
    t = RunTables()

    def schema(s: Schema) -> Callable[[Path], list[Row]]:
        return lambda f: read_table(f, s)

    t.results = _load(p / "results.csv", schema(RESULTS), t.problems)
    t.members = _load(p / "members.csv", schema(MEMBERS), t.problems)
    t.history = _load(p / "history.csv", schema(HISTORY), t.problems)
    for m, file in _per_model_files(p, TABLE_RE):
        if m.group(1) == "agreement":
            if rows := _load(file, read_matrix, t.problems):
                t.agreement[m.group(2)] = rows
        elif rows := _load(file, schema(RELIABILITY), t.problems):
            t.reliability[m.group(2)] = rows
    return t


# the run's files by name: how each is checked before it is shown or downloaded
TABLES: dict[str, Schema] = {
    "results.csv": RESULTS, "members.csv": MEMBERS, "history.csv": HISTORY, "steps.csv": STEPS,
    "shift.csv": SHIFT, "ood.csv": OOD, "selective.csv": SELECTIVE,
}  # fmt: skip


def checked_bytes(path: Path) -> bytes:
    """The bytes of a run file once they pass its reader (a table its schema, JSON valid JSON),
    for a download or a zip: exactly what was checked. FileNotFoundError; FileProblem for a
    link, a FIFO, an oversized file, a file that fails its check or one bedash never writes."""
    name, schema = path.name, TABLES.get(path.name)
    if m := TABLE_RE.match(name):
        schema = RELIABILITY if m.group(1) == "reliability" else None
    elif UNCERTAINTY_RE.match(name):
        schema = UNCERTAINTY
    is_json = name.endswith(".json")
    if not is_json and not name.endswith(".csv"):
        raise FileProblem(f"{safe_text(name, 100)} is not a file bedash writes")
    data = read_bytes(path, JSON_LIMIT if is_json else CSV_LIMIT)
    if is_json:
        read_json(path, data)
    elif schema is not None:
        read_table(path, schema, data)
    elif TABLE_RE.match(name):
        read_matrix(path, data)
    else:
        csv_rows(path, data)  # a CSV of a newer version: UTF-8 CSV at least
    return data


def read_steps(path: str | os.PathLike) -> tuple[list[Row], list[str]]:
    """steps.csv of the run folder path, validated: (rows, problems), as read_tables' tables
    (not among them: a long run logs thousands of points that a listing never needs)."""
    problems: list[str] = []
    return _load(Path(path) / "steps.csv", lambda f: read_table(f, STEPS), problems), problems
