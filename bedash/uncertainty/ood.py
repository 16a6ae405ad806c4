"""Out-of-distribution image sets, as uint8 tensors `[N, 3, 32, 32]` (what the models eat).

Generated (no files): uniform noise, Gaussian noise, bedash's smooth synthetic images. From disk:
CIFAR-10 (for a run on other data; never downloaded here), SVHN's test split (downloaded by
torchvision where the network allows, or placed by hand; read with scipy), or any folder of images.
Errors name the field: "ood: ...".
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor

from bedash.data.cifar10 import cifar10_ood_missing, cifar10_present
from bedash.data.folder import IMAGE_EXTENSIONS, decode_image
from bedash.data.load import load_cifar10
from bedash.data.offline import (
    SVHN_FILE,
    SVHN_FOLDER,
    svhn_manual_hint,
    svhn_missing,
    svhn_present,
)
from bedash.data.synthetic import synthetic
from bedash.names import OOD_NAMES, DatasetError

GENERATED_OOD = ("uniform", "gaussian", "synthetic")


def is_ood_name(name: str) -> bool:
    return name in OOD_NAMES


def ood_label(name: str) -> str:
    """The name an OOD set goes by in the tables: a folder by its last part."""
    return name if is_ood_name(name) else Path(name).name or str(name)


def uniform_noise(n: int, g: torch.Generator) -> Tensor:
    """Every value uniform on 0..255."""
    return torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)


def gaussian_noise_images(n: int, g: torch.Generator) -> Tensor:
    """Every value N(0.5, 0.25^2) on the [0, 1] scale, clipped (a mid-grey, structureless set)."""
    x = torch.randn(n, 3, 32, 32, generator=g).mul_(0.25 * 255).add_(127.5)
    return x.clamp_(0, 255).round_().to(torch.uint8)


def synthetic_images(n: int) -> Tensor:
    """bedash's smooth synthetic images (the test split of data.synthetic with n images)."""
    return synthetic(n_train=0, n_test=n).test.x


def load_svhn(data_dir: str | os.PathLike, *, download: bool = True) -> Tensor:
    """SVHN's test images `[N, 3, 32, 32]` from DATA_DIR/svhn/test_32x32.mat, downloaded there
    by torchvision first when missing (it checks the file's MD5 after the download)."""
    folder = Path(data_dir) / SVHN_FOLDER
    if not svhn_present(data_dir):
        if not download:
            raise DatasetError("ood", svhn_missing(data_dir))
        from torchvision.datasets import SVHN

        try:
            SVHN(str(folder), split="test", download=True)
        except Exception as e:  # no network, a damaged download: say how to place it by hand
            raise DatasetError(
                "ood", f"SVHN could not be downloaded ({e}). {svhn_manual_hint(data_dir)}"
            ) from e
    return read_svhn(folder / SVHN_FILE, data_dir)


def read_svhn(path: Path, data_dir: str | os.PathLike) -> Tensor:
    """The images of an SVHN .mat file (X: 32 x 32 x 3 x N, uint8), in torchvision's order.
    Read here rather than through torchvision's SVHN class, which refuses any file whose MD5
    is not the published one: a file placed by hand is read as it is, and a damaged one
    gets a message naming it."""
    try:
        import scipy.io
    except ImportError as e:  # a requirement; only a hand-made environment lacks it
        raise DatasetError(
            "ood", "svhn needs scipy, which is not installed (pip install scipy)"
        ) from e
    hint = svhn_manual_hint(data_dir)
    try:
        x = scipy.io.loadmat(str(path), variable_names=["X"]).get("X")
    except Exception as e:  # truncated, not a .mat file, unreadable
        raise DatasetError("ood", f"{path} could not be read as SVHN ({e}). {hint}") from e
    if x is None or x.ndim != 4 or x.shape[:3] != (32, 32, 3) or str(x.dtype) != "uint8":
        what = "no X" if x is None else f"X of shape {tuple(x.shape)}, {x.dtype}"
        raise DatasetError(
            "ood", f"{path} is not SVHN's format (X: 32 x 32 x 3 x N, uint8; it has {what}). {hint}"
        )
    # (row, column, channel, image) -> (image, channel, row, column), as torchvision does
    return torch.from_numpy(x.transpose(3, 2, 0, 1).copy())


