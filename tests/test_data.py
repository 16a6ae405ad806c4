"""Datasets: tiny CIFAR-10 in its real format, download path offline, image folders, batching."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bedash.data import cifar10 as C
from bedash.data import folder as FO
from bedash.data import load as L
from bedash.data import synthetic as SY
from bedash.data.batches import Batcher
from bedash.data.folder import decode_image
from bedash.data.load import load_dataset
from bedash.data.synthetic import synthetic
from bedash.data.tensors import Dataset, Split, normalize
from bedash.names import DatasetError
from tests.conftest import make_cifar_archive, write_tiny_cifar


def test_synthetic_noise_is_the_same_however_it_is_sliced() -> None:
    # synthetic() upsamples its noise a slice at a time to keep memory low; the values must be
    # those of one call over all images, or the dataset would change between versions
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    sliced = SY._smooth_noise(600, 4, g1)
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

    monkeypatch.setattr(C, "read_cifar_batch", boom)
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
    monkeypatch.setattr(C, "CIFAR10_URL", archive.as_uri())
    monkeypatch.setattr(C, "CIFAR10_MD5", md5)
    seen: list[str] = []
    ds = load_dataset("cifar10", tmp_path / "data", progress=lambda s, d, t: seen.append(s))
    assert len(ds.train) == 100 and len(ds.test) == 30
    assert (tmp_path / "data" / "cifar-10-python.tar.gz").is_file()
    assert "download" in seen and "extract" in seen


def test_download_with_bad_checksum_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive, _ = make_cifar_archive(tmp_path / "server")
    monkeypatch.setattr(C, "CIFAR10_URL", archive.as_uri())
    monkeypatch.setattr(C, "CIFAR10_MD5", "0" * 32)
    with pytest.raises(DatasetError, match="MD5") as info:
        load_dataset("cifar10", tmp_path / "data")
    assert "by hand" in str(info.value)
    assert not (tmp_path / "data" / "cifar-10-python.tar.gz").exists()


def test_unreachable_download_says_where_to_put_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(C, "CIFAR10_URL", (tmp_path / "nowhere.tar.gz").as_uri())
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
    root = _image_folder(tmp_path / "ds", {"cat": 2, "dog": 2}, test={"cat": 1, "dog": 1, "cow": 1})
    with pytest.raises(DatasetError, match="cow"):
        load_dataset(str(root), tmp_path / "data")


def test_image_folder_with_other_classes_in_train_and_test_is_refused(tmp_path: Path) -> None:
    root = _image_folder(tmp_path / "ds", {"cat": 2, "dog": 2, "emu": 1},
                         test={"cat": 1, "dog": 1, "cow": 1})  # fmt: skip
    with pytest.raises(DatasetError) as info:
        load_dataset(str(root), tmp_path / "data")
    assert info.value.field == "dataset"
    assert info.value.message == (
        f"train/ and test/ must hold the same classes in {root} "
        "(only in train/: ['emu']; only in test/: ['cow'])"
    )


def test_image_folder_with_one_class_is_refused(tmp_path: Path) -> None:
    root = _image_folder(tmp_path / "ds", {"cat": 3})
    with pytest.raises(DatasetError) as info:
        load_dataset(str(root), tmp_path / "data")
    assert info.value.message == f"{root} has one class ('cat'); a classifier needs at least two"


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
    from bedash.names import FieldError

    with pytest.raises(DatasetError) as info:
        load_dataset(str(tmp_path / "missing"), tmp_path / "data")
    assert isinstance(info.value, FieldError) and info.value.field == "dataset"
    assert str(info.value) == f"dataset: {info.value.message}"
    assert not info.value.message.startswith("dataset:")  # the field gives the prefix
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatasetError) as info:
        C.download_cifar10(tmp_path / "file", download=False)
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
    key = L._files_key(tmp_path, [("train", "a", f)])
    assert key != L._files_key(tmp_path, [("train", "b", f)])
    assert key != L._files_key(tmp_path, [("test", "a", f)])
    assert key != L._files_key(tmp_path / "train", [("train", "a", f)])  # another relative path
    assert key == L._files_key(tmp_path, [("train", "a", f)])


# -- the 8-bit RGB rule of every image mode ---------------------------------------------------


def _two_pixels(mode: str, fill: object, other: object) -> Image.Image:
    """A 32 x 32 image of `fill` with pixel (0, 0) set to `other` (no resize: exact values)."""
    im = Image.new(mode, (32, 32), fill)
    im.putpixel((0, 0), other)
    return im


def _palette(transparent: bool) -> Image.Image:
    im = Image.new("P", (32, 32), 1)
    im.putpalette([10, 20, 30, 200, 100, 50])
    im.putpixel((0, 0), 0)
    if transparent:
        im.info["transparency"] = 0  # index 0 is see-through
    return im


def _with_transparency(im: Image.Image, value: object) -> Image.Image:
    im.info["transparency"] = value
    return im


def _premultiplied_la() -> Image.Image:
    return Image.merge("La", (Image.new("L", (32, 32), 50), Image.new("L", (32, 32), 128)))


MODES = {  # id: (image, expected RGB at pixel (0, 0), expected RGB elsewhere)
    "1": (lambda: _two_pixels("1", 1, 0), (0, 0, 0), (255, 255, 255)),
    "L": (lambda: _two_pixels("L", 77, 3), (3, 3, 3), (77, 77, 77)),
    "P": (lambda: _palette(False), (10, 20, 30), (200, 100, 50)),
    "P+transparency": (lambda: _palette(True), (0, 0, 0), (200, 100, 50)),
    "L+transparency": (lambda: _with_transparency(_two_pixels("L", 9, 7), 7), (0,) * 3, (9,) * 3),
    "RGB+transparency": (
        lambda: _with_transparency(_two_pixels("RGB", (4, 5, 6), (1, 2, 3)), (1, 2, 3)),
        (0, 0, 0), (4, 5, 6),
    ),
    # alpha is composited on black: round(c * a / 255)
    "LA": (lambda: _two_pixels("LA", (100, 128), (100, 0)), (0, 0, 0), (50, 50, 50)),
    "La": (_premultiplied_la, (50, 50, 50), (50, 50, 50)),
    "PA": (lambda: _two_pixels("PA", (0, 255), (0, 0)), (0, 0, 0), (0, 0, 0)),
    "RGBA": (lambda: _two_pixels("RGBA", (200, 100, 50, 128), (200, 100, 50, 255)),
             (200, 100, 50), (100, 50, 25)),
    "RGBa": (lambda: _two_pixels("RGBa", (100, 50, 25, 128), (9, 8, 7, 255)),
             (9, 8, 7), (100, 50, 25)),
    "RGBX": (lambda: _two_pixels("RGBX", (1, 2, 3, 0), (4, 5, 6, 255)), (4, 5, 6), (1, 2, 3)),
    # (255 - C)(255 - K) / 255
    "CMYK": (lambda: _two_pixels("CMYK", (100, 50, 0, 64), (0, 0, 0, 255)),
             (0, 0, 0), (116, 154, 191)),
    "YCbCr": (lambda: _two_pixels("YCbCr", (128, 128, 128), (255, 128, 128)),
              (255, 255, 255), (128, 128, 128)),
    "HSV": (lambda: _two_pixels("HSV", (0, 255, 255), (0, 0, 40)), (40, 40, 40), (255, 0, 0)),
    # 16-bit: v / 257 rounded (30000 / 257 = 116.7; PIL's own convert gives 255)
    "I;16": (lambda: _two_pixels("I;16", 30000, 65535), (255,) * 3, (117,) * 3),
    "I;16B": (lambda: _two_pixels("I;16B", 128, 129), (1,) * 3, (0,) * 3),
    "I;16+transparency": (
        lambda: _with_transparency(_two_pixels("I;16", 25700, 5), 5), (0,) * 3, (100,) * 3
    ),
    # 32-bit integers: read as 16-bit, clipped to 0..65535
    "I": (lambda: _two_pixels("I", 70000, -5), (0,) * 3, (255,) * 3),
    "I in range": (lambda: _two_pixels("I", 257 * 100, 0), (0,) * 3, (100,) * 3),
    # float: values in [0, 1] scaled by 255 ...
    "F in [0, 1]": (lambda: _two_pixels("F", 0.2, 1.0), (255,) * 3, (51,) * 3),
    # ... otherwise read as 0..255 and clipped
    "F over 1": (lambda: _two_pixels("F", 100.4, 300.0), (255,) * 3, (100,) * 3),
    "F negative": (lambda: _two_pixels("F", 0.7, -3.0), (0,) * 3, (1,) * 3),
    "F NaN": (lambda: _two_pixels("F", 0.5, float("nan")), (0,) * 3, (128,) * 3),
}  # fmt: skip


@pytest.mark.parametrize("case", list(MODES))
def test_every_image_mode_becomes_the_documented_8bit_rgb(case: str) -> None:
    make, first, rest = MODES[case]
    rgb = FO._to_rgb(make(), Path(f"{case}.png"))
    assert rgb.dtype == np.uint8 and rgb.shape == (32, 32, 3)
    assert tuple(int(v) for v in rgb[0, 0]) == first, case
    assert tuple(int(v) for v in rgb[5, 7]) == rest, case
    assert (rgb[1:] == np.array(rest, np.uint8)).all()  # the whole image, not one pixel


def test_lab_images_are_converted_to_srgb() -> None:
    white = FO._to_rgb(Image.new("LAB", (32, 32), (255, 128, 128)), Path("lab.tif"))
    assert np.abs(white.astype(int) - 255).max() <= 2  # L = 100, a = b = 0: white


def test_a_16bit_grayscale_png_is_not_all_white(tmp_path: Path) -> None:
    ramp = np.linspace(0, 65535, 32 * 32).round().astype(np.uint16).reshape(32, 32)
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    with Image.open(tmp_path / "ramp.png") as im:
        assert im.mode == "I;16"  # what PIL reads a 16-bit grayscale PNG as
    x = decode_image(tmp_path / "ramp.png")
    expected = ((ramp.astype(np.int64) + 128) // 257).astype(np.uint8)
    assert x.shape == (3, 32, 32) and x.flags["C_CONTIGUOUS"]
    assert np.array_equal(x[0], expected) and np.array_equal(x[1], x[2])
    assert 120 <= x.mean() <= 135  # a ramp from black to white, not 'almost all white'


def test_a_transparent_image_is_resized_without_its_hidden_colour(tmp_path: Path) -> None:
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[..., :3] = 255  # white but fully transparent: must not bleed into the result
    rgba[::2, ::2] = (200, 0, 0, 255)  # a quarter of the pixels opaque red
    Image.fromarray(rgba, "RGBA").save(tmp_path / "sparse.png")
    x = decode_image(tmp_path / "sparse.png")
    assert x[1].max() == 0 and x[2].max() == 0  # no white from the transparent pixels
    assert 40 <= x[0].mean() <= 60  # 200 x a quarter coverage


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    arr = np.zeros((32, 32, 3), np.uint8)
    arr[:, :16] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 3  # rotated 180 degrees: the right half is white as seen
    Image.fromarray(arr).save(tmp_path / "photo.png", exif=exif)
    x = decode_image(tmp_path / "photo.png")
    assert x[:, :, 16:].min() == 255 and x[:, :, :16].max() == 0


# -- damaged images and decompression bombs -----------------------------------------------------


def _png_bytes(seed: int = 0, size: tuple[int, int] = (32, 32)) -> bytes:
    import io

    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _damaged_png() -> bytes:
    """A PNG whose IDAT chunk lies about its length: PIL raises SyntaxError at load."""
    raw = bytearray(_png_bytes())
    i = raw.index(b"IDAT")
    raw[i - 4 : i] = (100).to_bytes(4, "big")
    return bytes(raw)


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (_damaged_png(), "broken PNG file"),
        (_png_bytes()[:200], "cannot read image"),  # cut short
        (b"\x89PNG not really", "cannot read image"),
        (_png_bytes()[:30], "cannot read image"),  # a truncated IHDR: ValueError
    ],
)
def test_damaged_images_are_a_dataset_error_naming_the_file(
    tmp_path: Path, data: bytes, text: str
) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(data)
    with pytest.raises(DatasetError, match=text) as info:
        decode_image(bad)
    assert info.value.field == "dataset" and str(bad) in info.value.message


def test_a_damaged_png_chunk_in_a_folder_is_named(tmp_path: Path) -> None:
    root = _image_folder(tmp_path / "ds", {"cat": 2, "dog": 2})
    (root / "test" / "cat" / "chunk.png").write_bytes(_damaged_png())
    with pytest.raises(DatasetError, match=r"cannot read image .*chunk\.png: broken PNG file"):
        load_dataset(str(root), tmp_path / "data")


def test_decompression_bombs_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import warnings

    from PIL import Image as PILImage

    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 1000)
    (tmp_path / "warn.png").write_bytes(_png_bytes(size=(40, 40)))  # PIL only warns: 1x-2x
    (tmp_path / "error.png").write_bytes(_png_bytes(size=(64, 64)))  # PIL raises: over 2x
    (tmp_path / "fine.png").write_bytes(_png_bytes(size=(30, 30)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning may escape either
        for name in ("warn.png", "error.png"):
            with pytest.raises(DatasetError, match="refused as a decompression bomb") as info:
                decode_image(tmp_path / name)
            assert name in info.value.message and "1,000 pixels" in info.value.message
        assert decode_image(tmp_path / "fine.png").shape == (3, 32, 32)
    # even where another catch_warnings() lets PIL's warning through, the image is refused
    with pytest.warns(PILImage.DecompressionBombWarning), pytest.raises(DatasetError):
        decode_image(tmp_path / "warn.png")


def test_a_bomb_or_damaged_image_exits_2_on_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from bedash.__main__ import main

    root = _image_folder(tmp_path / "ds", {"cat": 2, "dog": 2})
    (root / "train" / "dog" / "chunk.png").write_bytes(_damaged_png())
    argv = ["train", "--dataset", str(root), "--data-dir", str(tmp_path / "data"),
            "--epochs", "1", "--hidden", "8", "--members", "2", "--batch-size", "2",
            "--device", "cpu", "--out", str(tmp_path / "r")]  # fmt: skip
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and "chunk.png" in err and "broken PNG file" in err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("bedash train: error: --dataset: cannot read")
    assert not (tmp_path / "r").exists()


# -- CIFAR-10 batch files are checked before anything is allocated -----------------------------


class _Reduce:
    """Pickles as `fn(*args)`, with an optional BUILD state: hand-made hostile batch files."""

    def __init__(self, fn: object, args: tuple, state: object = None) -> None:
        self.fn, self.args, self.state = fn, args, state

    def __reduce__(self) -> tuple:
        return (self.fn, self.args) if self.state is None else (self.fn, self.args, self.state)


def _np_reconstruct() -> object:
    from numpy._core.multiarray import _reconstruct

    return _reconstruct


def _huge_array(shape: tuple[int, ...], code: bytes = b"B", state: object = None) -> _Reduce:
    """numpy's own array pickle, minus the data: _reconstruct(ndarray, shape, code)."""
    return _Reduce(_np_reconstruct(), (np.ndarray, shape, code), state)


