"""The mouth crop and its smile term (:mod:`eventlens.attributes.mouth_appearance`) on synthetic pixels."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from eventlens.attributes import mouth_appearance as ma
from eventlens.backends.fake import _TEMPLATE68


def _eyes_at(right: tuple[float, float], left: tuple[float, float]) -> np.ndarray:
    """68 landmarks whose eye centres are ``right`` and ``left`` (the other points at the right eye)."""
    lm = np.tile(np.asarray(right, dtype=np.float64), (68, 1))
    lm[42:48] = left
    return lm


def _ramp(width: int = 400, height: int = 300) -> np.ndarray:
    """A grey image whose value is the column index / 2 (0..~200)."""
    return np.tile(np.arange(width, dtype=np.float64)[None, :] / 2, (height, 1)).astype(np.uint8)


def test_aligned_patch_samples_the_eye_frame() -> None:
    """Eyes 100 px apart on a horizontal line: x of the frame runs along the columns, in IOD."""
    image = np.repeat(_ramp()[:, :, None], 3, axis=2)
    patch = ma.aligned_patch(image, _eyes_at((100.0, 100.0), (200.0, 100.0)), (-0.5, 0.5, 0.5, 0.6), (10, 2))
    assert patch is not None and patch.shape == (2, 10) and patch.dtype == np.float32
    expected = (150 + 100 * (-0.5 + (np.arange(10) + 0.5) / 10)) / 2  # column / 2 at each sample
    assert np.allclose(patch[0], expected, atol=1.0)


def test_aligned_patch_follows_the_eye_line_and_scale() -> None:
    """Eyes on a vertical line (head turned by 90 degrees): the frame's x runs down the rows, so the crop
    of a column ramp is constant along x and varies along y (which runs along the columns)."""
    image = np.repeat(_ramp()[:, :, None], 3, axis=2)
    lm = _eyes_at((200.0, 50.0), (200.0, 250.0))  # IOD 200 px, x of the frame = down the image
    patch = ma.aligned_patch(image, lm, (-0.4, 0.4, 0.2, 0.4), (8, 4))
    assert patch is not None
    assert np.ptp(patch, axis=1).max() <= 1.0  # along x: one column
    # y of the frame points to the image's left: column 200 - 200 * y
    expected = (200 - 200 * (0.2 + (np.arange(4) + 0.5) * 0.05)) / 2
    assert np.allclose(patch[:, 0], expected, atol=1.5)


def test_pillow_and_array_pixels_give_the_same_crop() -> None:
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)  # smooth texture: box averages keep contrast
    rgb = np.asarray(Image.fromarray(coarse).resize((320, 240), Image.Resampling.BILINEAR))
    lm = _TEMPLATE68.astype(np.float64) * 300 + (20, 10)  # a face of ~200 px: the crop is box-reduced
    from_array = ma.mouth_pixels(rgb, lm)
    from_pillow = ma.mouth_pixels(Image.fromarray(rgb), lm)
    assert from_array is not None and from_pillow is not None
    assert np.abs(from_array - from_pillow).max() < 0.03  # Pillow rounds its luma and reduction to uint8


def test_mouth_pixels_are_normalised_and_the_term_is_the_template_product() -> None:
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)
    lm = _TEMPLATE68.astype(np.float64) * 120 + 30
    pixels = ma.mouth_pixels(rgb, lm)
    assert pixels is not None and pixels.shape == ma.MOUTH_CROP_PX[::-1]
    assert abs(float(pixels.mean())) < 1e-4 and 0.9 < float(pixels.std()) <= 1.0
    term = ma.mouth_appearance(rgb, lm)
    assert term is not None and math.isfinite(term)
    assert term == pytest.approx(float(np.vdot(ma._template(), pixels)), rel=1e-5)
    flat = np.full((200, 200, 3), 90, dtype=np.uint8)  # no texture: the crop and the term are 0
    assert ma.mouth_appearance(flat, lm) == pytest.approx(0.0, abs=1e-6)


def test_a_face_at_the_photo_edge_and_a_degenerate_eye_line() -> None:
    rgb = np.full((60, 80, 3), 128, dtype=np.uint8)
    lm = _TEMPLATE68.astype(np.float64) * 120 + (-20, 10)  # the mouth crop runs off the photo
    pixels = ma.mouth_pixels(rgb, lm)
    assert pixels is not None and np.isfinite(pixels).all()
    assert ma.mouth_pixels(rgb, np.zeros((68, 2))) is None
    assert ma.mouth_appearance(rgb, np.zeros((68, 2))) is None
