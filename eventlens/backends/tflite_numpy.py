"""A small numpy interpreter for float32 TensorFlow Lite models (enough for MediaPipe's iris model).

A ``.tflite`` file is a FlatBuffer (``tensorflow/lite/schema/schema.fbs``, file identifier ``TFL3``).
:func:`parse_tflite` reads it with a hand-written, bounds-checked reader (``struct`` only) into a
:class:`TfliteGraph`; :class:`TfliteInterpreter` turns that graph into a list of numpy steps once, with
the weights already in the layout the steps need, and runs any batch ``(N, ...)`` through it.

Supported, with TFLite's exact semantics (``tensorflow/lite/kernels/*.cc`` reference kernels):

* ``CONV_2D``: filter ``(O, kh, kw, I)``, bias ``(O,)`` (required, as in TFLite), stride, dilation,
  ``SAME``/``VALID`` padding (``SAME`` puts ``total // 2`` zeros before and the rest after), fused
  activation; computed as an im2col copy and one matmul (1x1 stride-1 convolutions skip the copy).
* ``DEPTHWISE_CONV_2D``: filter ``(1, kh, kw, I * M)`` where output channel ``c * M + m`` reads input
  channel ``c`` (``M`` = depth multiplier), a bias, the same stride/dilation/padding rules; a sum over the
  ``kh * kw`` shifted windows.
* ``MAX_POOL_2D``: ``SAME`` padding ignores the padded positions (they are ``-inf``), fused activation.
* ``ADD`` (numpy broadcasting, fused activation), ``PRELU`` (``x`` if ``x >= 0`` else ``alpha * x``, alpha
  broadcast from the right), ``PAD`` (constant zeros; the paddings must be a constant int32 tensor),
  ``RESHAPE`` (the target shape from the output tensor, checked against the shape input / option).
* Fused activations ``NONE``, ``RELU``, ``RELU_N1_TO_1`` and ``RELU6``.

Anything else raises :class:`ValueError` naming the problem: another op (``DEQUANTIZE`` in particular,
which is how float16 / int8 weight files look), a tensor that is not float32 (int32 only as the
shape / paddings operand of ``RESHAPE`` / ``PAD``), quantisation or sparsity parameters, external or
offset buffers, several subgraphs, a truncated or malformed file, or a declared tensor shape that does not
match what the op computes (every op's output shape is checked at load time).

Batching: the graph is written for batch 1; every activation tensor must have batch dimension 1 and every
op must act per sample, so a batch of ``N`` inputs runs in passes of up to ``max_batch`` samples and
gives the per-sample results. On MediaPipe's iris model the outputs agree with Google's runtime
(ai-edge-litert 2.3) to < 5e-5 px on 340 real eye crops. Only numpy and the standard library are used;
importing this module does no work.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__ = [
    "DEFAULT_MAX_BATCH",
    "SUPPORTED_OPS",
    "TfliteTensor",
    "TfliteOperator",
    "TfliteGraph",
    "parse_tflite",
    "TfliteInterpreter",
]

# --------------------------------------------------------------------------------------
# Schema constants (tensorflow/lite/schema/schema.fbs)
# --------------------------------------------------------------------------------------

DEFAULT_MAX_BATCH = 8
"""Samples per forward pass inside :meth:`TfliteInterpreter.run`: larger batches are split so the
activations of one pass stay in the CPU caches (for the 64x64 iris model ~2 MB per tensor at 8)."""

_FILE_IDENTIFIER = b"TFL3"
_SCHEMA_VERSION = 3

_OP_NAMES = {
    0: "ADD", 1: "AVERAGE_POOL_2D", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D",
    5: "DEPTH_TO_SPACE", 6: "DEQUANTIZE", 8: "FLOOR", 9: "FULLY_CONNECTED", 11: "L2_NORMALIZATION",
    14: "LOGISTIC", 17: "MAX_POOL_2D", 18: "MUL", 19: "RELU", 20: "RELU_N1_TO_1", 21: "RELU6",
    22: "RESHAPE", 23: "RESIZE_BILINEAR", 25: "SOFTMAX", 28: "TANH", 31: "CALL", 32: "CUSTOM", 34: "PAD",
    39: "TRANSPOSE", 40: "MEAN", 41: "SUB", 42: "DIV", 43: "SQUEEZE", 45: "STRIDED_SLICE", 53: "CAST",
    54: "PRELU", 55: "MAXIMUM", 57: "MINIMUM", 60: "PADV2", 67: "TRANSPOSE_CONV", 114: "QUANTIZE",
    117: "HARD_SWISH",
}  # fmt: skip
"""Builtin operator codes -> names (for the ops used here and for readable error messages)."""

SUPPORTED_OPS = frozenset({"ADD", "CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "PAD", "PRELU", "RESHAPE"})
"""The TFLite builtin operators :class:`TfliteInterpreter` can run."""

_TENSOR_TYPES = {
    0: "FLOAT32", 1: "FLOAT16", 2: "INT32", 3: "UINT8", 4: "INT64", 5: "STRING", 6: "BOOL", 7: "INT16",
    8: "COMPLEX64", 9: "INT8", 10: "FLOAT64", 11: "COMPLEX128", 12: "UINT64", 13: "RESOURCE", 14: "VARIANT",
    15: "UINT32", 16: "UINT16", 17: "INT4", 18: "BFLOAT16",
}  # fmt: skip
_NUMPY_TYPES = {"FLOAT32": np.dtype("<f4"), "INT32": np.dtype("<i4")}

# BuiltinOptions union member each supported op must carry (0 = none).
_OPTIONS_TYPE = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 2, "MAX_POOL_2D": 5, "ADD": 11, "RESHAPE": 17, "PAD": 22}

_PADDING = {0: "SAME", 1: "VALID"}
_ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
_SUPPORTED_ACTIVATIONS = ("NONE", "RELU", "RELU_N1_TO_1", "RELU6")

# --------------------------------------------------------------------------------------
# FlatBuffer reader
# --------------------------------------------------------------------------------------


def _fail(what: str) -> ValueError:
    return ValueError(f"TFLite model: {what}")


class _Buf:
    """Bounds-checked little-endian reads from the file's bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def _check(self, pos: int, size: int, what: str) -> None:
        if pos < 0 or pos + size > len(self.data):
            raise _fail(
                f"file is truncated or malformed: {what} at byte {pos} is outside the {len(self.data)}"
                " bytes of the file"
            )

    def scalar(self, fmt: str, pos: int, what: str) -> int | float:
        size = struct.calcsize(fmt)
        self._check(pos, size, what)
        return struct.unpack_from("<" + fmt, self.data, pos)[0]

    def uoffset(self, pos: int, what: str) -> int:
        """Follow the unsigned 32-bit offset stored at ``pos``."""
        return pos + int(self.scalar("I", pos, what))


