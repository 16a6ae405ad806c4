"""The names every part of bedash shares, declared once: model kinds with their label and one
colour each, run statuses, the run files' CSV columns, progress records, and the error that
carries its field, and `Spec`, what the front ends know about one setting. Imports neither
torch nor pandas: a dashboard page can import it at the top and still render fast. (RunConfig's
fields, declared once with their metadata, and the loops over them live in bedash.settings.config.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
RESULT_COLUMNS = [
    "model", "status", "members", "arch", "hidden", "layers", "epochs", "batch_size", "dataset",
    "device", "seed", "params", "param_bytes", "param_mb", "params_rel_single", "train_seconds",
    "epoch_seconds", "infer_seconds", "member_samples_per_s", "mean_member_acc", "ensemble_acc",
    "vote_acc", "oracle_acc", "nll", "ece", "brier", "mean_disagreement",
    # infer_seconds is the median of infer_repeats timed passes; the machine's 1-minute load
    # average and CPU count when they ran say how far other work may have slowed them
    "infer_repeats", "load_avg", "cpu_count",
]  # fmt: skip
MEMBER_COLUMNS = ["model", "member", "accuracy", "nll"]
RELIABILITY_COLUMNS = ["bin", "lower", "upper", "count", "accuracy", "confidence"]
# -- uncertainty under shift: the names a run may ask for ---------------------------------------

# uncertainty.corruptions implements each (CIFAR-10-C's parameters); "all": every one
CORRUPTION_NAMES = (
    "gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "gaussian_blur",
    "defocus_blur", "contrast", "brightness", "pixelate", "jpeg_compression",
)  # fmt: skip
SEVERITY_RANGE = (1, 5)
OOD_NAMES = ("uniform", "gaussian", "synthetic", "cifar10", "svhn")  # or a folder of images

# uncertainty under shift (uncertainty.evaluation): corruption "clean" (severity 0) is the
# clean test set, "mean" the mean over the corruptions at one severity; the *_ts columns are the
# same metrics after temperature scaling (empty without it), beside the raw ones, never instead
SHIFT_COLUMNS = [
    "model", "corruption", "severity", "acc", "nll", "ece", "brier", "entropy", "mutual_info",
    "expected_entropy", "aurc", "temperature", "acc_ts", "nll_ts", "ece_ts", "brier_ts",
]  # fmt: skip
OOD_COLUMNS = ["model", "ood_set", "score", "auroc", "aupr", "fpr95"]
SELECTIVE_COLUMNS = ["model", "coverage", "accuracy", "risk"]  # clean test set; AURC: shift.csv
UNCERTAINTY_COLUMNS = [  # uncertainty_<model>.csv: histograms, set = in_distribution or OOD
    "model", "set", "quantity", "bin", "lower", "upper", "count", "fraction",
]  # fmt: skip
ACCURACY_LABELS = {  # every accuracy named for what it is
    "mean_member_acc": "mean member",
    "ensemble_acc": "ensemble (mean softmax)",
    "vote_acc": "majority vote",
    "oracle_acc": "oracle (any member right)",
}
METRIC_LABELS = {  # what a chart's axis or a table's row calls a results.csv metric
    **{k: f"accuracy, {v}" for k, v in ACCURACY_LABELS.items()},
    "nll": "NLL (ensemble)", "ece": "ECE (ensemble)", "brier": "Brier score (ensemble)",
    "params": "parameters", "param_mb": "parameters (MB)", "params_rel_single":
    "parameters / single model", "train_seconds": "training time (s)",
    "epoch_seconds": "seconds per epoch", "infer_seconds": "inference time (s, median)",
    "member_samples_per_s": "member-samples per second",
    "mean_disagreement": "mean pairwise disagreement",
}  # fmt: skip


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


# -- errors ------------------------------------------------------------------------------------


class FieldError(ValueError):
    """Bad input about one setting: `field` names it (a RunConfig field such as "batch_size",
    or "out", "runs_dir", "dataset"...), `message` says what is wrong and what is allowed. Each
    front end words the field its own way (`--batch-size` on the CLI, "Batch size" on the
    page); str(e) is "field: message"."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


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


# -- settings ----------------------------------------------------------------------------------

KINDS_OF_SETTING = ("int", "float", "choice", "kinds", "text", "bool", "dict")
PY_TYPES: dict[str, type] = {
    "int": int, "float": float, "choice": str, "kinds": tuple, "text": str, "bool": bool,
    "dict": dict,
}  # fmt: skip


@dataclass(frozen=True)
class Spec:
    """One RunConfig field as every front end sees it: the CLI builds its flag from it, the
    form its widget, `validate` and the run store their checks, the summaries their text."""

    name: str
    kind: str  # one of KINDS_OF_SETTING ("kinds": a list of model kinds)
    default: Any
    label: str  # how the page names it ("Members (E)")
    help: str  # one or two sentences, without bounds or choices (each front end adds those)
    group: (
        str  # a key of bedash.settings.config.GROUPS: the form's section, the CLI's argument group
    )
    flag: str | None = None  # on the command line (None: not there, e.g. the free-form extra)
    choices: tuple[str, ...] = ()  # "choice" and "kinds"
    choice_labels: dict[str, str] = field(default_factory=dict)  # how the page words a choice
    lo: float | None = None  # smallest allowed value ("int" and "float")
    hi: float | None = None  # largest allowed value under the default limits
    limit: str | None = None  # the Limits attribute that tightens hi (a profile's cap)
    open_lo: bool = False  # "float": strictly greater than lo
    optional: bool = False  # None is allowed and means "all"
    allowed: str = ""  # "text": what is accepted, in words (empty: any text)
    sweepable: bool = False  # a sweep may give a list of values for it
    negated: bool = False  # the flag turns the setting off (--no-cuda-graphs)
    when: tuple[str, Any] | None = None  # only used when another field has this value
    form_range: tuple[float, float] | None = None  # what a form offers where lo/hi are open
    step: float | None = None  # a form's step for floats
    fmt: str | None = None  # a form's number format ("%.4g")

    @property
    def type(self) -> type:
        """The Python type of a value (tuple for the model kinds)."""
        return PY_TYPES[self.kind]

    def bounds(self, limits: Any = None) -> tuple[float | None, float | None]:
        """(lo, hi) under `limits` (a settings.config.Limits): its cap replaces hi where it has
        one for this field."""
        cap = getattr(limits, self.limit, None) if limits is not None and self.limit else None
        return self.lo, (self.hi if cap is None else cap)

    def widget_range(self, limits: Any = None) -> tuple[float | None, float | None]:
        """What a form offers: `form_range` where validation is open-ended (a learning rate),
        else the bounds under `limits`."""
        return self.form_range if self.form_range is not None else self.bounds(limits)


def duration(seconds: float | None) -> str:
    """1:05, 1:02:03, or -- when unknown (an ETA before the first step)."""
    if seconds is None or seconds != seconds or seconds in (float("inf"), float("-inf")):
        return "--"
    s = round(seconds)
    return (
        f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )
