"""dlib's face landmarks and ResNet face descriptor (models from PyPI ``face_recognition_models``).

* 68-point landmarks: ``shape_predictor_68_face_landmarks.dat`` (iBUG 300-W order), by default cut to
  its first 12 of 15 cascade levels (``landmark_levels``; :mod:`eventlens.backends.shape_cascades`).
* Embedding: 5-point alignment (``shape_predictor_5_face_landmarks.dat``) to a 150x150 chip with 25 %
  padding, then ``dlib_face_recognition_resnet_model_v1.dat`` -> 128-D vector, on one of two runtimes
  (:mod:`eventlens.backends.sessions`) computing the same function: ONNX Runtime running the network as
  an ONNX graph (:mod:`eventlens.backends.dlib_resnet_onnx`, ~4.9 ms/face) or dlib-bin's own CPU code
  (~72 ms/face). They store the same model key: outputs agree to ~4e-7.

Detector boxes are turned into the square boxes dlib's predictors were trained on by :func:`dlib_rect`.
Models load on first use and stay loaded for the life of the process.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from eventlens.backends.base import FaceEmbedder, FaceLandmarker, ModelInfo
from eventlens.backends.sessions import Session, check_runtime, create_session
from eventlens.backends.shape_cascades import LEVELS_IN_MODEL, truncated_model
from eventlens.errors import ModelError

if TYPE_CHECKING:
    from eventlens.settings import Settings

CHIP_SIZE_PX = 150
CHIP_PADDING = 0.25


def _models_version() -> str:
    try:
        return importlib.metadata.version("face_recognition_models")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@functools.cache
def _dlib() -> Any:
    try:
        import dlib  # noqa: PLC0415 - heavy; imported on first use only
    except ImportError as exc:
        raise ModelError("dlib is not installed: pip install dlib-bin") from exc
    return dlib


#: the model files of the PyPI package face_recognition_models, found without importing it: its
#: ``__init__`` needs ``pkg_resources``, which venvs of Python 3.12+ and setuptools 81+ no longer provide
_MODEL_FILES = {
    "shape5": "shape_predictor_5_face_landmarks.dat",
    "shape68": "shape_predictor_68_face_landmarks.dat",
    "resnet": "dlib_face_recognition_resnet_model_v1.dat",
    "mmod": "mmod_human_face_detector.dat",
}


@functools.cache
def _model_path(name: str) -> str:
    """Path of a dlib model file of face_recognition_models: ``shape5``, ``shape68``, ``resnet``, ``mmod``."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("dlib models are not installed: pip install face_recognition_models==0.3.0")
    file_name = _MODEL_FILES[name]
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "models" / file_name
        if path.is_file():
            return str(path)
    raise ModelError(
        f"face_recognition_models has no models/{file_name}: "
        "pip install --force-reinstall face_recognition_models==0.3.0"
    )


@functools.cache
def shape_predictor(points: int, levels: int = 0, cache_dir: str | None = None) -> Any:
    """dlib's 5- or 68-point shape predictor, loaded once per process; for 68 points, with ``levels``
    cascade levels (0: all; a cut copy is made once under ``cache_dir``)."""
    path = _model_path("shape5" if points == 5 else "shape68")
    if points == 68 and levels:
        if cache_dir is None:
            raise ModelError("a 68-point model with fewer cascade levels needs a cache_dir to live in")
        try:
            path = str(truncated_model(Path(path), levels, Path(cache_dir)))
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot cut {path} to {levels} cascade levels: {exc}") from exc
    return _dlib().shape_predictor(path)


def dlib_rect(xyxy: np.ndarray) -> Any:
    """A dlib rectangle for one detector box: a square of the box's mean side around its centre.

    dlib's shape predictors were trained on the roughly square boxes of dlib's own detectors; a square of
    the mean side centred on libfacedetection's taller box lands on the same face region.
    """
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half = max((x2 - x1) + (y2 - y1), 2.0) / 4
    return _dlib().rectangle(round(cx - half), round(cy - half), round(cx + half), round(cy + half))


def _full_objects(rgb: np.ndarray, xyxy: np.ndarray, predictor: Any) -> list[Any]:
    return [predictor(rgb, dlib_rect(box)) for box in np.asarray(xyxy).reshape(-1, 4)]


