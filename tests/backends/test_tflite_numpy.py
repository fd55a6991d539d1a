"""The numpy TFLite interpreter: op semantics, error handling, and agreement with Google's runtime.

Three sources of truth:

* small single-op models written here with a minimal FlatBuffer writer, checked against naive loop
  implementations of TFLite's reference kernels (always) and against ai-edge-litert (when installed);
* the committed fixture ``data/iris_reference.npz``: MediaPipe's iris model run by ai-edge-litert on a few
  synthetic eye images (regenerate with ``python tests/backends/test_tflite_numpy.py MODEL OUT``, in an
  environment where ``ai_edge_litert`` imports);
* ai-edge-litert itself on random inputs and real eye crops, when it is installed.

ai-edge-litert is not a dependency of eventlens; the tests that need it are skipped without it.
"""

from __future__ import annotations

import contextlib
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from eventlens.backends.model_files import IRIS_LANDMARK, model_path
from eventlens.backends.tflite_numpy import TfliteInterpreter, parse_tflite
from eventlens.errors import ModelError

DATA = Path(__file__).resolve().parent / "data"
REFERENCE = DATA / "iris_reference.npz"
MAX_ABS_ERROR_PX = 1e-3
LITERT_MISSING = (
    "ai-edge-litert (Google's TFLite runtime) is not installed; it only cross-checks the numpy interpreter"
)

# --------------------------------------------------------------------------------------
# A minimal FlatBuffer writer (front to back: every reference points forward)
# --------------------------------------------------------------------------------------

Field = tuple[str, Any]  # (kind, value): u8 i8 i32 u32 u64 | str ints bytes table tables


def _pad_to(buf: bytearray, align: int, extra: int = 0) -> None:
    buf.extend(bytes(-(len(buf) + extra) % align))


class FlatWriter:
    """Writes nested tables given as ``{slot: (kind, value)}`` dicts."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def finish(self, root: dict[int, Field], identifier: bytes = b"TFL3") -> bytes:
        self.buf = bytearray(8)
        self.buf[4:8] = identifier
        struct.pack_into("<I", self.buf, 0, self._table(root))
        return bytes(self.buf)

    def _table(self, fields: dict[int, Field]) -> int:
        slots = sorted(fields)
        offsets, size = {}, 4
        for s in slots:
            width = 8 if fields[s][0] == "u64" else 4
            size += -size % width
            offsets[s] = size
            size += width
        n_slots = slots[-1] + 1 if slots else 0
        _pad_to(self.buf, 2)
        vtable = len(self.buf)
        self.buf += struct.pack(
            f"<HH{n_slots}H", 4 + 2 * n_slots, size, *(offsets.get(i, 0) for i in range(n_slots))
        )
        _pad_to(self.buf, 8)
        table = len(self.buf)
        self.buf += bytes(size)
        struct.pack_into("<i", self.buf, table, table - vtable)
        scalar_formats = {"u8": "<B", "i8": "<b", "i32": "<i", "u32": "<I", "u64": "<Q"}
        references = []
        for s in slots:
            kind, value = fields[s]
            if kind in scalar_formats:
                struct.pack_into(scalar_formats[kind], self.buf, table + offsets[s], value)
            else:
                references.append((table + offsets[s], kind, value))
        for pos, kind, value in references:
            struct.pack_into("<I", self.buf, pos, self._child(kind, value) - pos)
        return table

    def _child(self, kind: str, value: Any) -> int:
        if kind == "table":
            return self._table(value)
        if kind == "bytes":
            _pad_to(self.buf, 16, extra=4)  # data 16-byte aligned, like TFLite's own writer
        else:
            _pad_to(self.buf, 4)
        pos = len(self.buf)
        if kind == "str":
            raw = value.encode()
            self.buf += struct.pack("<I", len(raw)) + raw + b"\0"
        elif kind == "ints":
            self.buf += struct.pack(f"<I{len(value)}i", len(value), *value)
        elif kind == "bytes":
            self.buf += struct.pack("<I", len(value)) + bytes(value)
        elif kind == "tables":
            self.buf += struct.pack(f"<I{len(value)}I", len(value), *([0] * len(value)))
            for i, t in enumerate(value):
                slot = pos + 4 + 4 * i
                struct.pack_into("<I", self.buf, slot, self._table(t) - slot)
        else:
            raise AssertionError(kind)
        return pos


# --------------------------------------------------------------------------------------
# Single-op models
# --------------------------------------------------------------------------------------

OPS = {
    "ADD": 0,
    "CONV_2D": 3,
    "DEPTHWISE_CONV_2D": 4,
    "DEQUANTIZE": 6,
    "MAX_POOL_2D": 17,
    "MUL": 18,
    "RESHAPE": 22,
    "PAD": 34,
    "PRELU": 54,
}
OPTION_TYPES = {
    "CONV_2D": 1,
    "DEPTHWISE_CONV_2D": 2,
    "MAX_POOL_2D": 5,
    "ADD": 11,
    "MUL": 21,
    "RESHAPE": 17,
    "PAD": 22,
}
PAD_CODE = {"SAME": 0, "VALID": 1}
ACT_CODE = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3, "TANH": 4}


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]
    data: np.ndarray | None = None
    type_code: int = 0  # FLOAT32
    extra: dict[int, Field] = field(default_factory=dict)


@dataclass
class Op:
    op: str
    inputs: list[int]
    outputs: list[int]
    options: dict[int, Field] | None = None


def build_model(tensors: list[Tensor], ops: list[Op], inputs: list[int], outputs: list[int]) -> bytes:
    """A complete .tflite file (schema version 3, one subgraph)."""
    buffers: list[dict[int, Field]] = [{}]
    tensor_tables = []
    for t in tensors:
        fields: dict[int, Field] = {0: ("ints", list(t.shape)), 1: ("u8", t.type_code), 3: ("str", t.name)}
        if t.data is not None:
            buffers.append({0: ("bytes", np.ascontiguousarray(t.data).tobytes())})
            fields[2] = ("u32", len(buffers) - 1)
        fields.update(t.extra)
        tensor_tables.append(fields)
    names = sorted({o.op for o in ops})
    codes = [{0: ("i8", min(OPS[n], 127)), 2: ("i32", 1), 3: ("i32", OPS[n])} for n in names]
    op_tables = []
    for o in ops:
        t: dict[int, Field] = {0: ("u32", names.index(o.op)), 1: ("ints", o.inputs), 2: ("ints", o.outputs)}
        if o.options is not None:
            t[3] = ("u8", OPTION_TYPES[o.op])
            t[4] = ("table", o.options)
        op_tables.append(t)
    subgraph = {
        0: ("tables", tensor_tables),
        1: ("ints", inputs),
        2: ("ints", outputs),
        3: ("tables", op_tables),
    }
    root = {0: ("u32", 3), 1: ("tables", codes), 2: ("tables", [subgraph]), 4: ("tables", buffers)}
    return FlatWriter().finish(root)


def _f32(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def _out_pad(size: int, k: int, s: int, d: int, padding: str) -> tuple[int, int]:
    """(output size, padding before) per TFLite's ComputePaddingHeightWidth."""
    eff = (k - 1) * d + 1
    out = -(-size // s) if padding == "SAME" else (size - eff) // s + 1
    return out, max((out - 1) * s + eff - size, 0) // 2


def _act(x: np.ndarray, act: str) -> np.ndarray:
    bounds = {"NONE": (None, None), "RELU": (0, None), "RELU6": (0, 6), "RELU_N1_TO_1": (-1, 1)}[act]
    return x if bounds == (None, None) else np.clip(x, *bounds)


def _naive_window_op(
    x: np.ndarray,
    k: tuple[int, int],
    s: tuple[int, int],
    d: tuple[int, int],
    padding: str,
    reduce: Callable[[list[tuple[int, int, np.ndarray]]], np.ndarray],
) -> np.ndarray:
    """Loop over output positions; ``reduce`` gets the in-bounds (ky, kx, x[:, iy, ix, :]) taps."""
    (ho, pt), (wo, pl) = (
        _out_pad(x.shape[1], k[0], s[0], d[0], padding),
        _out_pad(x.shape[2], k[1], s[1], d[1], padding),
    )
    rows = []
    for oy in range(ho):
        cols = []
        for ox in range(wo):
            taps = []
            for ky in range(k[0]):
                for kx in range(k[1]):
                    iy, ix = oy * s[0] - pt + ky * d[0], ox * s[1] - pl + kx * d[1]
                    if 0 <= iy < x.shape[1] and 0 <= ix < x.shape[2]:
                        taps.append((ky, kx, x[:, iy, ix, :].astype(np.float64)))
            cols.append(reduce(taps))
        rows.append(np.stack(cols, axis=1))
    return np.stack(rows, axis=1)


@dataclass
class Case:
    """One small model, an input shape and the expected output (naive float64 reference)."""

    name: str
    model: bytes
    input_shape: tuple[int, ...]
    reference: Callable[[np.ndarray], np.ndarray]


def conv_case(
    in_hwc: tuple[int, int, int],
    out_c: int,
    k: tuple[int, int],
    s: tuple[int, int],
    d: tuple[int, int],
    padding: str,
    act: str,
    seed: int = 0,
) -> Case:
    rng = np.random.default_rng(seed)
    w, b = _f32(rng, out_c, *k, in_hwc[2]), _f32(rng, out_c)
    ho, _ = _out_pad(in_hwc[0], k[0], s[0], d[0], padding)
    wo, _ = _out_pad(in_hwc[1], k[1], s[1], d[1], padding)
    tensors = [
        Tensor("x", (1, *in_hwc)),
        Tensor("w", w.shape, w),
        Tensor("b", b.shape, b),
        Tensor("y", (1, ho, wo, out_c)),
    ]
    options = {
        0: ("u8", PAD_CODE[padding]),
        1: ("i32", s[1]),
        2: ("i32", s[0]),
        3: ("u8", ACT_CODE[act]),
        4: ("i32", d[1]),
        5: ("i32", d[0]),
    }
    model = build_model(tensors, [Op("CONV_2D", [0, 1, 2], [3], options)], [0], [3])

    def reference(x: np.ndarray) -> np.ndarray:
        def reduce(taps: list) -> np.ndarray:
            acc = sum(v @ w[:, ky, kx, :].T.astype(np.float64) for ky, kx, v in taps)
            return acc + b

        return _act(_naive_window_op(x, k, s, d, padding, reduce), act)

    return Case(f"conv{k}s{s}d{d}{padding}{act}", model, (1, *in_hwc), reference)


def depthwise_case(
    in_hwc: tuple[int, int, int],
    mult: int,
    k: tuple[int, int],
    s: tuple[int, int],
    d: tuple[int, int],
    padding: str,
    act: str,
    declared_mult: int | None = None,
    seed: int = 1,
) -> Case:
    rng = np.random.default_rng(seed)
    c = in_hwc[2]
    w, b = _f32(rng, 1, *k, c * mult), _f32(rng, c * mult)
    ho, _ = _out_pad(in_hwc[0], k[0], s[0], d[0], padding)
    wo, _ = _out_pad(in_hwc[1], k[1], s[1], d[1], padding)
    tensors = [
        Tensor("x", (1, *in_hwc)),
        Tensor("w", w.shape, w),
        Tensor("b", b.shape, b),
        Tensor("y", (1, ho, wo, c * mult)),
    ]
    options = {
        0: ("u8", PAD_CODE[padding]),
        1: ("i32", s[1]),
        2: ("i32", s[0]),
        3: ("i32", mult if declared_mult is None else declared_mult),
        4: ("u8", ACT_CODE[act]),
        5: ("i32", d[1]),
        6: ("i32", d[0]),
    }
    model = build_model(tensors, [Op("DEPTHWISE_CONV_2D", [0, 1, 2], [3], options)], [0], [3])

    def reference(x: np.ndarray) -> np.ndarray:
        def reduce(taps: list) -> np.ndarray:
            acc = sum(
                np.repeat(v, mult, axis=1) * w[0, ky, kx, :] for ky, kx, v in taps
            )  # channel c*M+m <- c
            return acc + b

        return _act(_naive_window_op(x, k, s, d, padding, reduce), act)

    return Case(f"dw{k}s{s}d{d}m{mult}{padding}{act}", model, (1, *in_hwc), reference)


def max_pool_case(
    in_hwc: tuple[int, int, int], k: tuple[int, int], s: tuple[int, int], padding: str, act: str
) -> Case:
    ho, _ = _out_pad(in_hwc[0], k[0], s[0], 1, padding)
    wo, _ = _out_pad(in_hwc[1], k[1], s[1], 1, padding)
    tensors = [Tensor("x", (1, *in_hwc)), Tensor("y", (1, ho, wo, in_hwc[2]))]
    options = {
        0: ("u8", PAD_CODE[padding]),
        1: ("i32", s[1]),
        2: ("i32", s[0]),
        3: ("i32", k[1]),
        4: ("i32", k[0]),
        5: ("u8", ACT_CODE[act]),
    }
    model = build_model(tensors, [Op("MAX_POOL_2D", [0], [1], options)], [0], [1])

    def reference(x: np.ndarray) -> np.ndarray:
        def reduce(taps: list) -> np.ndarray:
            return np.max(np.stack([v for _, _, v in taps]), axis=0)  # padded cells are not candidates

        return _act(_naive_window_op(x, k, s, (1, 1), padding, reduce), act)

    return Case(f"maxpool{k}s{s}{padding}{act}", model, (1, *in_hwc), reference)


def chain_case(seed: int = 2) -> Case:
    """x -> PRELU(alpha (C,)) -> ADD(const (1,1,1,C), RELU6) -> ADD(itself) -> PAD(channels) -> RESHAPE."""
    rng = np.random.default_rng(seed)
    alpha, const = _f32(rng, 3), _f32(rng, 1, 1, 1, 3)
    paddings = np.array([[0, 0], [1, 0], [0, 2], [0, 2]], dtype=np.int32)
    shape_in = np.array([1, -1], dtype=np.int32)
    tensors = [
        Tensor("x", (1, 4, 5, 3)),
        Tensor("alpha", (3,), alpha),
        Tensor("p", (1, 4, 5, 3)),
        Tensor("c", const.shape, const),
        Tensor("q", (1, 4, 5, 3)),
        Tensor("r", (1, 4, 5, 3)),
        Tensor("paddings", (4, 2), paddings, type_code=2),
        Tensor("s", (1, 5, 7, 5)),
        Tensor("shape", (2,), shape_in, type_code=2),
        Tensor("out", (1, 175)),
    ]
    ops = [
        Op("PRELU", [0, 1], [2]),
        Op("ADD", [2, 3], [4], {0: ("u8", ACT_CODE["RELU6"])}),
        Op("ADD", [4, 4], [5], {0: ("u8", ACT_CODE["NONE"])}),
        Op("PAD", [5, 6], [7], {}),
        Op("RESHAPE", [7, 8], [9], {0: ("ints", [1, -1])}),
    ]
    model = build_model(tensors, ops, [0], [9])

    def reference(x: np.ndarray) -> np.ndarray:
        p = np.where(x >= 0, x, x * alpha)
        q = np.clip(p + const, 0, 6)
        s = np.pad(q + q, [tuple(r) for r in paddings])
        return s.reshape(len(x), -1)

    return Case("prelu-add-pad-reshape", model, (1, 4, 5, 3), reference)


def all_cases() -> list[Case]:
    return [
        conv_case((7, 9, 3), 4, (3, 3), (2, 2), (1, 1), "SAME", "RELU6"),
        conv_case((8, 8, 2), 3, (3, 2), (1, 2), (1, 1), "SAME", "NONE"),
        conv_case((9, 9, 2), 3, (3, 3), (1, 1), (2, 2), "VALID", "RELU"),
        conv_case((9, 10, 2), 3, (3, 3), (2, 1), (2, 3), "SAME", "RELU_N1_TO_1"),
        conv_case((6, 6, 5), 7, (1, 1), (1, 1), (1, 1), "VALID", "NONE"),
        conv_case((8, 8, 4), 3, (2, 2), (2, 2), (1, 1), "VALID", "NONE"),
        depthwise_case((7, 8, 3), 2, (3, 3), (2, 2), (1, 1), "SAME", "RELU"),
        depthwise_case((9, 9, 2), 1, (3, 3), (1, 1), (2, 2), "SAME", "RELU6"),
        depthwise_case((6, 7, 2), 3, (2, 3), (1, 2), (1, 1), "VALID", "NONE", declared_mult=0),
        max_pool_case((7, 7, 3), (3, 3), (2, 2), "SAME", "NONE"),
        max_pool_case((8, 6, 2), (2, 2), (2, 2), "VALID", "RELU"),
        max_pool_case((5, 6, 2), (2, 3), (1, 2), "SAME", "RELU6"),
        chain_case(),
    ]


CASES = all_cases()


def _litert_interpreter() -> Any:
    module = pytest.importorskip("ai_edge_litert.interpreter", reason=LITERT_MISSING)
    return module.Interpreter


def litert_run(model: bytes | Path, x: np.ndarray) -> dict[str, np.ndarray]:
    """Google's runtime, one sample at a time (the models have batch 1)."""
    interpreter_cls = _litert_interpreter()
    kwargs = {"model_path": str(model)} if isinstance(model, Path) else {"model_content": model}
    it = interpreter_cls(**kwargs)
    it.allocate_tensors()
    inp, outs = it.get_input_details()[0], it.get_output_details()
    results: dict[str, list[np.ndarray]] = {o["name"]: [] for o in outs}
    for sample in x:
        it.set_tensor(inp["index"], sample[None].astype(np.float32))
        it.invoke()
        for o in outs:
            results[o["name"]].append(it.get_tensor(o["index"])[0].copy())
    return {k: np.stack(v) for k, v in results.items()}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_ops_match_naive_reference(case: Case) -> None:
    net = TfliteInterpreter(parse_tflite(case.model))
    x = np.random.default_rng(7).standard_normal((3, *case.input_shape[1:])).astype(np.float32) * 3
    (out,) = net.run(x).values()
    expected = case.reference(x)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_ops_match_litert(case: Case) -> None:
    x = np.random.default_rng(8).standard_normal((2, *case.input_shape[1:])).astype(np.float32) * 3
    expected = litert_run(case.model, x)
    ours = TfliteInterpreter(parse_tflite(case.model)).run(x)
    assert ours.keys() == expected.keys()
    for name in ours:
        np.testing.assert_allclose(ours[name], expected[name], atol=1e-4, rtol=1e-5)


def test_batches_are_independent_of_the_split() -> None:
    case = conv_case((7, 9, 3), 4, (3, 3), (2, 2), (1, 1), "SAME", "RELU6")
    x = np.random.default_rng(9).standard_normal((5, 7, 9, 3)).astype(np.float32)
    whole = TfliteInterpreter(parse_tflite(case.model), max_batch=8).run(x)["y"]
    split = TfliteInterpreter(parse_tflite(case.model), max_batch=2).run(x)["y"]
    single = np.concatenate(
        [TfliteInterpreter(parse_tflite(case.model)).run(x[i : i + 1])["y"] for i in range(5)]
    )
    np.testing.assert_allclose(whole, split, atol=1e-6)
    np.testing.assert_allclose(whole, single, atol=1e-6)


def test_input_shape_is_checked() -> None:
    net = TfliteInterpreter(parse_tflite(CASES[0].model))
    with pytest.raises(ValueError, match="input must have shape"):
        net.run(np.zeros((1, 7, 8, 3), np.float32))
    with pytest.raises(ValueError, match="input must have shape"):
        net.run(np.zeros((0, 7, 9, 3), np.float32))


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


def _simple(
    op: str,
    options: dict[int, Field] | None,
    x_type: int = 0,
    w_type: int = 0,
    bias: bool = True,
    x_extra: dict[int, Field] | None = None,
    y_shape: tuple[int, ...] = (1, 2, 2, 1),
) -> bytes:
    """One op on x (1, 2, 2, 2) with weights w (1, 1, 1, 2) and bias b (1,) -> y."""
    w = np.ones((1, 1, 1, 2), np.float32)
    w_data = w.astype(np.float16) if w_type == 1 else w.astype(np.int8) if w_type == 9 else w
    tensors = [
        Tensor("x", (1, 2, 2, 2), type_code=x_type, extra=x_extra or {}),
        Tensor("w", (1, 1, 1, 2), w_data, type_code=w_type),
        Tensor("b", (1,), np.zeros(1, np.float32)),
        Tensor("y", y_shape),
    ]
    return build_model(tensors, [Op(op, [0, 1, 2] if bias else [0, 1], [3], options)], [0], [3])


CONV_OPTIONS: dict[int, Field] = {0: ("u8", 0), 1: ("i32", 1), 2: ("i32", 1)}


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (_simple("MUL", {0: ("u8", 0)}), "MUL.*not supported"),
        (_simple("DEQUANTIZE", None), "DEQUANTIZE.*not supported.*float16 or quantised"),
        (_simple("CONV_2D", CONV_OPTIONS, w_type=1), "FLOAT16"),
        (_simple("CONV_2D", CONV_OPTIONS, w_type=9), "INT8"),
        (_simple("CONV_2D", CONV_OPTIONS, x_type=3), "UINT8"),
        (_simple("CONV_2D", {**CONV_OPTIONS, 3: ("u8", ACT_CODE["TANH"])}), "fused activation TANH"),
        (
            _simple("CONV_2D", CONV_OPTIONS, y_shape=(1, 2, 2, 3)),
            r"declared \(1, 2, 2, 3\).*computes \(1, 2, 2, 1\)",
        ),
        (_simple("CONV_2D", {0: ("u8", 0)}), "invalid stride"),
        (_simple("CONV_2D", CONV_OPTIONS, bias=False), "no bias"),
        (_simple("CONV_2D", CONV_OPTIONS, x_extra={4: ("table", {2: ("ints", [0])})}), "quantised"),
        (
            _simple("CONV_2D", CONV_OPTIONS, x_extra={4: ("table", {})}),  # empty quantization is fine
            None,
        ),
    ],
    ids=[
        "mul",
        "dequantize",
        "float16",
        "int8",
        "uint8",
        "tanh",
        "shape",
        "stride",
        "no-bias",
        "quantized",
        "empty-quant",
    ],
)
def test_unsupported_models_raise_value_error(model: bytes, message: str | None) -> None:
    if message is None:
        TfliteInterpreter(parse_tflite(model))
        return
    with pytest.raises(ValueError, match=message):
        TfliteInterpreter(parse_tflite(model))


