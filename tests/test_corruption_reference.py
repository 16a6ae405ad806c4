"""Every corruption against make_cifar_c.py (Hendrycks & Dietterich 2019) at every severity.

The published parameter tables are copied here literally, and the reference operations are
written here from the published code with numpy, scipy.ndimage and PIL (its cv2, skimage and
Wand calls as the operations they are: skimage's gaussian is scipy's gaussian_filter, cv2's
Gaussian kernel and reflect-101 edge are written out, ImageMagick's motion blur from its kernel
formula). Deterministic steps match byte for byte, or within 1 where float32 and float64 round
a value to either side of an integer; random draws are compared law to law, within the sampling
floor (the distance between two samples of the reference itself).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

from bedash.data.synthetic import synthetic
from bedash.uncertainty import blur, digital, draws, noise, weather
from bedash.uncertainty import corruptions as shift

SEVERITIES = (1, 2, 3, 4, 5)
IMSIZE = 32
# make_cifar_c.py's tables, copied from the published file (not read from bedash)
PUBLISHED = {
    "gaussian_noise": [0.04, 0.06, .08, .09, .10],
    "shot_noise": [500, 250, 100, 75, 50],
    "impulse_noise": [.01, .02, .03, .05, .07],
    "speckle_noise": [.06, .1, .12, .16, .2],
    "gaussian_blur": [.4, .6, 0.7, .8, 1],
    "glass_blur": [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)],
    "defocus_blur": [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)],
    "motion_blur": [(6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)],
    "zoom_blur": [np.arange(1, 1.06, 0.01), np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01),
                  np.arange(1, 1.21, 0.01), np.arange(1, 1.26, 0.01)],
    "fog": [(.2, 3), (.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)],
    "snow": [(0.1, 0.2, 1, 0.6, 8, 3, 0.95),
             (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
             (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
             (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
             (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)],
    "contrast": [.75, .5, .4, .3, 0.15],
    "brightness": [.05, .1, .15, .2, .3],
    "jpeg_compression": [80, 65, 58, 50, 40],
    "pixelate": [0.95, 0.9, 0.85, 0.75, 0.65],
    "elastic_transform": [(IMSIZE * 0, IMSIZE * 0, IMSIZE * 0.08),
                          (IMSIZE * 0.05, IMSIZE * 0.2, IMSIZE * 0.07),
                          (IMSIZE * 0.08, IMSIZE * 0.06, IMSIZE * 0.06),
                          (IMSIZE * 0.1, IMSIZE * 0.04, IMSIZE * 0.05),
                          (IMSIZE * 0.1, IMSIZE * 0.03, IMSIZE * 0.03)],
}  # fmt: skip
# brightness scales each pixel by V' / V (the exact value); an HSV round trip in floats (colorsys
# here, skimage there) lands a value on either side of an integer now and then: within 1
EXACT_BRIGHTNESS = 0.9
MOTION_ANGLES, SNOW_ANGLES = (-45, 45), (-135, -45)  # np.random.uniform's bounds there


def _p(name: str, severity: int):
    return PUBLISHED[name][severity - 1]


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    x = synthetic(n_train=0, n_test=12).test.x
    g = _gen(5)
    noisy = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8, generator=g)
    return torch.cat([x, noisy])


def _hwc(x: torch.Tensor) -> np.ndarray:
    return x.permute(1, 2, 0).numpy()


def _close(ours: torch.Tensor, ref: np.ndarray, exact: float = 1.0) -> None:
    """Equal within 1 everywhere and exactly equal in at least `exact` of the values."""
    ref = np.asarray(ref)
    diff = np.abs(ours.numpy().astype(int) - ref.astype(int))
    assert diff.max() <= 1, f"off by {diff.max()}"
    assert (diff == 0).mean() >= exact, f"only {(diff == 0).mean():.4f} exact"


# -- the tables -------------------------------------------------------------------------------


def test_every_table_is_the_published_one() -> None:
    ours = {
        "gaussian_noise": noise.GAUSSIAN_NOISE, "shot_noise": noise.SHOT_NOISE,
        "impulse_noise": noise.IMPULSE_NOISE, "speckle_noise": noise.SPECKLE_NOISE,
        "gaussian_blur": blur.GAUSSIAN_BLUR, "glass_blur": blur.GLASS_BLUR,
        "defocus_blur": blur.DEFOCUS_BLUR, "motion_blur": blur.MOTION_BLUR,
        "fog": weather.FOG, "snow": weather.SNOW, "contrast": digital.CONTRAST,
        "brightness": digital.BRIGHTNESS, "jpeg_compression": digital.JPEG_QUALITY,
        "pixelate": digital.PIXELATE,
    }  # fmt: skip
    for name, table in ours.items():
        assert [np.asarray(r, float).tolist() for r in table] == [
            np.asarray(r, float).tolist() for r in PUBLISHED[name]
        ], name
    for s in SEVERITIES:
        assert np.array_equal(np.arange(*blur.ZOOM_BLUR[s - 1]), _p("zoom_blur", s))
        assert np.allclose(np.array(digital.ELASTIC[s - 1]) * IMSIZE, _p("elastic_transform", s))
    assert blur.MOTION_ANGLE == MOTION_ANGLES and weather.SNOW_ANGLE == SNOW_ANGLES


# -- random per-value noise: the law of each output value ------------------------------------


def _tv(a: np.ndarray, b: np.ndarray) -> float:
    """Total variation distance of the two samples' histograms over the 256 levels."""
    pa = np.bincount(a.ravel(), minlength=256) / a.size
    pb = np.bincount(b.ravel(), minlength=256) / b.size
    return 0.5 * float(np.abs(pa - pb).sum())


