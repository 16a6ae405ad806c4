"""Datasets as uint8 tensors, decoded once and cached; batches drawn on the training device.

CIFAR-10 (torchvision's download and checksum), an image folder (`train/<class>/*`,
`test/<class>/*`), or a learnable synthetic set of CIFAR shape that needs no files. There is no
per-image DataLoader: a split is one `[N, 3, 32, 32]` uint8 tensor kept on the device, batches
are gathered with a seeded permutation and normalised per batch, as the seed: (x/255 - 0.5)/0.5.

Every file is checked before use: a bad one is a DatasetError (a FieldError naming the setting
and the file), never another exception. Image modes become 8-bit RGB by one rule (_to_rgb);
CIFAR-10 pickles are checked before an array is built (_SafeUnpickler, _check_batch).
"""

# Size: ~800 lines because each source keeps its loader, its checks and its cache together
# (CIFAR-10 batches are untrusted pickles; images come in a dozen PIL modes); splitting them
# would spread one source's rules over several files.

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
from torch import Tensor

from bedash.store.atomic import atomic_write
from bedash.data.folders import (  # noqa: F401 (re-exported: bedash.data.datasets is where callers look)
    CIFAR10_ARCHIVE,
    CIFAR10_FILES,
    CIFAR10_FOLDER,
    CIFAR10_MD5,
    CIFAR10_URL,
    IMAGE_EXTENSIONS,
    DatasetError,
    cifar10_manual_hint,
    cifar10_missing,
    cifar10_present,
    scan_image_folder,
)
from bedash.data.housekeeping import folder_cache_file
from bedash.names import FieldError  # noqa: F401

if TYPE_CHECKING:
    from PIL import Image

Progress = Callable[[str, int, int], None]  # (stage, done, total)

CIFAR10_META = "batches.meta"
CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip
CACHE_VERSION = 2  # 2: keyed on split, class and relative path; the 8-bit RGB rule of _to_rgb
SYNTHETIC_SEED = 1234  # fixed: the synthetic set is the same for every run


@dataclass
class Split:
    x: Tensor  # (N, 3, 32, 32) uint8
    y: Tensor  # (N,) int64

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def to(self, device: torch.device | str) -> Split:
        return Split(self.x.to(device), self.y.to(device))

    def head(self, n: int | None) -> Split:
        """The first n examples after a fixed shuffle (class-balanced for sorted folders)."""
        if n is None or n >= len(self):
            return self
        idx = torch.randperm(len(self), generator=torch.Generator().manual_seed(0))[:n]
        idx = idx.to(self.y.device)
        return Split(self.x[idx], self.y[idx])


@dataclass
class Dataset:
    name: str
    classes: list[str]
    train: Split
    test: Split
    info: dict[str, object] = field(default_factory=dict)  # source, verified checksums, cache...

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = self.train.x.shape[1:]
        return int(c), int(h), int(w)

    def to(self, device: torch.device | str) -> Dataset:
        return Dataset(
            self.name, self.classes, self.train.to(device), self.test.to(device), self.info
        )


def normalize(x: Tensor) -> Tensor:
    """uint8 images -> float32 in [-1, 1]: (x/255 - 0.5)/0.5, as the seed's Normalize."""
    return x.float().mul_(2.0 / 255.0).sub_(1.0)


class Batcher:
    """Seeded, device-side mini-batches of one split. The last partial batch is kept (as the
    seed's DataLoader: 50,000 / 32 -> 1,563 steps)."""

    def __init__(self, split: Split, batch_size: int, seed: int = 0, shuffle: bool = True) -> None:
        if batch_size > len(split):
            raise DatasetError(
                "batch_size", f"{batch_size} is larger than the training set ({len(split)} images)"
            )
        self.split, self.batch_size, self.seed, self.shuffle = split, batch_size, seed, shuffle

    def __len__(self) -> int:
        return math.ceil(len(self.split) / self.batch_size)

    def permutation(self, epoch: int) -> Tensor:
        n = len(self.split)
        if not self.shuffle:
            return torch.arange(n, device=self.split.y.device)
        # a CPU generator: the same order on every device; one copy per epoch
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(n, generator=g).to(self.split.y.device, non_blocking=True)

    def indices(self, epoch: int) -> Iterator[Tensor]:
        """The index tensor of each batch of `epoch`, on the split's device."""
        perm = self.permutation(epoch)
        B = self.batch_size
        for i in range(len(self)):
            yield perm[i * B : (i + 1) * B]

    def batch(self, idx: Tensor) -> tuple[Tensor, Tensor]:
        """Gather and normalise one batch on the device."""
        return normalize(self.split.x[idx]), self.split.y[idx]

    def epoch(self, epoch: int) -> Iterator[tuple[Tensor, Tensor]]:
        for idx in self.indices(epoch):
            yield self.batch(idx)


