"""A sweep folder's statistics files (summary.csv, paired.csv and the shift and OOD pairs),
declared beside the run files' schemas and read by the same reader. A mean is bounded by its
metric's own column in the run files (ensemble_acc as in results.csv, auroc as in ood.csv): one
rule for a cell's number and for the mean of it, so 7.5, inf or NaN never reach a chart."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bedash.store.readers import (
    CSV_LIMIT,
    Choice,
    FileProblem,
    Float,
    Int,
    Match,
    Row,
    Schema,
    Text,
    column,
    read_bytes,
    read_table,
    required,
    safe_text,
)
from bedash.store.runfiles import BIG, MODEL, MODEL_RE, OOD, POS, RESULTS, SHIFT

METRICS: Schema = {**OOD, **SHIFT, **RESULTS}  # a metric's name -> its cell in a run file
FINITE = Float(-1e300, 1e300)
STAT_METRIC = required(Match(MODEL_RE, "a metric name"))  # a newer one: finite, unbounded


def stats_schema(key: Sequence[str] = (), paired: bool = False) -> Schema:
    """The columns bedash.sweep.rows writes (summary_columns / paired_columns), less the grid's
    fields (sweep.json holds their values); key: the run file's columns a row is keyed by.
    timing: why a time's numbers are no fair measure (under load, below train's priority)."""
    head: Schema = {"config": required(Int(0, BIG)), "label": column(Text())}
    keyed = {k: required(METRICS[k]) for k in key}
    better = {"metric": STAT_METRIC, "better": column(Choice(("higher", "lower")))}
    if not paired:
        return {**head, "model": required(MODEL), **keyed, **better, "mean": required(FINITE),
                "std": column(POS), "n": required(Int(1, BIG)), "ci_low": column(FINITE),
                "ci_high": column(FINITE), "timing": column(Text())}  # fmt: skip
    return {**head, **keyed, **better, "model": required(MODEL), "baseline": required(MODEL),
            "mean_model": required(FINITE), "mean_baseline": required(FINITE),
            "mean_diff": required(FINITE), "ci_low": column(FINITE), "ci_high": column(FINITE),
            "n": required(Int(1, BIG)), "verdict": required(Text()),
            # added by issue 21 (absent from older files): which seeds were paired
            "n_paired": Int(1, BIG), "seeds_paired": Text(), "seeds_unpaired": Text(),
            "timing": column(Text())}  # fmt: skip


def row_problem(row: Row) -> str:
    """Why a row of a statistics file holds an impossible number, or "": a mean outside its
    metric's range (a difference outside the range's width), an interval that misses its mean."""
    cell = METRICS.get(row["metric"])
    lo, hi = (cell.lo, cell.hi) if isinstance(cell, Int | Float) else (-1e300, 1e300)
    metric = row["metric"]
    for name in ("mean", "mean_model", "mean_baseline"):
        if name in row and not lo <= row[name] <= hi:
            return f"{name} {row[name]:g} of {metric} is outside {lo:g}..{hi:g}"
    if "mean_diff" in row and not lo - hi <= row["mean_diff"] <= hi - lo:
        return f"mean_diff {row['mean_diff']:g} of {metric} is outside {lo - hi:g}..{hi - lo:g}"
    mid = row.get("mean", row.get("mean_diff"))
    low, high = row["ci_low"], row["ci_high"]
    if low is not None and high is not None and not low <= mid <= high:
        return f"the interval of {metric} does not hold its mean"
    return ""


def read_stats(
    path: Path, key: Sequence[str] = (), paired: bool = False
) -> tuple[bytes, list[Row]]:
    """(the file's bytes, its typed rows): a statistics file read against stats_schema and
    row_problem. FileNotFoundError when absent; FileProblem naming the file, line and column."""
    data = read_bytes(path, CSV_LIMIT)
    rows = read_table(path, stats_schema(key, paired), data)
    for line, row in enumerate(rows, 2):
        if why := row_problem(row):
            raise FileProblem(f"{safe_text(path.name, 100)} line {line}: {why}")
    return data, rows