def _reference_noise(name: str, x: np.ndarray, c, rng: np.random.Generator) -> np.ndarray:
    """make_cifar_c.py's formulas (skimage's s&p: each value flipped with probability c, to
    salt or pepper with probability 1/2), to uint8 as its loop does."""
    x = x / 255.0
    if name == "gaussian_noise":
        y = x + rng.normal(size=x.shape, scale=c)
    elif name == "shot_noise":
        y = rng.poisson(x * c) / c
    elif name == "speckle_noise":
        y = x + x * rng.normal(size=x.shape, scale=c)
    else:
        flipped, salted = rng.random(x.shape) < c, rng.random(x.shape) < 0.5
        y = np.where(flipped, np.where(salted, 1.0, 0.0), x)
    return np.uint8(np.clip(y, 0, 1) * 255)


@pytest.mark.parametrize("severity", SEVERITIES)
@pytest.mark.parametrize("name", ["gaussian_noise", "shot_noise", "impulse_noise",
                                  "speckle_noise"])  # fmt: skip
def test_noise_has_the_published_law_at_every_severity(name: str, severity: int) -> None:
    c = _p(name, severity)
    rng = np.random.default_rng(severity)
    for level in (0, 3, 40, 128, 200, 255):
        x = torch.full((24, 3, 32, 32), level, dtype=torch.uint8)
        ours = shift.corrupt(x, name, severity, _gen(severity * 1000 + level)).numpy()
        ref = _reference_noise(name, x.numpy(), c, rng)
        floor = _tv(ref, _reference_noise(name, x.numpy(), c, rng))
        assert _tv(ours, ref) <= 2 * floor + 0.01, (level, _tv(ours, ref), floor)


# -- deterministic blurs and digital corruptions --------------------------------------------


def _skimage_gaussian(x: np.ndarray, sigma: float) -> np.ndarray:
    """skimage.filters.gaussian(x, sigma, multichannel=True): scipy's filter, 'nearest' edge,
    truncate 4, channels apart."""
    return ndi.gaussian_filter(x, sigma=(sigma, sigma, 0), mode="nearest", truncate=4.0)


@pytest.mark.parametrize("severity", SEVERITIES)
def test_gaussian_blur_equals_skimage_s(images, severity: int) -> None:
    ours = shift.corrupt(images, "gaussian_blur", severity, _gen())
    for i in range(len(images)):
        ref = np.clip(_skimage_gaussian(_hwc(images[i]) / 255.0, _p("gaussian_blur", severity)),
                      0, 1) * 255  # fmt: skip
        _close(ours[i].permute(1, 2, 0), np.uint8(ref))