# -- loading ---------------------------------------------------------------------------------


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
        return synthetic(train_size or 50_000, test_size or 10_000)
    if dataset == "cifar10":
        ds = load_cifar10(data_dir, download=download, progress=progress)
    else:
        ds = load_image_folder(
            dataset, cache_dir=Path(data_dir) / "bedash-cache", progress=progress
        )
    for name, size, split, what in (
        ("train_size", train_size, ds.train, "training"), ("test_size", test_size, ds.test, "test")
    ):  # fmt: skip
        if size is not None and size > len(split):  # not silently all of it: say so
            raise DatasetError(name, f"{size} is larger than the {what} set ({len(split)} images)")
    return Dataset(ds.name, ds.classes, ds.train.head(train_size), ds.test.head(test_size), ds.info)


def synthetic(n_train: int = 50_000, n_test: int = 10_000, seed: int = SYNTHETIC_SEED) -> Dataset:
    """A learnable 10-class set of CIFAR shape: a smooth prototype per class, plus per-image
    smooth distortion, brightness shift and pixel noise. Deterministic; no files needed."""
    g = torch.Generator().manual_seed(seed)
    protos = _smooth_noise(10, 8, g) * 8.0  # (10, 3, 32, 32), class templates

    def make(n: int) -> Split:
        x = torch.empty(n, 3, 32, 32, dtype=torch.uint8)  # filled in place: no big temporaries
        y = torch.randint(0, 10, (n,), generator=g)
        # Two float buffers reused by every chunk: fresh 12 MB temporaries per chunk left the
        # allocator holding ~150 MB more than the data at 50k images. Same draws, same values.
        buf, noise = torch.empty(2, min(n, 1000), 3, 32, 32)
        for start in range(0, n, 1000):
            end = min(start + 1000, n)
            m = end - start
            chunk, tmp = buf[:m], noise[:m]
            torch.index_select(protos, 0, y[start:end], out=chunk)
            chunk += _smooth_noise(m, 4, g, out=tmp).mul_(55.0)
            chunk += torch.randn(m, 1, 1, 1, generator=g) * 20.0 + 128.0
            chunk += torch.randn(chunk.shape, generator=g, out=tmp).mul_(70.0)
            x[start:end] = chunk.clamp_(0, 255).round_()
        return Split(x, y)

    train, test = make(n_train), make(n_test)
    classes = [f"class_{i}" for i in range(10)]
    return Dataset("synthetic", classes, train, test, {"source": "generated", "seed": seed})


def _smooth_noise(n: int, res: int, g: torch.Generator, out: Tensor | None = None) -> Tensor:
    """Gaussian noise at res x res, upsampled to 32 x 32 (low-frequency structure), written
    into `out` when given. One draw for all n; upsampled 250 images at a time (small
    temporaries, and each image's values do not depend on the slicing)."""
    z = torch.randn(n, 3, res, res, generator=g)
    out = torch.empty(n, 3, 32, 32) if out is None else out
    for a in range(0, n, 250):
        out[a : a + 250] = torch.nn.functional.interpolate(
            z[a : a + 250], size=(32, 32), mode="bilinear", align_corners=False
        )
    return out


# -- CIFAR-10 --------------------------------------------------------------------------------


