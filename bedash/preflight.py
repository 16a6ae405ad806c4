"""Checks before any work: what can be known to fail before training, reported when the
dashboard's Start is pressed or before `sweep` makes its folder, not after the data loaded."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bedash.names import ConfigError
from bedash.settings.config import RunConfig
from bedash.settings.limits import DEFAULT_LIMITS, Limits
from bedash.store.folders import RunDirError


def check_runs_dir(runs_dir: Path) -> None:
    """RunDirError unless a run can be written in runs_dir (made if missing)."""
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=runs_dir)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise RunDirError("runs_dir", f"cannot write runs to {runs_dir}: {e.strerror or e}") from e


def preflight(cfg: RunConfig, limits: Limits = DEFAULT_LIMITS) -> None:
    """A ConfigError naming the field for bad bounds, a missing device, a folder that is not a
    dataset, a batch larger than the training set. Imports torch (for the device list)."""
    cfg.validate(limits)  # cpu_only (the demo) already refuses any device but auto and cpu
    if not limits.cpu_only:
        from bedash.method.devices import resolve_device

        resolve_device(cfg.device)  # ConfigError("device", ...) listing the devices there are
    n_train = train_images(cfg)
    if n_train is not None and cfg.batch_size > n_train:
        raise ConfigError(
            "batch_size",
            f"{cfg.batch_size} is larger than the training set ({n_train} images); "
            "choose a smaller batch or more training images",
        )
    from bedash.method.budget import check_budget

    check_budget(cfg, "cpu" if limits.cpu_only else cfg.device)  # what cannot fit in memory


def train_images(cfg: RunConfig) -> int:
    """How many training images cfg will use (bedash.data's own count: a folder is listed)."""
    from bedash.data.load import planned_sizes
    from bedash.names import DatasetError

    try:
        return planned_sizes(cfg.dataset, cfg.train_size)[0]
    except DatasetError as e:
        raise ConfigError(e.field, e.message) from e