def _cv2_gaussian3(d: np.ndarray, sigma: float) -> np.ndarray:
    """cv2.GaussianBlur(d, (3, 3), sigma): the kernel exp(-t^2 / 2 sigma^2), t = -1, 0, 1,
    normalised, on both axes, reflect-101 edge (scipy's 'mirror')."""
    k = np.exp(-(np.arange(-1, 2) ** 2) / (2 * sigma**2))
    k /= k.sum()
    return ndi.correlate1d(ndi.correlate1d(d, k, axis=0, mode="mirror"), k, 1, mode="mirror")


@pytest.mark.parametrize("severity", SEVERITIES)
def test_defocus_blur_equals_the_reference_disk_and_filter2d(images, severity: int) -> None:
    radius, alias = _p("defocus_blur", severity)
    L = np.arange(-8, 8 + 1)
    X, Y = np.meshgrid(L, L)
    disk = np.array(radius**2 >= (X**2 + Y**2), dtype=np.float32)
    disk /= np.sum(disk)
    kernel = _cv2_gaussian3(disk, alias).astype(np.float32)
    ours = shift.corrupt(images, "defocus_blur", severity, _gen())
    for i in range(len(images)):
        x = _hwc(images[i]) / 255.0
        ref = np.stack([ndi.correlate(x[..., d], kernel, mode="mirror") for d in range(3)], 2)
        _close(ours[i].permute(1, 2, 0), np.uint8(np.clip(ref, 0, 1) * 255))


def _clipped_zoom(img: np.ndarray, zoom_factor: float) -> np.ndarray:
    h = img.shape[0]
    ch = int(np.ceil(h / zoom_factor))
    top = (h - ch) // 2
    img = ndi.zoom(img[top : top + ch, top : top + ch], (zoom_factor, zoom_factor, 1), order=1)
    trim_top = (img.shape[0] - h) // 2
    return img[trim_top : trim_top + h, trim_top : trim_top + h]


@pytest.mark.parametrize("severity", SEVERITIES)
def test_zoom_blur_equals_scipy_s_zooms(images, severity: int) -> None:
    """float32 sums in another order than scipy's: within 1, 99.9 % exact."""
    ours = shift.corrupt(images, "zoom_blur", severity, _gen())
    factors = _p("zoom_blur", severity)
    for i in range(0, len(images), 3):
        x = (_hwc(images[i]) / 255.0).astype(np.float32)
        out = np.zeros_like(x)
        for z in factors:
            out += _clipped_zoom(x, z)
        ref = np.clip((x + out) / (len(factors) + 1), 0, 1) * 255
        _close(ours[i].permute(1, 2, 0), np.uint8(ref), exact=0.999)


@pytest.mark.parametrize("severity", SEVERITIES)
def test_contrast_and_brightness_equal_the_formulas(images, severity: int) -> None:
    import colorsys

    y = shift.corrupt(images, "contrast", severity, _gen())
    x = images.double().numpy() / 255
    m = x.mean(axis=(2, 3), keepdims=True)
    c = _p("contrast", severity)
    _close(y, np.uint8(np.clip((x - m) * c + m, 0, 1) * 255))
    y = shift.corrupt(images, "brightness", severity, _gen())
    c = _p("brightness", severity)
    ours, ref = [], []
    for i in range(0, len(images), 2):
        for h in range(0, 32, 3):
            for w in range(0, 32, 3):
                hh, ss, vv = colorsys.rgb_to_hsv(*x[i, :, h, w].tolist())
                ref.append(np.clip(colorsys.hsv_to_rgb(hh, ss, min(vv + c, 1.0)), 0, 1) * 255)
                ours.append(y[i, :, h, w])
    _close(torch.stack(ours), np.uint8(np.array(ref)), exact=EXACT_BRIGHTNESS)


# -- ImageMagick's motion blur --------------------------------------------------------------