def test_truncated_and_garbage_files_raise_value_error() -> None:
    data = CASES[-1].model
    for cut in range(0, len(data) - 1, 3):
        with pytest.raises(ValueError, match="TFLite model"):
            TfliteInterpreter(parse_tflite(data[:cut]))
    with pytest.raises(ValueError, match="not a TFLite FlatBuffer"):
        parse_tflite(b"\x10\x00\x00\x00GIF8" + bytes(64))
    rng = np.random.default_rng(3)
    for _ in range(50):  # random corruption must never escape as IndexError, struct.error, ...
        broken = bytearray(data)
        for pos in rng.integers(8, len(broken), size=4):
            broken[pos] = int(rng.integers(0, 256))
        with contextlib.suppress(ValueError):
            TfliteInterpreter(parse_tflite(bytes(broken)))


def test_wrong_schema_version_and_offset_buffers_raise() -> None:
    tensors = [Tensor("x", (1, 2)), Tensor("y", (1, 2))]
    ok = {0: ("u32", 3), 1: ("tables", [{0: ("i8", 22), 3: ("i32", 22)}])}
    sub = {
        0: ("tables", [{0: ("ints", [1, 2]), 3: ("str", t.name)} for t in tensors]),
        1: ("ints", [0]),
        2: ("ints", [1]),
        3: ("tables", [{0: ("u32", 0), 1: ("ints", [0]), 2: ("ints", [1])}]),
    }
    v2 = FlatWriter().finish({**ok, 0: ("u32", 2), 2: ("tables", [sub]), 4: ("tables", [{}])})
    with pytest.raises(ValueError, match="schema version 2"):
        parse_tflite(v2)
    sub_const = {**sub, 0: ("tables", [{0: ("ints", [1, 2]), 2: ("u32", 1), 3: ("str", "x")}, sub[0][1][1]])}
    offset = FlatWriter().finish(
        {**ok, 2: ("tables", [sub_const]), 4: ("tables", [{}, {1: ("u64", 64), 2: ("u64", 8)}])}
    )
    with pytest.raises(ValueError, match="outside the flatbuffer"):
        parse_tflite(offset)
    with pytest.raises(ValueError, match="no target shape"):  # reshape without a shape input or option
        TfliteInterpreter(
            parse_tflite(FlatWriter().finish({**ok, 2: ("tables", [sub]), 4: ("tables", [{}])}))
        )


