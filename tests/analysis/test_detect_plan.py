"""``plan_detection``: one pass when the scaled photo fits the detector, else overlapping tiles plus a
whole-photo pass; never enlarging, never shrinking a small photo."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventlens.analysis.detect_plan import (
    SINGLE_PASS_SLACK,
    TILE_OVERLAP,
    DetectionPlan,
    detection_scale,
    plan_detection,
)

# libfacedetection's numbers (eventlens/backends/libfacedetection.py)
INPUT_MAX = 960
MIN_AT_INPUT = 12


def _scaled_size(width: int, height: int, scale: float) -> tuple[int, int]:
    return max(1, round(width * scale)), max(1, round(height * scale))


def _tiles(plan: DetectionPlan) -> list:
    return list(plan.passes[:-1])


def test_detection_scale() -> None:
    assert detection_scale(40, 12) == pytest.approx(0.3)
    assert detection_scale(6, 12) == 1.0  # never enlarges
    assert detection_scale(12, 12) == 1.0


def test_small_photo_single_pass_at_full_size() -> None:
    plan = plan_detection(
        640, 480, min_face_px=40, input_max_side_px=INPUT_MAX, min_face_at_input_px=MIN_AT_INPUT
    )
    assert len(plan.passes) == 1
    (p,) = plan.passes
    assert p.scale == 1.0  # not shrunk, even though min_face_px would allow 0.3
    assert p.region == (0, 0, 640, 480)


def test_tiny_photo_is_never_enlarged() -> None:
    plan = plan_detection(
        100, 60, min_face_px=8, input_max_side_px=INPUT_MAX, min_face_at_input_px=MIN_AT_INPUT
    )
    assert [p.scale for p in plan.passes] == [1.0]
    assert plan.passes[0].region == (0, 0, 100, 60)


def test_photo_within_slack_is_one_pass_at_native_size() -> None:
    # a 12 MP photo looking for faces of 40 px: scale 0.3 -> 1210 px long side, within 960 * 1.35
    plan = plan_detection(
        4032, 3024, min_face_px=40, input_max_side_px=INPUT_MAX, min_face_at_input_px=MIN_AT_INPUT
    )
    assert len(plan.passes) == 1
    (p,) = plan.passes
    assert p.scale == pytest.approx(0.3)
    assert p.region == (0, 0, *_scaled_size(4032, 3024, 0.3))
    assert max(p.region[2:]) <= INPUT_MAX * SINGLE_PASS_SLACK


def test_large_photo_is_shrunk_only_to_the_detector_size() -> None:
    # faces of 400 px would allow scale 0.03, but a photo is not shrunk below the detector's input size
    plan = plan_detection(
        4000, 3000, min_face_px=400, input_max_side_px=INPUT_MAX, min_face_at_input_px=MIN_AT_INPUT
    )
    assert len(plan.passes) == 1
    assert plan.passes[0].scale == pytest.approx(INPUT_MAX / 4000)
    assert plan.passes[0].region == (0, 0, INPUT_MAX, 720)


def test_small_faces_in_a_large_photo_are_tiled_with_a_whole_photo_pass() -> None:
    width, height = 6000, 4000
    plan = plan_detection(
        width, height, min_face_px=20, input_max_side_px=INPUT_MAX, min_face_at_input_px=MIN_AT_INPUT
    )
    tiles, overview = _tiles(plan), plan.passes[-1]
    assert len(tiles) > 1
    scale = 12 / 20
    assert all(t.scale == pytest.approx(scale) for t in tiles)
    assert all(
        t.region[2] - t.region[0] <= INPUT_MAX and t.region[3] - t.region[1] <= INPUT_MAX for t in tiles
    )
    # the whole-photo pass shows the entire photo at the detector's size
    assert overview.scale == pytest.approx(INPUT_MAX / width)
    assert overview.region == (0, 0, INPUT_MAX, 640)
    assert plan.max_scale == pytest.approx(scale)
    assert plan.input_megapixels > (width * scale) * (height * scale) / 1e6  # overlap costs extra pixels


def _intervals(plan: DetectionPlan) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The tiles' distinct column and row spans; the tiles must be exactly their grid."""
    tiles = _tiles(plan)
    xs = sorted({(t.region[0], t.region[2]) for t in tiles})
    ys = sorted({(t.region[1], t.region[3]) for t in tiles})
    assert sorted(t.region for t in tiles) == sorted((x1, y1, x2, y2) for x1, x2 in xs for y1, y2 in ys)
    return xs, ys


@settings(deadline=None)
@given(
    st.integers(200, 9000),
    st.integers(200, 9000),
    st.integers(8, 200),
    st.sampled_from([(960, 12), (1600, 40), (4096, 8), (320, 10)]),
)
def test_plan_properties(width: int, height: int, min_face_px: int, detector: tuple[int, int]) -> None:
    input_max, min_at_input = detector
    plan = plan_detection(width, height, min_face_px, input_max, min_at_input)
    assert all(0 < p.scale <= 1.0 for p in plan.passes), "never enlarges"
    if max(width, height) <= input_max:
        assert [p.scale for p in plan.passes] == [1.0], "a photo that fits is not shrunk"
    first = plan.passes[0]
    w, h = _scaled_size(width, height, first.scale)
    if len(plan.passes) == 1:
        assert first.region == (0, 0, w, h)
        assert max(w, h) <= input_max * SINGLE_PASS_SLACK
        return
    # tiled: every tile at the same scale, no larger than the detector's input, inside the scaled photo
    tiles, overview = _tiles(plan), plan.passes[-1]
    assert len({t.scale for t in tiles}) == 1
    for t in tiles:
        x1, y1, x2, y2 = t.region
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
        assert x2 - x1 <= input_max and y2 - y1 <= input_max
    # the whole-photo pass fits the detector and shows everything
    assert overview.scale < first.scale
    ow, oh = _scaled_size(width, height, overview.scale)
    assert overview.region == (0, 0, ow, oh)
    assert max(ow, oh) == input_max
    # the tile grid covers the scaled photo, and neighbours overlap by at least TILE_OVERLAP of a tile
    want = math.floor(TILE_OVERLAP * input_max) - 1
    columns, rows = _intervals(plan)
    for spans, length in ((columns, w), (rows, h)):
        assert spans[0][0] == 0 and spans[-1][1] == length
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert end - start >= want