def _magick_motion_blur(img: np.ndarray, radius: float, sigma: float, angle: float):
    """MagickMotionBlurImage on an 8-bit [H, W] or [H, W, C] image, from its source: width
    GetOptimalKernelWidth1D = (size_t) (2 radius + 0.5); kernel[i] = exp(-i^2 / (2 sigma^2)) /
    (sqrt(2 pi) sigma), normalised; offset[i] = (ceil(i point.y / hypot - 0.5), ceil(i point.x
    / hypot - 0.5)), point = width (sin, cos) of the angle; the virtual pixels past the edge
    repeat it; each sum rounded to the nearest 8-bit value."""
    width = int(2.0 * radius + 0.5)
    kernel = np.array([math.exp(-(i * i) / (2.0 * sigma * sigma)) / (math.sqrt(2 * math.pi)
                       * sigma) for i in range(width)])  # fmt: skip
    kernel /= kernel.sum()
    px = width * math.sin(math.pi * angle / 180.0)
    py = width * math.cos(math.pi * angle / 180.0)
    hyp = math.hypot(px, py)
    H, W = img.shape[:2]
    out = np.zeros(img.shape)
    for y in range(H):
        for x in range(W):
            acc = 0.0
            for i in range(width):
                ox, oy = math.ceil(i * py / hyp - 0.5), math.ceil(i * px / hyp - 0.5)
                acc = acc + kernel[i] * img[min(max(y + oy, 0), H - 1), min(max(x + ox, 0),
                                                                             W - 1)]  # fmt: skip
            out[y, x] = acc
    return np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("severity", SEVERITIES)
def test_motion_blur_equals_imagemagick_s_formula(images, severity: int) -> None:
    radius, sigma = _p("motion_blur", severity)
    x = images[::4]
    ours = shift.corrupt(x, "motion_blur", severity, _gen(severity))
    angles = draws.uniform((len(x),), *MOTION_ANGLES, _gen(severity))  # the same draw
    assert bool((angles >= -45).all() and (angles < 45).all())
    for i in range(len(x)):
        ref = _magick_motion_blur(_hwc(x[i]).astype(float), radius, sigma, float(angles[i]))
        _close(ours[i].permute(1, 2, 0), ref, exact=1.0)


# -- the spatial random corruptions: the reference for the same draws, and the draws' law ----


@pytest.mark.parametrize("severity", SEVERITIES)
def test_glass_blur_equals_the_reference_loop_for_the_same_draws(images, severity) -> None:
    """The reference's loop as numpy runs it (its tuple "swap" assigns views: pixel (h, w)
    takes its neighbour's value, which keeps its own), between skimage's Gaussian blurs."""
    sigma, delta, iterations = _p("glass_blur", severity)
    x = images[::2]
    shifts = blur.glass_shifts(len(x), 32, delta, iterations, _gen(severity))
    assert torch.equal(shift.corrupt(x, "glass_blur", severity, _gen(severity)),
                       blur.glass_from(x, severity, shifts))  # fmt: skip
    assert set(shifts.unique().tolist()) == {-1, 0}  # np.random.randint(-1, 1): -1 or 0
    assert abs(float((shifts == 0).double().mean()) - 0.5) < 0.02
    ours = blur.glass_from(x, severity, shifts)
    for i in range(len(x)):
        a = np.uint8(_skimage_gaussian(_hwc(x[i]) / 255.0, sigma) * 255)
        for it in range(iterations):
            k = 0
            for h in range(32 - delta, delta, -1):
                for w in range(32 - delta, delta, -1):
                    dx, dy = shifts[i, it, k].tolist()
                    k += 1
                    h_prime, w_prime = h + dy, w + dx
                    a[h, w], a[h_prime, w_prime] = a[h_prime, w_prime], a[h, w]
        ref = np.clip(_skimage_gaussian(a / 255.0, sigma), 0, 1) * 255
        _close(ours[i].permute(1, 2, 0), np.uint8(ref))


