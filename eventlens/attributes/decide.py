"""From raw face measurements to the 0..1 scores and booleans that curation rules use.

Scores are fixed, documented transforms of the measurements; the thresholds that turn scores into
booleans are settings (``curation.*``). The constants below were fitted on real faces; the procedure
and the figures are in docs/curation.md and BENCHMARKS.md.

Expressions are named for what the geometry shows, not for emotions: ``eyes_closed``, ``smiling``,
``mouth_open`` (speaking, laughing or surprised) or ``neutral``, in that order of precedence.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eventlens.errors import ModelError
from eventlens.settings import CurationSettings

#: per eye model, (EAR_CLOSED, EAR_OPEN): the smaller EAR of the two eyes maps linearly to the eyes-open
#: score, 0 at EAR_CLOSED and 1 at EAR_OPEN, so 0.5 sits at their midpoint, the threshold that separated
#: the labelled open and closed eyes best (mediapipe_iris 0.18, dlib_68 0.20; BENCHMARKS.md)
#: keyed by the eye model's name (its ModelInfo name, recorded in each photo's pipeline key). The int8
#: iris model keeps the float model's calibration: its eye aspect ratios differ by 0.010 in the median
#: (mean -0.003) on the eyes of the labelled photos, and it was not re-tuned on the labels.
EAR_CALIBRATION: dict[str, tuple[float, float]] = {
    "mediapipe_iris_int8": (0.10, 0.26),
    "mediapipe_iris": (0.10, 0.26),
    "dlib_68": (0.12, 0.28),
}
#: eye models whose eye columns include the iris dark height (:mod:`eventlens.attributes.eye_appearance`):
#: their eyes-open score is the crop model below; others (dlib_68, and photos analysed before the iris dark
#: height existed) keep the EAR calibration above
IRIS_DARK_MODELS = ("mediapipe_iris_int8", "mediapipe_iris")
#: eyes-open score from the eye crop = logistic(EYES_INTERCEPT + EYES_EAR_GAIN * smaller EAR
#: + EYES_DARK_GAIN * smaller iris dark height). A logistic regression with balanced class weights (L2, C = 1
#: on standardised features) fitted by ``tools/fit_eye_model.py`` on the DEVELOPMENT part of the hand labels
#: (labels_dev.csv: faces >= 40 px labelled open or closed, int8 iris model); grouped cross-validation
#: figures and what else was tried are in docs/curation.md. The float model uses the same constants
#: (not re-tuned).
EYES_INTERCEPT = -7.18
EYES_EAR_GAIN = 21.40
EYES_DARK_GAIN = 19.01
#: smile score = logistic(SMILE_BIAS + sum of SMILE_WEIGHTS[f] * f over the features of
#: :func:`smile_features`): a logistic regression over five landmark measurements, fitted by
#: ``tools/fit_smile_model.py`` (balanced classes, L2 with C = 1) on the development part of the hand
#: labels (306 faces >= 40 px, 173 smiling); grouped cross-validation balanced accuracy 0.92 there, against
#: 0.85 for the earlier width-and-lift rule (docs/curation.md). A smile widens the mouth, parts the lips,
#: and lifts the corners towards the raised cheeks and the upper lip towards the nose.
#: measurement columns by name (a dict, or a SQLAlchemy ``RowMapping``, whose keys may be columns too)
Measurements = Mapping[Any, float | bool | None]

SMILE_FEATURES = ("mouth_width", "mouth_lift", "mouth_gap", "corners_below_eyes", "lip_below_nose")
SMILE_WEIGHTS: dict[str, float] = {
    "mouth_width": 4.90,
    "mouth_lift": 1.74,
    "mouth_gap": 3.71,
    "corners_below_eyes": -3.73,
    "lip_below_nose": -2.17,
}
SMILE_BIAS = -0.92
#: with the mouth's appearance (:mod:`eventlens.attributes.mouth_appearance`; faces measured since it
#: exists): smile score = logistic(SMILE_APPEARANCE_BIAS + sum of SMILE_APPEARANCE_WEIGHTS[f] * f + the
#: ``mouth_appearance`` measurement), one logistic regression over the five features and 40 principal
#: components of the 24 x 16 px mouth crop (balanced classes, L2 with C = 0.02 on standardised features),
#: fitted by ``tools/fit_smile_appearance.py`` on the 356 development faces labelled smile yes / no; the
#: crop's part of it is the template in ``mouth_smile.npz``. Grouped cross-validation balanced accuracy
#: 0.930 there, against 0.916 for the five features alone refitted the same way (docs/curation.md).
SMILE_APPEARANCE_WEIGHTS: dict[str, float] = {
    "mouth_width": 3.25,
    "mouth_lift": 3.18,
    "mouth_gap": 5.62,
    "corners_below_eyes": -2.66,
    "lip_below_nose": -5.55,
}
SMILE_APPEARANCE_BIAS = -0.20
#: the lip gap counts up to this (IOD): teeth shown in a smile; a mouth opened wider (shouting,
#: surprise, a yawn) is no more of a smile (about the 70th percentile of the labelled smiles' gaps)
SMILE_GAP_CAP = 0.2
#: the yaw correction of the lengths stops here (cos 60 deg = 0.5): beyond, the pose itself is unreliable
SMILE_MAX_YAW_DEG = 60.0

EXPRESSIONS = ("eyes_closed", "smiling", "mouth_open", "neutral")


def eyes_open_score(
    ear_right: float,
    ear_left: float,
    eye_model: str = "mediapipe_iris_int8",
    dark_right: float | None = None,
    dark_left: float | None = None,
) -> float:
    """0 (closed) .. 1 (open), from the smaller eye aspect ratio of the two eyes (a blink closes both; the
    eye models err towards "open" on a closed eye more than the reverse) and, when the eye model measured
    them, the smaller iris dark height: a laugh narrows the lids of open eyes, their iris still shows."""
    if dark_right is not None and dark_left is not None and eye_model in IRIS_DARK_MODELS:
        z = (
            EYES_INTERCEPT
            + EYES_EAR_GAIN * min(ear_right, ear_left)
            + EYES_DARK_GAIN * min(dark_right, dark_left)
        )
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))
    try:
        closed, opened = EAR_CALIBRATION[eye_model]
    except KeyError:
        raise ModelError(
            f"no eyes-open calibration for eye model {eye_model!r}; known: {', '.join(EAR_CALIBRATION)}"
        ) from None
    return min(1.0, max(0.0, (min(ear_right, ear_left) - closed) / (opened - closed)))


def smile_features(
    mouth_width: float,
    mouth_lift: float,
    mouth_gap: float,
    corners_below_eyes: float,
    lip_below_nose: float,
    yaw_deg: float = 0.0,
) -> tuple[float, float, float, float, float]:
    """The inputs of the smile model, in :data:`SMILE_FEATURES` order.

    The lengths (inter-ocular units, IOD) are rescaled by cos(yaw) to units of the yaw-corrected IOD: a
    turned head foreshortens the eye line and would otherwise inflate every length measured in it. The
    corner lift is a ratio of two lengths in the mouth and needs no correction. The lip gap is capped
    at :data:`SMILE_GAP_CAP`."""
    cos_yaw = math.cos(math.radians(min(abs(yaw_deg), SMILE_MAX_YAW_DEG)))
    return (
        mouth_width * cos_yaw,
        mouth_lift,
        min(mouth_gap * cos_yaw, SMILE_GAP_CAP),
        corners_below_eyes * cos_yaw,
        lip_below_nose * cos_yaw,
    )


def smile_score(
    mouth_width: float,
    mouth_lift: float,
    mouth_gap: float,
    corners_below_eyes: float,
    lip_below_nose: float,
    yaw_deg: float = 0.0,
    appearance: float | None = None,
) -> float:
    """0 (no smile) .. 1 (broad smile), from the mouth measurements of
    :class:`~eventlens.attributes.faces.FaceMeasurements`, the head's yaw and, when measured, the mouth
    crop's ``appearance`` term (:data:`SMILE_APPEARANCE_WEIGHTS`; without it :data:`SMILE_WEIGHTS`)."""
    features = smile_features(mouth_width, mouth_lift, mouth_gap, corners_below_eyes, lip_below_nose, yaw_deg)
    if appearance is None:
        bias, weights, extra = SMILE_BIAS, SMILE_WEIGHTS, 0.0
    else:
        bias, weights, extra = SMILE_APPEARANCE_BIAS, SMILE_APPEARANCE_WEIGHTS, appearance
    z = bias + extra + sum(weights[name] * v for name, v in zip(SMILE_FEATURES, features, strict=True))
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


