"""Corruptions: severity orders the damage, seeds fix the result, references agree."""

from __future__ import annotations

import colorsys
import io
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from bedash.data.synthetic import synthetic
from bedash.uncertainty import blur, digital, draws, noise
from bedash.uncertainty import corruptions as shift

RANDOM = ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "glass_blur",
          "motion_blur", "snow", "fog", "elastic_transform")  # fmt: skip
# the published tables do not order these by damage: glass blur's and elastic's first rows
# move pixels further than their later ones; motion blur's rows 3 and 4 differ only in taps of
# weight < 1e-7 (radius 6 or 8 at sigma 2)
NOT_MONOTONE = ("glass_blur", "elastic_transform", "motion_blur")


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return synthetic(n_train=0, n_test=48).test.x


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _mad(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().mean())


def test_the_issue_s_eight_corruptions_exist() -> None:
    for name in ("gaussian_noise", "shot_noise", "impulse_noise", "gaussian_blur", "contrast",
                 "brightness", "pixelate", "jpeg_compression"):  # fmt: skip
        assert name in shift.CORRUPTION_NAMES


@pytest.mark.parametrize("name", [n for n in shift.CORRUPTION_NAMES if n not in NOT_MONOTONE])
def test_higher_severity_moves_images_further_from_the_clean_ones(name, images) -> None:
    dist = [_mad(shift.corrupt(images, name, s, _gen()), images) for s in shift.SEVERITIES]
    assert dist[0] > 0
    assert all(a < b for a, b in itertools.pairwise(dist)), dist


@pytest.mark.parametrize("name", shift.CORRUPTION_NAMES)
def test_generation_is_deterministic_and_pure(name, images) -> None:
    before = images.clone()
    a = shift.corrupt(images, name, 3, _gen(7))
    b = shift.corrupt(images, name, 3, _gen(7))
    assert torch.equal(a, b)
    assert torch.equal(images, before)  # the input is never written
    assert a.dtype == torch.uint8 and a.shape == images.shape
    if name in RANDOM:
        assert not torch.equal(a, shift.corrupt(images, name, 3, _gen(8)))


def test_bad_input_is_refused(images) -> None:
    with pytest.raises(ValueError, match="severity"):
        noise.gaussian_noise(images, 6, _gen())
    with pytest.raises(ValueError, match="severity"):
        digital.contrast(images, 0, _gen())
    with pytest.raises(ValueError, match="uint8"):
        digital.contrast(images.float(), 1, _gen())
    with pytest.raises(ValueError, match="unknown corruption 'frost'"):
        shift.corrupt(images, "frost", 1, _gen())


def test_gaussian_noise_has_the_published_spread() -> None:
    x = torch.full((200, 3, 32, 32), 128, dtype=torch.uint8)
    for s, c in zip(shift.SEVERITIES, noise.GAUSSIAN_NOISE, strict=True):
        y = noise.gaussian_noise(x, s, _gen()).float()
        assert abs(float(y.std()) - 255 * c) < 0.02 * 255 * c
        assert abs(float(y.mean()) - 127.5) < 0.3  # truncation: half a level down on average


def test_shot_noise_keeps_the_mean_and_has_poisson_variance() -> None:
    for level in (3, 40, 200):  # the exact Poisson path (dark) and the normal one
        x = torch.full((100, 3, 32, 32), level, dtype=torch.uint8)
        c = noise.SHOT_NOISE[4]
        y = noise.shot_noise(x, 5, _gen()).float()
        lam = level * c / 255
        assert abs(float(y.mean()) - level) < 0.02 * level + 1.0  # truncation: < 1 level
        expected_std = lam**0.5 * 255 / c
        assert abs(float(y.std()) - expected_std) < 0.1 * expected_std + 0.3


def test_impulse_noise_sets_the_published_fraction_half_salt() -> None:
    x = torch.full((200, 3, 32, 32), 100, dtype=torch.uint8)
    y = noise.impulse_noise(x, 5, _gen())
    salt, pepper = float((y == 255).float().mean()), float((y == 0).float().mean())
    assert abs(salt + pepper - noise.IMPULSE_NOISE[4]) < 0.002
    assert abs(salt - pepper) < 0.003
    assert bool(((y == 100) | (y == 0) | (y == 255)).all())


def test_contrast_moves_each_channel_towards_its_mean(images) -> None:
    y = digital.contrast(images, 2, _gen()).float()
    x = images.float()
    m = x.mean(dim=(2, 3), keepdim=True)
    ref = ((x - m) * digital.CONTRAST[1] + m).clamp(0, 255).floor()
    assert float((y - ref).abs().max()) <= 1.0