def download_cifar10(
    data_dir: str | os.PathLike, progress: Progress | None = None, *, download: bool = True
) -> Path:
    """Download (unless present), check the archive's MD5 and extract. Returns the folder.
    Without download, an archive on disk that fails its MD5 check is refused, not replaced."""
    from torchvision.datasets.utils import check_integrity, extract_archive

    d = Path(data_dir)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DatasetError(
            "data_dir", f"cannot use {d} as the data folder ({e.strerror or e})"
        ) from e
    archive = d / CIFAR10_ARCHIVE
    if not check_integrity(str(archive), CIFAR10_MD5):
        if not download:
            raise DatasetError(
                "dataset",
                f"the CIFAR-10 archive {archive.resolve()} failed its MD5 check (expected "
                f"{CIFAR10_MD5}): it is incomplete or damaged. Delete it and download it again, "
                f"or allow the download. {cifar10_manual_hint(d)}",
            )
        try:
            _download(CIFAR10_URL, archive, progress)
        except (OSError, urllib.error.URLError) as e:
            raise DatasetError(
                "dataset", f"CIFAR-10 could not be downloaded ({e}). {cifar10_manual_hint(d)}"
            ) from e
        if not check_integrity(str(archive), CIFAR10_MD5):
            archive.unlink(missing_ok=True)
            raise DatasetError(
                "dataset",
                f"the downloaded CIFAR-10 archive failed its MD5 check (expected {CIFAR10_MD5}); "
                f"it was removed. {cifar10_manual_hint(d)}",
            )
    if progress:
        progress("extract", 0, 1)
    try:
        extract_archive(str(archive), str(d))
    except (OSError, tarfile.TarError) as e:
        raise DatasetError("dataset", f"cannot extract {archive} into {d}: {e}") from e
    if progress:
        progress("extract", 1, 1)
    return d / CIFAR10_FOLDER


def _download(url: str, dest: Path, progress: Progress | None) -> None:
    """Stream url to dest (via a temp file, so an interrupted download leaves nothing)."""
    tmp = dest.with_name(dest.name + ".part")
    req = urllib.request.Request(url, headers={"User-Agent": "bedash"})
    with urllib.request.urlopen(req, timeout=30) as resp, open(tmp, "wb") as out:
        total = int(resp.headers.get("Content-Length") or 0)
        done = 0
        while chunk := resp.read(1 << 20):
            out.write(chunk)
            done += len(chunk)
            if progress:
                progress("download", done, total)
    os.replace(tmp, dest)


CIFAR10_MAX_FILE_BYTES = 40 * 2**20  # an official batch is 31 MB: 10,000 rows of 3,072 bytes
CIFAR10_MAX_ROWS = 10_000  # per batch file, as the official ones; smaller hand-made ones are fine
# Five training files and one test file of at most CIFAR10_MAX_ROWS each: at most 50,000 and
# 10,000 images (150 MB and 30 MB decoded), whatever the files claim.
_ARRAY_DTYPES = {"u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8"}  # what a batch's arrays can be


class _PickledArray:
    """Stands in for an ndarray while a batch is unpickled: it records the pickled state and
    allocates nothing. (numpy's own _reconstruct allocates whatever shape the file names: a
    186-byte pickle asked for 586 MiB.) _array() turns it into an array once the state is
    checked against the bytes it really holds."""

    def __init__(self, state: object = None) -> None:
        self.state = state

    def __setstate__(self, state: object) -> None:
        self.state = state


class _PickledDtype:
    """Stands in for a numpy dtype while unpickling: only plain integer dtypes resolve."""

    def __init__(self, name: object, align: object = False, copy: object = True) -> None:
        self.name, self.state = name, None

    def __setstate__(self, state: object) -> None:
        self.state = state


def _reconstruct(cls: object, shape: object, typecode: object) -> _PickledArray:
    """numpy's array pickles start with _reconstruct(ndarray, (0,), b'b'): its shape is
    ignored (the state set next holds the real one)."""
    if cls is not _NDARRAY:
        raise pickle.UnpicklingError("an array of an unknown class")
    return _PickledArray()


def _frombuffer(buf: object, dtype: object, shape: object, order: object) -> _PickledArray:
    """Protocol-5 array pickles: the same state, with the bytes given first."""
    data = bytes(buf) if isinstance(buf, (bytes, bytearray, pickle.PickleBuffer)) else buf
    return _PickledArray((1, shape, dtype, order == "F", data))


