"""Running a detection plan on a photo, and analysing one photo with the fake backend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from testkit import A, B, C, D, E, F

from eventlens.analysis.detect_plan import plan_detection
from eventlens.analysis.photo import Models, analyze_photo, run_detection
from eventlens.backends.eyes import Dlib68Eyes
from eventlens.backends.fake import FakeDetector, FakeEmbedder, FakeLandmarker, draw_face
from eventlens.detections import box_iou
from eventlens.imaging.decode import decode


class SmallInputFakeDetector(FakeDetector):
    """The fake detector pretending to take at most 256 px, so that ordinary photos are tiled."""

    input_max_side_px = 256


def _photo(tmp_path: Path, faces: list[tuple[int, tuple[int, int, int, int]]], size=(1200, 900)) -> Path:
    rgb = np.full((size[1], size[0], 3), 40, dtype=np.uint8)
    for identity, box in faces:
        draw_face(rgb, identity, box)
    path = tmp_path / "photo.png"
    Image.fromarray(rgb).save(path)
    return path


def test_tiled_detection_finds_each_face_once_in_original_pixels(tmp_path: Path) -> None:
    # tiles of 256 px start every ~192 px: these faces straddle tile borders, one sits in a corner
    faces = [
        (A, (170, 170, 218, 218)),
        (B, (370, 10, 418, 58)),
        (C, (560, 560, 608, 608)),
        (D, (1150, 850, 1198, 898)),
        (E, (0, 400, 60, 460)),
        (F, (700, 120, 760, 180)),
    ]
    path = _photo(tmp_path, faces)
    detector = SmallInputFakeDetector()
    plan = plan_detection(1200, 900, 8, detector.input_max_side_px, detector.min_face_at_input_px)
    assert len(plan.passes) > 2, "the photo must be tiled for this test"
    found = run_detection(detector, decode(path, 150), plan).detections
    want = np.array([box for _, box in faces], dtype=np.float32)
    assert len(found) == len(faces)
    iou = box_iou(want, found.xyxy)
    assert np.all(iou.max(axis=1) > 0.9), iou.max(axis=1)
    assert np.all((iou > 0.4).sum(axis=1) == 1), "each face exactly once"


def test_analyze_photo_maps_faces_to_original_pixels(tmp_path: Path) -> None:
    path = _photo(tmp_path, [(B, (900, 600, 1000, 700)), (A, (100, 100, 180, 180))])
    models = Models(FakeDetector(), FakeLandmarker(), FakeEmbedder(), Dlib68Eyes())
    result = analyze_photo("sha", path, models, min_face_px=40, min_det_score=0.5, max_megapixels=150)
    assert result.rejected_reason is None
    assert (result.width_px, result.height_px) == (1200, 900)
    assert [tuple(np.round(f.xyxy)) for f in result.faces] == [(100, 100, 180, 180), (900, 600, 1000, 700)]
    for f in result.faces:
        assert f.landmarks68.shape == (68, 2) and f.embedding.shape == (128,)
        x1, y1, x2, y2 = f.xyxy
        assert np.all((f.landmarks68[:, 0] >= x1) & (f.landmarks68[:, 0] <= x2))
        assert np.all((f.landmarks68[:, 1] >= y1) & (f.landmarks68[:, 1] <= y2))
    assert np.linalg.norm(result.faces[0].embedding - result.faces[1].embedding) > 1.0


def test_analyze_photo_turns_a_damaged_file_into_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "x.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + bytes(40))
    models = Models(FakeDetector(), FakeLandmarker(), FakeEmbedder(), Dlib68Eyes())
    result = analyze_photo("sha", path, models, min_face_px=40, min_det_score=0.5, max_megapixels=150)
    assert result.rejected_reason and not result.faces


@pytest.mark.parametrize("min_det_score", [0.995, 1.0])
def test_analyze_photo_drops_faces_below_min_det_score(tmp_path: Path, min_det_score: float) -> None:
    path = _photo(tmp_path, [(A, (100, 100, 180, 180))])
    models = Models(FakeDetector(), FakeLandmarker(), FakeEmbedder(), Dlib68Eyes())
    result = analyze_photo(
        "sha", path, models, min_face_px=40, min_det_score=min_det_score, max_megapixels=150
    )
    assert result.faces == []  # the fake detector scores 0.99


class ThousandPixelFakeDetector(FakeDetector):
    """The fake detector taking at most 1000 px and faces of 10 px there, like libfacedetection."""

    input_max_side_px = 1000
    min_face_at_input_px = 10


class _RecordingEyes(Dlib68Eyes):
    """dlib's eyelid geometry, noting the width of every image it measures eyes on."""

    def __init__(self) -> None:
        super().__init__()
        self.widths: list[int] = []

    def eye_aspect_ratios(self, image, landmarks68):  # type: ignore[no-untyped-def]
        self.widths.append(image.width if isinstance(image, Image.Image) else image.shape[1])
        return super().eye_aspect_ratios(image, landmarks68)


def test_large_faces_are_measured_on_the_detectors_smaller_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 12 MP photo decodes at 2000 px and is detected at 1000 px: the 1600 px face is measured on the
    1000 px copy (cheap crops), the 200 px face on the 2000 px image, with the same results either way."""
    import eventlens.analysis.photo as photo

    rgb = np.full((3000, 4000, 3), 40, dtype=np.uint8)
    draw_face(rgb, A, (400, 400, 2000, 2000))
    draw_face(rgb, B, (3000, 2000, 3200, 2200))
    path = tmp_path / "big.jpg"
    Image.fromarray(rgb).save(path, quality=95)

    def run() -> tuple[list, list[int]]:
        eyes = _RecordingEyes()
        models = Models(ThousandPixelFakeDetector(), FakeLandmarker(), FakeEmbedder(), eyes)
        result = analyze_photo("sha", path, models, min_face_px=40, min_det_score=0.5, max_megapixels=150)
        assert len(result.faces) == 2
        return [f.measurements for f in result.faces], sorted(eyes.widths)

    measured, widths = run()
    assert widths == [1000, 2000]
    monkeypatch.setattr(photo, "SMALL_COPY_MIN_FACE_PX", 10**9)
    everything_on_the_image, widths_off = run()
    assert widths_off == [2000]
    big_here, big_there = measured[0], everything_on_the_image[0]
    assert measured[1] == everything_on_the_image[1]  # the small face: untouched
    assert abs(big_here.sharpness - big_there.sharpness) < 0.03
    assert abs(big_here.brightness - big_there.brightness) < 0.01
    assert abs(big_here.ear_right - big_there.ear_right) < 0.02
    assert abs(big_here.ear_left - big_there.ear_left) < 0.02
    assert (big_here.mouth_width, big_here.yaw_deg) == (big_there.mouth_width, big_there.yaw_deg)
