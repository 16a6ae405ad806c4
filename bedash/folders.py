"""An image folder's layout (train/<class>/*, test/<class>/*) checked and listed, and the error
every dataset problem is: torch-free, so the dashboard can count a folder's images before it
has loaded torch. Decoding the images is bedash.data's job."""

from __future__ import annotations

import os
from pathlib import Path

from .schema import FieldError

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