@dataclass(frozen=True)
class FaceDecisions:
    eyes_open_score: float | None  # None when the face was too small to measure its eyes
    eyes_open: bool | None
    smile_score: float
    smile: bool
    mouth_open: bool
    sharp: bool
    well_exposed: bool
    looking_away: bool
    expression: str


def _eyes_open(score: float | None, rules: CurationSettings, margin: float) -> bool | None:
    """True / False, or None (unknown) without a score or with one closer than ``margin`` to the
    threshold."""
    if score is None or abs(score - rules.eyes_open_min_score) < margin:
        return None
    return score >= rules.eyes_open_min_score


def _number(m: Measurements, key: str) -> float:
    """``m[key]`` as a float; a missing measurement raises ``TypeError`` (as ``float(None)`` does)."""
    value = m[key]
    if value is None:
        raise TypeError(f"measurement {key!r} is None")
    return float(value)


def decide(
    m: Measurements, rules: CurationSettings, eye_model: str = "mediapipe_iris_int8"
) -> FaceDecisions | None:
    """Decisions for one face from its measurement columns; ``None`` when it was never measured.

    Eyes too small to measure, and eyes-open scores from the eye crop (:data:`IRIS_DARK_MODELS` with the
    iris dark heights measured) within ``rules.eyes_unknown_margin`` of the threshold, give
    ``eyes_open = None``: unknown, never penalised."""
    if any(m.get(name) is None for name in SMILE_FEATURES):
        return None
    eyes: float | None = None
    dark = [None if m.get(k) is None else _number(m, k) for k in ("iris_dark_right", "iris_dark_left")]
    from_crop = None not in dark and eye_model in IRIS_DARK_MODELS
    if m.get("ear_right") is not None and m.get("ear_left") is not None:
        eyes = eyes_open_score(_number(m, "ear_right"), _number(m, "ear_left"), eye_model, *dark)
    width, lift, gap, corners, lip = (_number(m, name) for name in SMILE_FEATURES)
    appearance = None if m.get("mouth_appearance") is None else _number(m, "mouth_appearance")
    smile = smile_score(width, lift, gap, corners, lip, _number(m, "yaw_deg"), appearance)
    eyes_open = _eyes_open(eyes, rules, rules.eyes_unknown_margin if from_crop else 0.0)
    smiling = smile >= rules.smile_min_score
    mouth_open = _number(m, "mouth_opening") >= rules.mouth_open_min
    brightness = _number(m, "brightness")
    clipped = _number(m, "clipped_high") + _number(m, "clipped_low")
    if eyes_open is False:
        expression = "eyes_closed"
    elif smiling:
        expression = "smiling"
    elif mouth_open:
        expression = "mouth_open"
    else:
        expression = "neutral"
    return FaceDecisions(
        eyes_open_score=eyes,
        eyes_open=eyes_open,
        smile_score=smile,
        smile=smiling,
        mouth_open=mouth_open,
        sharp=_number(m, "sharpness") >= rules.sharp_min,
        well_exposed=rules.brightness_min <= brightness <= rules.brightness_max
        and clipped <= rules.clipped_max,
        looking_away=abs(_number(m, "yaw_deg")) > rules.max_yaw_deg,
        expression=expression,
    )
