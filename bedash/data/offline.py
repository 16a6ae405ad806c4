"""What a run reads from disk only (SVHN without downloads, CIFAR-10 as an OOD set), checked
before it starts; torch-free, so a sweep's driver refuses it before loading torch."""

from __future__ import annotations

import os
from pathlib import Path

from bedash.data.cifar10 import cifar10_missing, cifar10_ood_missing, cifar10_present
from bedash.names import DatasetError

SVHN_URL = "http://ufldl.stanford.edu/housenumbers/test_32x32.mat"
SVHN_FILE = "test_32x32.mat"
SVHN_FOLDER = "svhn"


def svhn_manual_hint(data_dir: str | os.PathLike) -> str:
    folder = (Path(data_dir) / SVHN_FOLDER).resolve()
    return (
        f"Download {SVHN_URL} by hand and put it in {folder} (so that {folder / SVHN_FILE} "
        "exists); bedash reads it with scipy."
    )


def svhn_present(data_dir: str | os.PathLike) -> bool:
    return (Path(data_dir) / SVHN_FOLDER / SVHN_FILE).is_file()


def svhn_missing(data_dir: str | os.PathLike) -> str:
    """What a run without downloads says when SVHN (an OOD set) is not in data_dir."""
    folder = (Path(data_dir) / SVHN_FOLDER).resolve()
    return f"SVHN is not in {folder}, and downloads are turned off. {svhn_manual_hint(data_dir)}"


def check_on_disk(data_dir: str | os.PathLike, ood: tuple[str, ...]) -> None:
    """Refuse, before anything starts, what is read from disk only and never downloaded:
    CIFAR-10 as an OOD set (DatasetError naming "ood")."""
    if "cifar10" in ood and not cifar10_present(data_dir):
        raise DatasetError("ood", cifar10_ood_missing(data_dir))


def check_offline(dataset: str, data_dir: str | os.PathLike, ood: tuple[str, ...]) -> None:
    """Refuse, before anything starts, a run without downloads whose files are not on disk:
    DatasetError naming "dataset" (CIFAR-10) or "ood" (SVHN), with the loaders' own words."""
    if dataset == "cifar10" and not cifar10_present(data_dir):
        raise DatasetError("dataset", cifar10_missing(data_dir))
    if "svhn" in ood and not svhn_present(data_dir):
        raise DatasetError("ood", svhn_missing(data_dir))
