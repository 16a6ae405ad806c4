"""An image folder's layout (train/<class>/*, test/<class>/*) checked and listed, whether
CIFAR-10 and SVHN are on disk, and the error every dataset problem is: torch-free, so the
dashboard can count a folder's images and a sweep's driver can refuse --no-download without
the files before it has loaded torch. Decoding the images is bedash.data.datasets's job."""

from __future__ import annotations

import os
from pathlib import Path

from bedash.names import FieldError

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_FOLDER = "cifar-10-batches-py"
# per-file checksums of the official release (the same list torchvision keeps)
CIFAR10_FILES = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
SVHN_URL = "http://ufldl.stanford.edu/housenumbers/test_32x32.mat"
SVHN_FILE = "test_32x32.mat"
SVHN_FOLDER = "svhn"
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}


class DatasetError(FieldError):
    """The dataset cannot be loaded. `field` names the setting it is about ("dataset" for the
    folder or its files, "data_dir", "batch_size", "train_size", "test_size"); `message` says
    what is wrong and how to fix it; str(e) is "field: message"."""


def _class_images(split_dir: Path) -> dict[str, list[Path]]:
    classes = sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    return {
        c.name: sorted(
            f for f in c.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS
        )
        for c in classes
    }


def scan_image_folder(root: str | os.PathLike) -> dict[str, dict[str, list[Path]]]:
    """Check the layout and list the images: {'train': {class: [files]}, 'test': {...}}."""
    root = Path(root)
    layout = f"expected {root}/train/<class>/*.png|jpg and {root}/test/<class>/*"
    if not root.exists():
        raise DatasetError(
            "dataset", f"folder {root} does not exist (use cifar10, synthetic or an image folder)"
        )
    if not root.is_dir():
        raise DatasetError("dataset", f"{root} is not a folder ({layout})")
    for split in ("train", "test"):  # the layout first, then the contents
        if not (root / split).is_dir():
            raise DatasetError("dataset", f"{root / split} is missing ({layout})")
    out: dict[str, dict[str, list[Path]]] = {}
    for split in ("train", "test"):
        sd = root / split
        try:
            per_class = _class_images(sd)
        except OSError as e:  # a folder the server may not read
            raise DatasetError(
                "dataset", f"cannot read {e.filename or sd}: {e.strerror or e}"
            ) from e
        if not per_class:
            raise DatasetError("dataset", f"{sd} has no class folders ({layout})")
        for name, files in per_class.items():
            if not files:
                raise DatasetError(
                    "dataset",
                    f"class '{name}' in {sd} has no images "
                    f"(allowed extensions: {', '.join(sorted(IMAGE_EXTENSIONS))})",
                )
        out[split] = per_class
    train, test = set(out["train"]), set(out["test"])
    if train != test:  # a class the model never trains on, or never tested: no fair accuracy
        parts = [f"only in train/: {sorted(train - test)}"] if train - test else []
        parts += [f"only in test/: {sorted(test - train)}"] if test - train else []
        raise DatasetError(
            "dataset",
            f"train/ and test/ must hold the same classes in {root} ({'; '.join(parts)})",
        )
    if len(train) < 2:
        raise DatasetError(
            "dataset",
            f"{root} has one class ({next(iter(train))!r}); a classifier needs at least two",
        )
    return out


def image_counts(root: str | os.PathLike) -> tuple[int, int]:
    """(training, test) images of an image folder; DatasetError when it is not one."""
    listing = scan_image_folder(root)
    return tuple(sum(len(f) for f in listing[s].values()) for s in ("train", "test"))


# -- CIFAR-10 and SVHN on disk -----------------------------------------------------------------


def cifar10_manual_hint(data_dir: str | os.PathLike) -> str:
    folder = Path(data_dir).resolve()
    return (
        f"Download {CIFAR10_URL} by hand and put it in {folder} (or extract it there, so that "
        f"{folder / CIFAR10_FOLDER / 'data_batch_1'} exists); bedash verifies and uses it."
    )


def cifar10_present(data_dir: str | os.PathLike) -> bool:
    """True when the extracted batches, or the archive, are on disk (no network needed)."""
    d = Path(data_dir)
    folder = d / CIFAR10_FOLDER
    if all((folder / f).is_file() for f in CIFAR10_FILES):
        return True
    return (d / CIFAR10_ARCHIVE).is_file()


def cifar10_missing(data_dir: str | os.PathLike) -> str:
    """What a run without downloads says when CIFAR-10 is not in data_dir."""
    return f"CIFAR-10 is not in {Path(data_dir).resolve()}. {cifar10_manual_hint(data_dir)}"


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


def cifar10_ood_missing(data_dir: str | os.PathLike) -> str:
    """What a run says when CIFAR-10, asked for as an OOD set, is not in data_dir."""
    return (
        f"CIFAR-10 is not in {Path(data_dir).resolve()} (it is not downloaded for an OOD set). "
        f"{cifar10_manual_hint(data_dir)}"
    )


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