@pytest.mark.parametrize("severity", SEVERITIES)
def test_snow_equals_the_reference_for_the_same_draws(images, severity: int) -> None:
    loc, scale, zoom, threshold, radius, sigma, keep = _p("snow", severity)
    x = images[::4]
    g = _gen(severity)
    layer = draws.randn((len(x), 1, 32, 32), g).double() * scale + loc
    angles = draws.uniform((len(x),), *SNOW_ANGLES, g)
    ours = shift.corrupt(x, "snow", severity, _gen(severity))
    assert torch.equal(ours, weather.snow_from(x, severity, layer, angles))
    for i in range(len(x)):
        img = _hwc(x[i]).astype(np.float32) / 255.0
        flakes = _clipped_zoom(layer[i, 0].numpy()[..., np.newaxis], zoom)
        flakes[flakes < threshold] = 0
        flakes = (np.clip(flakes.squeeze(), 0, 1) * 255).astype(np.uint8)
        flakes = _magick_motion_blur(flakes.astype(float), radius, sigma, float(angles[i]))
        flakes = (flakes / 255.0)[..., np.newaxis]
        gray = (0.299 * img[..., 0] + 0.587 * img[..., 1] + 0.114 * img[..., 2])[..., None]
        img = keep * img + (1 - keep) * np.maximum(img, gray * 1.5 + 0.5)
        ref = np.clip(img + flakes + np.rot90(flakes, k=2), 0, 1) * 255
        _close(ours[i].permute(1, 2, 0), np.uint8(ref))


def _reference_plasma(decay: float, rng: np.random.Generator, mapsize: int = 32) -> np.ndarray:
    """make_cifar_c.py's plasma_fractal."""
    maparray = np.empty((mapsize, mapsize), dtype=np.float64)
    maparray[0, 0] = 0
    stepsize = mapsize
    wibble = 100.0

    def wibbledmean(array):
        return array / 4 + wibble * rng.uniform(-wibble, wibble, array.shape)

    while stepsize >= 2:
        half = stepsize // 2
        cornerref = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        squareaccum = cornerref + np.roll(cornerref, shift=-1, axis=0)
        squareaccum += np.roll(squareaccum, shift=-1, axis=1)
        maparray[half:mapsize:stepsize, half:mapsize:stepsize] = wibbledmean(squareaccum)
        drgrid = maparray[half:mapsize:stepsize, half:mapsize:stepsize]
        ulgrid = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        ltsum = drgrid + np.roll(drgrid, 1, axis=0) + ulgrid + np.roll(ulgrid, -1, axis=1)
        maparray[0:mapsize:stepsize, half:mapsize:stepsize] = wibbledmean(ltsum)
        ttsum = drgrid + np.roll(drgrid, 1, axis=1) + ulgrid + np.roll(ulgrid, -1, axis=0)
        maparray[half:mapsize:stepsize, 0:mapsize:stepsize] = wibbledmean(ttsum)
        stepsize //= 2
        wibble /= decay
    maparray -= maparray.min()
    return maparray / maparray.max()


def _tv_unit(a: np.ndarray, b: np.ndarray, bins: int = 20) -> float:
    pa = np.histogram(a, bins, (0, 1))[0] / len(a)
    pb = np.histogram(b, bins, (0, 1))[0] / len(b)
    return 0.5 * float(np.abs(pa - pb).sum())


@pytest.mark.parametrize("severity", SEVERITIES)
def test_fog_has_the_reference_plasma_law_and_formula(images, severity: int) -> None:
    c, decay = _p("fog", severity)
    n = 1500
    ours = weather.plasma_fractal(n, 32, decay, _gen(severity)).numpy()
    rng = np.random.default_rng(severity)
    ref = np.stack([_reference_plasma(decay, rng) for _ in range(n)])
    ref2 = np.stack([_reference_plasma(decay, rng) for _ in range(n)])
    for h, w in ((0, 0), (0, 16), (16, 16), (5, 27), (31, 31), (17, 2)):  # one pixel's law
        floor = _tv_unit(ref[:, h, w], ref2[:, h, w])
        assert _tv_unit(ours[:, h, w], ref[:, h, w]) <= 2 * floor + 0.02, (h, w, floor)
    x = images[::3]
    plasma = weather.plasma_fractal(len(x), 32, decay, _gen(7))
    assert torch.equal(shift.corrupt(x, "fog", severity, _gen(7)),
                       weather.fog_from(x, severity, plasma))  # fmt: skip
    ours = weather.fog_from(x, severity, plasma)
    for i in range(len(x)):
        img = _hwc(x[i]) / 255.0
        max_val = img.max()
        img = img + c * plasma[i].numpy()[:32, :32][..., np.newaxis]
        _close(ours[i].permute(1, 2, 0), np.uint8(np.clip(img * max_val / (max_val + c), 0, 1)
                                                  * 255))  # fmt: skip


