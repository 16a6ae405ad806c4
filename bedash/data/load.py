"""A dataset's name -> uint8 tensors: 'synthetic', 'cifar10' or an image folder's path. The files
are decoded once and cached beside them, so a second start takes well under a second."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from bedash.data import cifar10
from bedash.data.cifar10 import Progress
from bedash.data.folder import decode_image, image_counts, scan_image_folder
from bedash.data.housekeeping import folder_cache_file
from bedash.data.synthetic import SYNTHETIC_TEST, SYNTHETIC_TRAIN, synthetic
from bedash.data.tensors import Dataset, Split
from bedash.names import DatasetError
from bedash.store.atomic import atomic_write

CACHE_VERSION = 2  # 2: keyed on split, class and relative path; decode_image's 8-bit RGB rule


def load_dataset(
    dataset: str,
    data_dir: str | os.PathLike = "./data",
    *,
    train_size: int | None = None,
    test_size: int | None = None,
    download: bool = True,
    progress: Progress | None = None,
) -> Dataset:
    """'cifar10', 'synthetic', or the path of an image folder -> Dataset (uint8, on the CPU).
    train_size / test_size take that many images (after a fixed shuffle); more than the split
    holds is a DatasetError on that field (the synthetic set is made at the size asked)."""
    if dataset == "synthetic":
        return synthetic(train_size or SYNTHETIC_TRAIN, test_size or SYNTHETIC_TEST)
    if dataset == "cifar10":
        ds = load_cifar10(data_dir, download=download, progress=progress)
    else:
        ds = load_image_folder(
            dataset, cache_dir=Path(data_dir) / "bedash-cache", progress=progress
        )
    for name, size, split, what in (
        ("train_size", train_size, ds.train, "training"),
        ("test_size", test_size, ds.test, "test"),
    ):
        if size is not None and size > len(split):  # not silently all of it: say so
            raise DatasetError(name, f"{size} is larger than the {what} set ({len(split)} images)")
    return Dataset(ds.name, ds.classes, ds.train.head(train_size), ds.test.head(test_size), ds.info)


def planned_sizes(
    dataset: str, train_size: int | None = None, test_size: int | None = None
) -> tuple[int, int]:
    """(training, test) images load_dataset holds, counted without loading (a folder is listed;
    DatasetError when it is not one). A size beyond its split counts as the split here: loading
    refuses it, naming the field."""
    if dataset == "synthetic":
        return train_size or SYNTHETIC_TRAIN, test_size or SYNTHETIC_TEST
    if dataset == "cifar10":
        n_train, n_test = cifar10.CIFAR10_TRAIN, cifar10.CIFAR10_TEST
    else:
        n_train, n_test = image_counts(dataset)
    return (
        n_train if train_size is None else min(n_train, train_size),
        n_test if test_size is None else min(n_test, test_size),
    )


def load_cifar10(
    data_dir: str | os.PathLike, *, download: bool = True, progress: Progress | None = None
) -> Dataset:
    """CIFAR-10 from DATA_DIR/cifar-10-batches-py (downloaded first when missing and allowed);
    the decoded tensors are cached beside the files, so a second load takes well under a second."""
    d = Path(data_dir)
    folder = d / cifar10.CIFAR10_FOLDER
    if not all((folder / f).is_file() for f in cifar10.CIFAR10_FILES):
        if not download and not (d / cifar10.CIFAR10_ARCHIVE).is_file():
            raise DatasetError("dataset", cifar10.cifar10_missing(d))
        folder = cifar10.download_cifar10(d, progress, download=download)
    files = [folder / f for f in cifar10.CIFAR10_FILES]
    cache = folder / "bedash-cache.pt"
    key = _files_key(
        folder, [("test" if f.name == "test_batch" else "train", "", f) for f in files]
    )
    cached = _load_cache(cache, key, len(cifar10.CIFAR10_CLASSES))
    if cached is None:
        cached = _decode_cifar(files, progress)
        cached["verified"] = torch.tensor(cifar10.verify_md5(files))
        _save_cache(cache, key, cached)
    verified = cached.get("verified")
    ok = isinstance(verified, Tensor) and verified.numel() == 1 and bool(verified.item())
    return _dataset(
        "cifar10", list(cifar10.CIFAR10_CLASSES), cached, {"source": str(folder), "verified": ok}
    )


def _decode_cifar(files: list[Path], progress: Progress | None) -> dict[str, Tensor]:
    """The five training batches and the test batch -> uint8 tensors, one batch in memory at a
    time (peak ~ the final tensors + one 30 MB batch)."""
    parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"train": [], "test": []}
    for i, p in enumerate(files):
        if progress:
            progress("decode", i, len(files))
        parts["test" if p.name == "test_batch" else "train"].append(cifar10.read_cifar_batch(p))
    out: dict[str, Tensor] = {}
    for split, batches in parts.items():
        n = sum(len(b[1]) for b in batches)
        x = torch.empty(n, 3, 32, 32, dtype=torch.uint8)
        y = torch.empty(n, dtype=torch.int64)
        start = 0
        while batches:
            bx, by = batches.pop(0)  # drop each numpy batch once copied
            x[start : start + len(by)] = torch.from_numpy(bx)
            y[start : start + len(by)] = torch.from_numpy(by)
            start += len(by)
        out[f"{split}_x"], out[f"{split}_y"] = x, y
    return out


def load_image_folder(
    root: str | os.PathLike,
    *,
    cache_dir: str | os.PathLike | None = None,
    progress: Progress | None = None,
) -> Dataset:
    """An image folder -> Dataset, images as 32 x 32 RGB (decode_image's rule); cached, keyed on
    each file's split, class, path, size and mtime (_files_key)."""
    listing = scan_image_folder(root)
    classes = sorted(listing["train"])
    index = {c: i for i, c in enumerate(classes)}
    entries = [
        (s, c, f) for s, per_class in listing.items() for c, fs in per_class.items() for f in fs
    ]
    key = _files_key(Path(root), entries)
    cache = None
    if cache_dir is not None:
        cache = folder_cache_file(cache_dir, root)
        cached = _load_cache(cache, key, len(classes))
        if cached is not None:
            return _dataset(Path(root).name, classes, cached, {"source": str(root), "cached": True})
    done, total = 0, len(entries)
    tensors: dict[str, Tensor] = {}
    for split in ("train", "test"):
        xs, ys = [], []
        for cname, files in listing[split].items():
            for f in files:
                xs.append(decode_image(f))
                ys.append(index[cname])
                done += 1
                if progress and (done % 200 == 0 or done == total):
                    progress("decode", done, total)
        tensors[f"{split}_x"] = torch.from_numpy(np.stack(xs))
        tensors[f"{split}_y"] = torch.tensor(ys, dtype=torch.int64)
    if cache is not None:
        _save_cache(cache, key, tensors)
    return _dataset(Path(root).name, classes, tensors, {"source": str(root), "cached": False})


def _dataset(name: str, classes: list[str], t: dict[str, Tensor], info: dict) -> Dataset:
    return Dataset(
        name, classes, Split(t["train_x"], t["train_y"]), Split(t["test_x"], t["test_y"]), info
    )


def _files_key(root: Path, entries: list[tuple[str, str, Path]]) -> str:
    """What defines the decoded dataset: for every (split, class, file), the split, the class,
    the path below root, the size and mtime_ns (a file moved to another class keeps its name,
    size and time, but not its class), and the decoder's version. JSON lines: a name holding
    '|' or a newline cannot make two listings hash alike."""
    h = hashlib.sha256(f"v{CACHE_VERSION}\n".encode())
    for split, cls, f in entries:
        try:
            st = f.stat()
            rel = f.relative_to(root).as_posix()
        except OSError as e:
            raise DatasetError("dataset", f"cannot read {f}: {e.strerror or e}") from e
        h.update(json.dumps([split, cls, rel, st.st_size, st.st_mtime_ns]).encode() + b"\n")
    return h.hexdigest()


def _load_cache(path: Path, key: str, n_classes: int) -> dict[str, Tensor] | None:
    """The cached tensors when the key matches; None when absent, stale or unreadable.
    weights_only=True: a cache file can never run code."""
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        return None
    if not isinstance(blob, dict) or blob.get("key") != key:
        return None
    tensors = blob.get("tensors")
    return tensors if _valid_splits(tensors, n_classes) else None


def _valid_splits(tensors: object, n_classes: int) -> bool:
    """Do the cached tensors look like two decoded splits, labels in 0..n_classes-1? (A
    tampered cache with the right key must not reach training as garbage: it is rebuilt.)"""
    if not isinstance(tensors, dict):
        return False
    for split in ("train", "test"):
        x, y = tensors.get(f"{split}_x"), tensors.get(f"{split}_y")
        if not (isinstance(x, Tensor) and isinstance(y, Tensor)):
            return False
        if x.dtype != torch.uint8 or x.dim() != 4 or tuple(x.shape[1:]) != (3, 32, 32):
            return False
        if y.dtype != torch.int64 or y.shape != (x.shape[0],):
            return False
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= n_classes):
            return False
    return True


def _save_cache(path: Path, key: str, tensors: dict[str, Tensor]) -> None:
    """Best effort: a read-only data folder only costs the next load its decode time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: torch.save({"key": key, "tensors": tensors}, f))
    except OSError:
        pass