def _batch(tiny_cifar_dir: Path, name: str = "data_batch_2") -> Path:
    return tiny_cifar_dir / "cifar-10-batches-py" / name


def _refused(tiny_cifar_dir: Path, text: str) -> DatasetError:
    with pytest.raises(DatasetError, match=text) as info:
        load_dataset("cifar10", tiny_cifar_dir, download=False)
    assert info.value.field == "dataset" and "data_batch_2" in info.value.message
    return info.value


def test_a_tiny_pickle_asking_for_a_huge_array_allocates_nothing(tiny_cifar_dir: Path) -> None:
    import tracemalloc

    blob = pickle.dumps(
        {"data": _huge_array((200_000, 3072)), "labels": _huge_array((200_000,), b"b")},
        protocol=2,
    )
    assert len(blob) < 200  # the probe's file: 186 bytes asking for 586 MiB
    _batch(tiny_cifar_dir).write_bytes(blob)
    tracemalloc.start()
    try:
        _refused(tiny_cifar_dir, "an array without its data")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, peak  # numpy's allocations are traced: no 586 MiB array


def test_an_array_whose_shape_its_bytes_do_not_fill_is_refused(tiny_cifar_dir: Path) -> None:
    state = (1, (200_000, 3072), np.dtype("u1"), False, b"\0" * 3072)
    blob = pickle.dumps({"data": _huge_array((0,), b"b", state), "labels": [0]}, protocol=2)
    _batch(tiny_cifar_dir).write_bytes(blob)
    _refused(tiny_cifar_dir, r"shape \(200000, 3072\) holds 3072 bytes, not 614400000")


