"""Property-based tests of the image decoder: whatever the file holds, _decode_image returns
(3, 32, 32) uint8 in C order, or raises a DatasetError naming the file; nothing else."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from bedash.data.folder import decode_image
from bedash.names import DatasetError

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)  # shared CPUs: no deadline; each example is one small file

# (mode, numpy dtype of its pixels, channels) for the modes built from an array
ARRAY_MODES = [
    ("1", np.bool_, 1), ("L", np.uint8, 1), ("LA", np.uint8, 2), ("RGB", np.uint8, 3),
    ("RGBA", np.uint8, 4), ("CMYK", np.uint8, 4), ("I;16", np.uint16, 1), ("I", np.int32, 1),
    ("F", np.float32, 1),
]  # fmt: skip
# the formats that can store each mode (PIL converts for none of these)
FORMATS = {
    "1": ["PNG", "BMP", "TIFF", "PPM"], "L": ["PNG", "BMP", "TIFF", "JPEG", "WEBP", "PPM", "GIF"],
    "LA": ["PNG", "TIFF"], "RGB": ["PNG", "BMP", "TIFF", "JPEG", "WEBP", "PPM", "GIF"],
    "RGBA": ["PNG", "TIFF", "WEBP"], "CMYK": ["TIFF", "JPEG"], "I;16": ["PNG", "TIFF"],
    "I": ["PNG", "TIFF"], "F": ["TIFF"], "P": ["PNG", "GIF", "BMP", "TIFF"],
}  # fmt: skip
SUFFIX = {"PNG": ".png", "BMP": ".bmp", "TIFF": ".tif", "JPEG": ".jpg", "WEBP": ".webp",
          "PPM": ".ppm", "GIF": ".gif"}  # fmt: skip


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as d:  # one folder for all examples (not per example)
        yield Path(d)


def _pixels(draw: st.DrawFn, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if dtype is np.bool_:
        return rng.integers(0, 2, shape).astype(bool)
    if dtype is np.float32:
        scale = draw(st.sampled_from([1.0, 255.0, 1e6]))
        arr = (rng.standard_normal(shape) * scale).astype(np.float32)
        if draw(st.booleans()):
            arr.flat[0] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        return arr
    info = np.iinfo(dtype)
    lo, hi = (info.min, info.max) if dtype is not np.int32 else (-(2**20), 2**20)
    return rng.integers(lo, hi, shape, dtype=np.int64, endpoint=True).astype(dtype)


@st.composite
def images(draw: st.DrawFn) -> tuple[bytes, str, str]:
    """(file bytes, format, mode) of a small image of any mode and size."""
    w, h = draw(st.integers(1, 80)), draw(st.integers(1, 80))
    if draw(st.integers(0, len(ARRAY_MODES))) == len(ARRAY_MODES):  # a palette image
        im = Image.fromarray(_pixels(draw, np.uint8, (h, w)), "L").convert("P")
        im.putpalette(list(_pixels(draw, np.uint8, (768,))))
        if draw(st.booleans()):
            im.info["transparency"] = draw(st.integers(0, 255))
        mode = "P"
    else:
        mode, dtype, channels = draw(st.sampled_from(ARRAY_MODES))
        arr = _pixels(draw, dtype, (h, w) if channels == 1 else (h, w, channels))
        im = Image.fromarray(arr) if mode not in ("LA", "CMYK") else Image.fromarray(arr, mode)
        if mode == "I;16" and im.mode != "I;16":
            im = Image.fromarray(arr, "I;16")
    fmt = draw(st.sampled_from(FORMATS[mode]))
    buf = io.BytesIO()
    try:
        im.save(buf, format=fmt)
    except (OSError, ValueError, KeyError):  # a mode this PIL cannot write in fmt
        buf = io.BytesIO()
        im.save(buf, format="TIFF")
        fmt = "TIFF"
    return buf.getvalue(), fmt, mode


def _decodes_or_names_the_file(path: Path) -> np.ndarray | None:
    """The property itself: an array of the promised kind, or a DatasetError naming path."""
    try:
        x = decode_image(path)
    except DatasetError as e:
        assert e.field == "dataset" and str(path) in e.message, e
        return None
    assert isinstance(x, np.ndarray) and x.dtype == np.uint8
    assert x.shape == (3, 32, 32) and x.flags["C_CONTIGUOUS"]
    return x


@SETTINGS
@given(images())
def test_any_small_image_of_any_mode_decodes_to_uint8_3x32x32(
    folder: Path, image: tuple[bytes, str, str]
) -> None:
    data, fmt, mode = image
    path = folder / f"img{SUFFIX[fmt]}"
    path.write_bytes(data)
    assert _decodes_or_names_the_file(path) is not None, (fmt, mode)  # valid: never refused


def _lying_png() -> bytes:
    """A PNG whose IDAT chunk lies about its length (PIL raises SyntaxError at load)."""
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), np.uint8)).save(
        buf, "PNG"
    )
    raw = bytearray(buf.getvalue())
    i = raw.index(b"IDAT")
    raw[i - 4 : i] = (100).to_bytes(4, "big")
    return bytes(raw)


@SETTINGS
@given(st.binary(max_size=2048), st.sampled_from(sorted(SUFFIX.values())))
@example(_lying_png(), ".png")
@example(b"\x89PNG\r\n\x1a\n", ".png")
@example(b"", ".jpg")
def test_random_bytes_decode_or_raise_a_dataset_error_naming_the_file(
    folder: Path, data: bytes, suffix: str
) -> None:
    path = folder / f"noise{suffix}"
    path.write_bytes(data)
    _decodes_or_names_the_file(path)


@SETTINGS
@given(images(), st.data())
def test_damaged_images_decode_or_raise_a_dataset_error_naming_the_file(
    folder: Path, image: tuple[bytes, str, str], data: st.DataObject
) -> None:
    raw, fmt, _ = image
    damaged = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 8), label="flips")):
        i = data.draw(st.integers(0, len(damaged) - 1), label="at")
        damaged[i] = data.draw(st.integers(0, 255), label="byte")
    if data.draw(st.booleans(), label="cut"):
        damaged = damaged[: data.draw(st.integers(0, len(damaged)), label="length")]
    path = folder / f"damaged{SUFFIX[fmt]}"
    path.write_bytes(bytes(damaged))
    _decodes_or_names_the_file(path)


@SETTINGS
@given(st.integers(0, 2**32 - 1))
def test_a_lossless_32x32_rgb_image_decodes_to_its_own_pixels(folder: Path, seed: int) -> None:
    arr = np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(arr).save(folder / "exact.png")
    x = _decodes_or_names_the_file(folder / "exact.png")
    assert x is not None and np.array_equal(x, arr.transpose(2, 0, 1))


@SETTINGS
@given(st.integers(1, 80), st.integers(1, 80), st.integers(0, 65535))
def test_a_flat_16bit_image_decodes_to_its_value_over_257(
    folder: Path, w: int, h: int, v: int
) -> None:
    Image.fromarray(np.full((h, w), v, np.uint16)).save(folder / "flat16.png")
    x = _decodes_or_names_the_file(folder / "flat16.png")
    assert x is not None and (x == round(v / 257)).all()  # a flat image stays flat at any size
