"""CIFAR-10 on disk: where it lives and what to say when it is not there (torch-free), the download
(MD5-checked), and the batch files -> numpy arrays. A batch is an untrusted pickle: only what it
holds is allowed (_SafeUnpickler), and no array is built before its shape and bytes are checked."""

from __future__ import annotations

import math
import os
import pickle
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np

from bedash.names import DatasetError

Progress = Callable[[str, int, int], None]  # (stage, done, total): what a load reports

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
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse"]
CIFAR10_CLASSES += ["ship", "truck"]  # label order of the official release
CIFAR10_TRAIN, CIFAR10_TEST = 50_000, 10_000  # images in the official release's splits


def cifar10_manual_hint(data_dir: str | os.PathLike) -> str:
    folder = Path(data_dir).resolve()
    return (
        f"Download {CIFAR10_URL} by hand and put it in {folder} (or extract it there, so that "
        f"{folder / CIFAR10_FOLDER / 'data_batch_1'} exists); bedash verifies and uses it."
    )


def cifar10_present(data_dir: str | os.PathLike) -> bool:
    """True when the extracted batches, or the archive, are on disk (no network needed)."""
    d = Path(data_dir)
    extracted = all((d / CIFAR10_FOLDER / f).is_file() for f in CIFAR10_FILES)
    return extracted or (d / CIFAR10_ARCHIVE).is_file()


def cifar10_missing(data_dir: str | os.PathLike) -> str:
    """What a run without downloads says when CIFAR-10 is not in data_dir."""
    return f"CIFAR-10 is not in {Path(data_dir).resolve()}. {cifar10_manual_hint(data_dir)}"


def cifar10_ood_missing(data_dir: str | os.PathLike) -> str:
    """What a run says when CIFAR-10, asked for as an OOD set, is not in data_dir."""
    return (
        f"CIFAR-10 is not in {Path(data_dir).resolve()} (it is not downloaded for an OOD set). "
        f"{cifar10_manual_hint(data_dir)}"
    )


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
    plain = isinstance(st, tuple) and len(st) >= 5 and st[1] in ("<", ">", "|", "=")
    # st[2:5] None: no subarray, no fields
    if st is not None and not (plain and st[2] is None and st[3] is None and st[4] is None):
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
    if not (isinstance(shape, tuple) and len(shape) <= 2):
        raise ValueError(f"an array of shape {shape!r}")
    if not all(type(n) is int and n >= 0 for n in shape):
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


# what reading a damaged or hostile batch file can raise
BAD_BATCH = (OSError, EOFError, pickle.UnpicklingError, MemoryError, RecursionError, ValueError)
BAD_BATCH += (KeyError, TypeError, IndexError, AttributeError)


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
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
    except BAD_BATCH as e:
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
    return np.asarray(values, dtype=np.int64)  # n <= 10,000 values in 0..9: small


def verify_md5(files: list[Path]) -> bool:
    """Do the batches match the official release? (A hand-made or edited copy does not.)"""
    from torchvision.datasets.utils import check_integrity

    return all(check_integrity(str(p), CIFAR10_FILES[p.name]) for p in files)
