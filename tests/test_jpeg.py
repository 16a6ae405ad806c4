"""The tensor JPEG equals libjpeg byte for byte (the plain path it replaces)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from bedash.data.synthetic import synthetic
from bedash.uncertainty import corruptions as shift
from bedash.uncertainty import jpeg


def _images() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    smooth = synthetic(n_train=0, n_test=64).test.x
    noise = torch.randint(0, 256, (32, 3, 32, 32), dtype=torch.uint8, generator=g)
    flat = torch.zeros(4, 3, 32, 32, dtype=torch.uint8)
    flat[1] = 255
    flat[2, 0], flat[3, 2] = 255, 200  # saturated colours: the clamps of both conversions
    wide = torch.randint(0, 256, (4, 3, 48, 64), dtype=torch.uint8, generator=g)
    return {"smooth": smooth, "noise": noise, "flat": flat, "48x64": wide}


@pytest.mark.parametrize("quality", sorted({*shift.JPEG_QUALITY, 1, 10, 95, 100}))
def test_roundtrip_equals_libjpeg_byte_for_byte(quality: int) -> None:
    for name, x in _images().items():
        ref = shift.libjpeg_roundtrip(x, quality)
        out = jpeg.roundtrip(x, quality)
        assert out.dtype == torch.uint8 and out.shape == x.shape
        assert torch.equal(out, ref), f"{name} at quality {quality}"


def test_roundtrip_equals_pils_jpeg() -> None:
    x = synthetic(n_train=0, n_test=8).test.x
    out = jpeg.roundtrip(x, 40)
    for i in range(len(x)):
        buf = io.BytesIO()
        Image.fromarray(x[i].permute(1, 2, 0).numpy()).save(buf, "JPEG", quality=40)
        ref = np.asarray(Image.open(buf)).transpose(2, 0, 1)
        assert np.array_equal(out[i].numpy(), ref)


def test_quant_table_follows_libjpeg_quality_scaling() -> None:
    assert jpeg.quant_table(jpeg.LUMA_TABLE, 50)[0, 0] == 16  # quality 50 is the base table
    assert jpeg.quant_table(jpeg.LUMA_TABLE, 100).max() == 1  # all ones at 100
    assert jpeg.quant_table(jpeg.CHROMA_TABLE, 1).max() == 255  # clamped for baseline
    assert jpeg.quant_table(jpeg.LUMA_TABLE, 80)[0, 0] == (16 * 40 + 50) // 100


def test_sides_not_multiples_of_16_take_libjpeg() -> None:
    x = torch.randint(0, 256, (2, 3, 30, 30), dtype=torch.uint8)
    assert not jpeg.supported(x)
    with pytest.raises(ValueError, match="multiples of 16"):
        jpeg.roundtrip(x, 50)
    assert torch.equal(shift.jpeg_compression(x, 3, torch.Generator()),
                       shift.libjpeg_roundtrip(x, shift.JPEG_QUALITY[2]))  # fmt: skip
