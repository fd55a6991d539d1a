"""dlib's ResNet face descriptor as an ONNX graph, for ONNX Runtime (CPU, MLAS kernels).

The network is the one described in :mod:`eventlens.backends.dlib_weights` (same weights, same
function); :func:`build_onnx_model` writes it as an ONNX graph (opset 17), which
:class:`~eventlens.backends.sessions.OrtSession` runs on one thread.  Graph, input side first:

* input ``chips``: uint8 (N, 150, 150, 3) RGB, exactly the aligned chips, so the caller does no
  per-pixel work; ``Transpose`` to NCHW, ``Cast`` to float32, then
  ``(x - mean_rgb) * (1/256)`` like dlib's ``input_rgb_image_sized``.
* every ``con`` with its following ``affine`` folded in (``w * gamma``, ``b * gamma + beta``) and its
  ``relu`` as a separate ``Relu`` node (ONNX Runtime fuses it back);
  padding ``kernel//2`` for stride 1 and **none** for stride 2, as in dlib.
* ``MaxPool`` 3x3/2 and ``AveragePool`` 2x2/2 without padding, ``GlobalAveragePool``, ``Flatten`` and
  a bias-free ``MatMul`` with the (256, 128) fc matrix.
* dlib's ``add_prev`` of two tensors of different shapes (in the ``ares_down`` blocks the pooled
  shortcut has fewer channels, and at the two last levels a larger H x W than the unpadded strided
  conv) is reproduced exactly: each operand is zero-padded at the *end* of C, H and W up to the
  element-wise maximum shape (``Pad``), then ``Add``.  Shapes are static except N, so the pads are
  constants computed while building.

The ONNX protobuf is written by the small wire-format encoder below (~90 lines) rather than with
the ``onnx`` package: the graph needs only a handful of message types, the tests check the output
with ``onnx.checker`` and strict shape inference when ``onnx`` is installed, and eventlens then needs
only ``onnxruntime`` at run time (``onnx`` is 31 MB installed, pulls in ``ml_dtypes``, adds ~50 ms of
import and assembles this model no faster).

The model is built in memory when the session is created (~10 ms for the 22 MB of weights, ~50 ms
the first time in a process; the session itself ~20-40 ms).  Caching the ``.onnx`` file under
``cache_dir`` would save at most those ~10-50 ms once per worker process, so it is not done.

Measured on one AMD EPYC (Zen 4, AVX-512) core with onnxruntime 1.31: 4.85 ms/face at batch 8 and 32,
5.5 ms at batch 1 (dlib-bin: 73 ms); the 29 convolutions are 0.54
GFLOP per face and run at ~110-120 GFLOP/s, the core's float32 FMA peak, so direct convolution
cannot go much below ~4.5 ms/face here.  A session holds ~25-30 MB (its re-laid-out weights),
plus ONNX Runtime's arena: ~13 MB at batch 8, ~45 MB at batch 32.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from eventlens.backends.dlib_weights import DESCRIPTOR_DIM, ResnetWeights

__all__ = ["OPSET", "build_onnx_model"]

OPSET = 17
"""ONNX opset of the graph (default domain)."""

_IR_VERSION = 8
"""ONNX IR version matching opset 17 (ONNX 1.12+)."""

_INPUT = "chips"
_OUTPUT = "descriptors"

# --------------------------------------------------------------------------------------
# Minimal protobuf wire-format writer for the few ONNX messages used (field numbers from onnx.proto)
# --------------------------------------------------------------------------------------

_VARINT, _I32, _LEN = 0, 5, 2
_FLOAT, _UINT8, _INT64 = 1, 2, 7  # TensorProto.DataType
_ATTR_FLOAT, _ATTR_INT, _ATTR_INTS = 1, 2, 7  # AttributeProto.AttributeType
_NUMPY_TO_ONNX = {np.dtype(np.float32): _FLOAT, np.dtype(np.uint8): _UINT8, np.dtype(np.int64): _INT64}


def _varint(n: int) -> bytes:
    """Base-128 varint; negative int64 values are written as their two's complement (10 bytes)."""
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _int_field(field: int, n: int) -> bytes:
    return _key(field, _VARINT) + _varint(n)


def _bytes_field(field: int, payload: bytes) -> bytes:
    return _len_prefix(field, len(payload)) + payload


def _str_field(field: int, s: str) -> bytes:
    return _bytes_field(field, s.encode("utf-8"))


def _packed_ints(field: int, values: Iterable[int]) -> bytes:
    return _bytes_field(field, b"".join(_varint(int(v)) for v in values))


def _len_prefix(field: int, size: int) -> bytes:
    return _key(field, _LEN) + _varint(size)