def _shape_to_array(shape: Any) -> np.ndarray:
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


def face_chips(rgb: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
    """Aligned 150x150 RGB chips of each box (5-point alignment, 25 % padding), shape ``(n, 150, 150, 3)``."""
    rgb = np.ascontiguousarray(rgb)
    shapes = _full_objects(rgb, xyxy, shape_predictor(5))
    if not shapes:
        return np.zeros((0, CHIP_SIZE_PX, CHIP_SIZE_PX, 3), dtype=np.uint8)
    container = _dlib().full_object_detections()
    container.extend(shapes)
    chips = _dlib().get_face_chips(rgb, container, size=CHIP_SIZE_PX, padding=CHIP_PADDING)
    return np.stack([np.asarray(c, dtype=np.uint8) for c in chips])


class DlibLandmarker(FaceLandmarker):
    """dlib's 68 landmarks; ``levels``: cascade levels kept (settings' ``landmark_levels``; 0 or 15: all)."""

    def __init__(self, settings: Settings | None = None, levels: int | None = None) -> None:
        chosen = levels if levels is not None else (settings.landmark_levels if settings is not None else 0)
        self.levels = 0 if chosen == LEVELS_IN_MODEL else chosen
        self._cache_dir = str(settings.cache_dir) if settings is not None else None
        cut = f"-levels{self.levels}" if self.levels else ""
        self.info = ModelInfo("dlib-shape68", f"face_recognition_models-{_models_version()}{cut}")

    def _predictor(self) -> Any:
        return shape_predictor(68, self.levels, self._cache_dir if self.levels else None)

    def load(self) -> None:
        self._predictor()

    def landmarks68(self, rgb: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
        rgb = np.ascontiguousarray(rgb)
        shapes = _full_objects(rgb, xyxy, self._predictor())
        if not shapes:
            return np.zeros((0, 68, 2), dtype=np.float32)
        return np.stack([_shape_to_array(s) for s in shapes])


class DlibEmbedder(FaceEmbedder):
    """dlib ResNet descriptor; ``runtime`` (default: the settings' ``dlib_runtime``, else ``"onnxruntime"``)
    runs it: ``"onnxruntime"`` (the network as an ONNX graph) or ``"dlib"`` (dlib-bin); same embedding."""

    dim = 128
    runtimes = ("onnxruntime", "dlib")

    def __init__(self, settings: Settings | None = None, runtime: str | None = None) -> None:
        chosen = runtime or (settings.dlib_runtime if settings is not None else self.runtimes[0])
        self.runtime = check_runtime(chosen, self.runtimes, "dlib_runtime")
        self._cache_dir = settings.cache_dir if settings is not None else None
        self.info = ModelInfo("dlib-resnet-v1", f"face_recognition_models-{_models_version()}")
        self._session: Session | None = None

    def load(self) -> None:
        if self._session is None:
            self._session = self._load_session()
        shape_predictor(5)

    def _load_session(self) -> Session:
        dat = Path(_model_path("resnet"))
        if self.runtime == "dlib":  # dlib-bin reads the .dat file itself
            return create_session(self.runtime, dat)
        from eventlens.backends.dlib_resnet_onnx import build_onnx_model  # noqa: PLC0415
        from eventlens.backends.dlib_weights import load_resnet_weights  # noqa: PLC0415

        try:
            weights = load_resnet_weights(dat, self._cache_dir)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read {dat}: {exc}; reinstall face_recognition_models") from exc
        return create_session(self.runtime, build_onnx_model(weights))

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """Embeddings of aligned chips ``(n, 150, 150, 3)`` uint8 -> ``(n, 128)`` float32."""
        chips = np.asarray(chips)
        if chips.dtype != np.uint8 or chips.ndim != 4 or chips.shape[1:] != (CHIP_SIZE_PX, CHIP_SIZE_PX, 3):
            raise ValueError(
                f"chips must be uint8 of shape (n, 150, 150, 3), got {chips.dtype} {chips.shape}"
            )
        if len(chips) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._session is None:
            self.load()
        assert self._session is not None
        (vectors,) = self._session.run({self._session.inputs[0].name: chips})
        return np.asarray(vectors, dtype=np.float32)

    def embed(self, rgb: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
        return self.embed_chips(face_chips(rgb, xyxy))
