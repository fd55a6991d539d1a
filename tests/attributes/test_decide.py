"""From raw measurements to scores and decisions (:mod:`eventlens.attributes.decide`).

Scores are bounded, monotonic transforms; the thresholds that turn them into booleans come from the
settings; the expression follows the precedence eyes_closed > smiling > mouth_open > neutral.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventlens.attributes.decide import (
    EAR_CALIBRATION,
    EXPRESSIONS,
    EYES_DARK_GAIN,
    EYES_EAR_GAIN,
    EYES_INTERCEPT,
    SMILE_APPEARANCE_BIAS,
    SMILE_APPEARANCE_WEIGHTS,
    SMILE_FEATURES,
    SMILE_GAP_CAP,
    SMILE_WEIGHTS,
    decide,
    eyes_open_score,
    smile_score,
)
from eventlens.settings import CurationSettings

RULES = CurationSettings()
ears = st.floats(0.0, 1.0)
lengths = st.floats(-3.0, 3.0)
yaws = st.floats(-90.0, 90.0)
eye_models = st.sampled_from(sorted(EAR_CALIBRATION))

OPEN_EAR, CLOSED_EAR = 0.30, 0.05
#: typical labelled faces (medians of the development labels): a neutral mouth, a clear smile
NEUTRAL_MOUTH = {
    "mouth_width": 0.88,
    "mouth_lift": 0.05,
    "mouth_gap": 0.0,
    "corners_below_eyes": 1.07,
    "lip_below_nose": 0.26,
}
SMILING_MOUTH = {
    "mouth_width": 1.05,
    "mouth_lift": 0.13,
    "mouth_gap": 0.18,
    "corners_below_eyes": 0.9,
    "lip_below_nose": 0.18,
}
#: between the two: a moderate smile, just over the default threshold
MODERATE_MOUTH = {
    "mouth_width": 1.0,
    "mouth_lift": 0.1,
    "mouth_gap": 0.1,
    "corners_below_eyes": 0.97,
    "lip_below_nose": 0.22,
}
#: shouting: lips far apart, mouth not wider than neutral, corners not raised
SHOUTING_MOUTH = {
    "mouth_width": 0.85,
    "mouth_lift": 0.02,
    "mouth_gap": 0.45,
    "corners_below_eyes": 1.15,
    "lip_below_nose": 0.24,
}
#: the smile score rises with these features and falls with the others
SMILE_RISES_WITH = {"mouth_width", "mouth_lift", "mouth_gap"}


def _measurements(**changes: Any) -> dict[str, Any]:
    """A frontal, sharp, well exposed face with open eyes, a closed neutral mouth."""
    m: dict[str, Any] = {
        "ear_right": OPEN_EAR,
        "ear_left": OPEN_EAR,
        **NEUTRAL_MOUTH,
        "mouth_opening": 0.0,
        "yaw_deg": 0.0,
        "pitch_deg": 0.0,
        "roll_deg": 0.0,
        "sharpness": 0.9,
        "brightness": 0.5,
        "clipped_high": 0.0,
        "clipped_low": 0.0,
        "size_ratio": 0.2,
    }
    m.update(changes)
    return m


# --- scores ------------------------------------------------------------------------------------------


@given(ears, ears, ears, eye_models)
def test_eyes_open_score_is_bounded_and_monotonic(a: float, b: float, other: float, model: str) -> None:
    low, high = sorted((a, b))
    for s in (eyes_open_score(low, other, model), eyes_open_score(high, other, model)):
        assert 0.0 <= s <= 1.0
    assert eyes_open_score(low, other, model) <= eyes_open_score(high, other, model)
    assert eyes_open_score(other, low, model) <= eyes_open_score(other, high, model)


@given(ears, ears, eye_models)
def test_eyes_open_score_follows_the_less_open_eye(right: float, left: float, model: str) -> None:
    """A blink closes both eyes; the smaller EAR decides, whichever side it is on."""
    assert eyes_open_score(right, left, model) == eyes_open_score(left, right, model)
    assert eyes_open_score(right, left, model) == eyes_open_score(min(right, left), 1.0, model)


@pytest.mark.parametrize("model", sorted(EAR_CALIBRATION))
def test_eyes_open_score_is_calibrated_per_eye_model(model: str) -> None:
    closed, opened = EAR_CALIBRATION[model]
    assert eyes_open_score(closed, closed, model) == 0.0
    assert eyes_open_score(opened, opened, model) == 1.0
    assert eyes_open_score((closed + opened) / 2, opened, model) == pytest.approx(0.5)


@given(st.sampled_from(SMILE_FEATURES), lengths, lengths, yaws)
def test_smile_score_is_bounded_and_monotonic(feature: str, a: float, b: float, yaw: float) -> None:
    low, high = sorted((a, b))
    lo, hi = (smile_score(**{**SMILING_MOUTH, feature: v}, yaw_deg=yaw) for v in (low, high))
    assert 0.0 <= lo <= 1.0 and 0.0 <= hi <= 1.0
    if feature in SMILE_RISES_WITH:
        assert lo <= hi
    else:
        assert lo >= hi


def test_the_smile_weights_have_the_signs_of_a_smile() -> None:
    """Wider, corners up, lips parted: more of a smile; corners and upper lip further down: less."""
    assert set(SMILE_WEIGHTS) == set(SMILE_FEATURES)
    assert all((SMILE_WEIGHTS[f] > 0) == (f in SMILE_RISES_WITH) for f in SMILE_FEATURES)


def test_the_appearance_model_has_the_signs_of_a_smile_and_rises_with_the_crop_term() -> None:
    """With the mouth crop's term (faces measured since it exists) the combined model decides: its landmark
    weights keep the signs, a larger appearance term is more of a smile; without it, the landmark model."""
    assert set(SMILE_APPEARANCE_WEIGHTS) == set(SMILE_FEATURES)
    assert all((SMILE_APPEARANCE_WEIGHTS[f] > 0) == (f in SMILE_RISES_WITH) for f in SMILE_FEATURES)
    scores = [smile_score(**MODERATE_MOUTH, appearance=a) for a in (-1.0, 0.0, 1.0)]
    assert scores == sorted(scores) and scores[0] < scores[2]
    z = SMILE_APPEARANCE_BIAS + 0.5 + sum(SMILE_APPEARANCE_WEIGHTS[f] * v for f, v in NEUTRAL_MOUTH.items())
    assert smile_score(**NEUTRAL_MOUTH, appearance=0.5) == pytest.approx(1 / (1 + np.exp(-z)))
    assert smile_score(**NEUTRAL_MOUTH, appearance=None) == smile_score(**NEUTRAL_MOUTH)
    assert (
        smile_score(**NEUTRAL_MOUTH, appearance=-1.0)
        < 0.3
        < 0.75
        < smile_score(**SMILING_MOUTH, appearance=1.0)
    )
    measured = decide(_measurements(**SMILING_MOUTH, mouth_appearance=1.0), RULES)
    assert measured is not None and measured.smile_score == smile_score(**SMILING_MOUTH, appearance=1.0)
    before = decide(_measurements(**SMILING_MOUTH, mouth_appearance=None), RULES)
    assert before is not None and before.smile_score == smile_score(**SMILING_MOUTH)


def test_smile_score_ranks_mouths_as_a_person_would() -> None:
    assert smile_score(**NEUTRAL_MOUTH) < 0.3
    assert smile_score(**SMILING_MOUTH) > 0.75
    assert 0.5 < smile_score(**MODERATE_MOUTH) < smile_score(**SMILING_MOUTH)
    assert smile_score(**SHOUTING_MOUTH) < 0.4  # teeth and a wide gap alone are not a smile
    huge = dict.fromkeys(SMILE_FEATURES, 1e6)
    assert smile_score(**{**huge, "corners_below_eyes": -1e6, "lip_below_nose": -1e6}) == 1.0  # no overflow
    assert smile_score(**{k: -v for k, v in huge.items()}) == pytest.approx(0.0, abs=1e-12)


def test_a_wider_gap_than_the_cap_is_no_more_of_a_smile() -> None:
    at_cap = smile_score(**{**SHOUTING_MOUTH, "mouth_gap": SMILE_GAP_CAP})
    assert smile_score(**SHOUTING_MOUTH) == at_cap
    assert smile_score(**{**SHOUTING_MOUTH, "mouth_gap": 3.0}) == at_cap


@given(yaws)
def test_a_turned_head_scores_as_facing_the_camera(yaw: float) -> None:
    """Turning the head by ``yaw`` shortens the eye line by cos(yaw), so lengths in inter-ocular units
    grow by 1 / cos(yaw); the score undoes that (up to 60 degrees) and is the same for either side."""
    scale = 1 / np.cos(np.radians(min(abs(yaw), 60.0)))
    turned = {k: v if k == "mouth_lift" else v * scale for k, v in MODERATE_MOUTH.items()}
    assert smile_score(**turned, yaw_deg=yaw) == pytest.approx(smile_score(**MODERATE_MOUTH), rel=1e-9)
    assert smile_score(**turned, yaw_deg=yaw) == smile_score(**turned, yaw_deg=-yaw)


# --- decisions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", SMILE_FEATURES)
def test_an_unmeasured_face_has_no_decisions(missing: str) -> None:
    assert decide(_measurements(**{missing: None}), RULES) is None


@pytest.mark.parametrize(
    ("eyes_closed", "smiling", "mouth_open", "expected"),
    [
        (True, True, True, "eyes_closed"),
        (True, False, False, "eyes_closed"),
        (True, False, True, "eyes_closed"),
        (True, True, False, "eyes_closed"),
        (False, True, True, "smiling"),
        (False, True, False, "smiling"),
        (False, False, True, "mouth_open"),
        (False, False, False, "neutral"),
    ],
)
def test_expression_precedence(eyes_closed: bool, smiling: bool, mouth_open: bool, expected: str) -> None:
    ear = CLOSED_EAR if eyes_closed else OPEN_EAR
    m = _measurements(
        ear_right=ear,
        ear_left=ear,
        **(SMILING_MOUTH if smiling else NEUTRAL_MOUTH),
        mouth_opening=0.4 if mouth_open else 0.0,
    )
    d = decide(m, RULES, "mediapipe_iris")
    assert d is not None
    assert (d.eyes_open, d.smile, d.mouth_open) == (not eyes_closed, smiling, mouth_open)
    assert d.expression == expected
    assert d.expression in EXPRESSIONS


def test_eyes_too_small_to_measure_are_unknown_never_closed() -> None:
    d = decide(_measurements(ear_right=None, ear_left=None, **SMILING_MOUTH), RULES)
    assert d is not None
    assert d.eyes_open is None and d.eyes_open_score is None
    assert d.expression == "smiling"
    one_eye = decide(_measurements(ear_left=None), RULES)
    assert one_eye is not None and one_eye.eyes_open is None


def test_one_closed_eye_makes_the_eyes_closed() -> None:
    d = decide(_measurements(ear_right=OPEN_EAR, ear_left=CLOSED_EAR), RULES)
    assert d is not None and d.eyes_open is False and d.expression == "eyes_closed"


def test_thresholds_come_from_the_settings() -> None:
    m = _measurements(ear_right=0.2, ear_left=0.2, **MODERATE_MOUTH, mouth_opening=0.12)
    default = decide(m, RULES, "mediapipe_iris")
    strict = decide(
        m,
        CurationSettings(eyes_open_min_score=0.9, smile_min_score=0.9, mouth_open_min=0.2),
        "mediapipe_iris",
    )
    assert default is not None and strict is not None
    assert (default.eyes_open, default.smile, default.mouth_open) == (True, True, True)
    assert (strict.eyes_open, strict.smile, strict.mouth_open) == (False, False, False)
    assert strict.eyes_open_score == default.eyes_open_score  # scores do not depend on thresholds
    assert strict.smile_score == default.smile_score


def test_the_eye_model_selects_the_calibration() -> None:
    """The same EAR can be open for one model and closed for another (they measure on different scales)."""
    ear = 0.19  # above the iris model's midpoint 0.18, below dlib's 0.20
    m = _measurements(ear_right=ear, ear_left=ear)
    iris, dlib = decide(m, RULES, "mediapipe_iris"), decide(m, RULES, "dlib_68")
    assert iris is not None and dlib is not None
    assert iris.eyes_open is True and dlib.eyes_open is False


@pytest.mark.parametrize(
    ("changes", "sharp", "well_exposed", "looking_away"),
    [
        ({}, True, True, False),
        ({"sharpness": RULES.sharp_min - 0.01}, False, True, False),
        ({"sharpness": RULES.sharp_min}, True, True, False),
        ({"brightness": RULES.brightness_max + 0.01}, True, False, False),
        ({"brightness": RULES.brightness_min - 0.01}, True, False, False),
        ({"clipped_high": RULES.clipped_max / 2, "clipped_low": RULES.clipped_max}, True, False, False),
        ({"yaw_deg": RULES.max_yaw_deg + 1}, True, True, True),
        ({"yaw_deg": -(RULES.max_yaw_deg + 1)}, True, True, True),
        ({"yaw_deg": RULES.max_yaw_deg}, True, True, False),
    ],
)
def test_quality_decisions(
    changes: dict[str, float], sharp: bool, well_exposed: bool, looking_away: bool
) -> None:
    d = decide(_measurements(**changes), RULES)
    assert d is not None
    assert (d.sharp, d.well_exposed, d.looking_away) == (sharp, well_exposed, looking_away)


# --- eyes from the eye crop (iris dark height) -------------------------------------------------------

darks = st.floats(0.0, 0.6)


@given(ears, darks, darks)
def test_the_crop_score_rises_with_the_iris_dark_height(ear: float, d1: float, d2: float) -> None:
    lo, hi = sorted((d1, d2))
    a = eyes_open_score(ear, ear, "mediapipe_iris_int8", lo, lo)
    b = eyes_open_score(ear, ear, "mediapipe_iris_int8", hi, hi)
    assert 0.0 <= a <= b <= 1.0


def test_a_narrowed_eye_with_its_iris_showing_is_open_and_one_without_is_closed() -> None:
    """EAR 0.15 is closed by the EAR calibration; the iris dark height tells the laugh from the blink."""
    narrowed = _measurements(ear_right=0.15, ear_left=0.15, iris_dark_right=0.27, iris_dark_left=0.25)
    shut = _measurements(ear_right=0.15, ear_left=0.15, iris_dark_right=0.08, iris_dark_left=0.09)
    d_open, d_shut = decide(narrowed, RULES), decide(shut, RULES)
    assert d_open is not None and d_shut is not None
    assert d_open.eyes_open is True and d_shut.eyes_open is False
    without = decide(_measurements(ear_right=0.15, ear_left=0.15), RULES)  # analysed before: EAR only
    assert without is not None and without.eyes_open is False


def test_the_crop_score_is_only_for_the_iris_models() -> None:
    m = _measurements(ear_right=0.15, ear_left=0.15, iris_dark_right=0.27, iris_dark_left=0.25)
    dlib = decide(m, RULES, "dlib_68")
    assert dlib is not None and dlib.eyes_open_score == eyes_open_score(0.15, 0.15, "dlib_68")


def test_crop_scores_near_the_threshold_are_unknown() -> None:
    ear = 0.16
    dark = (-EYES_INTERCEPT - EYES_EAR_GAIN * ear) / EYES_DARK_GAIN  # score exactly 0.5
    near = _measurements(ear_right=ear, ear_left=ear, iris_dark_right=dark, iris_dark_left=dark + 0.01)
    d = decide(near, RULES)
    assert d is not None and d.eyes_open_score == pytest.approx(0.5)
    assert d.eyes_open is None and d.expression != "eyes_closed"  # unknown: never closed
    nudged = {**near, "iris_dark_right": dark + 0.01}  # score just above 0.5
    decided = decide(nudged, CurationSettings(eyes_unknown_margin=0.0))
    assert decided is not None and decided.eyes_open is True
    still_unknown = decide(nudged, RULES)
    assert still_unknown is not None and still_unknown.eyes_open is None
    far = decide(_measurements(ear_right=ear, ear_left=ear, iris_dark_right=0.0, iris_dark_left=0.0), RULES)
    assert far is not None and far.eyes_open is False