def test_the_official_python2_array_pickle_is_read(tiny_cifar_dir: Path) -> None:
    # the official files are Python 2 pickles: the array's bytes arrive as latin-1 text
    rows = np.arange(2 * 3072, dtype=np.int64).astype(np.uint8).reshape(2, 3072)
    state = (1, (2, 3072), np.dtype("u1"), False, rows.tobytes().decode("latin1"))
    blob = pickle.dumps({"data": _huge_array((0,), b"b", state), "labels": [3, 9]}, protocol=2)
    assert np.array_equal(pickle.loads(blob)["data"], rows)  # numpy reads it so, too
    _batch(tiny_cifar_dir).write_bytes(blob)
    x, y = C.read_cifar_batch(_batch(tiny_cifar_dir))
    assert np.array_equal(x.reshape(2, 3072), rows) and y.tolist() == [3, 9]
    assert x.flags["WRITEABLE"] and y.dtype == np.int64


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_batches_pickled_by_python3_are_read(tiny_cifar_dir: Path, protocol: int) -> None:
    data = np.random.default_rng(0).integers(0, 256, (4, 3072), dtype=np.uint8)
    labels = np.array([0, 1, 8, 9], dtype=np.int64)  # an array of labels is fine too
    _batch(tiny_cifar_dir).write_bytes(
        pickle.dumps({"data": data, "labels": labels}, protocol=protocol)
    )
    x, y = C.read_cifar_batch(_batch(tiny_cifar_dir))
    assert np.array_equal(x.reshape(4, 3072), data) and y.tolist() == [0, 1, 8, 9]