def _encode(text: object, encoding: object = "latin1") -> bytes:
    """How protocol-2 pickles store bytes: latin-1 text, re-encoded (nothing else)."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("an unexpected _codecs.encode call")
    return text.encode("latin1")


def _empty_bytes(*args: object) -> bytes:
    """Protocol 2 pickles b"" as a call of bytes(): only that call is allowed."""
    if args:
        raise pickle.UnpicklingError("an unexpected bytes() call")
    return b""


_NDARRAY = object()  # what the pickle's numpy.ndarray resolves to: only a marker


class _SafeUnpickler(pickle.Unpickler):
    """CIFAR-10 batches are pickles: allow only what they hold (dicts, lists, ints, strings and
    numpy arrays), and let no array be built before its shape and bytes are checked."""

    ALLOWED: ClassVar[dict[tuple[str, str], object]] = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy.core.numeric", "_frombuffer"): _frombuffer,
        ("numpy._core.numeric", "_frombuffer"): _frombuffer,
        ("numpy", "ndarray"): _NDARRAY,
        ("numpy", "dtype"): _PickledDtype,
        ("_codecs", "encode"): _encode,
        ("__builtin__", "bytes"): _empty_bytes,
        ("builtins", "bytes"): _empty_bytes,
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in self.ALLOWED:
            return self.ALLOWED[module, name]
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a dataset file")


def _dtype(d: object) -> np.dtype:
    if not isinstance(d, _PickledDtype) or not isinstance(d.name, str):
        raise ValueError("an array without a plain dtype")
    if d.name not in _ARRAY_DTYPES:
        raise ValueError(f"an array of dtype {d.name!r} (only integer arrays are allowed)")
    st = d.state
    if st is not None and not (
        isinstance(st, tuple) and len(st) >= 5 and st[1] in ("<", ">", "|", "=")
        and st[2] is None and st[3] is None and st[4] is None  # no subarray, no fields
    ):  # fmt: skip
        raise ValueError(f"an array of dtype {d.name!r} with an unexpected layout")
    dt = np.dtype(d.name)
    return dt.newbyteorder(">") if st is not None and st[1] == ">" else dt


def _array(obj: object) -> object:
    """A checked _PickledArray -> ndarray (its own copy of the bytes the file holds: never more
    memory than the file's size); anything else unchanged."""
    if not isinstance(obj, _PickledArray):
        return obj
    st = obj.state
    if isinstance(st, tuple) and len(st) == 5:
        st = st[1:]  # (version, shape, dtype, is_fortran, data)
    if not (isinstance(st, tuple) and len(st) == 4):
        raise ValueError("an array without its data")
    shape, dt, fortran, raw = st[0], _dtype(st[1]), st[2], st[3]
    if not (
        isinstance(shape, tuple) and len(shape) <= 2
        and all(type(n) is int and n >= 0 for n in shape)
    ):  # fmt: skip
        raise ValueError(f"an array of shape {shape!r}")
    if isinstance(raw, str):  # a Python 2 pickle (the official files), read as latin-1
        raw = raw.encode("latin1")
    if not isinstance(raw, bytes):
        raise ValueError("an array whose data is not bytes")
    need = math.prod(shape) * dt.itemsize
    if need != len(raw):
        raise ValueError(f"an array of shape {shape} holds {len(raw)} bytes, not {need}")
    arr = np.frombuffer(raw, dtype=dt).reshape(shape, order="F" if fortran else "C")
    return arr.astype(dt.newbyteorder("="), order="C")  # a writable native copy


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> (N, 3, 32, 32) uint8 images and (N,) int64 labels, each checked
    before anything the size of the data is allocated; DatasetError naming the file."""
    try:
        size = path.stat().st_size
        if size > CIFAR10_MAX_FILE_BYTES:
            raise ValueError(
                f"it is {size:,} bytes; a batch is at most {CIFAR10_MAX_FILE_BYTES:,} "
                "(an official one is 31 MB)"
            )
        with open(path, "rb") as f:
            entry = _SafeUnpickler(f, encoding="latin1").load()
        data, labels = _check_batch(entry)
    except (
        OSError, EOFError, KeyError, TypeError, ValueError, IndexError, AttributeError,
        pickle.UnpicklingError, MemoryError, RecursionError,
    ) as e:  # fmt: skip
        raise DatasetError(
            "dataset", f"CIFAR-10 file {path} is damaged or not a CIFAR-10 batch: {e}"
        ) from e
    return data.reshape(-1, 3, 32, 32), labels


def _check_batch(entry: object) -> tuple[np.ndarray, np.ndarray]:
    """A batch's dict -> (N, 3072) uint8 data and (N,) int64 labels in 0..9, or ValueError."""
    entry = _array(entry)
    if not isinstance(entry, dict):
        what = "an array" if isinstance(entry, np.ndarray) else f"a {type(entry).__name__}"
        raise ValueError(f"it holds {what}, not a dict with 'data' and 'labels'")
    entry = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}
    for key in ("data", "labels"):
        if key not in entry:
            hint = " ('fine_labels': a CIFAR-100 file?)" if "fine_labels" in entry else ""
            raise ValueError(f"it has no {key!r}{hint}")
    data = _array(entry["data"])
    if not isinstance(data, np.ndarray):
        raise ValueError(f"'data' is a {type(data).__name__}, not an array of uint8")
    if data.ndim != 2 or data.shape[1] != 3072 or not 1 <= data.shape[0] <= CIFAR10_MAX_ROWS:
        raise ValueError(
            f"'data' has the shape {data.shape}; expected (N, 3072) with N from 1 to "
            f"{CIFAR10_MAX_ROWS:,}"
        )
    if data.dtype != np.uint8:
        if data.min() < 0 or data.max() > 255:
            raise ValueError("'data' holds values outside 0..255")
        data = data.astype(np.uint8)
    labels = _labels(_array(entry["labels"]), len(data))
    return data, labels