def load_cifar10_images(data_dir: str | os.PathLike) -> Tensor:
    """CIFAR-10's test images from disk (an OOD set for a run on other data: never downloaded)."""
    if not cifar10_present(data_dir):
        raise DatasetError("ood", cifar10_ood_missing(data_dir))
    try:
        return load_cifar10(data_dir, download=False).test.x
    except DatasetError as e:
        raise DatasetError("ood", e.message) from e


def folder_images(root: str | os.PathLike, limit: int | None = None) -> list[Path]:
    """The image files of an OOD folder: under root/test when it has the train/test layout,
    else anywhere under root; sorted. DatasetError when there are none."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(
            "ood", f"{root} is neither an OOD set ({', '.join(OOD_NAMES)}) nor a folder of images"
        )
    base = root / "test" if (root / "test").is_dir() else root
    try:
        files = sorted(
            p
            for p in base.rglob("*")
            if p.suffix.lower() in IMAGE_EXTENSIONS
            and p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(base).parts)
        )
    except OSError as e:
        raise DatasetError("ood", f"cannot read {e.filename or base}: {e.strerror or e}") from e
    if not files:
        raise DatasetError(
            "ood",
            f"{base} holds no images (allowed extensions: {', '.join(sorted(IMAGE_EXTENSIONS))})",
        )
    if limit is not None and len(files) > limit:  # an even spread, not the first classes only
        step = len(files) / limit
        files = [files[int(i * step)] for i in range(limit)]
    return files


def load_folder_images(root: str | os.PathLike, limit: int | None = None) -> Tensor:
    """A folder of images -> uint8 [N, 3, 32, 32] (resized to 32 x 32 RGB, as bedash.data)."""
    import numpy as np

    arrays = []
    for f in folder_images(root, limit):
        try:
            arrays.append(decode_image(f))
        except DatasetError as e:  # data words it for the dataset field
            raise DatasetError("ood", e.message) from e
    return torch.from_numpy(np.stack(arrays))


def load_ood(
    name: str,
    n: int,
    *,
    data_dir: str | os.PathLike = "./data",
    seed: int = 0,
    download: bool = True,
) -> Tensor:
    """The OOD set called `name` (OOD_NAMES) or the folder at path `name`, at most n images
    (generated sets have exactly n). Generated sets depend only on (name, n, seed)."""
    g = torch.Generator().manual_seed(
        seed * 1_000_003 + 7919 + OOD_NAMES.index(name) * 31 if is_ood_name(name) else seed
    )
    if name == "uniform":
        return uniform_noise(n, g)
    if name == "gaussian":
        return gaussian_noise_images(n, g)
    if name == "synthetic":
        return synthetic_images(n)
    if name == "cifar10":
        x = load_cifar10_images(data_dir)
    elif name == "svhn":
        x = load_svhn(data_dir, download=download)
    else:
        x = load_folder_images(name, limit=n)
    return _head(x, n)


def _head(x: Tensor, n: int) -> Tensor:
    """At most n images, an even spread over the set."""
    if len(x) <= n:
        return x
    idx = torch.linspace(0, len(x) - 1, n).round().long()
    return x[idx].contiguous()


def load_ood_sets(
    names: tuple[str, ...],
    n: int,
    *,
    data_dir: str | os.PathLike = "./data",
    seed: int = 0,
    download: bool = True,
) -> dict[str, Tensor]:
    """Every OOD set once, label -> images (at most n each), before anything is trained: a bad
    folder fails here (DatasetError naming `ood`), not after an hour of training."""
    sets: dict[str, Tensor] = {}
    for name in names:
        label = ood_label(name)
        label = name if label in sets else label  # two folders of one name: the whole path
        sets[label] = load_ood(name, n, data_dir=data_dir, seed=seed, download=download)
    return sets