class _Table:
    """One FlatBuffer table: fields are looked up by slot number through its vtable."""

    def __init__(self, buf: _Buf, pos: int, what: str) -> None:
        self.buf, self.pos, self.what = buf, pos, what
        vtable = pos - int(buf.scalar("i", pos, what + " vtable offset"))
        vt_size = int(buf.scalar("H", vtable, what + " vtable size"))
        if vt_size < 4 or vt_size % 2:
            raise _fail(f"malformed vtable of {what} (size {vt_size})")
        buf._check(vtable, vt_size, what + " vtable")
        self.n_slots = (vt_size - 4) // 2
        self.vtable = vtable

    def _field(self, slot: int) -> int:
        """Absolute position of a field, or 0 when it is absent (default value)."""
        if slot >= self.n_slots:
            return 0
        rel = int(self.buf.scalar("H", self.vtable + 4 + 2 * slot, self.what))
        return self.pos + rel if rel else 0

    def has(self, slot: int) -> bool:
        return self._field(slot) != 0

    def scalar(self, slot: int, fmt: str, default: int | float, name: str) -> int | float:
        p = self._field(slot)
        return self.buf.scalar(fmt, p, f"{self.what}.{name}") if p else default

    def table(self, slot: int, name: str) -> _Table | None:
        p = self._field(slot)
        return (
            _Table(self.buf, self.buf.uoffset(p, f"{self.what}.{name}"), f"{self.what}.{name}") if p else None
        )

    def _vector(self, slot: int, name: str) -> tuple[int, int] | None:
        """(position of the first element, length) of a vector field, or None when absent."""
        p = self._field(slot)
        if not p:
            return None
        vec = self.buf.uoffset(p, f"{self.what}.{name}")
        n = int(self.buf.scalar("I", vec, f"{self.what}.{name} length"))
        return vec + 4, n

    def vector_len(self, slot: int, name: str) -> int:
        v = self._vector(slot, name)
        return v[1] if v else 0

    def ints(self, slot: int, name: str, fmt: str = "i") -> list[int]:
        v = self._vector(slot, name)
        if v is None:
            return []
        start, n = v
        size = struct.calcsize(fmt)
        self.buf._check(start, n * size, f"{self.what}.{name} elements")
        return [int(x) for x in struct.unpack_from(f"<{n}{fmt}", self.buf.data, start)]

    def raw_bytes(self, slot: int, name: str) -> memoryview:
        v = self._vector(slot, name)
        if v is None:
            return memoryview(b"")
        start, n = v
        self.buf._check(start, n, f"{self.what}.{name} bytes")
        return memoryview(self.buf.data)[start : start + n]

    def tables(self, slot: int, name: str) -> list[_Table]:
        v = self._vector(slot, name)
        if v is None:
            return []
        start, n = v
        self.buf._check(start, 4 * n, f"{self.what}.{name} elements")
        return [
            _Table(self.buf, self.buf.uoffset(start + 4 * i, f"{self.what}.{name}[{i}]"), f"{name}[{i}]")
            for i in range(n)
        ]

    def string(self, slot: int, name: str) -> str:
        v = self._vector(slot, name)
        if v is None:
            return ""
        start, n = v
        self.buf._check(start, n, f"{self.what}.{name}")
        return bytes(self.buf.data[start : start + n]).decode("utf-8", errors="replace")


