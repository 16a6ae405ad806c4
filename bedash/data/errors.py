"""The error every dataset problem is (torch-free: the checks before a run raise it too)."""

from __future__ import annotations

from bedash.names import FieldError


class DatasetError(FieldError):
    """The dataset cannot be loaded. `field` names the setting it is about ("dataset" for the
    folder or its files, "data_dir", "batch_size", "train_size", "test_size"); `message` says
    what is wrong and how to fix it; str(e) is "field: message"."""