# --------------------------------------------------------------------------------------
# The iris model
# --------------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    from eventlens.settings import Settings

    return Path(Settings.model_fields["cache_dir"].default)


def find_iris_model(tmp_dir: Path) -> Path:
    """The installed iris model (``eventlens models install``; ``make test`` runs it)."""
    try:
        return model_path(IRIS_LANDMARK, default_cache_dir())
    except ModelError:
        pytest.skip("iris_landmark.tflite is not installed: run `eventlens models install` (make test does)")


@pytest.fixture(scope="module")
def iris_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return find_iris_model(tmp_path_factory.mktemp("iris-model"))


@pytest.fixture(scope="module")
def iris_net(iris_file: Path) -> TfliteInterpreter:
    return TfliteInterpreter.from_file(iris_file)


def synthetic_eye(opening: int, iris_dx: int, tone: int) -> np.ndarray:
    """A drawn 64x64 eye (integer arithmetic only, so it is the same everywhere): skin, brow, almond-shaped
    sclera ``2 * opening`` pixels tall with iris and pupil, dark lid line."""
    y, x = np.mgrid[0:64, 0:64]
    img = np.empty((64, 64, 3), np.int64)
    img[...] = (190 + tone, 150 + tone, 125 + tone)
    img += (x // 8 - y // 8)[..., None]
    ellipse = (x - 32) ** 2 * max(opening, 1) ** 2 + (y - 34) ** 2 * 22**2
    limit = (22 * max(opening, 1)) ** 2
    img[(abs(ellipse - limit) * 4 < limit) & (abs(x - 32) < 23)] = (60, 40, 35)
    eye = ellipse < limit
    img[eye] = (235, 232, 228)
    iris = (x - 32 - iris_dx) ** 2 + (y - 34) ** 2
    img[eye & (iris < 81)] = (95, 70, 45)
    img[eye & (iris < 12)] = (15, 12, 10)
    img[(y >= 14) & (y <= 18) & (abs(x - 32 + (y - 16)) < 20)] = (70, 50, 40)
    return np.clip(img, 0, 255).astype(np.uint8)


def reference_inputs() -> np.ndarray:
    """uint8 (5, 64, 64, 3): four drawn eyes (open, half, closed, glancing) and one of uniform noise."""
    eyes = [
        synthetic_eye(11, 0, 0),
        synthetic_eye(6, 2, -30),
        synthetic_eye(1, 0, 20),
        synthetic_eye(12, -6, 10),
    ]
    noise = np.random.default_rng(20240508).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    return np.stack([*eyes, noise])


def test_iris_model_structure(iris_net: TfliteInterpreter) -> None:
    assert iris_net.input_shape == (64, 64, 3)
    assert iris_net.output_names == ("output_eyes_contours_and_brows", "output_iris")
    assert iris_net.op_counts() == {
        "CONV_2D": 55,
        "PRELU": 53,
        "DEPTHWISE_CONV_2D": 26,
        "ADD": 26,
        "MAX_POOL_2D": 6,
        "RESHAPE": 2,
        "PAD": 1,
    }


def test_iris_matches_committed_litert_reference(iris_net: TfliteInterpreter) -> None:
    ref = np.load(REFERENCE)
    np.testing.assert_array_equal(ref["inputs"], reference_inputs())  # the fixture is what it says
    out = iris_net.run(ref["inputs"].astype(np.float32) / np.float32(255))
    for name in iris_net.output_names:
        err = float(np.abs(out[name] - ref[name]).max())
        assert err < MAX_ABS_ERROR_PX, f"{name}: max |numpy - litert| = {err:.3g} px"


def test_iris_matches_litert_on_random_inputs(iris_file: Path, iris_net: TfliteInterpreter) -> None:
    x = np.random.default_rng(11).random((6, 64, 64, 3), dtype=np.float32)
    expected = litert_run(iris_file, x)
    ours = iris_net.run(x)
    for name in iris_net.output_names:
        assert float(np.abs(ours[name] - expected[name]).max()) < MAX_ABS_ERROR_PX


def test_truncated_iris_model_raises_value_error(iris_file: Path) -> None:
    data = iris_file.read_bytes()
    for cut in (len(data) // 3, len(data) - 100):
        with pytest.raises(ValueError, match="truncated"):
            parse_tflite(data[:cut])


def _write_reference(model: Path, out: Path) -> None:  # pragma: no cover - run by hand with litert
    inputs = reference_inputs()
    results = litert_run(model, inputs.astype(np.float32) / np.float32(255))
    np.savez_compressed(out, inputs=inputs, **results)
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":  # pragma: no cover
    _write_reference(Path(sys.argv[1]), Path(sys.argv[2]))