# --------------------------------------------------------------------------------------
# Parsed graph
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TfliteTensor:
    """One tensor of the graph.

    ``shape`` is the declared shape (batch first for activations); ``dtype`` the TFLite type name
    (``FLOAT32`` or ``INT32``); ``data`` a read-only numpy array of that shape for constants (weights,
    shape operands), else None.
    """

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    data: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class TfliteOperator:
    """One operator: ``op`` is the builtin name, ``inputs`` / ``outputs`` tensor indices (-1 = omitted
    optional input), ``options`` the decoded builtin options (strides, padding, activation, ...)."""

    index: int
    op: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class TfliteGraph:
    """The single subgraph of a model: tensors, operators in execution order, graph inputs and outputs."""

    tensors: tuple[TfliteTensor, ...]
    operators: tuple[TfliteOperator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    description: str = ""


def _op_name(code_table: _Table) -> str:
    deprecated = int(code_table.scalar(0, "b", 0, "deprecated_builtin_code"))
    builtin = int(code_table.scalar(3, "i", 0, "builtin_code"))
    code = max(deprecated, builtin)  # the schema's rule: the larger one is the real code
    name = _OP_NAMES.get(code, f"builtin operator #{code}")
    if name == "CUSTOM":
        name = f"CUSTOM ({code_table.string(1, 'custom_code')!r})"
    return name


def _parse_tensor(t: _Table, index: int, buffers: list[_Table]) -> TfliteTensor:
    name = t.string(3, "name")
    what = f"tensor {index} ({name!r})"
    shape = tuple(t.ints(0, "shape"))
    type_code = int(t.scalar(1, "b", 0, "type"))
    dtype = _TENSOR_TYPES.get(type_code, f"type #{type_code}")
    if dtype not in _NUMPY_TYPES:
        hint = " (quantised / reduced-precision weights are not supported)" if dtype != "FLOAT32" else ""
        raise _fail(f"{what} has type {dtype}; only FLOAT32 (and INT32 shape operands) are supported{hint}")
    if any(d < 0 for d in shape):
        raise _fail(f"{what} has a dynamic shape {shape}")
    q = t.table(4, "quantization")
    if q is not None and (q.vector_len(2, "scale") or q.vector_len(3, "zero_point") or q.has(5)):
        raise _fail(f"{what} is quantised; only float32 models are supported")
    if t.scalar(5, "B", 0, "is_variable") or t.has(6) or t.vector_len(9, "variant_tensors"):
        raise _fail(f"{what} is a variable, sparse or variant tensor, which is not supported")
    if t.scalar(10, "I", 0, "external_buffer"):
        raise _fail(f"{what} uses an external buffer, which is not supported")
    buffer_index = int(t.scalar(2, "I", 0, "buffer"))
    if buffer_index >= len(buffers):
        raise _fail(f"{what} refers to buffer {buffer_index} of {len(buffers)}")
    data = None
    if buffer_index:
        b = buffers[buffer_index]
        if b.scalar(1, "Q", 0, "offset") > 1 or b.scalar(2, "Q", 0, "size"):
            raise _fail(
                f"{what} keeps its data outside the flatbuffer (offset buffer), which is not supported"
            )
        raw = b.raw_bytes(0, "data")
        if len(raw):
            np_type = _NUMPY_TYPES[dtype]
            count = int(np.prod(shape, dtype=np.int64)) if shape else 1
            if len(raw) != count * np_type.itemsize:
                raise _fail(
                    f"{what}: buffer has {len(raw)} bytes, shape {shape} x {dtype} needs "
                    f"{count * np_type.itemsize}"
                )
            data = np.frombuffer(raw, dtype=np_type).astype(np_type.newbyteorder("="))
            data = data.reshape(shape)
            data.flags.writeable = False
    return TfliteTensor(index=index, name=name, shape=shape, dtype=dtype, data=data)


def _parse_options(op_name: str, op: _Table, what: str) -> dict[str, object]:
    """Decode the builtin options of a supported op (schema defaults for absent fields)."""
    opt_type = int(op.scalar(3, "B", 0, "builtin_options_type"))
    expected = _OPTIONS_TYPE.get(op_name, 0)
    if op.has(11) and op.scalar(11, "B", 0, "builtin_options_2_type"):
        raise _fail(f"{what} has builtin_options_2, which is not supported")
    if op.vector_len(5, "custom_options") or op.vector_len(8, "intermediates"):
        raise _fail(f"{what} has custom options or intermediates, which is not supported")
    if opt_type not in (0, expected):
        raise _fail(f"{what} has builtin options of union type {opt_type}, expected {expected}")
    o = op.table(4, "builtin_options") if opt_type else None

    def get(slot: int, fmt: str, default: int) -> int:
        return int(o.scalar(slot, fmt, default, f"option {slot}")) if o is not None else default

    def act(slot: int) -> str:
        code = get(slot, "b", 0)
        a = _ACTIVATIONS.get(code, f"#{code}")
        if a not in _SUPPORTED_ACTIVATIONS:
            raise _fail(f"{what} has fused activation {a}; supported: {', '.join(_SUPPORTED_ACTIVATIONS)}")
        return a

    def pad(slot: int) -> str:
        code = get(slot, "b", 0)
        if code not in _PADDING:
            raise _fail(f"{what} has unknown padding #{code}")
        return _PADDING[code]

    opts: dict[str, object] = {}
    if op_name in ("CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D"):
        opts = {"padding": pad(0), "stride": (get(2, "i", 0), get(1, "i", 0))}  # (rows, cols)
    if op_name == "CONV_2D":
        opts |= {"activation": act(3), "dilation": (get(5, "i", 1), get(4, "i", 1))}
    elif op_name == "DEPTHWISE_CONV_2D":
        opts |= {"depth_multiplier": get(3, "i", 0), "activation": act(4)}
        opts |= {"dilation": (get(6, "i", 1), get(5, "i", 1))}
    elif op_name == "MAX_POOL_2D":
        opts |= {"filter": (get(4, "i", 0), get(3, "i", 0)), "activation": act(5)}
    elif op_name == "ADD":
        opts = {"activation": act(0)}
    elif op_name == "RESHAPE":
        opts = {"new_shape": tuple(o.ints(0, "new_shape")) if o is not None and o.has(0) else None}
    return opts


def _parse_operator(op: _Table, index: int, op_names: list[str]) -> TfliteOperator:
    code_index = int(op.scalar(0, "I", 0, "opcode_index"))
    if code_index >= len(op_names):
        raise _fail(f"operator {index} refers to operator code {code_index} of {len(op_names)}")
    name = op_names[code_index]
    what = f"operator {index} ({name})"
    if name not in SUPPORTED_OPS:
        hint = " (the model has float16 or quantised weights)" if name == "DEQUANTIZE" else ""
        raise _fail(f"{what} is not supported{hint}; supported ops: {', '.join(sorted(SUPPORTED_OPS))}")
    return TfliteOperator(
        index=index,
        op=name,
        inputs=tuple(op.ints(1, "inputs")),
        outputs=tuple(op.ints(2, "outputs")),
        options=_parse_options(name, op, what),
    )


def parse_tflite(data: bytes) -> TfliteGraph:
    """Parse a ``.tflite`` file's bytes into a :class:`TfliteGraph`.

    Raises ValueError for a truncated or malformed file, an unsupported op, tensor type or schema feature.
    The weights are copied out of ``data``.
    """
    if len(data) < 8:
        raise _fail(f"file is truncated ({len(data)} bytes)")
    if data[4:8] != _FILE_IDENTIFIER:
        raise _fail(f"not a TFLite FlatBuffer (file identifier {bytes(data[4:8])!r}, expected 'TFL3')")
    buf = _Buf(data)
    model = _Table(buf, buf.uoffset(0, "root table"), "model")
    version = int(model.scalar(0, "I", 0, "version"))
    if version != _SCHEMA_VERSION:
        raise _fail(f"schema version {version}, expected {_SCHEMA_VERSION}")
    subgraphs = model.tables(2, "subgraphs")
    if len(subgraphs) != 1:
        raise _fail(f"{len(subgraphs)} subgraphs; exactly one is supported")
    op_names = [_op_name(c) for c in model.tables(1, "operator_codes")]
    buffers = model.tables(4, "buffers")
    sg = subgraphs[0]
    tensors = tuple(_parse_tensor(t, i, buffers) for i, t in enumerate(sg.tables(0, "tensors")))
    operators = tuple(_parse_operator(op, i, op_names) for i, op in enumerate(sg.tables(3, "operators")))
    graph = TfliteGraph(
        tensors=tensors,
        operators=operators,
        inputs=tuple(sg.ints(1, "inputs")),
        outputs=tuple(sg.ints(2, "outputs")),
        description=model.string(3, "description"),
    )
    for i in (*graph.inputs, *graph.outputs, *(j for op in operators for j in (*op.inputs, *op.outputs))):
        if not -1 <= i < len(tensors):
            raise _fail(f"tensor index {i} is out of range (the graph has {len(tensors)} tensors)")
    return graph


# --------------------------------------------------------------------------------------
# Compiled steps
# --------------------------------------------------------------------------------------

_Kernel = Callable[[list[np.ndarray]], np.ndarray]


@dataclass(frozen=True, eq=False)
class _Step:
    """One op ready to run: ``kernel`` maps the values of ``inputs`` (activations only) to ``output``."""

    op: str
    inputs: tuple[int, ...]
    output: int
    kernel: _Kernel


def _apply_activation(x: np.ndarray, activation: str) -> np.ndarray:
    """Fused activation, in place on a float32 array."""
    if activation == "RELU":
        np.maximum(x, 0, out=x)
    elif activation == "RELU6":
        np.clip(x, 0, 6, out=x)
    elif activation == "RELU_N1_TO_1":
        np.clip(x, -1, 1, out=x)
    return x


def _out_and_pad(size: int, kernel: int, stride: int, dilation: int, padding: str) -> tuple[int, int, int]:
    """TFLite's output size and (before, after) padding along one spatial axis."""
    eff = (kernel - 1) * dilation + 1
    if padding == "SAME":
        out = (size + stride - 1) // stride
        total = max((out - 1) * stride + eff - size, 0)
        return out, total // 2, total - total // 2
    out = (size + stride - eff) // stride
    return out, 0, 0


def _pad_hw(x: np.ndarray, pads: tuple[tuple[int, int], tuple[int, int]], value: float) -> np.ndarray:
    (pt, pb), (pl, pr) = pads
    if not (pt or pb or pl or pr):
        return x
    n, h, w, c = x.shape
    out = np.full((n, h + pt + pb, w + pl + pr, c), value, dtype=np.float32)
    out[:, pt : pt + h, pl : pl + w, :] = x
    return out


@dataclass(frozen=True)
class _Window:
    """Geometry of a 2-D sliding window over NHWC input of spatial size ``in_hw``."""

    in_hw: tuple[int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    padding: str

    def out_and_pads(self) -> tuple[tuple[int, int], tuple[tuple[int, int], tuple[int, int]]]:
        rows = _out_and_pad(self.in_hw[0], self.kernel[0], self.stride[0], self.dilation[0], self.padding)
        cols = _out_and_pad(self.in_hw[1], self.kernel[1], self.stride[1], self.dilation[1], self.padding)
        return (rows[0], cols[0]), ((rows[1], rows[2]), (cols[1], cols[2]))

    def views(self, xp: np.ndarray) -> list[np.ndarray]:
        """One strided (N, ho, wo, C) view of padded input ``xp`` per kernel offset, row-major."""
        (ho, wo), _ = self.out_and_pads()
        (sy, sx), (dy, dx) = self.stride, self.dilation
        return [
            xp[:, i * dy : i * dy + sy * (ho - 1) + 1 : sy, j * dx : j * dx + sx * (wo - 1) + 1 : sx, :]
            for i in range(self.kernel[0])
            for j in range(self.kernel[1])
        ]


class _Compiler:
    """Turns a :class:`TfliteGraph` into :class:`_Step` s, checking every declared shape on the way."""

    def __init__(self, graph: TfliteGraph) -> None:
        self.graph = graph
        self.tensors = graph.tensors

    # -- helpers ---------------------------------------------------------------------------------

    def fail(self, op: TfliteOperator, what: str) -> ValueError:
        return _fail(f"operator {op.index} ({op.op}): {what}")

    def tensor(self, op: TfliteOperator, i: int, role: str) -> TfliteTensor:
        if not 0 <= i < len(op.inputs) or op.inputs[i] < 0:
            raise self.fail(op, f"missing {role} input")
        return self.tensors[op.inputs[i]]

    def activation(self, op: TfliteOperator, i: int, rank: int = 4) -> TfliteTensor:
        """An input that must be a float32 activation with batch dimension 1 and the given rank."""
        t = self.tensor(op, i, f"activation #{i}")
        if t.data is not None or t.dtype != "FLOAT32" or len(t.shape) != rank or t.shape[0] != 1:
            raise self.fail(
                op,
                f"input {t.name!r} must be a float32 rank-{rank} activation with batch 1, got "
                f"{t.dtype} {t.shape}{' (constant)' if t.data is not None else ''}",
            )
        return t

    def constant(self, op: TfliteOperator, i: int, role: str, dtype: str = "FLOAT32") -> np.ndarray:
        t = self.tensor(op, i, role)
        if t.data is None or t.dtype != dtype:
            raise self.fail(op, f"{role} {t.name!r} must be a constant {dtype} tensor")
        return t.data

    def output(self, op: TfliteOperator, shape: tuple[int, ...]) -> int:
        if len(op.outputs) != 1:
            raise self.fail(op, f"{len(op.outputs)} outputs, expected 1")
        t = self.tensors[op.outputs[0]]
        if t.dtype != "FLOAT32" or t.data is not None:
            raise self.fail(op, f"output {t.name!r} must be a non-constant float32 tensor")
        if tuple(t.shape) != tuple(shape):
            raise self.fail(op, f"output {t.name!r} is declared {t.shape} but the op computes {shape}")
        return op.outputs[0]

    def check_inputs(self, op: TfliteOperator, n_max: int, n_min: int | None = None) -> None:
        n_min = n_max if n_min is None else n_min
        if not n_min <= len(op.inputs) <= n_max:
            raise self.fail(op, f"{len(op.inputs)} inputs, expected {n_min}..{n_max}")

    def window(self, op: TfliteOperator, in_hw: tuple[int, int], kernel: tuple[int, int]) -> _Window:
        stride = tuple(op.options["stride"])  # type: ignore[arg-type]
        dilation = tuple(op.options.get("dilation", (1, 1)))  # type: ignore[arg-type]
        if min(stride) < 1 or min(dilation) < 1 or min(kernel) < 1:
            raise self.fail(op, f"invalid stride {stride}, dilation {dilation} or kernel {kernel}")
        w = _Window(in_hw, kernel, stride, dilation, str(op.options["padding"]))  # type: ignore[arg-type]
        if min(w.out_and_pads()[0]) < 1:
            raise self.fail(op, f"window {kernel} does not fit the {in_hw} input")
        return w

    # -- ops -------------------------------------------------------------------------------------

    def conv(self, op: TfliteOperator) -> _Step:
        self.check_inputs(op, 3, 2)
        x = self.activation(op, 0)
        w = self.constant(op, 1, "filter")
        if w.ndim != 4 or w.shape[3] != x.shape[3]:
            raise self.fail(op, f"filter shape {w.shape} does not fit input channels {x.shape[3]}")
        o, kh, kw, c = w.shape
        bias = self.bias(op, o)
        win = self.window(op, (x.shape[1], x.shape[2]), (kh, kw))
        (ho, wo), pads = win.out_and_pads()
        out = self.output(op, (1, ho, wo, o))
        act = str(op.options["activation"])
        mat = np.ascontiguousarray(w.transpose(1, 2, 3, 0).reshape(kh * kw * c, o), dtype=np.float32)
        pointwise = (kh, kw) == (1, 1) and win.stride == (1, 1)

        def kernel(args: list[np.ndarray]) -> np.ndarray:
            v = args[0]
            n = v.shape[0]
            if pointwise:
                cols = v.reshape(n * ho * wo, c)
            else:
                xp = np.ascontiguousarray(_pad_hw(v, pads, 0.0))
                s_n, s_h, s_w, s_c = xp.strides
                (sy, sx), (dy, dx) = win.stride, win.dilation
                view = as_strided(
                    xp,
                    (n, ho, wo, kh, kw, c),
                    (s_n, sy * s_h, sx * s_w, dy * s_h, dx * s_w, s_c),
                    writeable=False,
                )
                cols = view.reshape(n * ho * wo, kh * kw * c)  # one copy, rows ordered (kh, kw, C)
            res = cols @ mat
            res += bias
            return _apply_activation(res, act).reshape(n, ho, wo, o)

        return _Step(op.op, (op.inputs[0],), out, kernel)

    def bias(self, op: TfliteOperator, channels: int) -> np.ndarray:
        if len(op.inputs) < 3 or op.inputs[2] < 0:  # TFLite's float kernels require it too
            raise self.fail(op, "has no bias input; float convolutions need one")
        b = self.constant(op, 2, "bias")
        if b.shape != (channels,):
            raise self.fail(op, f"bias shape {b.shape}, expected ({channels},)")
        return np.array(b, dtype=np.float32)

    def depthwise(self, op: TfliteOperator) -> _Step:
        self.check_inputs(op, 3, 2)
        x = self.activation(op, 0)
        w = self.constant(op, 1, "filter")
        c = x.shape[3]
        if w.ndim != 4 or w.shape[0] != 1 or w.shape[3] % c:
            raise self.fail(op, f"filter shape {w.shape} does not fit input channels {c}")
        _, kh, kw, oc = w.shape
        mult = oc // c
        declared = int(op.options["depth_multiplier"])  # type: ignore[call-overload]
        if declared not in (0, mult):  # 0 = "derive from the shapes", as TFLite does
            raise self.fail(op, f"depth_multiplier {declared} but filter/input channels give {mult}")
        bias = self.bias(op, oc)
        win = self.window(op, (x.shape[1], x.shape[2]), (kh, kw))
        (ho, wo), pads = win.out_and_pads()
        out = self.output(op, (1, ho, wo, oc))
        act = str(op.options["activation"])
        taps = np.ascontiguousarray(w.reshape(kh * kw, oc), dtype=np.float32)

        def kernel(args: list[np.ndarray]) -> np.ndarray:
            v = args[0] if mult == 1 else np.repeat(args[0], mult, axis=3)  # channel c*M+m <- c
            xp = _pad_hw(v, pads, 0.0)
            views = win.views(xp)
            acc = views[0] * taps[0]
            tmp = np.empty_like(acc)
            for view, tap in zip(views[1:], taps[1:], strict=True):
                np.multiply(view, tap, out=tmp)
                acc += tmp
            acc += bias
            return _apply_activation(acc, act)

        return _Step(op.op, (op.inputs[0],), out, kernel)

    def max_pool(self, op: TfliteOperator) -> _Step:
        self.check_inputs(op, 1)
        x = self.activation(op, 0)
        win = self.window(op, (x.shape[1], x.shape[2]), tuple(op.options["filter"]))  # type: ignore[arg-type]
        (ho, wo), pads = win.out_and_pads()
        out = self.output(op, (1, ho, wo, x.shape[3]))
        act = str(op.options["activation"])

        def kernel(args: list[np.ndarray]) -> np.ndarray:
            views = win.views(_pad_hw(args[0], pads, -np.inf))  # padded cells never win
            acc = np.array(views[0], dtype=np.float32, copy=True)
            for view in views[1:]:
                np.maximum(acc, view, out=acc)
            return _apply_activation(acc, act)

        return _Step(op.op, (op.inputs[0],), out, kernel)

    def binary_operand(self, op: TfliteOperator, i: int) -> tuple[int | None, np.ndarray | None, tuple]:
        """(activation index, None, shape) or (None, constant, shape) of an ADD/PRELU operand."""
        t = self.tensor(op, i, f"operand #{i}")
        if t.dtype != "FLOAT32":
            raise self.fail(op, f"operand {t.name!r} has type {t.dtype}")
        if t.data is not None:
            return None, np.array(t.data, dtype=np.float32), t.shape
        if not t.shape or t.shape[0] != 1:
            raise self.fail(op, f"activation {t.name!r} must have batch dimension 1, got {t.shape}")
        return op.inputs[i], None, t.shape

    def broadcast_shape(self, op: TfliteOperator, a: tuple, b: tuple) -> tuple[int, ...]:
        try:
            return tuple(np.broadcast_shapes(a, b))
        except ValueError:
            raise self.fail(op, f"shapes {a} and {b} do not broadcast") from None

    def add(self, op: TfliteOperator) -> _Step:
        self.check_inputs(op, 2)
        (ia, ca, sa), (ib, cb, sb) = self.binary_operand(op, 0), self.binary_operand(op, 1)
        shape = self.broadcast_shape(op, sa, sb)
        if ia is None and ib is None:
            raise self.fail(op, "both operands are constants")
        if len(shape) != max(len(s) for s, i in ((sa, ia), (sb, ib)) if i is not None) or shape[0] != 1:
            raise self.fail(op, f"a constant operand would change the batch axis of the result {shape}")
        out = self.output(op, shape)
        act = str(op.options["activation"])
        inputs = tuple(i for i in (ia, ib) if i is not None)

        def kernel(args: list[np.ndarray]) -> np.ndarray:
            it = iter(args)
            a = next(it) if ia is not None else ca
            b = next(it) if ib is not None else cb
            return _apply_activation(np.add(a, b, dtype=np.float32), act)

        return _Step(op.op, inputs, out, kernel)

    def prelu(self, op: TfliteOperator) -> _Step:
        self.check_inputs(op, 2)
        ix, _, sx = self.binary_operand(op, 0)
        alpha = self.constant(op, 1, "alpha")
        if ix is None:
            raise self.fail(op, "the input is a constant")
        shape = self.broadcast_shape(op, sx, alpha.shape)
        if shape != tuple(sx):
            raise self.fail(op, f"alpha {alpha.shape} would broadcast the input {sx} to {shape}")
        out = self.output(op, shape)
        a = np.array(alpha, dtype=np.float32)

        def kernel(args: list[np.ndarray]) -> np.ndarray:
            # min(v, 0) * alpha + max(v, 0) equals "v >= 0 ? v : alpha * v" exactly (one addend is 0).
            out = np.minimum(args[0], 0)
            out *= a
            out += np.maximum(args[0], 0)
            return out

        return _Step(op.op, (ix,), out, kernel)

    def pad(self, op: TfliteOperator) -> _Step:
        self.check_inputs(op, 2)
        x = self.tensor(op, 0, "input")
        if x.data is not None or x.dtype != "FLOAT32" or not x.shape or x.shape[0] != 1:
            raise self.fail(op, f"input {x.name!r} must be a float32 activation with batch 1")
        p = self.constant(op, 1, "paddings", dtype="INT32")
        if p.shape != (len(x.shape), 2) or (p < 0).any():
            raise self.fail(op, f"paddings {p.tolist()} do not fit input rank {len(x.shape)}")
        if p[0].any():
            raise self.fail(op, "padding the batch dimension is not supported")
        widths = [(int(a), int(b)) for a, b in p]
        out = self.output(op, tuple(d + a + b for d, (a, b) in zip(x.shape, widths, strict=True)))

        def kernel(args: list[np.ndarray]) -> np.ndarray:
            return np.pad(args[0], widths, mode="constant", constant_values=0.0)

        return _Step(op.op, (op.inputs[0],), out, kernel)

    def reshape(self, op: TfliteOperator) -> _Step:
        self.check_inputs(op, 2, 1)
        x = self.tensor(op, 0, "input")
        if x.data is not None or x.dtype != "FLOAT32" or not x.shape or x.shape[0] != 1:
            raise self.fail(op, f"input {x.name!r} must be a float32 activation with batch 1")
        if len(op.outputs) != 1:
            raise self.fail(op, f"{len(op.outputs)} outputs, expected 1")
        target = tuple(self.tensors[op.outputs[0]].shape)
        requested: tuple[int, ...] | None = None
        if len(op.inputs) == 2 and op.inputs[1] >= 0:
            requested = tuple(int(v) for v in self.constant(op, 1, "shape", dtype="INT32").ravel())
        elif op.options.get("new_shape") is not None:
            requested = tuple(op.options["new_shape"])  # type: ignore[arg-type]
        if requested is None:
            raise self.fail(op, "no target shape (neither a shape input nor new_shape)")
        size = int(np.prod(x.shape))
        if requested.count(-1) == 1:
            known = int(np.prod([d for d in requested if d != -1]))
            requested = tuple(size // known if d == -1 else d for d in requested)
        if requested != target or int(np.prod(target)) != size or not target or target[0] != 1:
            raise self.fail(
                op, f"cannot reshape {x.shape} to {requested} (declared output {target}) per sample"
            )
        out = self.output(op, target)

        def kernel(args: list[np.ndarray]) -> np.ndarray:
            return args[0].reshape((args[0].shape[0], *target[1:]))

        return _Step(op.op, (op.inputs[0],), out, kernel)

    def compile(self) -> list[_Step]:
        by_op = {
            "CONV_2D": self.conv, "DEPTHWISE_CONV_2D": self.depthwise, "MAX_POOL_2D": self.max_pool,
            "ADD": self.add, "PRELU": self.prelu, "PAD": self.pad, "RESHAPE": self.reshape,
        }  # fmt: skip
        produced = {i for i in self.graph.inputs}
        steps = []
        for op in self.graph.operators:
            step = by_op[op.op](op)
            missing = [i for i in step.inputs if i not in produced]
            if missing:
                raise self.fail(op, f"reads tensors {missing} before any operator writes them")
            if step.output in produced:
                raise self.fail(op, f"writes tensor {step.output} a second time")
            produced.add(step.output)
            steps.append(step)
        for i in self.graph.outputs:
            if i not in produced:
                raise _fail(f"graph output {i} is never computed")
        return steps


# --------------------------------------------------------------------------------------
# Interpreter
# --------------------------------------------------------------------------------------


class TfliteInterpreter:
    """Runs a float32 TFLite graph with numpy on a batch of inputs.

    Build with :meth:`from_file` or from a parsed :class:`TfliteGraph`; all weights are converted (filters
    to im2col matrices, depthwise taps to (kh * kw, C)) and all shapes checked here, once.
    """

    def __init__(self, graph: TfliteGraph, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.max_batch = int(max_batch)
        if len(graph.inputs) != 1:
            raise _fail(f"{len(graph.inputs)} graph inputs; exactly one is supported")
        t_in = graph.tensors[graph.inputs[0]]
        if t_in.dtype != "FLOAT32" or t_in.data is not None or not t_in.shape or t_in.shape[0] != 1:
            raise _fail(f"graph input {t_in.name!r} must be a float32 tensor with batch 1, got {t_in.shape}")
        self.graph = graph
        self.input_name: str = t_in.name
        """Name of the single input tensor."""
        self.input_shape: tuple[int, ...] = tuple(t_in.shape[1:])
        """Shape of one input sample (without the batch dimension), e.g. (64, 64, 3)."""
        self.output_names: tuple[str, ...] = tuple(graph.tensors[i].name for i in graph.outputs)
        """Names of the graph outputs, in the model's order."""
        self._steps = _Compiler(graph).compile()
        self._last_use = self._last_uses()

    @classmethod
    def from_file(cls, path: Path | str, max_batch: int = DEFAULT_MAX_BATCH) -> TfliteInterpreter:
        """Read and compile a ``.tflite`` file (ValueError if it is not a supported float32 model)."""
        return cls(parse_tflite(Path(path).read_bytes()), max_batch=max_batch)

    def _last_uses(self) -> dict[int, int]:
        """Tensor index -> index of the last step reading it (graph outputs are kept)."""
        last: dict[int, int] = {}
        for k, step in enumerate(self._steps):
            for i in step.inputs:
                last[i] = k
        for i in self.graph.outputs:
            last[i] = len(self._steps)
        return last

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Run a batch.

        ``x``: float32 array of shape ``(N, *input_shape)`` (N >= 1), already scaled as the model expects.
        Returns ``{output name: float32 array (N, *declared shape[1:])}``. Large batches are processed
        ``max_batch`` samples at a time (the results do not depend on the split).
        """
        x = np.asarray(x)
        if x.ndim != len(self.input_shape) + 1 or tuple(x.shape[1:]) != self.input_shape or x.shape[0] < 1:
            shape = ", ".join(map(str, self.input_shape))
            raise ValueError(f"input must have shape (N, {shape}), got {x.shape}")
        x = np.ascontiguousarray(x, dtype=np.float32)
        chunks = [self._run_chunk(x[s : s + self.max_batch]) for s in range(0, x.shape[0], self.max_batch)]
        return {name: np.concatenate([c[name] for c in chunks]) for name in self.output_names}

    def _run_chunk(self, x: np.ndarray) -> dict[str, np.ndarray]:
        values: dict[int, np.ndarray] = {self.graph.inputs[0]: x}
        for k, step in enumerate(self._steps):
            values[step.output] = step.kernel([values[i] for i in step.inputs])
            for i in set(step.inputs):  # an op may read one tensor twice (ADD x + x)
                if self._last_use.get(i) == k:
                    del values[i]
        return {
            self.graph.tensors[i].name: np.ascontiguousarray(values[i], dtype=np.float32)
            for i in self.graph.outputs
        }

    def op_counts(self) -> dict[str, int]:
        """Number of operators of each kind, e.g. ``{"CONV_2D": 55, ...}``."""
        counts: dict[str, int] = {}
        for op in self.graph.operators:
            counts[op.op] = counts.get(op.op, 0) + 1
        return counts

    def __repr__(self) -> str:
        return f"TfliteInterpreter(input={self.input_name!r} {self.input_shape}, outputs={self.output_names})"
