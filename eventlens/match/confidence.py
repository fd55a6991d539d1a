"""Face distance <-> match confidence: a logistic curve in the Euclidean distance of dlib embeddings.

::

    confidence(d) = σ((CENTRE_DISTANCE - d) / SCALE_DISTANCE) / σ(CENTRE_DISTANCE / SCALE_DISTANCE)
    σ(x) = 1 / (1 + exp(-x))

``d`` is the Euclidean distance between two dlib ResNet descriptors (unit-free, >= 0; the cluster stage
links faces closer than ``cluster_max_distance`` = 0.56). The curve is a logistic regression of "same
person" on the distance, fitted with equal weight for both classes on the development people of
``../shared/data/identities`` (``benchmarks/selfie_matching.py`` prints the fit; the constants are its
rounded result): at ``CENTRE_DISTANCE`` a pair is as likely to be one person as two (confidence ~0.5),
and every ``SCALE_DISTANCE`` closer multiplies the odds by e. The divisor makes the range exactly
[0, 1]: confidence 1 at distance 0, falling to 0 as the distance grows; it changes no value by more than
``σ(-CENTRE_DISTANCE / SCALE_DISTANCE)`` (~1e-14).

The mapping is strictly decreasing in the distance (so increasing in face similarity) and
:func:`distance_of_confidence` is its inverse: a confidence threshold is a distance threshold. Confidence is
a monotone score, not a calibrated probability for every event: the share of true matches at a given
confidence depends on how many of an event's faces belong to each user. What precision a threshold gives
is measured in BENCHMARKS.md ("Selfie matching (issue 10)"); see docs/matching.md.
"""

from __future__ import annotations

from typing import overload

import numpy as np
from scipy.special import expit

#: distance at which the fitted odds of "same person" are even (Euclidean, dlib descriptors)
CENTRE_DISTANCE = 0.485
#: distance over which the odds change by a factor e
SCALE_DISTANCE = 0.015

#: σ(CENTRE_DISTANCE / SCALE_DISTANCE): the raw curve's value at distance 0, divided out
_AT_ZERO = float(expit(CENTRE_DISTANCE / SCALE_DISTANCE))
#: 1 - _AT_ZERO, computed without cancellation
_ABOVE_ZERO = float(expit(-CENTRE_DISTANCE / SCALE_DISTANCE))


def _check_distances(d: np.ndarray) -> None:
    if np.isnan(d).any():
        raise ValueError("distances must not be NaN")
    if (d < 0).any():
        raise ValueError(f"distances must be >= 0; got {float(d.min())}")


def _check_confidences(c: np.ndarray) -> None:
    if np.isnan(c).any() or (c < 0).any() or (c > 1).any():
        raise ValueError("confidences must be in [0, 1]")


@overload
def confidence_of_distance(distance: float) -> float: ...
@overload
def confidence_of_distance(distance: np.ndarray) -> np.ndarray: ...
def confidence_of_distance(distance: float | np.ndarray) -> float | np.ndarray:
    """Confidence in [0, 1] of a face distance (or of each of an array of them, float64, same shape).

    1 at distance 0, ~0.5 at :data:`CENTRE_DISTANCE`, towards 0 far away; ``inf`` gives 0.
    Raises ``ValueError`` for a negative or NaN distance.
    """
    d = np.asarray(distance, dtype=np.float64)
    _check_distances(d)
    c = np.clip(expit((CENTRE_DISTANCE - d) / SCALE_DISTANCE) / _AT_ZERO, 0.0, 1.0)
    return float(c) if c.ndim == 0 else c


@overload
def distance_of_confidence(confidence: float) -> float: ...
@overload
def distance_of_confidence(confidence: np.ndarray) -> np.ndarray: ...
def distance_of_confidence(confidence: float | np.ndarray) -> float | np.ndarray:
    """The distance whose confidence is ``confidence`` (the inverse of :func:`confidence_of_distance`).

    Confidence 1 gives 0, confidence 0 gives ``inf``. Raises ``ValueError`` outside [0, 1] or for NaN.
    """
    c = np.asarray(confidence, dtype=np.float64)
    _check_confidences(c)
    # logit(y) of the raw curve's value y = c * _AT_ZERO, with 1 - y = _ABOVE_ZERO + _AT_ZERO * (1 - c)
    # (no cancellation near c = 1, where 1 - y is ~1e-14)
    with np.errstate(divide="ignore"):
        log_odds = np.log(c * _AT_ZERO) - np.log(_ABOVE_ZERO + _AT_ZERO * (1.0 - c))
    d = np.maximum(CENTRE_DISTANCE - SCALE_DISTANCE * log_odds, 0.0)
    return float(d) if d.ndim == 0 else d
