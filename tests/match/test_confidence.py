"""The distance -> confidence mapping: range, strict monotonicity, inverse, arrays, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventlens.match.confidence import (
    CENTRE_DISTANCE,
    confidence_of_distance,
    distance_of_confidence,
)

# dlib descriptors have norms of about 1.2-1.7: real distances are below 4
distances = st.floats(min_value=0.0, max_value=4.0, allow_nan=False)


@given(distances)
def test_confidence_is_in_the_unit_interval(d: float) -> None:
    c = confidence_of_distance(d)
    assert isinstance(c, float)
    assert 0.0 <= c <= 1.0


@given(distances, distances)
def test_confidence_decreases_with_distance(a: float, b: float) -> None:
    near, far = min(a, b), max(a, b)
    assert confidence_of_distance(near) >= confidence_of_distance(far)
    if far - near >= 1e-3:  # float64 resolves every step of this size over the whole range
        assert confidence_of_distance(near) > confidence_of_distance(far)


@given(st.floats(min_value=0.0, max_value=2.0))
def test_distance_of_confidence_inverts_it(d: float) -> None:
    # near distance 0 the confidence is 1 - 1e-14: its last digits carry the distance
    assert distance_of_confidence(confidence_of_distance(d)) == pytest.approx(d, abs=1e-3)
    if d > 0.3:
        assert distance_of_confidence(confidence_of_distance(d)) == pytest.approx(d, abs=1e-9)


@given(st.floats(min_value=1e-6, max_value=1.0 - 1e-6))
def test_confidence_of_distance_inverts_the_inverse(c: float) -> None:
    assert confidence_of_distance(distance_of_confidence(c)) == pytest.approx(c, abs=1e-9)


def test_end_points_and_centre() -> None:
    assert confidence_of_distance(0.0) == 1.0
    assert confidence_of_distance(math.inf) == 0.0
    assert confidence_of_distance(CENTRE_DISTANCE) == pytest.approx(0.5, abs=1e-6)
    assert distance_of_confidence(1.0) == 0.0
    assert distance_of_confidence(0.0) == math.inf
    assert distance_of_confidence(0.5) == pytest.approx(CENTRE_DISTANCE, abs=1e-6)


@given(st.lists(distances, min_size=1, max_size=20))
def test_arrays_map_element_by_element(values: list[float]) -> None:
    d = np.array(values).reshape(-1, 1)
    c = confidence_of_distance(d)
    assert isinstance(c, np.ndarray) and c.shape == d.shape
    assert c.ravel().tolist() == [confidence_of_distance(v) for v in values]
    back = distance_of_confidence(c)
    assert isinstance(back, np.ndarray) and back.shape == d.shape


@pytest.mark.parametrize("bad", [-0.1, math.nan])
def test_bad_distances_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="distances"):
        confidence_of_distance(bad)
    with pytest.raises(ValueError, match="distances"):
        confidence_of_distance(np.array([0.2, bad]))


@pytest.mark.parametrize("bad", [-0.01, 1.01, math.nan])
def test_bad_confidences_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        distance_of_confidence(bad)
