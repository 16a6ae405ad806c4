"""Statistics over a sweep's cells: summary.csv 's rows (per config, model kind and metric:
mean, std and the 95% t interval over seeds) and paired.csv's (BatchEnsemble minus each
baseline, paired by seed, with a verdict); bedash.sweep.uncertainty_stats uses the same rows
with a key. bedash.sweep.run writes them."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bedash.names import CONSTANT, RESULT_COLUMNS, busy, quantity
from bedash.store.readers import FileProblem, Row, read_table, safe_text
from bedash.store.runfiles import TABLES
from bedash.sweep.stats import better_direction, paired, summarize, verdict

# results.csv's columns that describe a run rather than measure it
DESCRIPTIVE = RESULT_COLUMNS[: RESULT_COLUMNS.index("seed") + 1]  # model .. seed
BASELINES = ("ensemble", "ensemble_parallel", "single")  # what BatchEnsemble is paired against
TIMED = ("_seconds", "_per_s")  # the suffixes of a time: compared only on a quiet machine


@dataclass(frozen=True)
class Record:
    """One row of a done cell's results.csv (or of another of its tables: then `key` holds
    what the row measures besides its model, e.g. (corruption, severity) in shift.csv)."""

    config_index: int
    values: dict[str, Any]
    seed: int
    model: str
    metrics: dict[str, float]
    key: tuple[str, ...] = ()


def floats(row: Row, metrics: Sequence[str] | None = None) -> dict[str, float]:
    """The row's numbers (validated by its schema: finite and in range): of the columns
    `metrics`, or of every non-descriptive one."""
    keep = (lambda k: k in metrics) if metrics is not None else (lambda k: k not in DESCRIPTIVE)
    return {k: float(v) for k, v in row.items() if keep(k) and type(v) in (int, float)}


def cell_problem(folder: Path, name: str = "results.csv") -> str:
    """Why a cell's run file cannot enter the statistics, or "": the run store's reader and
    schema (`bedash runs list` calls such a run damaged for the same reason)."""
    try:
        read_table(folder / name, TABLES[name])
    except FileNotFoundError:
        return f"missing file {name}"
    except FileProblem as e:
        return str(e)
    except OSError as e:
        return f"cannot read {name} ({safe_text(e.strerror or e)})"
    return ""


def cell_rows(store: Any, name: str) -> Iterator[tuple[Any, list[Row]]]:
    """(cell, validated rows of its file `name`) for every done cell of a SweepStore
    (bedash.sweep.folder; not imported: the statistics need only its path and done cells) whose
    file passes its schema; a damaged one is left out (damaged_cells names it)."""
    for cell in store.done():
        try:
            rows = read_table(store.path / cell.id / name, TABLES[name])
        except (OSError, FileProblem):  # absent, or damaged
            continue
        yield cell, rows


def damaged_cells(path: Path, done: Iterable[str]) -> dict[str, str]:
    """The done cells (ids) left out of the statistics: id -> why (its results.csv does not pass
    the run store's reader). Shift and OOD rows of a cell need results.csv too."""
    return {cid: why for cid in done if (why := cell_problem(path / cid))}


def load_records(store: Any) -> list[Record]:
    """The finished model rows of every done cell whose results.csv is valid."""
    records = []
    for cell, rows in cell_rows(store, "results.csv"):
        for row in rows:
            if row["status"] == "finished":
                records.append(
                    Record(cell.config_index, cell.values, cell.seed, row["model"], floats(row))
                )
    return records


def _metric_order(records: Iterable[Record]) -> list[str]:
    seen = dict.fromkeys(m for r in records for m in r.metrics)
    known = [c for c in RESULT_COLUMNS if c in seen]
    return known + sorted(m for m in seen if m not in known)


def config_label(values: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in values.items()) or "base config"


STATS = ("mean", "std", "n", "ci_low", "ci_high")  # a Summary's fields, in its order


def timing_flag(metric: str, records: Iterable[Record]) -> str:
    """Why the records' values of a time metric are no fair measure, or "": measured under
    load (the 1-minute load average above the CPU count, as the Results page hatches it) or
    at a niceness other than 0 (`bedash train`'s priority; Ray's task workers default to 15)."""
    if not metric.endswith(TIMED):
        return ""
    why, records = [], list(records)
    loads = [(r.metrics.get("load_avg"), r.metrics.get("cpu_count")) for r in records]
    if any(busy(load, cpus) for load, cpus in loads):
        why.append("measured under load")
    nice = sorted({int(n) for r in records if (n := r.metrics.get("niceness"))})
    if nice:
        why.append(f"measured at nice {'/'.join(map(str, nice))}")
    return " and ".join(why)


# key: the columns a table's rows are told apart by besides config and model (shift.csv:
# corruption, severity; ood.csv: ood_set, score); () for results.csv


def summary_columns(fields: list[str], key: Sequence[str] = ()) -> list[str]:
    return ["config", "label", *fields, "model", *key, "metric", "better", *STATS, "timing"]


def paired_columns(fields: list[str], key: Sequence[str] = ()) -> list[str]:
    """mean_model, mean_baseline: over the paired seeds (seeds_paired), n of them (n = n_paired);
    seeds_unpaired: the config's seeds where one side has no value (left out)."""
    head = ["config", "label", *fields, *key, "metric", "better", "model", "baseline"]
    stats = ["mean_model", "mean_baseline", "mean_diff", "ci_low", "ci_high", "n", "verdict"]
    # added at the end, later (columns are a contract): which seeds were paired; timing_flag
    return [*head, *stats, "n_paired", "seeds_paired", "seeds_unpaired", "timing"]


def seed_list(seeds: Iterable[int]) -> str:
    return ";".join(str(s) for s in seeds)


def _value(record: Record | None, metric: str) -> float | None:
    return None if record is None else record.metrics.get(metric)


def summary_rows(
    records: list[Record],
    fields: list[str],
    key: Sequence[str] = (),
    metrics: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Per config, model kind, key and metric: mean, std, n and the 95% t interval over seeds.
    metrics: which, in this order (default: every metric of the records, results.csv's order)."""
    metrics = list(metrics) if metrics is not None else _metric_order(records)
    groups: dict[tuple[int, str, tuple[str, ...]], list[Record]] = {}
    for r in records:
        groups.setdefault((r.config_index, r.model, r.key), []).append(r)
    rows = []
    for (index, model, k), group in sorted(groups.items(), key=lambda kv: kv[0][0]):
        values = group[0].values
        for metric in metrics:
            xs = [r.metrics[metric] for r in group if metric in r.metrics]
            if not xs:
                continue
            head = {"config": index, "label": config_label(values)}
            row = {**head, **{f: values.get(f) for f in fields}, "model": model}
            row |= {**dict(zip(key, k, strict=True)), "metric": metric}
            row |= {"better": better_direction(metric), **asdict(summarize(xs))}
            rows.append({**row, "timing": timing_flag(metric, group)})
    return rows


def paired_rows(
    records: list[Record],
    fields: list[str],
    model: str = "batchensemble",
    key: Sequence[str] = (),
    metrics: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Per config, key and metric: model minus each baseline over the seeds both have (same
    seed, same batches), with the t interval of the mean difference and a verdict; a side
    constant by definition (CONSTANT) is not paired, and times measured under load or below
    train's priority (timing_flag) get no verdict: "not compared: <why>"."""
    metrics = list(metrics) if metrics is not None else _metric_order(records)
    by = {(r.config_index, r.key, r.model, r.seed): r for r in records}
    configs = sorted({(r.config_index, json.dumps(r.values)) for r in records})
    kinds = {r.model for r in records}
    rows = []
    for index, values_json in configs:
        values = json.loads(values_json)
        seeds = sorted({r.seed for r in records if r.config_index == index})
        keys = list(dict.fromkeys(r.key for r in records if r.config_index == index))
        for k, metric in ((k, m) for k in keys for m in metrics):
            for base in (b for b in BASELINES if b in kinds and model in kinds):
                row = {"config": index, "label": config_label(values)}
                row |= {**{f: values.get(f) for f in fields}, **dict(zip(key, k, strict=True))}
                row |= {"metric": metric, "better": better_direction(metric)}
                if {(model, quantity(row)), (base, quantity(row))} & CONSTANT:
                    continue
                xs = {s: _value(by.get((index, k, model, s)), metric) for s in seeds}
                ys = {s: _value(by.get((index, k, base, s)), metric) for s in seeds}
                both = [s for s in seeds if xs[s] is not None and ys[s] is not None]
                if not both:
                    continue
                one = [s for s in seeds if (xs[s] is None) != (ys[s] is None)]
                a, b = [xs[s] for s in both], [ys[s] for s in both]
                d = paired(a, b)
                row |= {"model": model, "baseline": base}
                row |= {"mean_model": summarize(a).mean, "mean_baseline": summarize(b).mean}
                row |= {"mean_diff": d.mean, "ci_low": d.ci_low, "ci_high": d.ci_high, "n": d.n}
                measured = [by[(index, k, kind, s)] for s in both for kind in (model, base)]
                flag = timing_flag(metric, measured)
                said = verdict(d, row["better"], model, base)
                row["verdict"] = f"not compared: {flag}" if flag else said
                row |= {"n_paired": len(both), "seeds_paired": seed_list(both)}
                rows.append(row | {"seeds_unpaired": seed_list(one), "timing": flag})
    return rows
