"""The smile decision on synthetic landmarks: the geometry of :mod:`eventlens.attributes.face_geometry`
read by :func:`eventlens.attributes.decide.smile_score`, as the analysis does.

The face is the fake backend's template, drawn in the proportions of a real neutral face (medians of the
labelled development faces: mouth 0.85 inter-ocular distances wide, corners 1.07 below the lower eyelids,
upper lip 0.26 below the nose base, lips together); expressions move a few points.
"""

from __future__ import annotations

import numpy as np
import pytest

from eventlens.attributes.decide import smile_score
from eventlens.attributes.face_geometry import head_pose, mouth_shape
from eventlens.backends.fake import _TEMPLATE68

SMILE_MIN_SCORE = 0.5  # the default of curation.smile_min_score


def _neutral() -> np.ndarray:
    """38 px between the eye centres; y grows downwards."""
    return _TEMPLATE68.astype(np.float64) * 100


def _score(lm: np.ndarray) -> float:
    m, pose = mouth_shape(lm), head_pose(lm)
    return smile_score(m.width, m.corner_lift, m.gap, m.corners_below_eyes, m.lip_below_nose, pose.yaw_deg)


def _smiling() -> np.ndarray:
    """Corners out and up, upper lip raised, lips parted over the teeth."""
    lm = _neutral()
    lm[48] += (-3, -4)
    lm[54] += (3, -4)
    lm[49:54, 1] -= 2
    lm[61:64, 1] -= 1
    lm[65:68, 1] += 6
    lm[55:60, 1] += 5
    return lm


def _shouting() -> np.ndarray:
    """Jaw dropped: lower lip and chin 18 px down, corners 5 px down, the mouth no wider."""
    lm = _neutral()
    lm[55:60, 1] += 18
    lm[65:68, 1] += 18
    lm[5:12, 1] += 18
    lm[[48, 54, 60, 64], 1] += 5
    return lm


def test_a_neutral_face_is_not_smiling() -> None:
    m = mouth_shape(_neutral())
    assert m.width == pytest.approx(0.84, abs=0.01) and m.gap == pytest.approx(0.0, abs=1e-9)
    assert m.corners_below_eyes == pytest.approx(1.08, abs=0.01)
    assert m.lip_below_nose == pytest.approx(0.26, abs=0.01)
    assert _score(_neutral()) < 0.3


def test_raised_corners_and_parted_lips_are_a_smile() -> None:
    assert _score(_smiling()) > 0.7


def test_a_broad_closed_lip_smile_is_a_smile() -> None:
    lm = _neutral()
    lm[48] += (-5, -5)
    lm[54] += (5, -5)
    lm[49:54, 1] -= 2
    assert _score(lm) >= SMILE_MIN_SCORE


def test_corners_raised_a_little_on_a_closed_mouth_are_a_faint_smile_not_a_smile() -> None:
    lm = _neutral()
    lm[[48, 54], 1] -= 4
    assert _score(_neutral()) < _score(lm) < SMILE_MIN_SCORE


def test_shouting_with_a_wide_open_mouth_is_not_a_smile() -> None:
    """The lips far apart show teeth, and the lip centre drops below the corners (the old corner lift
    reads that as an upturn); but the corners are not raised and the mouth is not wider."""
    m = mouth_shape(_shouting())
    assert m.gap > 0.4 and m.corner_lift > mouth_shape(_neutral()).corner_lift
    assert _score(_shouting()) < 0.4


@pytest.mark.parametrize("angle_deg", [-25.0, 10.0, 40.0])
def test_the_decision_does_not_depend_on_where_or_how_large_the_face_is(angle_deg: float) -> None:
    a = np.radians(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    for lm in (_neutral(), _smiling(), _shouting()):
        moved = lm @ rot.T * 3.7 + (500.0, -80.0)
        assert _score(moved) == pytest.approx(_score(lm), abs=1e-6)