def _rows(n: int) -> np.ndarray:
    return np.zeros((n, 3072), np.uint8)


@pytest.mark.parametrize(
    ("entry", "text"),
    [
        (_rows(3), r"it holds an array, not a dict with 'data' and 'labels'"),
        ([1, 2, 3], r"it holds a list, not a dict"),
        ({"labels": [0]}, r"it has no 'data'"),
        ({"data": _rows(1), "fine_labels": [0]}, r"it has no 'labels' \('fine_labels': a CIFAR"),
        ({"data": _rows(2).tolist(), "labels": [0, 1]}, r"'data' is a list, not an array"),
        ({"data": np.zeros((2, 3071), np.uint8), "labels": [0, 1]}, r"shape \(2, 3071\)"),
        ({"data": np.zeros(3072, np.uint8), "labels": [0]}, r"shape \(3072,\); expected \(N"),
        ({"data": _rows(0), "labels": []}, r"shape \(0, 3072\)"),
        ({"data": _rows(10_001), "labels": [0] * 10_001}, r"N from 1 to 10,000"),
        ({"data": _rows(2).astype(np.float32), "labels": [0, 1]}, r"dtype 'f4'"),
        ({"data": np.full((1, 3072), 300, np.int64), "labels": [0]}, r"outside 0\.\.255"),
        ({"data": _rows(2), "labels": [0]}, r"'labels' has 1 entries for 2 images"),
        ({"data": _rows(2), "labels": [0, 93]}, r"label 93 \(image 1\) is not a class index"),
        ({"data": _rows(2), "labels": [-1, 0]}, r"label -1 \(image 0\)"),
        ({"data": _rows(2), "labels": np.array([0, 12])}, r"label 12 \(image 1\)"),
        ({"data": _rows(2), "labels": [0, 1.0]}, r"label 1 is a float"),
        ({"data": _rows(2), "labels": [True, 0]}, r"label 0 is a bool"),
        ({"data": _rows(2), "labels": [[0], [1]]}, r"label 0 is a list"),
        ({"data": _rows(2), "labels": "01"}, r"'labels' is a str"),
        ({"data": _rows(2), "labels": np.zeros((2, 1), np.int64)}, r"shape \(2, 1\)"),
        ({"data": np.zeros((2, 3072), dtype=object), "labels": [0, 1]}, r"dtype 'O8'"),
    ],
)  # fmt: skip
def test_malformed_batches_are_refused_naming_the_file(
    tiny_cifar_dir: Path, entry: object, text: str
) -> None:
    _batch(tiny_cifar_dir).write_bytes(pickle.dumps(entry, protocol=2))
    _refused(tiny_cifar_dir, text)


