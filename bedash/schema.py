"""The names every part of bedash shares, declared once: model kinds with their label and one
colour each, run statuses, the run files' CSV columns, progress records, and the error that
carries its field. Imports neither torch nor pandas: a dashboard page can import it at the top
and still render fast. (RunConfig's fields and their metadata live in bedash.config.)
"""

from __future__ import annotations

from dataclasses import dataclass

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
]  # fmt: skip
MEMBER_COLUMNS = ["model", "member", "accuracy", "nll"]
RELIABILITY_COLUMNS = ["bin", "lower", "upper", "count", "accuracy", "confidence"]
# uncertainty under shift (bedash.evaluation): corruption "clean" (severity 0) is the clean test
# set, "mean" the mean over the corruptions at one severity; the *_ts columns are the same metrics
# after temperature scaling (empty without it), beside the raw ones, never instead
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