def _labels(raw: object, n: int) -> np.ndarray:
    """A list (or 1-D integer array) of n class indices 0..9 -> int64 array, or ValueError."""
    if isinstance(raw, np.ndarray):
        if raw.ndim != 1:
            raise ValueError(f"'labels' has the shape {raw.shape}; expected ({n},)")
        values = raw
    elif isinstance(raw, (list, tuple)):
        for i, v in enumerate(raw):
            if type(v) is not int:  # not bool, not a float, not a nested list
                raise ValueError(f"label {i} is a {type(v).__name__}, not a class index 0..9")
            if not 0 <= v <= 9:
                raise ValueError(f"label {v} (image {i}) is not a class index 0..9")
        values = raw
    else:
        raise ValueError(f"'labels' is a {type(raw).__name__}, not a list of class indices")
    if len(values) != n:
        raise ValueError(f"'labels' has {len(values):,} entries for {n:,} images")
    if isinstance(values, np.ndarray):
        bad = np.flatnonzero((values < 0) | (values > 9))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"label {int(values[i])} (image {i}) is not a class index 0..9")
    labels = np.asarray(values, dtype=np.int64)  # n <= 10,000 values in 0..9: small
    return labels


def load_cifar10(
    data_dir: str | os.PathLike, *, download: bool = True, progress: Progress | None = None
) -> Dataset:
    """CIFAR-10 from DATA_DIR/cifar-10-batches-py (downloaded first when missing and allowed);
    the decoded tensors are cached beside the files, so a second load takes well under a second."""
    d = Path(data_dir)
    folder = d / CIFAR10_FOLDER
    if not all((folder / f).is_file() for f in CIFAR10_FILES):
        if not download and not (d / CIFAR10_ARCHIVE).is_file():
            raise DatasetError("dataset", cifar10_missing(d))
        folder = download_cifar10(d, progress, download=download)
    files = [folder / f for f in CIFAR10_FILES]
    cache = folder / "bedash-cache.pt"
    key = _files_key(
        folder, [("test" if f.name == "test_batch" else "train", "", f) for f in files]
    )
    cached = _load_cache(cache, key, len(CIFAR10_CLASSES))
    if cached is None:
        cached = _decode_cifar(files, progress)
        cached["verified"] = torch.tensor(_verify_md5(files))
        _save_cache(cache, key, cached)
    verified = cached.get("verified")
    ok = isinstance(verified, Tensor) and verified.numel() == 1 and bool(verified.item())
    info = {"source": str(folder), "verified": ok}
    return Dataset(
        "cifar10",
        list(CIFAR10_CLASSES),
        Split(cached["train_x"], cached["train_y"]),
        Split(cached["test_x"], cached["test_y"]),
        info,
    )


def _decode_cifar(files: list[Path], progress: Progress | None) -> dict[str, Tensor]:
    """The five training batches and the test batch -> uint8 tensors, one batch in memory at a
    time (peak ~ the final tensors + one 30 MB batch)."""
    parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"train": [], "test": []}
    for i, p in enumerate(files):
        if progress:
            progress("decode", i, len(files))
        parts["test" if p.name == "test_batch" else "train"].append(_read_cifar_batch(p))
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


def _verify_md5(files: list[Path]) -> bool:
    """Do the batches match the official release? (A hand-made or edited copy does not.)"""
    from torchvision.datasets.utils import check_integrity

    return all(check_integrity(str(p), CIFAR10_FILES[p.name]) for p in files)


# -- image folders ---------------------------------------------------------------------------