def test_a_batch_file_larger_than_any_batch_is_not_read(
    tiny_cifar_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = _batch(tiny_cifar_dir)
    limit = max(f.stat().st_size for f in batch.parent.iterdir())  # every file fits...
    monkeypatch.setattr(C, "CIFAR10_MAX_FILE_BYTES", limit)
    batch.write_bytes(b"\0" * (limit + 1))  # ...but this one, by a byte (unpickled: a load key)
    _refused(tiny_cifar_dir, f"it is {limit + 1:,} bytes; a batch is at most {limit:,}")


def test_nested_label_references_cannot_inflate(tiny_cifar_dir: Path) -> None:
    # a list of 1,000 references to a list of 1,000 references...: a few KB that np.asarray
    # would turn into a billion-element array
    inner: list = [0] * 1000
    for _ in range(2):
        inner = [inner] * 1000
    _batch(tiny_cifar_dir).write_bytes(pickle.dumps({"data": _rows(1), "labels": inner}, 2))
    assert _batch(tiny_cifar_dir).stat().st_size < 20_000
    _refused(tiny_cifar_dir, r"label 0 is a list")


def test_bad_labels_exit_2_on_the_cli_before_training(
    tiny_cifar_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from bedash.__main__ import main

    _batch(tiny_cifar_dir).write_bytes(
        pickle.dumps({"data": _rows(2), "labels": [0, 93]}, protocol=2)
    )
    argv = ["train", "--dataset", "cifar10", "--no-download", "--data-dir", str(tiny_cifar_dir),
            "--epochs", "1", "--hidden", "8", "--members", "2", "--batch-size", "8",
            "--device", "cpu", "--out", str(tmp_path / "r")]  # fmt: skip
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and "Traceback" not in err
    assert "--dataset: CIFAR-10 file" in err and "label 93 (image 1)" in err
    assert not (tmp_path / "r").exists()


def test_a_cached_label_out_of_range_is_rebuilt(tiny_cifar_dir: Path) -> None:
    good = load_dataset("cifar10", tiny_cifar_dir, download=False)
    cache = tiny_cifar_dir / "cifar-10-batches-py" / "bedash-cache.pt"
    blob = torch.load(cache, weights_only=True)
    blob["tensors"]["train_y"][0] = 93  # tampered, with the right key
    torch.save(blob, cache)
    again = load_dataset("cifar10", tiny_cifar_dir, download=False)
    assert torch.equal(again.train.y, good.train.y) and int(again.train.y.max()) <= 9


def test_sizes_larger_than_the_dataset_are_refused(tiny_cifar_dir: Path, tmp_path: Path) -> None:
    assert len(load_dataset("cifar10", tiny_cifar_dir, train_size=100, download=False).train) == 100
    with pytest.raises(DatasetError) as info:
        load_dataset("cifar10", tiny_cifar_dir, train_size=101, download=False)
    assert info.value.field == "train_size"
    assert info.value.message == "101 is larger than the training set (100 images)"
    with pytest.raises(DatasetError) as info:
        load_dataset("cifar10", tiny_cifar_dir, test_size=31, download=False)
    assert info.value.field == "test_size"
    assert info.value.message == "31 is larger than the test set (30 images)"
    root = _image_folder(tmp_path / "ds", {"cat": 2, "dog": 3})
    with pytest.raises(DatasetError, match=r"^train_size: 6 is larger than the training set \(5"):
        load_dataset(str(root), tmp_path / "data", train_size=6)


def test_the_synthetic_set_is_made_at_the_size_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[int, int]] = []

    def made(n_train: int, n_test: int) -> Dataset:
        asked.append((n_train, n_test))
        return synthetic(8, 4)

    monkeypatch.setattr(L, "synthetic", made)
    load_dataset("synthetic", train_size=70_000, test_size=20_000)  # more than 50,000: fine
    assert asked == [(70_000, 20_000)]


def test_a_train_size_larger_than_the_dataset_exits_2_before_training(
    tiny_cifar_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from bedash.__main__ import main

    argv = ["train", "--dataset", "cifar10", "--no-download", "--data-dir", str(tiny_cifar_dir),
            "--epochs", "1", "--hidden", "8", "--members", "2", "--device", "cpu",
            "--train-size", "5000", "--out", str(tmp_path / "r")]  # fmt: skip
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert info.value.code == 2
    assert (
        err
        == "bedash train: error: --train-size: 5000 is larger than the training set (100 images)"
    )
    assert not (tmp_path / "r").exists()


def test_planned_sizes_count_what_a_load_holds(tmp_path: Path) -> None:
    root = _image_folder(tmp_path / "ds", {"cat": 3, "dog": 2}, test={"cat": 1, "dog": 2})
    assert L.planned_sizes(str(root)) == (5, 3)  # listed, not decoded
    loaded = load_dataset(str(root), tmp_path / "data", train_size=4)
    assert L.planned_sizes(str(root), train_size=4) == (len(loaded.train), len(loaded.test))
    assert L.planned_sizes(str(root), train_size=9, test_size=2) == (5, 2)  # loading refuses 9
    assert L.planned_sizes("synthetic", 70_000) == (70_000, 10_000)  # made at the size asked
    assert L.planned_sizes("cifar10") == (50_000, 10_000)  # the published splits
    with pytest.raises(DatasetError, match="does not exist"):
        L.planned_sizes(str(tmp_path / "missing"))