def _reference_elastic(img: np.ndarray, severity: int, jitter, field) -> np.ndarray:
    """elastic_transform for given draws: cv2.getAffineTransform and warpAffine (bilinear on
    cv2's 1/32-pixel grid, reflect-101 edge = scipy's 'mirror') written out, then skimage's
    gaussian and scipy's map_coordinates as there."""
    c = _p("elastic_transform", severity)
    image = np.array(img, dtype=np.float32) / 255.0
    shape = image.shape
    center_square = np.float32(shape[:2]) // 2
    square_size = min(shape[:2]) // 3
    pts1 = np.float32([center_square + square_size,
                       [center_square[0] + square_size, center_square[1] - square_size],
                       center_square - square_size])  # fmt: skip
    pts2 = pts1 + jitter.astype(np.float32)
    m = np.linalg.solve(np.c_[pts1, np.ones(3)].astype(float), pts2.astype(float)).T  # 2 x 3
    inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]  # warpAffine maps back
    ys, xs = np.mgrid[0:32, 0:32].astype(float)
    sx = np.round((inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]) * 32) / 32
    sy = np.round((inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]) * 32) / 32
    image = np.stack([ndi.map_coordinates(image[..., d], [sy, sx], order=1, mode="mirror")
                      for d in range(3)], 2)  # fmt: skip
    dx = (ndi.gaussian_filter(field[0], c[1], mode="reflect", truncate=3) * c[0]).astype(np.float32)
    dy = (ndi.gaussian_filter(field[1], c[1], mode="reflect", truncate=3) * c[0]).astype(np.float32)
    dx, dy = dx[..., np.newaxis], dy[..., np.newaxis]
    x, y, z = np.meshgrid(np.arange(shape[1]), np.arange(shape[0]), np.arange(shape[2]))
    indices = np.reshape(y + dy, (-1, 1)), np.reshape(x + dx, (-1, 1)), np.reshape(z, (-1, 1))
    out = ndi.map_coordinates(image, indices, order=1, mode="reflect").reshape(shape)
    return np.uint8(np.clip(out, 0, 1) * 255)


@pytest.mark.parametrize("severity", SEVERITIES)
def test_elastic_equals_the_reference_for_the_same_draws(images, severity: int) -> None:
    c = _p("elastic_transform", severity)
    x = images[::2]
    g = _gen(severity)
    jitter = draws.uniform((len(x), 3, 2), -c[2], c[2], g)
    field = draws.uniform((len(x), 2, 32, 32), -1.0, 1.0, g)
    ours = shift.corrupt(x, "elastic_transform", severity, _gen(severity))
    assert torch.equal(ours, digital.elastic_from(x, severity, jitter, field))
    for i in range(len(x)):
        ref = _reference_elastic(_hwc(x[i]), severity, jitter[i].numpy(), field[i].numpy())
        _close(ours[i].permute(1, 2, 0), ref, exact=0.99)


def test_uniform_draws_have_numpy_s_law() -> None:
    u = draws.uniform((200_000,), -45.0, 45.0, _gen(1)).numpy()
    ref = np.random.default_rng(1).uniform(-45, 45, 200_000)
    assert u.min() >= -45 and u.max() < 45
    assert _tv_unit((u + 45) / 90, (ref + 45) / 90, 50) < 0.01
