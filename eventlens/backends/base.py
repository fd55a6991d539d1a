"""What a face model computes, independent of how it runs.

A backend is created through :mod:`eventlens.backends.registry` and loads its weights lazily, on the first
call, so that creating one is cheap and each worker process loads its models once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from eventlens.detections import Detections
from eventlens.errors import ModelMismatchError

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True)
class ModelInfo:
    """Identity of a model's output space: embeddings are only comparable when ``key`` is equal."""

    name: str
    version: str

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"


def require_same_model(a: str, b: str) -> None:
    """Raise when two embedding model keys differ: distances across models are meaningless."""
    if a != b:
        raise ModelMismatchError(f"refusing to compare embeddings of model {a!r} with model {b!r}")


class _Loadable(ABC):  # noqa: B024 - a mixin with an optional hook, no abstract method
    def load(self) -> None:  # noqa: B027 - backends without weights need nothing
        """Load the weights now (workers call this once at start, so photo timings exclude it)."""


class FaceDetector(_Loadable):
    """Finds faces in an RGB image."""

    info: ModelInfo
    #: the largest input side the model is tuned for; larger work is tiled by the caller
    input_max_side_px: int
    #: the smallest face (geometric mean of box sides) it finds reliably at its input resolution
    min_face_at_input_px: int

    @abstractmethod
    def detect(self, rgb: np.ndarray) -> Detections:
        """Faces in ``rgb`` (uint8, shape (h, w, 3)), in that image's pixels, scores in [0, 1], unfiltered."""


class FaceLandmarker(_Loadable):
    """Places 68 landmarks (iBUG 300-W order) on each face box."""

    info: ModelInfo

    @abstractmethod
    def landmarks68(self, rgb: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
        """Landmarks of each box ``xyxy (n, 4)``, shape ``(n, 68, 2)`` float32, in ``rgb``'s pixels."""


class EyeModel(_Loadable):
    """Measures how open each eye of each face is."""

    info: ModelInfo

    @abstractmethod
    def eye_aspect_ratios(self, image: np.ndarray | Image.Image, landmarks68: np.ndarray) -> np.ndarray:
        """Eye aspect ratio of the subject's (right, left) eye per face, shape ``(n, 2)``, from ``image``
        (uint8 RGB array, or RGB Pillow image of the same pixels: cheaper crops) and the faces' 68
        landmarks ``(n, 68, 2)`` in its pixels."""

    def measure_eyes(
        self, image: np.ndarray | Image.Image, landmarks68: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Eye aspect ratios ``(n, 2)`` as :meth:`eye_aspect_ratios` and, per eye, the height of the dark
        iris patch between the lids ``(n, 2)`` (:mod:`eventlens.attributes.eye_appearance`; NaN for models
        that see no eye crop, like this default)."""
        ears = np.asarray(self.eye_aspect_ratios(image, landmarks68), dtype=np.float64)
        return ears, np.full_like(ears, np.nan)


class FaceEmbedder(_Loadable):
    """Turns each face box into an embedding vector."""

    info: ModelInfo
    dim: int

    @abstractmethod
    def embed(self, rgb: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
        """Embeddings of each box ``xyxy (n, 4)``, shape ``(n, dim)`` float32."""