IMAGE_SIZE = (32, 32)
_HIGH_BIT_GRAY = ("I;16", "I;16B", "I;16L", "I;16N", "I")  # 16-bit (and 32-bit int) grayscale
_ALPHA = ("LA", "La", "PA", "RGBA", "RGBa")
_PLAIN = ("1", "L", "P", "RGB", "RGBX", "YCbCr", "HSV", "CMYK")  # PIL's convert is right
_bomb_filter_installed = False


def _decode_image(path: Path) -> np.ndarray:
    """One image file -> (3, 32, 32) uint8, C order; DatasetError naming the file otherwise
    (unreadable, damaged, a decompression bomb, an unknown mode): never another exception.
    The 8-bit RGB rule is _to_rgb's."""
    from PIL import Image

    _install_bomb_filter()
    try:
        with Image.open(path) as im:
            _check_pixels(im.size, path)  # before decoding a single pixel
            im.load()  # decode now: a damaged chunk raises here, not somewhere later
            rgb = _to_rgb(_exif_upright(im), path)
            # C order: np.stack keeps the transposed strides, and the MLP's view() needs C order
            return np.ascontiguousarray(rgb.transpose(2, 0, 1))
    except DatasetError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DatasetError("dataset", _too_many_pixels(path)) from e
    except Exception as e:  # PIL raises SyntaxError, struct.error, zlib.error... on bad data
        raise DatasetError("dataset", f"cannot read image {path}: {_reason(e)}") from e


def _to_rgb(im: Image.Image, path: Path) -> np.ndarray:
    """A decoded PIL image of any mode -> (32, 32, 3) uint8 RGB. The rule:

    - 1-bit, 8-bit gray, palette, RGB, RGBX, YCbCr, HSV, CMYK: PIL's conversion (1-bit is
      0 or 255; CMYK is (255 - C)(255 - K)/255 per channel);
    - 16-bit grayscale (I;16 and its byte orders) and 32-bit integer grayscale (I): v / 257,
      rounded, i.e. 0..65535 onto 0..255; I values outside 0..65535 are clipped first;
    - float grayscale (F): an image whose values all lie in [0, 1] is scaled by 255, any
      other is read as 0..255; then clipped to 0..255 and rounded (NaN is 0);
    - alpha (LA, PA, RGBA, premultiplied La/RGBa, a palette or gray/RGB with a transparent
      colour): composited on black, c * alpha / 255 rounded (transparent pixels are black);
    - CIELab (LAB): converted to sRGB by LittleCMS.
    Then resized to 32 x 32 (bilinear, antialiased when shrinking; alpha images resize
    premultiplied, so the transparent pixels' colour never bleeds in)."""
    from PIL import Image

    mode = im.mode
    if mode in _HIGH_BIT_GRAY or mode == "F":
        im = _gray_to_8bit(im)
        mode = im.mode
    elif "transparency" in im.info and mode in ("L", "P", "RGB"):
        im, mode = im.convert("RGBA"), "RGBA"
    if mode in _ALPHA:
        if mode == "La":
            im = im.convert("LA")
        if im.mode != "RGBa":
            im = im.convert("RGBA").convert("RGBa")  # premultiplied: composited on black
    elif mode == "LAB":
        im = _lab_to_rgb(im, path)
    elif mode in _PLAIN:
        im = im.convert("RGB")
    else:
        raise DatasetError("dataset", f"image {path} has the unsupported mode {mode!r}")
    if im.size != IMAGE_SIZE:
        im = im.resize(IMAGE_SIZE, Image.Resampling.BILINEAR)
    return np.asarray(im, dtype=np.uint8)[..., :3]