def _tensor(name: str, array: np.ndarray) -> list[bytes | memoryview]:
    """TensorProto (dims=1, data_type=2, name=8, raw_data=9) as chunks: the raw data is not copied."""
    arr = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    head = b"".join(
        (
            _packed_ints(1, arr.shape) if arr.ndim else b"",
            _int_field(2, _NUMPY_TO_ONNX[np.dtype(arr.dtype.name)]),
            _str_field(8, name),
            _len_prefix(9, arr.nbytes),
        )
    )
    return [head, arr.data.cast("B")]


def _message_field(field: int, chunks: list[bytes | memoryview]) -> list[bytes | memoryview]:
    """A length-delimited sub-message given as chunks (lengths are summed, nothing is copied)."""
    return [_len_prefix(field, sum(len(c) for c in chunks)), *chunks]


def _attribute(name: str, value: int | float | Sequence[int]) -> bytes:
    """AttributeProto: name=1, type=20, f=2, i=3, ints=8."""
    if isinstance(value, float):
        body = _key(2, _I32) + struct.pack("<f", value)
        kind = _ATTR_FLOAT
    elif isinstance(value, int):
        body, kind = _int_field(3, value), _ATTR_INT
    else:
        body, kind = _packed_ints(8, value), _ATTR_INTS
    return _str_field(1, name) + body + _int_field(20, kind)


def _node(op: str, inputs: Sequence[str], outputs: Sequence[str], name: str, **attrs: Any) -> bytes:
    """NodeProto: input=1, output=2, name=3, op_type=4, attribute=5."""
    return b"".join(
        [
            *(_str_field(1, i) for i in inputs),
            *(_str_field(2, o) for o in outputs),
            _str_field(3, name),
            _str_field(4, op),
            *(_bytes_field(5, _attribute(k, v)) for k, v in attrs.items()),
        ]
    )


def _value_info(name: str, elem_type: int, dims: Sequence[int | str]) -> bytes:
    """ValueInfoProto{name=1, type=2: TypeProto{tensor_type=1: {elem_type=1, shape=2: {dim=1: ...}}}}."""
    dim_msgs = b"".join(
        _bytes_field(1, _str_field(2, d) if isinstance(d, str) else _int_field(1, d)) for d in dims
    )
    tensor_type = _int_field(1, elem_type) + _bytes_field(2, dim_msgs)
    return _str_field(1, name) + _bytes_field(2, _bytes_field(1, tensor_type))


# --------------------------------------------------------------------------------------
# Graph construction
# --------------------------------------------------------------------------------------


class _Graph:
    """Collects nodes and initializers; tracks the static (C, H, W) shape of each value."""

    def __init__(self) -> None:
        self.nodes: list[bytes] = []
        self.initializers: list[list[bytes | memoryview]] = []
        self.shapes: dict[str, tuple[int, int, int]] = {}
        self._count = 0

    def _name(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}_{self._count}"

    def const(self, prefix: str, array: np.ndarray) -> str:
        name = self._name(prefix)
        self.initializers.append(_tensor(name, array))
        return name

    def op(
        self, op: str, inputs: Sequence[str], shape: tuple[int, int, int] | None = None, **attrs: Any
    ) -> str:
        out = self._name(op.lower())
        self.nodes.append(_node(op, inputs, [out], name=out, **attrs))
        if shape is not None:
            self.shapes[out] = shape
        return out


def _out_size(size: int, kernel: int, stride: int, pad: int) -> int:
    return 1 + (size + 2 * pad - kernel) // stride


def _pad_to(g: _Graph, x: str, target: tuple[int, int, int]) -> str:
    """Zero-pad NCHW ``x`` at the end of C, H and W up to ``target`` (dlib's add_prev alignment)."""
    shape = g.shapes[x]
    if shape == target:
        return x
    ends = [t - s for s, t in zip(shape, target, strict=True)]
    pads = g.const("pads", np.array([0, 0, 0, 0, 0, *ends], dtype=np.int64))
    return g.op("Pad", [x, pads], target)  # mode "constant", value 0 (the defaults)


def _add_prev(g: _Graph, a: str, b: str) -> str:
    target = tuple(max(p, q) for p, q in zip(g.shapes[a], g.shapes[b], strict=True))
    assert len(target) == 3
    return g.op("Add", [_pad_to(g, a, target), _pad_to(g, b, target)], target)


