"""The one place that maps backend names to implementations.

``create_detector("libfacedetection", settings)`` and friends fail loudly on an unknown name, and never
fall back to another model: a silent fallback would change the embedding space and corrupt matching.
Backends register themselves in :data:`_FACTORIES` below by import path, so importing this module imports
no model code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Literal

from eventlens.errors import ModelError

if TYPE_CHECKING:
    from eventlens.backends.base import EyeModel, FaceDetector, FaceEmbedder, FaceLandmarker
    from eventlens.settings import Settings

Kind = Literal["detector", "landmarker", "embedder", "eyes"]

#: kind -> name -> "module:factory"; a factory takes the Settings and returns a backend instance
_FACTORIES: dict[str, dict[str, str]] = {
    "detector": {
        "libfacedetection": "eventlens.backends.libfacedetection:LibFaceDetection",
        "dlib_hog": "eventlens.backends.dlib_detectors:DlibHogDetector",
        "dlib_cnn": "eventlens.backends.dlib_detectors:DlibCnnDetector",
        "fake": "eventlens.backends.fake:FakeDetector",
    },
    "landmarker": {
        "dlib_68": "eventlens.backends.dlib_face:DlibLandmarker",
        "fake": "eventlens.backends.fake:FakeLandmarker",
    },
    "eyes": {
        "mediapipe_iris_int8": "eventlens.backends.eyes:IrisInt8Eyes",
        "mediapipe_iris": "eventlens.backends.eyes:IrisEyes",
        "dlib_68": "eventlens.backends.eyes:Dlib68Eyes",
        "fake": "eventlens.backends.eyes:Dlib68Eyes",  # geometry of the (fake) landmarks, no weights
    },
    "embedder": {
        "dlib_resnet": "eventlens.backends.dlib_face:DlibEmbedder",
        "fake": "eventlens.backends.fake:FakeEmbedder",
    },
}


def available(kind: Kind) -> list[str]:
    """Names that can be given for ``kind``."""
    return sorted(_FACTORIES[kind])


def register(kind: Kind, name: str, target: str) -> None:
    """Add a backend (``target`` is ``"package.module:Factory"``); used by plug-ins and tests."""
    _FACTORIES[kind][name] = target


def _create(kind: Kind, name: str, settings: Settings) -> Any:
    try:
        target = _FACTORIES[kind][name]
    except KeyError:
        raise ModelError(f"unknown {kind} {name!r}; available: {', '.join(available(kind))}") from None
    module_name, _, attr = target.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except ImportError as exc:
        raise ModelError(f"{kind} {name!r} is not installed: {exc}") from exc
    except AttributeError:
        raise ModelError(f"{kind} {name!r} is registered as {target!r}, which does not exist") from None
    return factory(settings)


def create_detector(name: str, settings: Settings) -> FaceDetector:
    return _create("detector", name, settings)


def create_landmarker(name: str, settings: Settings) -> FaceLandmarker:
    return _create("landmarker", name, settings)


def create_embedder(name: str, settings: Settings) -> FaceEmbedder:
    return _create("embedder", name, settings)


def create_eye_model(name: str, settings: Settings) -> EyeModel:
    return _create("eyes", name, settings)
