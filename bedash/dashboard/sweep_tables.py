"""A sweep's statistics shaped for the Sweeps page as labelled tables. Pure pandas. Intervals are
95% Student t intervals of the mean over seeds, written as mean ± half-width (one seed: none)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from bedash.dashboard.tables import NOT_MEASURED, as_float, ordered
from bedash.dashboard.uncertainty_tables import CLEAN, MEAN, OOD_TABLE, SCORE_LABELS, SHIFT_TABLE
from bedash.dashboard.verdict import readable
from bedash.names import CATEGORY_ROWS, CONSTANT, left_out_notes, metric_label, model_label
from bedash.sweep.uncertainty_stats import OOD_METRICS

CI = "mean ± 95% CI over seeds"
DIFF = "BatchEnsemble − baseline"
METRIC_NAMES = {**SHIFT_TABLE, **OOD_TABLE}  # acc -> Accuracy, auroc -> AUROC ...
FIRST = ("ensemble_acc", "nll", "ece", "brier", "params", "train_seconds", "infer_seconds")


def stats_frame(rows: list[dict], columns: list[str], configs: list[dict]) -> pd.DataFrame:
    """A statistics file's validated rows (bedash.store.sweepfiles) as a frame, with each row's
    grid values taken from sweep.json's configs (validated there); ValueError naming a config
    the grid does not have. Empty intervals read NaN, as pandas reads an empty cell."""
    bad = next((r["config"] for r in rows if r["config"] >= len(configs)), None)
    if bad is not None:
        raise ValueError(f"config {bad} is not in the grid ({len(configs)} configs)")
    fields = list(configs[0]) if configs else []
    frame = pd.DataFrame([{**r, **configs[r["config"]]} for r in rows], columns=columns + fields)
    for col in ("std", "ci_low", "ci_high"):  # empty when n < 2
        if col in frame:
            frame[col] = frame[col].astype(float)
    return frame


def not_run(cells: list[dict]) -> str:
    """What of a sweep did not run, by cell number (sweep.json's order, from 1): "cells 3-4 not
    run; cell 2 interrupted"; "" when every cell ended."""
    parts = []
    for status, what in (("pending", "not run"), ("interrupted", "interrupted")):
        nums = [i for i, c in enumerate(cells, 1) if c["status"] == status]
        groups: list[list[int]] = []  # runs of consecutive numbers: 3-4
        for n in nums:
            if groups and n == groups[-1][-1] + 1:
                groups[-1].append(n)
            else:
                groups.append([n])
        text = ", ".join(f"{g[0]}-{g[-1]}" if len(g) > 1 else str(g[0]) for g in groups)
        if nums:
            parts.append(f"cell{'s' * (len(nums) > 1)} {text} {what}")
    return "; ".join(parts)


def config_labels(summary: pd.DataFrame) -> dict[int, str]:
    """The sweep's configs by index, each with its label (e.g. "members=4 hidden=64")."""
    if summary.empty or "config" not in summary:
        return {}
    rows = summary.drop_duplicates("config").sort_values("config").to_dict("records")
    labels = {}
    for r in rows:  # an empty label cell reads as NaN: "config 1", not "nan"
        label = r.get("label")
        labels[int(r["config"])] = (
            label if isinstance(label, str) and label else f"config {r['config']}"
        )
    return labels


def paired_table(paired: pd.DataFrame) -> pd.DataFrame:
    """paired.csv for the page: the deciding metrics first, each with its readable name."""
    rank = {m: i for i, m in enumerate(FIRST)}
    out = paired.assign(_rank=paired["metric"].map(lambda m: rank.get(m, len(FIRST))))
    out = out.sort_values(["config", "_rank"], kind="stable").drop(columns="_rank")
    out = out.assign(metric=out["metric"].map(metric_label))
    return out.assign(verdict=out["verdict"].map(readable)) if "verdict" in out else out


def one_config(frame: pd.DataFrame, config: Any = None) -> pd.DataFrame:
    """The rows of one config of a sweep file (the first one when config is None)."""
    if frame.empty or "config" not in frame:
        return frame
    if config is None:
        config = frame["config"].min()
    return frame[frame["config"] == config]


def mean_ci(mean: Any, low: Any, high: Any) -> str:
    """ "0.920 ± 0.050" (the interval's half-width); "0.920" without an interval."""
    m, lo, hi = as_float(mean), as_float(low), as_float(high)
    if m is None:
        return NOT_MEASURED
    if lo is None or hi is None:
        return f"{m:.3f}"
    return f"{m:.3f} ± {(hi - lo) / 2:.3f}"


def ood_table(summary: pd.DataFrame, config: Any = None) -> pd.DataFrame:
    """ood_summary.csv for the page: per model, OOD set and score, each metric as mean ± CI."""
    names = [f"{METRIC_NAMES[m]} ({CI})" for m in OOD_METRICS]
    columns = ["Model", "OOD set", "Score", *names, "Seeds"]
    rows = one_config(summary, config)
    if rows.empty or not {"model", "ood_set", "score", "metric", "mean"} <= set(rows):
        return pd.DataFrame(columns=columns)
    out = []
    order = {k: i for i, k in enumerate(ordered(rows["model"].dropna().astype(str)))}
    groups = rows.groupby(["model", "ood_set", "score"], sort=False)
    for (model, ood_set, score), g in sorted(groups, key=lambda kv: order[kv[0][0]]):
        if (str(model), str(score)) in CONSTANT:  # chance by definition: CONSTANT_NOTE
            continue
        by = {r["metric"]: r for r in g.to_dict("records")}
        line = {
            "Model": model_label(str(model)),
            "OOD set": str(ood_set),
            "Score": SCORE_LABELS.get(str(score), str(score)),
        }
        for metric, name in zip(OOD_METRICS, names, strict=True):
            r = by.get(metric)
            line[name] = mean_ci(r["mean"], r["ci_low"], r["ci_high"]) if r else NOT_MEASURED
        line["Seeds"] = int(max((as_float(r.get("n")) or 0) for r in by.values()))
        out.append(line)
    return pd.DataFrame(out, columns=columns)


def verdict_table(paired: pd.DataFrame, key: dict[str, str], config: Any = None) -> pd.DataFrame:
    """A paired file (shift_paired.csv, ood_paired.csv) for the page: its key columns named as
    in `key`, then the metric, the baseline, the difference, its 95% interval, n, the verdict."""
    columns = [*key.values(), "Metric", "Baseline", DIFF, "95% CI", "n", "Verdict"]
    rows = one_config(paired, config)
    if rows.empty or not {*key, "metric", "baseline", "mean_diff", "verdict"} <= set(rows):
        return pd.DataFrame(columns=columns)
    out = []
    for r in rows.to_dict("records"):
        lo, hi, d = (as_float(r.get(k)) for k in ("ci_low", "ci_high", "mean_diff"))
        line = {name: str(r[k]) for k, name in key.items()}
        metric = METRIC_NAMES.get(str(r["metric"]), str(r["metric"]))
        diff = f"{d:+.4f}" if d is not None else NOT_MEASURED
        ci = f"[{lo:+.4f}, {hi:+.4f}]" if lo is not None and hi is not None else "none"
        line.update({"Metric": metric, "Baseline": model_label(str(r["baseline"])), DIFF: diff})
        line.update({"95% CI": ci, "n": r.get("n"), "Verdict": readable(r["verdict"])})
        out.append(line)
    return pd.DataFrame(out, columns=columns)


def shift_verdicts(paired: pd.DataFrame, config: Any = None) -> pd.DataFrame:
    """shift_paired.csv's clean, mean-over-corruptions and category-mean rows (the rest is in
    the file)."""
    if not paired.empty and "corruption" in paired:
        paired = paired[paired["corruption"].isin([CLEAN, MEAN, *CATEGORY_ROWS])]
    return verdict_table(paired, {"corruption": "Corruption", "severity": "Severity"}, config)


def ood_verdicts(paired: pd.DataFrame, config: Any = None) -> pd.DataFrame:
    if not paired.empty and {"score", "baseline"} <= set(paired):
        pairs = zip(paired["baseline"].astype(str), paired["score"].astype(str), strict=True)
        paired = paired[[p not in CONSTANT for p in pairs]]  # an older file pairs a constant
        paired = paired.assign(score=paired["score"].map(lambda s: SCORE_LABELS.get(s, s)))
    return verdict_table(paired, {"ood_set": "OOD set", "score": "Score"}, config)


def left_out(*summaries: pd.DataFrame) -> list[str]:
    """Why rows of these summary frames have no paired rows (CONSTANT_NOTE), each reason once."""
    return left_out_notes(r for frame in summaries for r in frame.to_dict("records"))
