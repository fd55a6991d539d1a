"""How a model runs: a :class:`Session` executes one model file; the model classes own pre/post-processing.

``create_session("onnxruntime", onnx_bytes)`` and friends are the one place that maps a runtime name (the
settings' ``dlib_runtime`` and ``tflite_runtime``) to an engine, failing loudly on an unknown name:

* ``onnxruntime``: an ONNX graph (bytes or a path) on ONNX Runtime's CPU provider, one thread, telemetry
  off (:class:`OrtSession`);
* ``litert``: a ``.tflite`` file on Google's LiteRT, one thread, XNNPACK (:class:`LiteRtSession`);
* ``dlib``: dlib-bin's own CPU code for the dlib ResNet ``.dat`` file (:class:`DlibResnetSession`).

Every session runs one thread: parallelism comes from the worker processes. Runtimes are imported when a
session is created, never when this module is.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from eventlens.errors import ModelError

__all__ = ["RUNTIMES", "Session", "TensorInfo", "check_runtime", "create_session"]


@dataclass(frozen=True)
class TensorInfo:
    """One input or output: its name and shape (the first axis is the batch, ``None`` where it varies)."""

    name: str
    shape: tuple[int | None, ...]


class Session(Protocol):
    """One loaded model. ``run`` takes a batch per input name and returns the outputs in ``outputs`` order,
    each with the batch as first axis; any batch size, 0 included."""

    @property
    def inputs(self) -> Sequence[TensorInfo]: ...

    @property
    def outputs(self) -> Sequence[TensorInfo]: ...

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]: ...


def _batch(inputs: dict[str, np.ndarray], names: Sequence[TensorInfo]) -> np.ndarray:
    """The one input of a single-input session, checked by name."""
    if [i.name for i in names] != list(inputs):
        raise ValueError(f"inputs must be {[i.name for i in names]}, got {list(inputs)}")
    return next(iter(inputs.values()))


def _joined(parts: list[list[np.ndarray]], outputs: Sequence[TensorInfo]) -> list[np.ndarray]:
    """The outputs of the runs of consecutive chunks of one batch, joined; float32 zeros for no runs."""
    if not parts:
        return [np.zeros((0, *(d or 0 for d in o.shape[1:])), np.float32) for o in outputs]
    return [np.concatenate([p[k] for p in parts]) for k in range(len(outputs))]


# --------------------------------------------------------------------------------------
# ONNX Runtime
# --------------------------------------------------------------------------------------

#: ONNX Runtime's opt-out of its telemetry; read when the library loads, so it is set before the import
ORT_TELEMETRY_OPT_OUT = "ORT_DISABLE_TELEMETRY"


def onnxruntime_module() -> Any:
    """The onnxruntime module, with its telemetry off.

    Since 1.2x ONNX Runtime's Linux/macOS builds record a device id, the CPU and the executable path under
    ``~/.cache/Microsoft/DeveloperTools/`` at import and may upload them; ``ORT_DISABLE_TELEMETRY=1`` set
    before the import turns that off entirely, ``disable_telemetry_events()`` covers the later events."""
    os.environ.setdefault(ORT_TELEMETRY_OPT_OUT, "1")
    try:
        import onnxruntime  # noqa: PLC0415 - heavy; imported on first use only
    except ImportError as exc:
        raise ModelError("runtime 'onnxruntime' needs ONNX Runtime: pip install onnxruntime") from exc
    disable = getattr(onnxruntime, "disable_telemetry_events", None)
    if disable is not None:
        disable()
    return onnxruntime


def _dims(shape: Sequence[Any]) -> tuple[int | None, ...]:
    return tuple(d if isinstance(d, int) else None for d in shape)


class OrtSession:
    """An ONNX model on ONNX Runtime's CPU provider: one thread, sequential, all graph optimisations.

    ``batch_size``: inputs per ``InferenceSession.run``; larger batches are cut, which bounds the memory
    ONNX Runtime's arena keeps (for the dlib ResNet ~13 MB at 8, ~45 MB at 32, as fast per face).
    """

    def __init__(self, model: bytes | Path, batch_size: int = 8) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        ort = onnxruntime_module()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3  # errors only
        source = model if isinstance(model, bytes) else str(model)
        try:
            self._session = ort.InferenceSession(
                source, sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            what = "the ONNX graph" if isinstance(model, bytes) else str(model)
            raise ModelError(f"ONNX Runtime cannot load {what}: {exc}") from exc
        self.batch_size = int(batch_size)
        self.inputs = [TensorInfo(i.name, _dims(i.shape)) for i in self._session.get_inputs()]
        self.outputs = [TensorInfo(o.name, _dims(o.shape)) for o in self._session.get_outputs()]

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        x = np.ascontiguousarray(_batch(inputs, self.inputs))
        name = self.inputs[0].name
        parts = [
            self._session.run(None, {name: x[start : start + self.batch_size]})
            for start in range(0, len(x), self.batch_size)
        ]
        return _joined(parts, self.outputs)


# --------------------------------------------------------------------------------------
# LiteRT
# --------------------------------------------------------------------------------------


@contextmanager
def _silenced_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null (native code logs there; Python exceptions are unaffected)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class LiteRtSession:
    """A float32-input ``.tflite`` model with one input on LiteRT (one thread, XNNPACK).

    LiteRT fixes tensor shapes at allocation (~3-6 ms, and memory proportional to the batch): full chunks
    of ``chunk`` inputs run on one interpreter allocated once, a remainder of ``r`` inputs on an interpreter
    kept for that ``r`` (at most ``chunk - 1`` of them, each allocated on first use, so photos with varying
    face counts never re-allocate). Speed is flat from 1 to 64 inputs per call.
    """

    def __init__(self, model: Path, chunk: int = 8) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter  # noqa: PLC0415 - heavy; on first use only
        except ImportError as exc:
            raise ModelError("runtime 'litert' needs LiteRT: pip install ai-edge-litert") from exc
        self._path, self._factory, self._chunk = Path(model), Interpreter, int(chunk)
        try:
            self._full = self._interpreter(self._chunk)
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"LiteRT cannot load {model}: {exc}") from exc
        self._tails: dict[int, Any] = {}

    def _interpreter(self, batch: int) -> Any:
        interpreter = self._factory(model_path=str(self._path), num_threads=1)
        detail = interpreter.get_input_details()
        if len(detail) != 1:
            raise ValueError(f"LiteRtSession runs models with one input, this one has {len(detail)}")
        self._input, shape = int(detail[0]["index"]), [int(v) for v in detail[0]["shape"][1:]]
        self.inputs = [TensorInfo(detail[0]["name"], (None, *shape))]
        # the shapes the model declares for batch 1; some graphs fold the batch into another axis (the
        # iris model reshapes to (1, 213 * batch)), so outputs are given back per sample in these shapes
        self.outputs = [
            TensorInfo(d["name"], (None, *(int(v) for v in d["shape"][1:])))
            for d in interpreter.get_output_details()
        ]
        interpreter.resize_tensor_input(self._input, [batch, *shape])
        with _silenced_stderr():  # LiteRT's C++ logs "INFO: Created TensorFlow Lite XNNPACK delegate"
            interpreter.allocate_tensors()
        return interpreter

    def _invoke(self, x: np.ndarray) -> list[np.ndarray]:
        if len(x) == self._chunk:
            it = self._full
        else:
            if len(x) not in self._tails:
                self._tails[len(x)] = self._interpreter(len(x))
            it = self._tails[len(x)]
        it.set_tensor(self._input, x)
        it.invoke()
        return [
            it.get_tensor(d["index"]).reshape(len(x), *o.shape[1:])
            for d, o in zip(it.get_output_details(), self.outputs, strict=True)
        ]

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        x = np.ascontiguousarray(_batch(inputs, self.inputs), dtype=np.float32)
        parts = [self._invoke(x[start : start + self._chunk]) for start in range(0, len(x), self._chunk)]
        return _joined(parts, self.outputs)


# --------------------------------------------------------------------------------------
# dlib-bin
# --------------------------------------------------------------------------------------


class DlibResnetSession:
    """dlib's ResNet face descriptor (``dlib_face_recognition_resnet_model_v1.dat``) on dlib-bin's own CPU
    code: input ``chips`` uint8 (N, 150, 150, 3) RGB, output ``descriptors`` float32 (N, 128)."""

    inputs = [TensorInfo("chips", (None, 150, 150, 3))]
    outputs = [TensorInfo("descriptors", (None, 128))]

    def __init__(self, model: Path) -> None:
        try:
            import dlib  # noqa: PLC0415 - heavy; imported on first use only
        except ImportError as exc:
            raise ModelError("runtime 'dlib' needs dlib: pip install dlib-bin") from exc
        try:
            self._net = dlib.face_recognition_model_v1(str(model))
        except RuntimeError as exc:
            raise ModelError(f"dlib cannot load {model}: {exc}") from exc

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        chips = _batch(inputs, self.inputs)
        vectors = self._net.compute_face_descriptor([np.ascontiguousarray(c) for c in chips])
        return [np.array([np.asarray(v) for v in vectors], dtype=np.float32).reshape(len(chips), 128)]


#: runtime name -> session class (each takes the model file, or ONNX bytes, as its first argument)
_SESSIONS: dict[str, Callable[..., Session]] = {
    "onnxruntime": OrtSession,
    "litert": LiteRtSession,
    "dlib": DlibResnetSession,
}
RUNTIMES = tuple(_SESSIONS)


def check_runtime(runtime: str, choices: Sequence[str], what: str = "runtime") -> str:
    """``runtime`` if it is one of ``choices`` (the runtimes that can run a model), else ModelError with a
    "did you mean"."""
    if runtime not in choices:
        from eventlens.backends.registry import unknown_name_message  # noqa: PLC0415 - avoids a cycle

        raise ModelError(unknown_name_message(what, runtime, list(choices)))
    return runtime


def create_session(runtime: str, model: bytes | Path, **options: Any) -> Session:
    """A session of ``runtime`` for ``model``; ModelError on an unknown runtime (never another one) or when
    the runtime is missing or cannot load the model."""
    return _SESSIONS[check_runtime(runtime, RUNTIMES)](model, **options)