def _gray_to_8bit(im: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer or float grayscale -> 8-bit "L" (or "LA" when a transparent
    value is set), by _to_rgb's rule."""
    from PIL import Image

    a = np.asarray(im)
    if im.mode == "F":
        a = np.where(np.isnan(a), np.float32(0), a.astype(np.float32, copy=False))
        finite = a[np.isfinite(a)]
        in_unit = finite.size == 0 or (finite.min() >= 0.0 and finite.max() <= 1.0)
        g = np.rint(np.clip(a * 255.0 if in_unit else a, 0.0, 255.0)).astype(np.uint8)
    else:  # v / 257 rounded: 65535 = 255 * 257, and v / 257 is never exactly half-way
        v = np.clip(a.astype(np.int32, copy=False), 0, 65535)
        g = ((v + 128) // 257).astype(np.uint8)
    t = im.info.get("transparency")
    if isinstance(t, int) and im.mode != "F":
        alpha = np.where(a == t, 0, 255).astype(np.uint8)
        return Image.fromarray(np.stack([g, alpha], axis=-1), "LA")
    return Image.fromarray(g, "L")


def _lab_to_rgb(im: Image.Image, path: Path) -> Image.Image:
    try:
        from PIL import ImageCms

        lab, srgb = ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB")
        return ImageCms.applyTransform(im, ImageCms.buildTransform(lab, srgb, "LAB", "RGB"))
    except ImportError as e:  # a Pillow built without LittleCMS
        raise DatasetError(
            "dataset", f"image {path} is CIELab, and this Pillow cannot convert it (no LittleCMS)"
        ) from e


def _exif_upright(im: Image.Image) -> Image.Image:
    """The image as it is meant to be seen (a phone photo's EXIF orientation); a damaged EXIF
    block is only a hint lost, not a reason to refuse the image."""
    from PIL import ImageOps

    try:
        if im.getexif().get(0x0112, 1) in range(2, 9):  # Orientation; 1 is upright
            return ImageOps.exif_transpose(im)
    except Exception:
        pass
    return im


def _max_pixels() -> int:
    from PIL import Image

    return int(Image.MAX_IMAGE_PIXELS or 89_478_485)


def _check_pixels(size: tuple[int, int], path: Path) -> None:
    """Refuse what PIL would only warn about: an image can inflate far beyond its file."""
    if size[0] * size[1] > _max_pixels():
        raise DatasetError("dataset", _too_many_pixels(path))


def _too_many_pixels(path: Path) -> str:
    return f"image {path} has more than {_max_pixels():,} pixels: refused as a decompression bomb"


def _install_bomb_filter() -> None:
    """PIL warns (and decodes anyway) up to twice its pixel limit: make that an error, once per
    process. Only DecompressionBombWarning is affected; _check_pixels refuses the same images
    should another thread's catch_warnings() drop the filter for a while."""
    global _bomb_filter_installed
    if not _bomb_filter_installed:
        import warnings

        from PIL import Image

        warnings.filterwarnings("error", category=Image.DecompressionBombWarning)
        _bomb_filter_installed = True


def _reason(e: BaseException) -> str:
    text = str(e).strip()
    return text if text else type(e).__name__


def load_image_folder(
    root: str | os.PathLike, *, cache_dir: str | os.PathLike | None = None,
    progress: Progress | None = None,
) -> Dataset:  # fmt: skip
    """An image folder -> Dataset, images as 32 x 32 RGB (_to_rgb's rule); cached, keyed on each
    file's split, class, path, size and mtime (_files_key)."""
    listing = scan_image_folder(root)
    classes = sorted(listing["train"])
    index = {c: i for i, c in enumerate(classes)}
    entries = [
        (s, c, f) for s, per_class in listing.items() for c, fs in per_class.items() for f in fs
    ]
    all_files = [f for _, _, f in entries]
    key = _files_key(Path(root), entries)
    cache = None
    if cache_dir is not None:
        cache = folder_cache_file(cache_dir, root)
        cached = _load_cache(cache, key, len(classes))
        if cached is not None:
            return Dataset(
                Path(root).name, classes, Split(cached["train_x"], cached["train_y"]),
                Split(cached["test_x"], cached["test_y"]), {"source": str(root), "cached": True},
            )  # fmt: skip
    done, total = 0, len(all_files)
    tensors: dict[str, Tensor] = {}
    for split in ("train", "test"):
        xs, ys = [], []
        for cname, files in listing[split].items():
            for f in files:
                xs.append(_decode_image(f))
                ys.append(index[cname])
                done += 1
                if progress and (done % 200 == 0 or done == total):
                    progress("decode", done, total)
        tensors[f"{split}_x"] = torch.from_numpy(np.stack(xs))
        tensors[f"{split}_y"] = torch.tensor(ys, dtype=torch.int64)
    if cache is not None:
        _save_cache(cache, key, tensors)
    return Dataset(
        Path(root).name, classes, Split(tensors["train_x"], tensors["train_y"]),
        Split(tensors["test_x"], tensors["test_y"]), {"source": str(root), "cached": False},
    )  # fmt: skip


# -- the decoded-tensor cache ----------------------------------------------------------------


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
