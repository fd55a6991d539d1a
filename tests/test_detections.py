"""``Detections`` (validation, slicing, mapping, NMS) and ``box_iou``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventlens.detections import Detections, box_iou


def _dets(n: int = 3, with_landmarks: bool = True) -> Detections:
    xyxy = np.array([[10 * i, 5 * i, 10 * i + 20, 5 * i + 30] for i in range(n)], dtype=np.float64)
    scores = np.linspace(0.9, 0.5, n)
    lm = np.arange(n * 10, dtype=np.float64).reshape(n, 5, 2) if with_landmarks else None
    return Detections(xyxy, scores, lm)


# --- validation ------------------------------------------------------------------------------------


def test_arrays_are_converted_to_float32() -> None:
    d = Detections([[0, 0, 10, 10]], [1], [[[1, 2]] * 5])
    assert d.xyxy.dtype == np.float32 and d.xyxy.shape == (1, 4)
    assert d.scores.dtype == np.float32 and d.scores.shape == (1,)
    assert d.landmarks5 is not None and d.landmarks5.dtype == np.float32 and d.landmarks5.shape == (1, 5, 2)


@pytest.mark.parametrize(
    ("xyxy", "scores", "landmarks", "message"),
    [
        (np.zeros((2, 3)), np.zeros(2), None, r"xyxy must have shape \(n, 4\); got \(2, 3\)"),
        (np.zeros(4), np.zeros(1), None, r"xyxy must have shape \(n, 4\); got \(4,\)"),
        (np.zeros((2, 4)), np.zeros(3), None, r"scores must have shape \(2,\) to match xyxy; got \(3,\)"),
        (
            np.zeros((2, 4)),
            np.zeros(2),
            np.zeros((2, 4, 2)),
            r"landmarks5 must have shape \(n, 5, 2\); got \(2, 4, 2\)",
        ),
        (
            np.zeros((2, 4)),
            np.zeros(2),
            np.zeros((1, 5, 2)),
            r"landmarks5 must have 2 rows to match xyxy; got 1",
        ),
        ([[10, 0, 5, 10]], [0.9], None, r"x2 >= x1 and y2 >= y1"),
        ([[0, 10, 5, 5]], [0.9], None, r"x2 >= x1 and y2 >= y1"),
    ],
)
def test_invalid_shapes_are_refused_with_expected_and_actual(
    xyxy: object, scores: object, landmarks: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Detections(xyxy, scores, landmarks)  # type: ignore[arg-type]


def test_empty() -> None:
    empty = Detections.empty()
    assert len(empty) == 0 and empty.xyxy.shape == (0, 4) and empty.scores.shape == (0,)
    assert empty.landmarks5 is not None and empty.landmarks5.shape == (0, 5, 2)
    assert Detections.empty(with_landmarks=False).landmarks5 is None
    assert len(Detections([], [])) == 0


# --- selection ---------------------------------------------------------------------------------------


def test_int_index_selects_one_face_as_detections() -> None:
    d = _dets(3)
    one = d[1]
    assert isinstance(one, Detections) and len(one) == 1
    np.testing.assert_array_equal(one.xyxy[0], d.xyxy[1])
    assert one.landmarks5 is not None
    np.testing.assert_array_equal(one.landmarks5[0], d.landmarks5[1])  # type: ignore[index]
    np.testing.assert_array_equal(d[-1].xyxy, d.xyxy[2:])


def test_mask_slice_and_index_array_keep_rows_aligned() -> None:
    d = _dets(4)
    mask = d.scores > 0.6
    by_mask = d[mask]
    assert len(by_mask) == int(mask.sum())
    np.testing.assert_array_equal(by_mask.scores, d.scores[mask])
    np.testing.assert_array_equal(d[1:3].xyxy, d.xyxy[1:3])
    picked = d[np.array([3, 0])]
    np.testing.assert_array_equal(picked.xyxy, d.xyxy[[3, 0]])
    np.testing.assert_array_equal(picked.landmarks5, d.landmarks5[[3, 0]])  # type: ignore[index]
    assert len(d[d.scores > 2]) == 0


def test_selection_without_landmarks() -> None:
    d = _dets(3, with_landmarks=False)
    assert d[0:2].landmarks5 is None and len(d[0:2]) == 2


def test_sizes_are_geometric_mean_of_sides() -> None:
    d = Detections([[0, 0, 4, 9], [5, 5, 5, 8]], [1, 1])
    np.testing.assert_allclose(d.sizes_px, [6.0, 0.0])


# --- mapping -----------------------------------------------------------------------------------------


def test_mapped_divides_by_scale_then_adds_offset() -> None:
    d = Detections([[10, 20, 30, 40]], [0.8], [[[10, 20]] * 5])
    m = d.mapped(0.5, offset_x_px=100, offset_y_px=7)
    np.testing.assert_allclose(m.xyxy, [[120, 47, 160, 87]])
    np.testing.assert_allclose(m.landmarks5[0, 0], [120, 47])  # type: ignore[index]
    np.testing.assert_array_equal(m.scores, d.scores)


def test_clipped_limits_boxes_to_the_image_and_keeps_landmarks() -> None:
    d = Detections([[-5, -3, 50, 70], [10, 10, 20, 20]], [0.9, 0.8], [[[-4, -2]] * 5, [[12, 12]] * 5])
    c = d.clipped(40, 60)
    np.testing.assert_allclose(c.xyxy, [[0, 0, 40, 60], [10, 10, 20, 20]])
    np.testing.assert_array_equal(c.landmarks5, d.landmarks5)


def test_concat_keeps_landmarks_only_when_every_part_has_them() -> None:
    a, b = _dets(2), _dets(3)
    both = Detections.concat([a, b])
    assert len(both) == 5 and both.landmarks5 is not None
    np.testing.assert_array_equal(both.xyxy[2:], b.xyxy)
    mixed = Detections.concat([a, _dets(1, with_landmarks=False)])
    assert len(mixed) == 3 and mixed.landmarks5 is None
    assert len(Detections.concat([])) == 0
    assert len(Detections.concat([Detections.empty(), a])) == 2


# --- NMS ---------------------------------------------------------------------------------------------


def test_nms_keeps_the_best_of_overlapping_boxes_in_score_order() -> None:
    xyxy = [[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 10.5]]
    scores = [0.7, 0.9, 0.8, 0.6]
    kept = Detections(xyxy, scores).nms(0.4)
    np.testing.assert_allclose(kept.scores, [0.9, 0.8])
    np.testing.assert_allclose(kept.xyxy, [[1, 1, 11, 11], [50, 50, 60, 60]])


def test_nms_threshold_is_strict_and_small_inputs_pass_through() -> None:
    d = Detections([[0, 0, 10, 10], [5, 0, 15, 10]], [0.9, 0.8])  # IoU = 1/3
    assert len(d.nms(0.5)) == 2
    assert len(d.nms(0.3)) == 1
    single = _dets(1)
    assert single.nms(0.1) is single
    assert len(Detections.empty().nms(0.5)) == 0


# --- box_iou -----------------------------------------------------------------------------------------


def test_box_iou_known_values() -> None:
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 5, 5]])
    np.testing.assert_allclose(box_iou(a, b), [[1.0, 1 / 3, 0.0, 0.25]])
    assert box_iou(a, np.zeros((0, 4))).shape == (1, 0)
    assert box_iou(np.array([[3, 3, 3, 3]]), np.array([[3, 3, 3, 3]]))[0, 0] == 0.0  # no area: no overlap


coord = st.floats(min_value=-1000, max_value=1000, allow_nan=False, allow_infinity=False, width=32)
side = st.floats(min_value=0.5, max_value=500, allow_nan=False, allow_infinity=False, width=32)


@st.composite
def boxes(draw: st.DrawFn, max_n: int = 6) -> np.ndarray:
    n = draw(st.integers(1, max_n))
    rows = []
    for _ in range(n):
        x, y, w, h = draw(coord), draw(coord), draw(side), draw(side)
        rows.append((x, y, x + w, y + h))
    return np.array(rows, dtype=np.float32)


@given(boxes(), boxes())
def test_box_iou_is_symmetric_and_bounded(a: np.ndarray, b: np.ndarray) -> None:
    ab, ba = box_iou(a, b), box_iou(b, a)
    assert ab.shape == (len(a), len(b))
    np.testing.assert_allclose(ab, ba.T, atol=1e-12)
    assert np.all(ab >= 0) and np.all(ab <= 1 + 1e-9)


@given(boxes())
def test_box_iou_of_a_box_with_itself_is_one(a: np.ndarray) -> None:
    np.testing.assert_allclose(np.diag(box_iou(a, a)), 1.0, rtol=1e-6)


@given(
    boxes(),
    st.floats(min_value=0.05, max_value=20, allow_nan=False),
    st.floats(min_value=-500, max_value=500, allow_nan=False),
    st.floats(min_value=-500, max_value=500, allow_nan=False),
)
def test_mapped_round_trips(a: np.ndarray, scale: float, ox: float, oy: float) -> None:
    d = Detections(a, np.ones(len(a)), np.repeat(a[:, None, :2], 5, axis=1))
    there = d.mapped(scale, ox, oy)
    back = there.mapped(1 / scale, -ox * scale, -oy * scale)
    tol = 1e-4 * (1 + np.abs(a).max() + abs(ox) + abs(oy)) * max(scale, 1 / scale)
    np.testing.assert_allclose(back.xyxy, d.xyxy, atol=tol)
    np.testing.assert_allclose(back.landmarks5, d.landmarks5, atol=tol)  # type: ignore[arg-type]


@given(boxes(max_n=12), st.floats(min_value=0.1, max_value=0.9))
def test_nms_result_has_no_pair_above_threshold(a: np.ndarray, threshold: float) -> None:
    scores = np.linspace(1.0, 0.1, len(a))
    kept = Detections(a, scores).nms(threshold)
    ious = box_iou(kept.xyxy, kept.xyxy)
    np.fill_diagonal(ious, 0)
    assert np.all(ious <= threshold + 1e-6)
    assert np.all(np.diff(kept.scores) <= 0)  # ordered by descending score
    assert kept.scores[0] == pytest.approx(scores.max())
