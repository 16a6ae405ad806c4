"""Shared fixtures: tiny seeded configs, a tiny CIFAR-10 in its real on-disk format."""

from __future__ import annotations

import hashlib
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from bedash.data.cifar10 import CIFAR10_CLASSES as CIFAR_CLASSES
from bedash.settings.config import RunConfig

# The Sweeps page starts Ray in a child process by default; the page's tests run their cells
# in-process (tests/test_sweep_ray.py exercises Ray itself).
os.environ.setdefault("BEDASH_SWEEP_ENGINE", "local")

TINY = RunConfig(
    dataset="synthetic",
    train_size=256,
    test_size=128,
    epochs=1,
    hidden=16,
    members=3,
    batch_size=32,
    device="cpu",
)


@pytest.fixture
def tiny_cfg() -> RunConfig:
    """A config that trains every kind in well under a second on the CPU."""
    return TINY


def write_tiny_cifar(root: Path, per_batch: int = 20, n_test: int = 30, seed: int = 0) -> Path:
    """Write CIFAR-10's real format (pickled dicts of uint8 rows, as the official
    cifar-10-batches-py) with a few images per file; returns the batches folder."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)

    def dump(name: str, n: int) -> None:
        labels = [int(v) for v in rng.integers(0, 10, n)]
        # a class-dependent brightness so the tiny set is learnable at all
        data = (
            rng.integers(0, 120, (n, 3072), dtype=np.uint8)
            + np.array(labels)[:, None].astype(np.uint8) * 13
        )
        entry = {
            "batch_label": f"{name} of 5",
            "labels": labels,
            "data": data.astype(np.uint8),
            "filenames": [f"img_{i}.png" for i in range(n)],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f, protocol=2)

    for i in range(1, 6):
        dump(f"data_batch_{i}", per_batch)
    dump("test_batch", n_test)
    meta = {"label_names": list(CIFAR_CLASSES), "num_cases_per_batch": per_batch}
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump(meta, f, protocol=2)
    return folder


def make_cifar_archive(root: Path) -> tuple[Path, str]:
    """A tiny cifar-10-python.tar.gz as the official one is laid out; returns (path, md5)."""
    src = root / "src"
    write_tiny_cifar(src)
    archive = root / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as t:
        t.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    return archive, hashlib.md5(archive.read_bytes()).hexdigest()


@pytest.fixture
def tiny_cifar_dir(tmp_path: Path) -> Path:
    """A data dir holding a tiny extracted CIFAR-10."""
    write_tiny_cifar(tmp_path / "data")
    return tmp_path / "data"
