"""Matching detections to annotations, size buckets and the detection report, on synthetic boxes."""

from __future__ import annotations

import os

import numpy as np
import pytest

from eventlens.analysis.pool import HUGE_PAGES_TUNABLE, worker_environment
from eventlens.evaluation.detection import (
    DetectionReport,
    ImageResult,
    bucket_names,
    bucket_of,
    face_sizes_px,
    match_boxes,
    match_points,
)
from eventlens.evaluation.report import format_detection


def test_face_size_and_buckets() -> None:
    np.testing.assert_allclose(face_sizes_px(np.array([[0, 0, 10, 40], [5, 5, 5, 9]])), [20, 0])
    assert bucket_names() == ["[0,10)", "[10,15)", "[15,20)", "[20,30)", "[30,45)", "[45,70)", "[70,inf)"]
    np.testing.assert_array_equal(
        bucket_of(np.array([0, 9.99, 10, 14.9, 20, 44.9, 45, 70, 500])), [0, 0, 1, 1, 3, 4, 5, 6, 6]
    )


def test_match_boxes_iou_threshold() -> None:
    gt = np.array([[0, 0, 10, 10]])
    assert match_boxes(gt, np.array([[0, 0, 10, 10]]))[0] == 0
    assert match_boxes(gt, np.array([[5, 0, 15, 10]]))[0] == 0  # IoU 1/3 >= 0.3
    assert match_boxes(gt, np.array([[6, 0, 16, 10]]))[0] == -1  # IoU 0.25
    assert match_boxes(gt, np.zeros((0, 4)))[0] == -1
    assert match_boxes(np.zeros((0, 4)), np.array([[0, 0, 1, 1]])).shape == (0,)


def test_match_boxes_one_detection_per_face_highest_iou_first() -> None:
    gt = np.array([[0, 0, 10, 10], [2, 0, 12, 10]])
    det = np.array([[2, 0, 12, 10]])  # IoU 0.67 with the first face, 1.0 with the second
    np.testing.assert_array_equal(match_boxes(gt, det), [-1, 0])
    det2 = np.array([[2, 0, 12, 10], [0, 0, 10, 10]])
    np.testing.assert_array_equal(match_boxes(gt, det2), [1, 0])


def test_match_points() -> None:
    det = np.array([[0, 0, 10, 10], [20, 0, 40, 20]])
    np.testing.assert_array_equal(match_points(np.array([[5, 5], [30, 10], [50, 50]]), det), [0, 1, -1])
    # two noses in one box: only one can take it (the one nearer the centre)
    np.testing.assert_array_equal(match_points(np.array([[1, 1], [5, 5]]), det[:1]), [-1, 0])


def _report(px: int) -> DetectionReport:
    r = DetectionReport(px, 0.5)
    r.images += [
        ImageResult("a.jpg", "dlib", "boxes", 3, (12.0, 25.0, 80.0), (False, True, True), None, 0.1, 0.4),
        ImageResult("b.jpg", "compreface", "points", 2, (), (True, True, False), 3, 0.1, 0.4),
        ImageResult("c.jpg", "photoprism", "count", 2, (), (), 1, 0.1, 0.4),
    ]
    return r


def test_detection_report_aggregates() -> None:
    r = _report(40)
    buckets = {b.name: (b.faces, b.found) for b in r.buckets()}
    assert buckets["[10,15)"] == (1, 0) and buckets["[20,30)"] == (1, 1) and buckets["[70,inf)"] == (1, 1)
    head = r.recall_at_least(20)
    assert (head.faces, head.found, head.recall) == (2, 2, 1.0)
    assert (r.point_recall().faces, r.point_recall().found) == (3, 2)
    assert r.unmatched_detections() == 1  # only box-annotated photos count
    assert r.count_agreement() == [("c.jpg", 1, 2)]
    assert r.photos_per_s == pytest.approx(3 / 1.5)
    d = r.as_dict()
    assert d["recall_min_20px"]["recall"] == 1.0 and len(d["buckets"]) == 7 and len(d["images"]) == 3


def test_format_detection_has_one_column_pair_per_setting() -> None:
    text = format_detection([_report(40), _report(16)])
    assert "| face size (px) | faces | found @40 | recall | found @16 | recall |" in text
    assert "| [10,15) | 1 | 0 | 0.000 | 0 | 0.000 |" in text
    assert "1 -> 2 (0/1 exact)" in text
    assert format_detection([]) == ""


def test_worker_environment_sets_and_restores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    with worker_environment():
        assert os.environ["OMP_NUM_THREADS"] == "1" and os.environ["OPENBLAS_NUM_THREADS"] == "1"
        assert os.environ["GLIBC_TUNABLES"] == HUGE_PAGES_TUNABLE
    assert os.environ["OMP_NUM_THREADS"] == "4" and "OPENBLAS_NUM_THREADS" not in os.environ
    assert "GLIBC_TUNABLES" not in os.environ
    with worker_environment(huge_pages=False):
        assert "GLIBC_TUNABLES" not in os.environ
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=2")
    with worker_environment():  # the user's own tunables are kept
        assert os.environ["GLIBC_TUNABLES"] == f"glibc.malloc.arena_max=2:{HUGE_PAGES_TUNABLE}"
    assert os.environ["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2"
