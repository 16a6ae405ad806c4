"""Datasets: tiny CIFAR-10 in its real format, download path offline, image folders, batching."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bedash import data as D
from bedash.data import Batcher, DatasetError, Split, load_dataset, normalize, synthetic

from .conftest import make_cifar_archive, write_tiny_cifar


def test_synthetic_noise_is_the_same_however_it_is_sliced() -> None:
    # synthetic() upsamples its noise a slice at a time to keep memory low; the values must be
    # those of one call over all images, or the dataset would change between versions
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    sliced = D._smooth_noise(600, 4, g1)
    z = torch.randn(600, 3, 4, 4, generator=g2)
    whole = torch.nn.functional.interpolate(z, size=(32, 32), mode="bilinear", align_corners=False)
    assert torch.equal(sliced, whole)


def test_synthetic_shape_determinism_and_balance() -> None:
    a = synthetic(600, 200)
    b = synthetic(600, 200)
    assert a.train.x.shape == (600, 3, 32, 32) and a.train.x.dtype == torch.uint8
    assert a.test.y.shape == (200,) and a.train.y.dtype == torch.int64
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    counts = torch.bincount(a.train.y, minlength=10)
    assert counts.min() > 30  # every class present
    assert len(a.classes) == 10 and a.image_shape == (3, 32, 32)


def test_tiny_cifar_read_through_the_user_path(tiny_cifar_dir: Path) -> None:
    ds = load_dataset("cifar10", tiny_cifar_dir, download=False)
    assert len(ds.train) == 5 * 20 and len(ds.test) == 30
    assert ds.classes[0] == "airplane" and ds.classes[9] == "truck"
    with open(tiny_cifar_dir / "cifar-10-batches-py" / "data_batch_2", "rb") as f:
        entry = pickle.load(f, encoding="latin1")
    # image 0 of batch 2 is training image 20; rows are CHW-ordered 3072 bytes
    assert torch.equal(ds.train.x[20].flatten(), torch.from_numpy(entry["data"][0]))
    assert ds.train.y[20].item() == entry["labels"][0]
    assert ds.info["verified"] is False  # not the official files, and bedash says so


def test_cifar_cache_makes_second_load_skip_decoding(
    tiny_cifar_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load_dataset("cifar10", tiny_cifar_dir, download=False)
    assert (tiny_cifar_dir / "cifar-10-batches-py" / "bedash-cache.pt").is_file()

    def boom(path: Path) -> None:
        raise AssertionError("decoded again instead of using the cache")

    monkeypatch.setattr(D, "_read_cifar_batch", boom)
    second = load_dataset("cifar10", tiny_cifar_dir, download=False)
    assert torch.equal(first.train.x, second.train.x)


def test_cache_is_invalidated_when_files_change(tiny_cifar_dir: Path) -> None:
    load_dataset("cifar10", tiny_cifar_dir, download=False)
    write_tiny_cifar(tiny_cifar_dir, per_batch=7, seed=1)  # new files, new mtimes/sizes
    ds = load_dataset("cifar10", tiny_cifar_dir, download=False)
    assert len(ds.train) == 35


def test_download_verifies_md5_and_extracts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive, md5 = make_cifar_archive(tmp_path / "server")
    monkeypatch.setattr(D, "CIFAR10_URL", archive.as_uri())
    monkeypatch.setattr(D, "CIFAR10_MD5", md5)
    seen: list[str] = []
    ds = load_dataset("cifar10", tmp_path / "data", progress=lambda s, d, t: seen.append(s))
    assert len(ds.train) == 100 and len(ds.test) == 30
    assert (tmp_path / "data" / "cifar-10-python.tar.gz").is_file()
    assert "download" in seen and "extract" in seen


def test_download_with_bad_checksum_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive, _ = make_cifar_archive(tmp_path / "server")
    monkeypatch.setattr(D, "CIFAR10_URL", archive.as_uri())
    monkeypatch.setattr(D, "CIFAR10_MD5", "0" * 32)
    with pytest.raises(DatasetError, match="MD5") as info:
        load_dataset("cifar10", tmp_path / "data")
    assert "by hand" in str(info.value)
    assert not (tmp_path / "data" / "cifar-10-python.tar.gz").exists()


def test_unreachable_download_says_where_to_put_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(D, "CIFAR10_URL", (tmp_path / "nowhere.tar.gz").as_uri())
    with pytest.raises(DatasetError) as info:
        load_dataset("cifar10", tmp_path / "data")
    msg = str(info.value)
    assert "could not be downloaded" in msg
    assert str((tmp_path / "data").resolve()) in msg and "data_batch_1" in msg
    with pytest.raises(DatasetError, match="not in"):
        load_dataset("cifar10", tmp_path / "other", download=False)


def test_damaged_and_malicious_batches_are_refused(tiny_cifar_dir: Path) -> None:
    batch = tiny_cifar_dir / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:100])
    with pytest.raises(DatasetError, match="data_batch_3"):
        load_dataset("cifar10", tiny_cifar_dir, download=False)

    class Evil:
        def __reduce__(self) -> tuple:
            return (print, ("pwned",))

    batch.write_bytes(pickle.dumps({"data": Evil(), "labels": []}))
    with pytest.raises(DatasetError, match="refusing to load builtins.print"):
        load_dataset("cifar10", tiny_cifar_dir, download=False)


def _image_folder(root: Path, classes: dict[str, int], test: dict[str, int] | None = None) -> Path:
    rng = np.random.default_rng(0)
    for split, spec in (("train", classes), ("test", test or classes)):
        for i, (name, n) in enumerate(spec.items()):
            d = root / split / name
            d.mkdir(parents=True, exist_ok=True)
            for j in range(n):
                arr = rng.integers(0, 255, (48, 40, 3), dtype=np.uint8)
                arr[..., 0] = 40 * i  # a class-dependent red channel
                img = Image.fromarray(arr)
                if j % 2:
                    img.convert("RGBA").save(d / f"{j}.png")
                else:
                    img.convert("L").save(d / f"{j}.jpg")
    return root


def test_image_folder_loads_resized_rgb_and_caches(tmp_path: Path) -> None:
    root = _image_folder(tmp_path / "pets", {"cat": 3, "dog": 4})
    (root / "train" / "cat" / "notes.txt").write_text("not an image")  # ignored
    ds = load_dataset(str(root), tmp_path / "data")
    assert ds.classes == ["cat", "dog"]
    assert ds.train.x.shape == (7, 3, 32, 32) and ds.train.x.dtype == torch.uint8
    assert ds.train.y.tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert ds.info["cached"] is False
    again = load_dataset(str(root), tmp_path / "data")
    assert again.info["cached"] is True and torch.equal(again.train.x, ds.train.x)


@pytest.mark.parametrize(
    ("make", "text"),
    [
        (lambda r: r / "missing", "does not exist"),
        (lambda r: (r / "file.txt").write_text("x") and r / "file.txt", "is not a folder"),
        (lambda r: (r / "t" / "train" / "a").mkdir(parents=True) or r / "t", "test is missing"),
        (lambda r: (r / "t" / "train").mkdir(parents=True) or (r / "t" / "test").mkdir() or r / "t",
         "has no class folders"),
    ],
)  # fmt: skip
def test_image_folder_layout_errors(tmp_path: Path, make, text: str) -> None:
    with pytest.raises(DatasetError, match=text):
        load_dataset(str(make(tmp_path)), tmp_path / "data")


def test_image_folder_class_without_images_is_named(tmp_path: Path) -> None:
    root = _image_folder(tmp_path / "ds", {"cat": 2, "dog": 2})
    for f in (root / "test" / "dog").iterdir():
        f.unlink()
    with pytest.raises(DatasetError, match="class 'dog' in .*test has no images"):
        load_dataset(str(root), tmp_path / "data")


def test_image_folder_unreadable_image_is_named(tmp_path: Path) -> None:
    root = _image_folder(tmp_path / "ds", {"cat": 2, "dog": 2})
    bad = root / "train" / "dog" / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    with pytest.raises(DatasetError, match="broken.png"):
        load_dataset(str(root), tmp_path / "data")


def test_image_folder_test_class_unknown_in_train(tmp_path: Path) -> None:
    root = _image_folder(tmp_path / "ds", {"cat": 2}, test={"cat": 1, "cow": 1})
    with pytest.raises(DatasetError, match="cow"):
        load_dataset(str(root), tmp_path / "data")


def test_subset_sizes_are_fixed_and_spread(tiny_cifar_dir: Path) -> None:
    a = load_dataset("cifar10", tiny_cifar_dir, train_size=40, test_size=10, download=False)
    b = load_dataset("cifar10", tiny_cifar_dir, train_size=40, test_size=10, download=False)
    assert len(a.train) == 40 and len(a.test) == 10
    assert torch.equal(a.train.x, b.train.x)


def test_normalize_matches_the_seed_transform() -> None:
    from torchvision import transforms

    seed_tf = transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))]
    )
    arr = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    ref = seed_tf(Image.fromarray(arr))
    ours = normalize(torch.from_numpy(arr).permute(2, 0, 1).contiguous()[None])[0]
    torch.testing.assert_close(ours, ref)


def test_batcher_is_seeded_complete_and_keeps_the_last_partial_batch() -> None:
    split = Split(torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 3, 2, 2).clone(),
                  torch.arange(10))  # fmt: skip
    b = Batcher(split, batch_size=4, seed=3)
    assert len(b) == 3
    e1 = [y for _, y in b.epoch(1)]
    assert [len(y) for y in e1] == [4, 4, 2]
    assert sorted(torch.cat(e1).tolist()) == list(range(10))
    assert torch.equal(torch.cat(e1), torch.cat([y for _, y in Batcher(split, 4, seed=3).epoch(1)]))
    assert not torch.equal(torch.cat(e1), torch.cat([y for _, y in b.epoch(2)]))
    x, y = next(b.epoch(1))
    torch.testing.assert_close(x[:, 0, 0, 0], y.float() * 2 / 255 - 1)  # images follow labels
    with pytest.raises(DatasetError, match="larger than the training set"):
        Batcher(split, batch_size=11)


def test_dataset_errors_carry_the_field_they_are_about(tmp_path: Path) -> None:
    from bedash.schema import FieldError

    with pytest.raises(DatasetError) as info:
        load_dataset(str(tmp_path / "missing"), tmp_path / "data")
    assert isinstance(info.value, FieldError) and info.value.field == "dataset"
    assert str(info.value) == f"dataset: {info.value.message}"
    assert not info.value.message.startswith("dataset:")  # the field gives the prefix
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatasetError) as info:
        D.download_cifar10(tmp_path / "file", download=False)
    assert info.value.field == "data_dir" and "cannot use" in info.value.message
    split = Split(torch.zeros(3, 3, 32, 32, dtype=torch.uint8), torch.zeros(3, dtype=torch.int64))
    with pytest.raises(DatasetError) as info:
        Batcher(split, batch_size=4)
    assert info.value.field == "batch_size"
    assert info.value.message == "4 is larger than the training set (3 images)"


def test_image_folder_cache_follows_a_file_moved_to_another_class(tmp_path: Path) -> None:
    # a move keeps the file's name, size and mtime: only its class (its path) tells it moved
    root = tmp_path / "ds"
    rng = np.random.default_rng(1)
    for split in ("train", "test"):
        for cls, names in (("cat", "ab"), ("dog", "cd")):
            (root / split / cls).mkdir(parents=True)
            for n in names:
                arr = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(arr).save(root / split / cls / f"{n}.png")
    first = load_dataset(str(root), tmp_path / "data")
    assert first.train.y.tolist() == [0, 0, 1, 1]
    moved = first.train.x[1].clone()  # cat/b.png
    (root / "train" / "cat" / "b.png").rename(root / "train" / "dog" / "b.png")
    again = load_dataset(str(root), tmp_path / "data")
    assert again.info["cached"] is False  # not served from the stale cache
    assert again.train.y.tolist() == [0, 1, 1, 1]
    assert torch.equal(again.train.x[1], moved)  # b.png, now a dog
    assert load_dataset(str(root), tmp_path / "data").info["cached"] is True


def test_cache_key_tells_split_class_and_path_apart(tmp_path: Path) -> None:
    f = tmp_path / "train" / "a" / "x.png"
    f.parent.mkdir(parents=True)
    f.write_bytes(b"x")
    key = D._files_key(tmp_path, [("train", "a", f)])
    assert key != D._files_key(tmp_path, [("train", "b", f)])
    assert key != D._files_key(tmp_path, [("test", "a", f)])
    assert key != D._files_key(tmp_path / "train", [("train", "a", f)])  # another relative path
    assert key == D._files_key(tmp_path, [("train", "a", f)])
