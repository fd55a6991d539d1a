"""dlib's own face detectors, offered as alternatives to libfacedetection (never as a silent fallback).

* ``dlib_hog``: the HOG + linear SVM frontal detector compiled into dlib; fast, misses small and turned faces.
* ``dlib_cnn``: the MMOD CNN detector (``mmod_human_face_detector.dat``); accurate but ~1 s per megapixel
  on one core without BLAS.

Both report an SVM/MMOD margin, mapped to a score in (0, 1) by a logistic function so that
``min_det_score = 0.5`` means "margin above 0", dlib's own default decision.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from eventlens.backends.base import FaceDetector, ModelInfo
from eventlens.backends.dlib_face import _dlib, _model_path, _models_version
from eventlens.detections import Detections

if TYPE_CHECKING:
    from eventlens.settings import Settings


def _margin_to_score(margin: np.ndarray | list[float]) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(margin, dtype=np.float64)))


def _rects_to_xyxy(rects: Any) -> np.ndarray:
    return np.array([(r.left(), r.top(), r.right() + 1, r.bottom() + 1) for r in rects], dtype=np.float32)


class DlibHogDetector(FaceDetector):
    input_max_side_px = 1600
    min_face_at_input_px = 80  # the HOG window is 80x80 without upsampling

    def __init__(self, settings: Settings | None = None) -> None:
        self.info = ModelInfo("dlib-hog-frontal", _dlib().__version__)
        self._detector: Any = None

    def load(self) -> None:
        if self._detector is None:
            self._detector = _dlib().get_frontal_face_detector()

    def detect(self, rgb: np.ndarray) -> Detections:
        self.load()
        rects, margins, _ = self._detector.run(np.ascontiguousarray(rgb), 0, -0.5)
        if not rects:
            return Detections.empty(with_landmarks=False)
        return Detections(_rects_to_xyxy(rects), _margin_to_score(margins), None)


class DlibCnnDetector(FaceDetector):
    input_max_side_px = 1600
    min_face_at_input_px = 40  # the MMOD window is 40x40 without upsampling

    def __init__(self, settings: Settings | None = None) -> None:
        self.info = ModelInfo("dlib-mmod-cnn", f"face_recognition_models-{_models_version()}")
        self._detector: Any = None

    def load(self) -> None:
        if self._detector is None:
            self._detector = _dlib().cnn_face_detection_model_v1(_model_path("mmod"))

    def detect(self, rgb: np.ndarray) -> Detections:
        self.load()
        found = self._detector(np.ascontiguousarray(rgb), 0)
        if not found:
            return Detections.empty(with_landmarks=False)
        xyxy = _rects_to_xyxy([d.rect for d in found])
        return Detections(xyxy, _margin_to_score([d.confidence for d in found]), None)