def test_brightness_matches_an_hsv_round_trip(images) -> None:
    x = images[:2].clone()
    x[0, :, 0, 0] = 0  # a black pixel becomes grey
    y = digital.brightness(x, 4, _gen())
    c = digital.BRIGHTNESS[3]
    u = x.double() / 255
    for i in range(2):
        for h in range(0, 32, 3):
            for w in range(0, 32, 3):
                hh, ss, vv = colorsys.rgb_to_hsv(*u[i, :, h, w].tolist())
                ref = np.array(colorsys.hsv_to_rgb(hh, ss, min(vv + c, 1.0))) * 255
                assert np.abs(y[i, :, h, w].numpy() - np.floor(ref + 1e-9)).max() <= 1
    assert y[0, :, 0, 0].tolist() == [int(c * 255)] * 3


def test_gaussian_blur_matches_a_padded_convolution(images) -> None:
    sigma = blur.GAUSSIAN_BLUR[4]
    r = int(4 * sigma + 0.5)
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    k1 = torch.exp(-(t**2) / (2 * sigma**2))
    k = torch.outer(k1, k1) / k1.sum() ** 2
    x = images.double()
    ref = F.conv2d(F.pad(x, (r, r, r, r), mode="replicate"), k.expand(3, 1, -1, -1), groups=3)
    y = blur.gaussian_blur(images, 5, _gen())
    assert float((y.double() - ref.clamp(0, 255).floor()).abs().max()) <= 1.0


def test_defocus_kernel_is_the_reference_disk() -> None:
    k = blur.disk(1.0, 0.2)  # radius 1: the centre and its 4 neighbours, barely blurred
    assert abs(float(k.sum()) - 1.0) < 1e-7  # float32 entries, as the reference's
    assert abs(float(k[2, 2]) - 0.2) < 1e-3 and abs(float(k[1, 2]) - 0.2) < 1e-3
    assert float(k[1, 1]) < 1e-4


def test_pixelate_equals_pils_box_resize(images) -> None:
    saturated = torch.zeros(3, 3, 32, 32, dtype=torch.uint8)
    saturated[0] = 255  # all white: no value may pass 255 (there is no clamp)
    saturated[1, :, ::2] = 255  # stripes of 0 and 255
    saturated[2, :, :, 1::3] = 255
    images = torch.cat([images, saturated])
    for s in shift.SEVERITIES:
        c = digital.PIXELATE[s - 1]
        y = digital.pixelate(images, s, _gen())
        for i in [*range(0, len(images) - 3, 7), *range(len(images) - 3, len(images))]:
            im = Image.fromarray(images[i].permute(1, 2, 0).numpy())
            small = im.resize((int(32 * c), int(32 * c)), Image.BOX)
            ref = np.asarray(small.resize((32, 32), Image.BOX)).transpose(2, 0, 1)
            assert np.array_equal(y[i].numpy(), ref)


def test_jpeg_equals_pils_jpeg_at_the_published_quality(images) -> None:
    y = digital.jpeg_compression(images[:5], 5, _gen())
    for i in range(5):
        buf = io.BytesIO()
        Image.fromarray(images[i].permute(1, 2, 0).numpy()).save(buf, "JPEG", quality=40)
        ref = np.asarray(Image.open(buf)).transpose(2, 0, 1)
        assert np.abs(y[i].numpy().astype(int) - ref.astype(int)).max() <= 1


def test_seeds_differ_per_corruption_severity_and_chunk() -> None:
    seeds = {
        shift.corruption_seed(0, n, s, c)
        for n in shift.CORRUPTION_NAMES for s in shift.SEVERITIES for c in range(10)
    }  # fmt: skip
    assert len(seeds) == len(shift.CORRUPTION_NAMES) * 5 * 10


@pytest.mark.parametrize("name", RANDOM)
def test_random_corruptions_do_not_depend_on_the_thread_count(name: str) -> None:
    """The draws are split in fixed pieces filled on threads: one thread gives the very same
    images as two (the plain, sequential path)."""
    x = synthetic(n_train=0, n_test=300).test.x  # threaded draws, the dark Poisson ones too
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = shift.corrupt(x, name, 5, _gen(3))
        torch.set_num_threads(2)
        two = shift.corrupt(x, name, 5, _gen(3))
    finally:
        torch.set_num_threads(before)
    assert torch.equal(one, two)


def test_the_pieces_of_a_draw_are_independent_and_normal() -> None:
    z = draws.randn((400_000,), _gen(0))
    a, b = z[:200_000], z[200_000:]
    assert not torch.equal(a, b)
    for part in (a, b):
        assert abs(float(part.mean())) < 0.01 and abs(float(part.std()) - 1) < 0.01
    assert abs(float(torch.corrcoef(torch.stack([a, b]))[0, 1])) < 0.01
    assert torch.equal(draws.randn((1000,), _gen(7)), draws.randn((1000,), _gen(7)))


