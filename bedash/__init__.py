"""bedash: is a BatchEnsemble as good as a real ensemble, and how much does it save?"""

from .config import MODEL_KINDS, ConfigError, Limits, RunConfig
from .data import Batcher, Dataset, DatasetError, Split, load_dataset, synthetic
from .experiment import RunResult, run_experiment
from .layers import (
    BatchEnsemble,
    BatchEnsembleConv2d,
    BatchEnsembleLinear,
    ParallelEnsemble,
    StackedConv2d,
    StackedLinear,
    batchensemble,
    parallel_ensemble,
)
from .metrics import Metrics, compute_metrics
from .models import CNN, MLP, Ensemble, build_model, param_stats
from .runs import RunDirError, list_runs, read_run
from .train import Callback, EpochRecord, Progress, fit, predict

__version__ = "0.1.0"

__all__ = [
    "CNN",
    "MLP",
    "MODEL_KINDS",
    "BatchEnsemble",
    "BatchEnsembleConv2d",
    "BatchEnsembleLinear",
    "Batcher",
    "Callback",
    "ConfigError",
    "Dataset",
    "DatasetError",
    "Ensemble",
    "EpochRecord",
    "Limits",
    "Metrics",
    "ParallelEnsemble",
    "Progress",
    "RunConfig",
    "RunDirError",
    "RunResult",
    "Split",
    "StackedConv2d",
    "StackedLinear",
    "batchensemble",
    "build_model",
    "compute_metrics",
    "fit",
    "list_runs",
    "load_dataset",
    "parallel_ensemble",
    "param_stats",
    "predict",
    "read_run",
    "run_experiment",
    "synthetic",
]
