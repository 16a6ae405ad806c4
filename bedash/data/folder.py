"""Image folders: the layout (`train/<class>/*`, `test/<class>/*`) checked and listed, and one
image decoded to 32 x 32 8-bit RGB by one rule (_to_rgb). Torch-free: the dashboard counts a
folder's images before torch is loaded; bedash.data.load stacks the decoded images into tensors.
Every problem is a DatasetError naming the file, never another exception."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bedash.names import DatasetError

if TYPE_CHECKING:
    from PIL import Image

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}


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
            "dataset", f"train/ and test/ must hold the same classes in {root} ({'; '.join(parts)})"
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


IMAGE_SIZE = (32, 32)
_HIGH_BIT_GRAY = ("I;16", "I;16B", "I;16L", "I;16N", "I")  # 16-bit (and 32-bit int) grayscale
_ALPHA = ("LA", "La", "PA", "RGBA", "RGBa")
_PLAIN = ("1", "L", "P", "RGB", "RGBX", "YCbCr", "HSV", "CMYK")  # PIL's convert is right


def decode_image(path: Path) -> np.ndarray:
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
        reason = str(e).strip() or type(e).__name__
        raise DatasetError("dataset", f"cannot read image {path}: {reason}") from e


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


@functools.cache  # once per process
def _install_bomb_filter() -> None:
    """PIL warns (and decodes anyway) up to twice its pixel limit: make that an error. Only
    DecompressionBombWarning is affected; _check_pixels refuses the same images should another
    thread's catch_warnings() drop the filter for a while."""
    import warnings

    from PIL import Image

    warnings.filterwarnings("error", category=Image.DecompressionBombWarning)
