"""JPEG compression (torchvision.io, batched) equals PIL's JPEG round trip byte for byte."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from bedash.data.synthetic import synthetic
from bedash.uncertainty import digital
from bedash.uncertainty.corruptions import SEVERITIES


def _images() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    smooth = synthetic(n_train=0, n_test=16).test.x
    noise = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8, generator=g)
    flat = torch.zeros(4, 3, 32, 32, dtype=torch.uint8)
    flat[1] = 255
    flat[2, 0], flat[3, 2] = 255, 200  # saturated colours: the clamps of both conversions
    wide = torch.randint(0, 256, (2, 3, 48, 64), dtype=torch.uint8, generator=g)
    odd = torch.randint(0, 256, (2, 3, 30, 30), dtype=torch.uint8, generator=g)  # partial MCUs
    return {"smooth": smooth, "noise": noise, "flat": flat, "48x64": wide, "30x30": odd}


def _pil_roundtrip(image: torch.Tensor, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf)).transpose(2, 0, 1)


@pytest.mark.parametrize("severity", SEVERITIES)
def test_jpeg_compression_equals_pils_round_trip_byte_for_byte(severity: int) -> None:
    quality = (80, 65, 58, 50, 40)[severity - 1]  # make_cifar_c.py's qualities
    for name, x in _images().items():
        out = digital.jpeg_compression(x, severity, torch.Generator())
        assert out.dtype == torch.uint8 and out.shape == x.shape
        for i in range(len(x)):
            ref = _pil_roundtrip(x[i], quality)
            assert np.array_equal(out[i].numpy(), ref), f"{name}[{i}] at quality {quality}"


def test_jpeg_compression_of_no_images_is_no_images() -> None:
    x = torch.zeros(0, 3, 32, 32, dtype=torch.uint8)
    assert digital.jpeg_compression(x, 1, torch.Generator()).shape == x.shape


def test_jpeg_on_several_threads_equals_one_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """The set is split into pieces coded on the pool's threads: the same bytes, in order, as
    one batched call (an odd count, so the pieces differ in size)."""
    x = torch.randint(0, 256, (9, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator())
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    split = digital.jpeg_compression(x, 3, torch.Generator())
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    whole = digital.jpeg_compression(x, 3, torch.Generator())
    assert torch.equal(split, whole)
