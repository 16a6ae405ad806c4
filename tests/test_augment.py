"""Device-side crop-flip augmentation: torchvision's ops on the same offsets, seeded draws, the
same augmented batches for every model kind of a run, and off by default for the MLP."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bedash.data import batches
from bedash.data.augment import PAD, crop_flip, draw
from bedash.data.batches import Batcher
from bedash.data.tensors import Split, normalize
from bedash.experiment import run_experiment
from bedash.settings.config import RunConfig

v2 = pytest.importorskip("torchvision.transforms.v2.functional")


def images(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)


def test_crop_flip_equals_torchvisions_pad_crop_and_flip() -> None:
    x = images(64)
    params = draw(64, torch.Generator().manual_seed(1))
    out = crop_flip(x, params)
    assert out.dtype == torch.uint8 and out.shape == x.shape and out.is_contiguous()
    for img, (top, left, flip), got in zip(x, params.tolist(), out, strict=True):
        ref = v2.crop(v2.pad(img, [PAD]), top, left, 32, 32)  # RandomCrop(32, padding=4)'s
        ref = v2.horizontal_flip(ref) if flip else ref
        assert torch.equal(got, ref)
    # every offset and both flips were exercised
    assert (
        set(params[:, 0].tolist()) == set(range(2 * PAD + 1)) and params[:, 2].unique().numel() == 2
    )


def test_the_centre_offset_without_a_flip_is_the_image() -> None:
    x = images(3)
    assert torch.equal(crop_flip(x, torch.tensor([[PAD, PAD, 0]] * 3)), x)


def epoch_bytes(b: Batcher, epoch: int) -> list[torch.Tensor]:
    return [x for x, _ in b.epoch(epoch)]


def test_same_seed_same_bytes_other_seed_or_epoch_others() -> None:
    split = Split(images(40), torch.arange(40) % 10)
    first = epoch_bytes(Batcher(split, 16, seed=3, augment=True), 1)
    again = Batcher(split, 16, seed=3, augment=True)
    epoch_bytes(again, 2)  # what came before does not matter: (seed, epoch) alone
    assert all(torch.equal(a, b) for a, b in zip(first, epoch_bytes(again, 1), strict=True))
    other = epoch_bytes(Batcher(split, 16, seed=4, augment=True), 1)
    assert not torch.equal(torch.cat(first), torch.cat(other))
    assert not torch.equal(torch.cat(first), torch.cat(epoch_bytes(again, 2)))
    # the batch order is the one without augmentation: only the images change
    plain = [y for _, y in Batcher(split, 16, seed=3).epoch(1)]
    augmented = [y for _, y in Batcher(split, 16, seed=3, augment=True).epoch(1)]
    assert all(torch.equal(a, b) for a, b in zip(plain, augmented, strict=True))


def test_augment_defaults_by_architecture() -> None:
    assert RunConfig().chosen("augment") == "none"  # the seed's table is unchanged
    assert RunConfig(arch="cnn").chosen("augment") == "none"
    assert RunConfig(arch="resnet").chosen("augment") == "crop-flip"
    assert RunConfig(arch="resnet", augment="none").chosen("augment") == "none"
    assert RunConfig(augment="crop-flip").chosen("augment") == "crop-flip"


def test_every_kind_and_member_of_a_run_sees_the_same_augmented_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[bytes, ...]] = []
    changed: list[bool] = []
    original = batches.Batcher.batch

    def record(self: Batcher, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = original(self, idx)
        assert self.augment
        seen.append((x.numpy().tobytes(), y.numpy().tobytes()))
        changed.append(not torch.equal(x, normalize(self.split.x[idx])))
        return x, y

    monkeypatch.setattr(batches.Batcher, "batch", record)
    cfg = RunConfig(
        dataset="synthetic", train_size=48, test_size=16, arch="resnet", width=2, members=2,
        epochs=2, batch_size=16, models=("single", "ensemble", "batchensemble"), device="cpu",
    )  # fmt: skip
    result = run_experiment(cfg, tmp_path / "run")
    assert result.status == "finished"
    steps = 2 * 3  # epochs x batches
    runs = [seen[k * steps : (k + 1) * steps] for k in range(4)]  # single, 2 members, BE
    assert len(seen) == 4 * steps and all(r == runs[0] for r in runs)
    assert all(changed)  # and augmented: not the plain images
