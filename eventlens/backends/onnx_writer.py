"""A small writer of ONNX graphs, shared by the models eventlens builds in memory from other libraries'
weights (dlib's ResNet descriptor, libfacedetection's YuNet detector).

The ONNX protobuf is written by the wire-format encoder below (~90 lines) rather than with the ``onnx``
package: the graphs need only a handful of message types, the tests check each graph with
``onnx.checker`` and shape inference when ``onnx`` is installed, and eventlens then needs only
``onnxruntime`` at run time (``onnx`` is 31 MB installed, pulls in ``ml_dtypes``, adds ~50 ms of import
and assembles these models no faster).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = ["FLOAT", "INT64", "OPSET", "UINT8", "Graph", "model_bytes", "node"]

OPSET = 17
"""ONNX opset of the graphs (default domain)."""

_IR_VERSION = 8
"""ONNX IR version matching opset 17 (ONNX 1.12+)."""

# --------------------------------------------------------------------------------------
# Minimal protobuf wire-format writer for the few ONNX messages used (field numbers from onnx.proto)
# --------------------------------------------------------------------------------------

_VARINT, _I32, _LEN = 0, 5, 2
FLOAT, UINT8, INT64 = 1, 2, 7  # TensorProto.DataType
_ATTR_FLOAT, _ATTR_INT, _ATTR_STRING, _ATTR_INTS = 1, 2, 3, 7  # AttributeProto.AttributeType
_NUMPY_TO_ONNX = {np.dtype(np.float32): FLOAT, np.dtype(np.uint8): UINT8, np.dtype(np.int64): INT64}


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


def _attribute(name: str, value: int | float | str | Sequence[int]) -> bytes:
    """AttributeProto: name=1, type=20, f=2, i=3, s=4, ints=8."""
    if isinstance(value, str):
        body, kind = _str_field(4, value), _ATTR_STRING
    elif isinstance(value, float):
        body = _key(2, _I32) + struct.pack("<f", value)
        kind = _ATTR_FLOAT
    elif isinstance(value, int):
        body, kind = _int_field(3, value), _ATTR_INT
    else:
        body, kind = _packed_ints(8, value), _ATTR_INTS
    return _str_field(1, name) + body + _int_field(20, kind)


def node(op: str, inputs: Sequence[str], outputs: Sequence[str], name: str, **attrs: Any) -> bytes:
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


class Graph:
    """Collects nodes and initializers; tracks the static (C, H, W) shape of each value where known."""

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
        self.nodes.append(node(op, inputs, [out], name=out, **attrs))
        if shape is not None:
            self.shapes[out] = shape
        return out


def model_bytes(
    g: Graph,
    name: str,
    inputs: Sequence[tuple[str, int, Sequence[int | str]]],
    outputs: Sequence[tuple[str, int, Sequence[int | str]]],
) -> bytes:
    """The serialized ``ModelProto`` of ``g`` (opset :data:`OPSET`); ``inputs`` / ``outputs`` as
    (name, element type, dims; a string dim is symbolic). Weights are copied once, here."""
    graph: list[bytes | memoryview] = [
        *(_bytes_field(1, n) for n in g.nodes),
        _str_field(2, name),
        *(chunk for t in g.initializers for chunk in _message_field(5, t)),
        *(_bytes_field(11, _value_info(n, t, d)) for n, t, d in inputs),
        *(_bytes_field(12, _value_info(n, t, d)) for n, t, d in outputs),
    ]
    opset = _str_field(1, "") + _int_field(2, OPSET)
    model = [
        _int_field(1, _IR_VERSION),
        _str_field(2, "eventlens"),
        *_message_field(7, graph),
        _bytes_field(8, opset),
    ]
    return b"".join(model)
