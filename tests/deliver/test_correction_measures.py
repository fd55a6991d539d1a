"""The shortcuts the enhance worker takes give the same measures as the plain definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image
from scipy import signal

from eventlens.deliver import correction
from eventlens.settings import DeliverSettings

BOXES = [(300.0, 200.0, 520.0, 460.0), (900.0, 300.0, 1100.0, 540.0)]


def _photo(seed: int, size: tuple[int, int] = (1600, 1200)) -> Image.Image:
    """A photo-like RGB image: smooth colour gradients, a grey wall, and noise."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    rgb = np.stack([60 + 120 * x / w, 50 + 100 * y / h, 80 + 40 * np.sin(x / 90) * np.cos(y / 70)], axis=2)
    rgb[: h // 3, : w // 2] = 128  # near-grey pixels for the white balance
    rgb += rng.normal(0, 6, rgb.shape)
    return Image.fromarray(np.clip(np.round(rgb), 0, 255).astype(np.uint8))


@pytest.mark.parametrize("seed", [1, 2])
def test_measure_of_the_reduced_copy_is_measure_of_the_photo(seed: int) -> None:
    image = _photo(seed)
    m, h = correction.measure(image, BOXES)
    small = correction.reduced(image)
    assert max(small.size) < max(image.size)
    for quality in (None, correction.photo_quality(small)):
        m2, h2 = correction.measure_reduced(small, image.width, BOXES, True, quality)
        assert m2 == m
        assert np.array_equal(h2.photo, h.photo)
        assert all(np.array_equal(a, b) for a, b in zip(h2.faces, h.faces, strict=True))
        assert h.grey_pixel_means is not None and h2.grey_pixel_means is not None
        assert np.array_equal(h2.grey_pixel_means, h.grey_pixel_means)


def test_keep_sharpness_returns_the_reduced_copy_and_focus_of_its_image() -> None:
    image = _photo(3)
    s = DeliverSettings()
    flat = image.point([min(255, 40 + i // 3) for i in range(256)] * 3)  # a curve that flattens detail
    kept = correction.keep_sharpness(correction.focus(image), flat, correction.Correction(), s)
    assert kept.correction.local_contrast > 0, "the flattened copy should need local contrast"
    assert kept.quality.sharpness == correction.focus(kept.image)
    assert np.array_equal(np.asarray(kept.small), np.asarray(correction.reduced(kept.image)))


def test_grey_pixel_means_are_those_of_the_definition() -> None:
    rgb = np.asarray(_photo(4, (400, 300)))
    px = rgb.reshape(-1, 3).astype(np.float32) / 255.0
    hi, lo = px.max(axis=1), px.min(axis=1)
    luma = px @ np.asarray([0.299, 0.587, 0.114], dtype=np.float32)
    grey = (hi - lo < 0.12 * np.maximum(hi, 1e-6)) & (luma > 0.2) & (luma < 0.9)
    means = correction._grey_pixel_means(rgb)
    assert means is not None
    assert np.array_equal(means, px[grey].mean(axis=0).astype(np.float64))


def test_noise_sigma_is_immerkaers_estimate_with_the_3x3_kernel() -> None:
    image = _photo(5)
    w, h = image.size
    left, top = (w - 1024) // 2, (h - 1024) // 2
    grey = np.asarray(image.crop((left, top, left + 1024, top + 1024)).convert("L"), dtype=np.float64)
    kernel = np.asarray([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)
    conv = signal.convolve2d(grey, kernel, mode="valid")
    expected = math.sqrt(math.pi / 2) * np.abs(conv).mean() / 6.0
    assert correction.estimate_noise_sigma(image) == pytest.approx(expected, rel=1e-6)
    assert 4.0 < expected < 8.0  # the added noise (sigma 6) is what is found
