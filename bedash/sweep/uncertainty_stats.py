"""A sweep's uncertainty statistics: shift.csv and ood.csv of its cells, over seeds.

For the cells run with --shift or --ood, the same statistics as summary.csv and paired.csv
(bedash.sweep.rows' summary_rows and paired_rows, with a key), written beside them:

- shift_summary.csv: per config, model kind, corruption, severity and metric (acc, nll, ece,
  brier, entropy, mutual_info, aurc: selective prediction's area under the risk-coverage
  curve, lower is better): mean, std, n and the 95% t interval over seeds. Corruption
  "clean" (severity 0) is the clean test set, "mean" the mean over the corruptions at one
  severity, as each run's shift.csv holds them (the mean of each seed's mean).
- ood_summary.csv: per config, model kind, OOD set, score and metric (auroc, aupr, fpr95).
- shift_paired.csv, ood_paired.csv: BatchEnsemble minus each baseline, paired by seed, with
  the interval of the mean difference and the verdict of paired.csv. Entropy and mutual
  information have no better direction (better is empty): their verdict says
  "batchensemble higher" or "lower", never "better".

Only the model kinds a cell's results.csv lists as finished count (a diverged model's
numbers do not). A pair of files exists only while some done cell has the run file; when none
has it any more, the pair an earlier write left is removed (bedash.sweep.run writes them), so
a resumed sweep never shows numbers of cells that are gone. Core: no streamlit, no plotly, no torch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

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
    """The rows of `table.source` in every done cell, as Records keyed by `table.key`, for the
    model kinds that finished (results: the cells' results.csv Records, read when None)."""
    finished = {
        (r.config_index, r.seed, r.model)
        for r in (load_records(store) if results is None else results)
    }
    out = []
    for cell, rows in cell_rows(store, table.source):
        for row in rows:
            model = row.get("model") or ""
            if (cell.config_index, cell.seed, model) not in finished:
                continue
            key = tuple(str(row.get(k) or "") for k in table.key)
            out.append(
                Record(
                    cell.config_index,
                    cell.values,
                    cell.seed,
                    model,
                    floats(row, table.metrics),
                    key,
                )
            )
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