def test_bernoulli_positions_have_the_law_of_one_draw_per_trial() -> None:
    """Geometric gaps between successes are the law of n independent Bernoulli(p) trials: the
    count, the spread over positions and the gaps are those of a uniform draw per trial."""
    n, p = 2_000_000, 0.05
    pos = draws.bernoulli_positions(n, p, _gen(1))
    assert pos.dtype == torch.int64 and bool((pos[1:] > pos[:-1]).all())
    assert int(pos[0]) >= 0 and int(pos[-1]) < n
    sd = (n * p * (1 - p)) ** 0.5
    assert abs(len(pos) - n * p) < 5 * sd
    per_tenth = torch.bincount(pos * 10 // n, minlength=10).double()
    assert float((per_tenth - n * p / 10).abs().max()) < 5 * (n * p / 10) ** 0.5
    gaps = torch.diff(pos)
    for k in (1, 2, 5, 20):  # P(gap = k) = (1 - p)^(k - 1) p
        expected = (1 - p) ** (k - 1) * p
        assert abs(float((gaps == k).double().mean()) - expected) < 0.05 * expected
    # the plain path, one uniform per trial: the same frequency of successes at each position
    plain = (torch.rand(n, generator=_gen(2)) < p).nonzero().squeeze(1)
    assert abs(len(plain) - len(pos)) < 7 * sd
    assert torch.equal(draws.bernoulli_positions(n, p, _gen(1)), pos)  # seeded


def test_bernoulli_positions_edges() -> None:
    assert len(draws.bernoulli_positions(10, 0.0, _gen())) == 0
    assert torch.equal(draws.bernoulli_positions(5, 1.0, _gen()), torch.arange(5))
    assert len(draws.bernoulli_positions(0, 0.5, _gen())) == 0
    few = draws.bernoulli_positions(3, 0.9, _gen())  # the draw overshoots n at once
    assert bool((few < 3).all()) and len(set(few.tolist())) == len(few)
    many = [len(draws.bernoulli_positions(1000, 0.5, _gen(s))) for s in range(200)]
    assert abs(sum(many) / 200 - 500) < 5  # mean over seeds: n p


def test_alias_draws_have_each_rows_law() -> None:
    """The alias sampler against the laws it was built from, row by row, with a chi-square
    test (scipy), on rows with zeros, one certain outcome and 256 outcomes."""
    from scipy.stats import chisquare

    rng = np.random.default_rng(0)
    laws = rng.dirichlet(np.full(256, 0.3), size=3)
    laws[1, rng.random(256) < 0.8] = 0.0  # many impossible outcomes
    laws[2] = 0.0
    laws[2, 17] = 1.0  # one certain outcome
    laws /= laws.sum(1, keepdims=True)
    table = draws.alias_table(laws)
    n = 400_000
    rows = torch.arange(3, dtype=torch.uint8).repeat_interleave(n)
    got = draws.sample_rows(rows, table, _gen(3)).view(3, n).long()
    for r in range(3):
        counts = np.bincount(got[r].numpy(), minlength=256)
        assert counts[laws[r] == 0].sum() == 0  # never an impossible outcome
        keep = laws[r] > 0
        if keep.sum() > 1:
            assert chisquare(counts[keep], laws[r][keep] * n).pvalue > 1e-4
    assert torch.equal(draws.sample_rows(rows, table, _gen(3)).view(3, n).long(), got)


def test_shot_noise_law_is_the_poisson_law_by_scipy() -> None:
    """Each row of shot noise's table against scipy's Poisson law pushed through the
    reference's np.uint8(np.clip(k / c, 0, 1) * 255), counted here output by output."""
    from scipy.stats import poisson

    for c in (500, 250, 100, 75, 50):  # make_cifar_c.py's, copied
        law = noise.shot_law(c)
        for v in (0, 1, 77, 128, 254, 255):
            lam = v / 255.0 * c
            k = np.arange(0, 2000)
            out = np.uint8(np.clip(k / c, 0, 1) * 255)
            want = np.bincount(out, weights=poisson.pmf(k, lam), minlength=256)
            assert np.allclose(law[v], want, atol=1e-12), (c, v)


@pytest.mark.parametrize("name", shift.CORRUPTION_NAMES)
def test_parts_give_the_whole_chunks_images(name: str, monkeypatch) -> None:
    """filters.by_parts (cache-sized parts of a chunk, the draws made for the whole chunk
    first) equals the plain path, the whole chunk at once, byte for byte."""
    from bedash.uncertainty import filters

    x = synthetic(n_train=0, n_test=530).test.x  # two whole parts and a short one
    parts = shift.corrupt(x, name, 4, _gen(11))
    monkeypatch.setattr(filters, "PART", 10**9)
    whole = shift.corrupt(x, name, 4, _gen(11))
    assert torch.equal(parts, whole)
