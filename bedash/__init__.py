"""bedash: is a BatchEnsemble as good as a real ensemble, and how much does it save? The public
API is re-exported lazily: a page importing bedash.store.runs does not pay for torch."""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "settings.config": ["MODEL_KINDS", "RunConfig", "config_fields", "spec"],
    "settings.limits": ["Limits"],
    "settings.types": ["Spec"],
    "data.batches": ["Batcher"],
    "data.tensors": ["Dataset", "Split"],
    "data.load": ["load_dataset"],
    "data.synthetic": ["synthetic"],
    "experiment": ["RunResult", "run_experiment"],
    "method.layers": [
        "BatchEnsemble",
        "BatchEnsembleConv2d",
        "BatchEnsembleLinear",
        "ParallelEnsemble",
        "StackedConv2d",
        "StackedLinear",
        "batchensemble",
        "parallel_ensemble",
    ],
    "method.metrics": ["Metrics", "compute_metrics"],
    "method.models": ["CNN", "MLP", "Ensemble", "build_model", "param_stats"],
    "store.folders": ["RunDirError"],
    "store.runs": ["list_runs", "read_run"],
    "names": ["ConfigError", "DatasetError", "FieldError"],
    "method.train": ["Callback", "EpochRecord", "Progress", "fit", "predict"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'bedash' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
