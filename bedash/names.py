"""The names every part of bedash shares, declared once: model kinds (label, colour), run
statuses, the run files' CSV columns, progress records, the errors that carry their field, and
the uncertainty settings' text lists read into names. Imports neither torch nor pandas: a
dashboard page can import it at the top and still render fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# -- model kinds -------------------------------------------------------------------------------

MODEL_KINDS = ("batchensemble", "ensemble", "ensemble_parallel", "single")
MODEL_LABELS = {
    "batchensemble": "BatchEnsemble",
    "ensemble": "Ensemble (sequential)",
    "ensemble_parallel": "Ensemble (parallel)",
    "single": "Single model",
}
# Okabe-Ito: distinguishable with the common colour-vision deficiencies; one colour per kind on
# every chart, the benchmark's included
MODEL_COLORS = {
    "batchensemble": "#0072B2",
    "ensemble": "#D55E00",
    "ensemble_parallel": "#E69F00",
    "single": "#009E73",
}
OTHER_COLOR = "#7f7f7f"  # a kind this version does not know (a newer run folder)


def model_label(kind: str) -> str:
    return MODEL_LABELS.get(kind, kind)


def model_color(kind: str) -> str:
    return MODEL_COLORS.get(kind, OTHER_COLOR)


# -- statuses ----------------------------------------------------------------------------------

FINAL_STATUSES = ("finished", "cancelled", "failed", "diverged")  # a run (or job) that ended
RUN_STATUSES = ("running", "interrupted", "damaged", *FINAL_STATUSES)  # what a folder reads as
JOB_ACTIVE = ("queued", "loading", "running")  # a dashboard job that has not ended

# -- the run files' columns (a contract: add, never rename or remove) -----------------------------

HISTORY_COLUMNS = ["model", "member", "epoch", "loss", "epoch_seconds", "samples_per_s"]
STEP_COLUMNS = ["model", "member", "x", "loss"]  # steps.csv: x = epoch position (fractional)
RESULT_COLUMNS = [
    "model",
    "status",
    "members",
    "arch",
    "hidden",
    "layers",
    "epochs",
    "batch_size",
    "dataset",
    "device",
    "seed",
    "params",
    "param_bytes",
    "param_mb",
    "params_rel_single",
    "train_seconds",
    "epoch_seconds",
    "infer_seconds",
    "member_samples_per_s",
    "mean_member_acc",
    "ensemble_acc",
    "vote_acc",
    "oracle_acc",
    "nll",
    "ece",
    "brier",
    "mean_disagreement",
    # infer_seconds is the median of infer_repeats timed passes; the machine's 1-minute load
    # average and CPU count when they ran say how far other work may have slowed them
    "infer_repeats",
    "load_avg",
    "cpu_count",
    "niceness",  # the process's os.nice(0): 0 is `bedash train`'s; Ray's task workers get 15
]
MEMBER_COLUMNS = ["model", "member", "accuracy", "nll"]
RELIABILITY_COLUMNS = ["bin", "lower", "upper", "count", "accuracy", "confidence"]
# -- uncertainty under shift: the names a run may ask for ---------------------------------------

# CIFAR-10-C's 15 corruptions (Hendrycks & Dietterich 2019) by category, in the paper's order;
# uncertainty.corruptions implements each with make_cifar_c.py's parameters, except frost
CORRUPTION_CATEGORIES = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
    "weather": ("snow", "frost", "fog"),
    "digital": ("brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression"),
}
BENCHMARK_CORRUPTIONS = tuple(n for group in CORRUPTION_CATEGORIES.values() for n in group)
FROST_NOTE = (
    "frost is left out: it blends crops of the CIFAR-10-C authors' frost photographs, which "
    "bedash does not have, and nothing stands in for it; the mean is over the other 14"
)
UNAVAILABLE_CORRUPTIONS = {"frost": FROST_NOTE}
EXTRA_CORRUPTIONS = ("speckle_noise", "gaussian_blur")  # make_cifar_c.py's, not in the 15
# what bedash makes: "all" = the benchmark's (less frost), "extra" = the others
CORRUPTION_NAMES = (
    *(n for n in BENCHMARK_CORRUPTIONS if n not in UNAVAILABLE_CORRUPTIONS),
    *EXTRA_CORRUPTIONS,
)
SHIFT_GROUPS = {
    "all": tuple(n for n in CORRUPTION_NAMES if n in BENCHMARK_CORRUPTIONS),
    "extra": EXTRA_CORRUPTIONS,
}
MEAN_ROW = "mean"  # shift.csv: the mean over the benchmark's corruptions evaluated
CATEGORY_ROWS = {f"mean_{c}": c for c in CORRUPTION_CATEGORIES}  # and over each category's
SEVERITY_RANGE = (1, 5)
OOD_NAMES = ("uniform", "gaussian", "synthetic", "cifar10", "svhn")  # or a folder of images

# uncertainty under shift (uncertainty.evaluation): corruption "clean" (severity 0) is the
# clean test set, "mean" the mean over the benchmark's corruptions at one severity (extras not
# counted, frost missing), "mean_noise" etc. over each category's; the *_ts columns are the
# same metrics after temperature scaling (empty without it), beside the raw ones, never instead
SHIFT_COLUMNS = [
    "model",
    "corruption",
    "severity",
    "acc",
    "nll",
    "ece",
    "brier",
    "entropy",
    "mutual_info",
    "expected_entropy",
    "aurc",
    "temperature",
    "acc_ts",
    "nll_ts",
    "ece_ts",
    "brier_ts",
]
OOD_COLUMNS = ["model", "ood_set", "score", "auroc", "aupr", "fpr95"]
SELECTIVE_COLUMNS = ["model", "coverage", "accuracy", "risk"]  # clean test set; AURC: shift.csv
# uncertainty_<model>.csv: histograms, set = in_distribution or OOD
UNCERTAINTY_COLUMNS = ["model", "set", "quantity", "bin", "lower", "upper", "count", "fraction"]
# -- uncertainty under shift: the text lists -> tuples -----------------------------------------


def _items(text: Any, name: str) -> list[str]:
    if not isinstance(text, str):
        raise ConfigError(name, f"must be text (got {text!r})")
    return [t.strip() for t in text.split(",") if t.strip()]


def parse_shift(text: Any) -> tuple[str, ...]:
    """'all' (the benchmark's 15 less frost), 'extra' or 'a,b' -> the corruption names, in
    order, once each ('' -> none)."""
    out: list[str] = []
    for item in _items(text, "shift"):
        if item in UNAVAILABLE_CORRUPTIONS:
            raise ConfigError("shift", f"{item!r} cannot be made here: {FROST_NOTE}")
        if item not in SHIFT_GROUPS and item not in CORRUPTION_NAMES:
            allowed = ", ".join((*SHIFT_GROUPS, *CORRUPTION_NAMES))
            raise ConfigError("shift", f"unknown corruption {item!r}; allowed: {allowed}")
        for n in SHIFT_GROUPS.get(item, (item,)):
            if n not in out:
                out.append(n)
    return tuple(out)


def parse_severities(text: Any) -> tuple[int, ...]:
    """'1-5', '3' or '1,3,5' (ranges and single values, comma-separated) -> sorted severities."""
    lo, hi = SEVERITY_RANGE
    bad = ConfigError(
        "severities", f"must be severities from {lo} to {hi}, as 1-5, 3 or 1,3,5 (got {text!r})"
    )
    items = _items(text, "severities")
    if not items:
        raise bad
    out: set[int] = set()
    for item in items:
        a, sep, b = item.partition("-")
        try:
            first, last = int(a), int(b) if sep else int(a)
        except ValueError:
            raise bad from None
        if not lo <= first <= last <= hi:
            raise bad
        out.update(range(first, last + 1))
    return tuple(sorted(out))


def parse_ood(text: Any) -> tuple[str, ...]:
    """'uniform,PATH' -> the OOD sets named (set names or folder paths), once each."""
    return tuple(dict.fromkeys(_items(text, "ood")))


def validation_size(val_size: int | None, train_images: int) -> int:
    """The images to hold out for temperature scaling (None: a tenth of the training set)."""
    n = max(train_images // 10, 1) if val_size is None else val_size
    if n >= train_images:
        raise ConfigError(
            "val_size",
            f"must be smaller than the training set ({train_images} images; got {n})",
        )
    return n


ACCURACY_LABELS = {  # every accuracy named for what it is
    "mean_member_acc": "mean member",
    "ensemble_acc": "ensemble (mean softmax)",
    "vote_acc": "majority vote",
    "oracle_acc": "oracle (any member right)",
}
METRIC_LABELS = {  # what a chart's axis or a table's row calls a results.csv metric
    **{k: f"accuracy, {v}" for k, v in ACCURACY_LABELS.items()},
    "nll": "NLL (ensemble)",
    "ece": "ECE (ensemble)",
    "brier": "Brier score (ensemble)",
    "params": "parameters",
    "param_mb": "parameters (MB)",
    "params_rel_single": "parameters / single model",
    "train_seconds": "training time (s)",
    "epoch_seconds": "seconds per epoch",
    "infer_seconds": "inference time (s, median)",
    "member_samples_per_s": "member-samples per second",
    "mean_disagreement": "mean pairwise disagreement",
}


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


# -- errors ------------------------------------------------------------------------------------


class FieldError(ValueError):
    """Bad input about one setting: `field` names it ("batch_size", "out"...), `message` says
    what is wrong and what is allowed; each front end words the field its own way."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ConfigError(FieldError):
    """A RunConfig field holds a value that cannot be used; `field` names it."""


class DatasetError(FieldError):
    """The dataset cannot be loaded: `field` names the setting at fault ("dataset", "data_dir",
    "batch_size", "train_size", "test_size"), `message` says how to fix it."""


# -- progress records --------------------------------------------------------------------------


@dataclass(frozen=True)
class EpochRecord:
    """One row of history.csv. member is None for the whole model."""

    model: str
    member: int | None
    epoch: int
    loss: float
    epoch_seconds: float
    samples_per_s: float  # member-samples per second (E x images for the ensemble kinds)


@dataclass(frozen=True)
class Progress:
    """A log point of training: where it is and how fast it goes."""

    model: str
    member: int | None  # the member being trained (sequential ensemble), else None
    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float  # running mean loss of this epoch so far
    elapsed: float  # seconds since this model started training
    eta: float  # seconds left for this model
    samples_per_s: float
    fraction: float  # of this model's training done, 0..1


def duration(seconds: float | None) -> str:
    """1:05, 1:02:03, or -- when unknown (an ETA before the first step)."""
    if seconds is None or seconds != seconds or seconds in (float("inf"), float("-inf")):
        return "--"
    s = round(seconds)
    return (
        f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


def program() -> str:
    """How bedash was called, for usage lines: `bedash` (the console script) or `python -m
    bedash` (the module, and anything else that imports the parsers)."""
    called = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "bedash" if os.path.splitext(called)[0] == "bedash" else "python -m bedash"


def busy(load_avg: float | None, cpus: float | None) -> bool:
    """The machine was busy when the 1-minute load average exceeded its CPU count: the rule the
    Results page hatches times by and a sweep withholds a time verdict by."""
    return load_avg is not None and bool(cpus) and cpus > 0 and load_avg > cpus


# (model kind, quantity) constant by definition, never paired: a single model has one member, so
# its mutual information (the members' disagreement) is 0 for every image and OOD detection by
# it is chance (AUROC 0.5, AUPR 0.5, FPR95 1.0): a difference from it measures the other side.
CONSTANT = frozenset({("single", "mutual_info")})
CONSTANT_NOTE = (
    "The single model's mutual information is 0 for every image by definition (one member: "
    "nothing to disagree), so OOD detection by it is chance (AUROC 0.5, AUPR 0.5, FPR95 1.0): "
    "its rows are left out of the paired files and tables."
)


def quantity(row: Mapping[str, Any]) -> str:
    """What a row measures: an OOD row's score (its AUROC is that score's), else its metric."""
    return str(row.get("score") or row["metric"])


def left_out_notes(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Why some rows (of ood.csv, shift_summary.csv, ood_summary.csv) are left out of paired
    files, tables and charts (CONSTANT): each reason once, [] when none applies."""
    hit = any((str(r.get("model")), quantity(r)) in CONSTANT for r in rows)
    return [CONSTANT_NOTE] if hit else []
