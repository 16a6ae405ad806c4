"""A run's uncertainty files shaped for the Results page as labelled tables. Pure pandas: no
streamlit, no plotly. An empty cell stays empty, never zero."""

from __future__ import annotations

from typing import Any

import pandas as pd

from bedash.dashboard.tables import numbers, ordered
from bedash.names import CATEGORY_ROWS, CONSTANT, FROST_NOTE, MEAN_ROW, left_out_notes, model_label

ZERO_MI = 1e-6  # bedash.uncertainty.evaluation's upper edge of the mutual-information bins if all 0
MEAN = MEAN_ROW  # shift.csv: the mean over CIFAR-10-C's corruptions at one severity
MEAN_NOTE = f"{FROST_NOTE[0].upper()}{FROST_NOTE[1:]} (with --shift all); extras not counted."
CLEAN = "clean"  # shift.csv: the clean test set, severity 0
IN_DISTRIBUTION = "in_distribution"
SCORE_LABELS = {"entropy": "Predictive entropy", "mutual_info": "Mutual information"}
QUANTITY_LABELS = {
    "entropy": "Predictive entropy (nats)",
    "mutual_info": "Mutual information (nats)",
}
OOD_TABLE = {
    "model": "Model",
    "ood_set": "OOD set",
    "score": "Score",
    "auroc": "AUROC",
    "aupr": "AUPR",
    "fpr95": "FPR at 95% TPR",
}
SHIFT_TABLE = {
    "model": "Model",
    "corruption": "Corruption",
    "severity": "Severity",
    "acc": "Accuracy",
    "nll": "NLL",
    "ece": "ECE",
    "brier": "Brier",
    "entropy": "Entropy",
    "mutual_info": "Mutual info",
    "aurc": "AURC",
    "acc_ts": "Accuracy (T-scaled)",
    "nll_ts": "NLL (T-scaled)",
    "ece_ts": "ECE (T-scaled)",
    "brier_ts": "Brier (T-scaled)",
}


def models_in(*frames: pd.DataFrame) -> list[str]:
    """The model kinds in the frames' "model" column, in the charts' order (tables.ordered)."""
    return ordered(m for f in frames if "model" in f for m in f["model"].dropna().astype(str))


def points(x: Any, y: Any) -> tuple[list[float], list[float]]:
    """The (x, y) pairs where both are numbers: a missing value is left out, never zero."""
    pairs = [(a, b) for a, b in zip(numbers(x), numbers(y), strict=True) if None not in (a, b)]
    return [a for a, _ in pairs], [b for _, b in pairs]


def corruptions_in(shift: pd.DataFrame) -> list[str]:
    """The corruptions of shift.csv (without "clean" and "mean"), in the file's order, the
    category means first."""
    if shift.empty or "corruption" not in shift:
        return []
    names = list(dict.fromkeys(shift["corruption"].dropna().astype(str)))
    means = [n for n in names if n in CATEGORY_ROWS]
    return means + [n for n in names if n not in (CLEAN, MEAN, *means)]


def corruption_label(name: str) -> str:
    """What the Corruption selector shows for a shift.csv corruption."""
    if name == MEAN:
        return "mean over CIFAR-10-C's corruptions"
    if name in CATEGORY_ROWS:
        return f"mean over its {CATEGORY_ROWS[name]} corruptions"
    return name


def severity_rows(shift: pd.DataFrame, kind: str, corruption: str = MEAN) -> pd.DataFrame:
    """One model's rows for one corruption (or the mean) and its clean row, by severity."""
    if shift.empty or not {"model", "corruption", "severity"} <= set(shift):
        return pd.DataFrame()
    rows = shift[(shift["model"] == kind) & shift["corruption"].isin([CLEAN, corruption])]
    return rows.sort_values("severity", kind="stable")


def shift_table(shift: pd.DataFrame, corruption: str = MEAN) -> pd.DataFrame:
    """The rows behind shift_figure, labelled (T-scaled columns where the run has them)."""
    if shift.empty or "corruption" not in shift:
        return pd.DataFrame(columns=list(SHIFT_TABLE.values()))
    rows = shift[shift["corruption"].isin([CLEAN, corruption])].copy()
    rows["_order"] = rows["model"].map({k: i for i, k in enumerate(models_in(shift))})
    rows = rows.sort_values(["_order", "severity"], kind="stable")
    cols = [
        c for c in SHIFT_TABLE if c in rows and (not c.endswith("_ts") or rows[c].notna().any())
    ]
    out = rows[cols].rename(columns=SHIFT_TABLE)
    out["Model"] = out["Model"].map(model_label)
    return out.reset_index(drop=True)


def ood_table(ood: pd.DataFrame) -> pd.DataFrame:
    """ood.csv for the page: one row per model, OOD set and score, models by name; a score
    constant by definition for its model (CONSTANT: the single model's mutual information) is
    left out, as from the sweeps' tables (the page says why once, ood_left_out)."""
    cols = list(OOD_TABLE)
    if ood.empty or not set(cols) <= set(ood):
        return pd.DataFrame(columns=list(OOD_TABLE.values()))
    order = {k: i for i, k in enumerate(models_in(ood))}
    out = ood.loc[[not c for c in _constant(ood)], cols].copy()
    out["_order"] = out["model"].map(order)
    out = out.sort_values(["_order"], kind="stable").drop(columns="_order")
    out["model"] = out["model"].map(model_label)
    out["score"] = out["score"].map(lambda s: SCORE_LABELS.get(s, s))
    return out.rename(columns=OOD_TABLE).reset_index(drop=True)


def _constant(ood: pd.DataFrame) -> list[bool]:
    return [(str(m), str(s)) in CONSTANT for m, s in zip(ood["model"], ood["score"], strict=True)]


def ood_left_out(ood: pd.DataFrame) -> list[str]:
    """Why ood_table left rows out (CONSTANT_NOTE), once; [] when it left none out."""
    if ood.empty or not {"model", "score"} <= set(ood):
        return []
    return left_out_notes(ood.to_dict("records"))


def aurc_by_model(shift: pd.DataFrame) -> dict[str, float | None]:
    """Each model's AURC on the clean test set (shift.csv's clean row; None when missing)."""
    out: dict[str, float | None] = {}
    if shift.empty or not {"model", "corruption", "aurc"} <= set(shift):
        return out
    for kind in models_in(shift):
        rows = shift[(shift["model"] == kind) & (shift["corruption"] == CLEAN)]
        vals = [v for v in numbers(rows["aurc"]) if v is not None]
        out[kind] = vals[0] if vals else None
    return out
