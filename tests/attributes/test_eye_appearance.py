"""The iris dark height (:mod:`eventlens.attributes.eye_appearance`) on synthetic eye crops: a dark disc
between the lids is an open eye, however narrowed; skin with a lash line is a closed one."""

from __future__ import annotations

import math

import numpy as np
import pytest
from testkit import synthetic_eye

from eventlens.attributes.eye_appearance import iris_dark_height, iris_dark_heights

WIDTH_PX = 22.8  # eye-corner distance in the 64 px crop (EYE_CROP_SCALE 2.8)


def test_an_open_eye_is_as_dark_as_its_lid_opening() -> None:
    crop, outline = synthetic_eye(opening_px=9.0, iris=True)
    height = iris_dark_height(crop, outline)
    assert height == pytest.approx(9.0 / WIDTH_PX, abs=1.5 / WIDTH_PX)  # the iris fills the opening


def test_a_laughing_narrowed_eye_keeps_its_iris_height() -> None:
    crop, outline = synthetic_eye(opening_px=4.5, iris=True)
    assert iris_dark_height(crop, outline) >= 4.0 / WIDTH_PX


def test_a_closed_eye_shows_only_its_lash_line() -> None:
    crop, outline = synthetic_eye(opening_px=1.0, iris=False, lash_px=2.0)
    height = iris_dark_height(crop, outline)
    assert height <= 3.0 / WIDTH_PX  # the 2 px lash line, not an iris
    narrowed, narrowed_outline = synthetic_eye(opening_px=4.5, iris=True)
    assert iris_dark_height(narrowed, narrowed_outline) > 1.5 * height


def test_an_open_eye_without_a_dark_iris_has_no_height() -> None:
    """Bright sclera between the lids and no iris (e.g. the eye turned far away): nothing dark."""
    crop, outline = synthetic_eye(opening_px=9.0, iris=False)
    assert iris_dark_height(crop, outline) == 0.0


def test_the_height_does_not_depend_on_exposure_or_pixel_type() -> None:
    crop, outline = synthetic_eye(opening_px=6.0, iris=True)
    reference = iris_dark_height(crop, outline)
    assert iris_dark_height(crop * 0.5, outline) == pytest.approx(reference)  # relative to the skin
    as_uint8 = np.round(crop * 255).astype(np.uint8)
    assert iris_dark_height(as_uint8, outline) == pytest.approx(reference)


def test_batches_match_single_eyes_and_degenerate_outlines_are_nan() -> None:
    eyes = [synthetic_eye(9.0, True), synthetic_eye(1.0, False, 2.0), synthetic_eye(4.5, True)]
    crops = np.stack([c for c, _ in eyes])
    outlines = np.stack([o for _, o in eyes])
    assert iris_dark_heights(crops, outlines) == pytest.approx([iris_dark_height(c, o) for c, o in eyes])
    crop, outline = eyes[0]
    tiny = outline.copy()
    tiny[:, 0] = 32 + (tiny[:, 0] - 32) * 0.1  # corners 2 px apart
    assert math.isnan(iris_dark_height(crop, tiny))
    low = outline.copy()
    low[:, 1] += 30  # lids at the bottom edge: no skin below to compare with
    assert math.isnan(iris_dark_height(crop, low))
    with pytest.raises(ValueError, match="outlines"):
        iris_dark_heights(crops, outlines[:2])