def build_onnx_model(weights: ResnetWeights) -> bytes:
    """The face-descriptor network as a serialized ONNX ``ModelProto`` (opset 17).

    Input ``chips``: uint8 (N, 150, 150, 3) RGB; output ``descriptors``: float32 (N, 128), the same
    function as dlib's ``compute_face_descriptor``.  Affine layers
    are folded into the preceding convolutions.  Raises ``ValueError`` on a layer sequence this
    network never contains.
    """
    g = _Graph()
    s = weights.chip_size
    mean = np.asarray(weights.mean_rgb, dtype=np.float32).reshape(1, 3, 1, 1)
    x = g.op("Transpose", [_INPUT], perm=[0, 3, 1, 2])
    x = g.op("Cast", [x], to=_FLOAT)
    x = g.op("Sub", [x, g.const("mean_rgb", mean)])
    x = g.op("Mul", [x, g.const("inv_256", np.array(1.0 / 256.0, dtype=np.float32))], (3, s, s))

    tags: dict[int, str] = {}
    layers = weights.layers
    i = 0
    while i < len(layers):
        L = layers[i]
        c, h, w = g.shapes.get(x, (0, 0, 0))  # untracked only after Flatten / MatMul
        if L.kind == "con":
            if L.weight is None or L.bias is None:
                raise ValueError(f"layer {i}: con without weights")
            wt, b = L.weight, L.bias
            if i + 1 < len(layers) and layers[i + 1].kind == "affine":
                gamma, beta = layers[i + 1].weight, layers[i + 1].bias
                assert gamma is not None and beta is not None
                wt = wt * gamma[:, None, None, None]
                b = b * gamma + beta
                i += 1
            o, ci, kh, kw = wt.shape
            if ci != c:
                raise ValueError(f"layer {i}: conv expects {ci} channels, input has {c}")
            (sy, sx), (py, px) = L.stride, L.padding
            shape = (o, _out_size(h, kh, sy, py), _out_size(w, kw, sx, px))
            x = g.op(
                "Conv",
                [x, g.const("w", np.asarray(wt, np.float32)), g.const("b", np.asarray(b, np.float32))],
                shape,
                kernel_shape=[kh, kw],
                strides=[sy, sx],
                pads=[py, px, py, px],
                group=1,
                dilations=[1, 1],
            )
            if L.relu:
                x = g.op("Relu", [x], shape)
        elif L.kind == "affine":  # an affine not preceded by a conv (never in this network)
            assert L.weight is not None and L.bias is not None
            x = g.op("Mul", [x, g.const("gamma", L.weight.astype(np.float32).reshape(1, -1, 1, 1))])
            x = g.op("Add", [x, g.const("beta", L.bias.astype(np.float32).reshape(1, -1, 1, 1))], (c, h, w))
        elif L.kind == "relu":
            x = g.op("Relu", [x], (c, h, w))
        elif L.kind in ("max_pool", "avg_pool"):
            if L.kernel == (0, 0):
                x = g.op("GlobalAveragePool" if L.kind == "avg_pool" else "GlobalMaxPool", [x], (c, 1, 1))
            else:
                if L.padding != (0, 0):
                    raise ValueError(f"layer {i}: padded pooling is not used by this network")
                (kh, kw), (sy, sx) = L.kernel, L.stride
                shape = (c, _out_size(h, kh, sy, 0), _out_size(w, kw, sx, 0))
                op = "MaxPool" if L.kind == "max_pool" else "AveragePool"
                x = g.op(op, [x], shape, kernel_shape=[kh, kw], strides=[sy, sx], pads=[0, 0, 0, 0])
        elif L.kind == "tag":
            tags[L.tag] = x
        elif L.kind == "skip":
            x = tags[L.tag]
        elif L.kind == "add_prev":
            x = _add_prev(g, x, tags[L.tag])
        elif L.kind == "fc":
            assert L.weight is not None
            if L.weight.shape[0] != c * h * w:
                raise ValueError(f"layer {i}: fc expects {L.weight.shape[0]} inputs, got {c * h * w}")
            x = g.op("Flatten", [x], axis=1)  # NCHW flattening = dlib's (k, nr, nc) order
            x = g.op("MatMul", [x, g.const("fc", L.weight.astype(np.float32))])
        else:
            raise ValueError(f"layer {i}: unsupported layer kind {L.kind!r}")
        i += 1
    g.nodes.append(_node("Identity", [x], [_OUTPUT], name=_OUTPUT))

    graph: list[bytes | memoryview] = [
        *(_bytes_field(1, n) for n in g.nodes),
        _str_field(2, "dlib_face_recognition_resnet_v1"),
        *(chunk for t in g.initializers for chunk in _message_field(5, t)),
        _bytes_field(11, _value_info(_INPUT, _UINT8, ["N", s, s, 3])),
        _bytes_field(12, _value_info(_OUTPUT, _FLOAT, ["N", DESCRIPTOR_DIM])),
    ]
    opset = _str_field(1, "") + _int_field(2, OPSET)
    model = [
        _int_field(1, _IR_VERSION),
        _str_field(2, "eventlens"),
        *_message_field(7, graph),
        _bytes_field(8, opset),
    ]
    return b"".join(model)  # weights are copied once, here
