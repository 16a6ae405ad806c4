"""A sweep's uncertainty statistics: shift.csv and ood.csv of its cells, over seeds.

For the cells run with --shift or --ood, summary_rows and paired_rows with a key, written as
shift_summary.csv / shift_paired.csv (per corruption and severity; "clean" is severity 0, "mean"
the mean of each seed's mean over the corruptions) and ood_summary.csv / ood_paired.csv (per OOD
set and score). Entropy and mutual information have no better direction: their verdict says
"higher" or "lower", never "better". A single model's mutual information is 0 by definition:
its rows by it are not paired (names.CONSTANT; CONSTANT_NOTE says why). Only finished model
kinds count (a diverged model's numbers do not). A pair of files exists only while some done
cell has its run file, so a resumed sweep never shows numbers of cells that are gone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bedash.names import CONSTANT_NOTE, left_out_notes  # noqa: F401 (re-exported)
from bedash.sweep.rows import (
    Record,
    cell_rows,
    floats,
    load_records,
    paired_columns,
    paired_rows,
    summary_columns,
    summary_rows,
)

# aurc: the area under the risk-coverage curve of selective prediction (selective.csv's curve
# is of the clean test set; shift.csv has its area for every set)
SHIFT_METRICS = ("acc", "nll", "ece", "brier", "entropy", "mutual_info", "aurc")
OOD_METRICS = ("auroc", "aupr", "fpr95")


@dataclass(frozen=True)
class Table:
    """One run file of the cells and the two sweep files made of it."""

    source: str  # the cells' file
    summary: str
    paired: str
    key: tuple[str, ...]  # what tells its rows apart besides the model
    metrics: tuple[str, ...]


SHIFT = Table(
    "shift.csv", "shift_summary.csv", "shift_paired.csv", ("corruption", "severity"), SHIFT_METRICS
)
OOD = Table("ood.csv", "ood_summary.csv", "ood_paired.csv", ("ood_set", "score"), OOD_METRICS)
TABLES = (SHIFT, OOD)
UNCERTAINTY_SWEEP_FILES = tuple(name for t in TABLES for name in (t.summary, t.paired))


def table_records(
    store: Any, table: Table, results: Iterable[Record] | None = None
) -> list[Record]:
    """The rows of `table.source` in every done cell, keyed by `table.key`, for the model kinds
    that finished (results: the cells' results.csv Records, read when None)."""
    results = load_records(store) if results is None else results
    finished = {(r.config_index, r.seed, r.model) for r in results}
    out = []
    for cell, rows in cell_rows(store, table.source):
        for row in rows:
            model = row["model"]  # validated by the run file's schema, as every cell below
            if (cell.config_index, cell.seed, model) not in finished:
                continue
            key = tuple(str(row[k]) for k in table.key)  # required cells: never None
            metrics = floats(row, table.metrics)
            out.append(Record(cell.config_index, cell.values, cell.seed, model, metrics, key))
    return out


def uncertainty_tables(
    store: Any, results: Iterable[Record] | None = None
) -> dict[str, tuple[list[str], list[dict[str, Any]]] | None]:
    """Each table's summary and paired file: name -> (columns, rows), or None (remove it)
    where no done cell has the table's run file."""
    results = load_records(store) if results is None else list(results)
    fields = list(store.spec.grid)
    out: dict[str, tuple[list[str], list[dict[str, Any]]] | None] = {}
    for t in TABLES:
        records = table_records(store, t, results)
        if not records:
            out |= {t.summary: None, t.paired: None}
            continue
        summary = summary_rows(records, fields, t.key, t.metrics)
        pairs = paired_rows(records, fields, key=t.key, metrics=t.metrics)
        out[t.summary] = summary_columns(fields, t.key), summary
        out[t.paired] = paired_columns(fields, t.key), pairs
    return out
