"""Eye openness: the eye aspect ratio (EAR) of each eye of each face, from one of two models.

* ``mediapipe_iris_int8`` (default): MediaPipe's iris-landmark model on 64x64 eye crops placed by dlib's
  eye corners (:mod:`eventlens.backends.iris`), with its convolutions in int8: separates open from closed
  eyes far better than dlib's own eyelid points (balanced accuracy 0.95 vs 0.77 on the labelled faces,
  BENCHMARKS.md) at 0.66 ms per eye.
* ``mediapipe_iris``: the same model in float32 (needs ``eventlens models install``): 0.96, at 1.24 ms
  per eye.
* ``dlib_68``: the six eyelid points of dlib's 68 landmarks; no extra model file.

The two measure on different scales, so the eyes-open score (:mod:`eventlens.attributes.decide`) is
calibrated per model: each photo's pipeline key records which one measured it (the ModelInfo names are
the calibration keys), and scoring uses that one, whatever the current settings say.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from eventlens.attributes.face_geometry import eye_aspect_ratios
from eventlens.backends.base import EyeModel, ModelInfo

if TYPE_CHECKING:
    from PIL import Image

    from eventlens.settings import Settings


class IrisEyes(EyeModel):
    """MediaPipe's iris model in float32 (``mediapipe_iris``)."""

    variant = "float32"
    #: the version names what the photo's eye columns hold: "+iris-dark-1" since the faces table also
    #: stores the iris dark height (photos analysed before it are stale: ``analyze --reanalyze``)
    info = ModelInfo("mediapipe_iris", "mediapipe-0.10.14+iris-dark-1")

    def __init__(self, settings: Settings) -> None:
        from eventlens.backends.iris import IrisEyeModel  # noqa: PLC0415 - keeps imports cheap

        self._model = IrisEyeModel.from_settings(settings, self.variant)

    def load(self) -> None:
        self._model.load()

    def eye_aspect_ratios(self, image: np.ndarray | Image.Image, landmarks68: np.ndarray) -> np.ndarray:
        return self.measure_eyes(image, landmarks68)[0]

    def measure_eyes(
        self, image: np.ndarray | Image.Image, landmarks68: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        from eventlens.backends.iris import eye_aspect_ratios16, eye_corners68  # noqa: PLC0415

        lm = np.asarray(landmarks68, dtype=np.float64).reshape(-1, 68, 2)
        if not len(lm):
            return np.zeros((0, 2)), np.zeros((0, 2))
        outlines, dark = self._model.eye_contours_and_darkness(image, eye_corners68(lm))
        return np.asarray(eye_aspect_ratios16(outlines), dtype=np.float64).reshape(len(lm), 2), dark


class IrisInt8Eyes(IrisEyes):
    """MediaPipe's iris model with int8 convolutions (``mediapipe_iris_int8``, shipped with eventlens)."""

    variant = "int8"
    info = ModelInfo("mediapipe_iris_int8", "mediapipe-0.10.14-conv-int8-1+iris-dark-1")


class Dlib68Eyes(EyeModel):
    def __init__(self, settings: Settings | None = None) -> None:
        self.info = ModelInfo("dlib_68", "1")

    def eye_aspect_ratios(self, image: np.ndarray | Image.Image, landmarks68: np.ndarray) -> np.ndarray:
        lm = np.asarray(landmarks68, dtype=np.float64).reshape(-1, 68, 2)
        return np.array([eye_aspect_ratios(face) for face in lm], dtype=np.float64).reshape(len(lm), 2)
