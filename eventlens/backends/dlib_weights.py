"""Reader of dlib's ResNet face-descriptor weights (``dlib_face_recognition_resnet_model_v1.dat``).

:func:`load_resnet_weights` turns the ``.dat`` file into :class:`ResnetWeights` (numpy arrays, cached as
``.npz``), from which :mod:`eventlens.backends.dlib_resnet_onnx` builds the same network as an ONNX graph.

The network is the ``anet_type`` of dlib's Python binding
(``tools/python/src/face_recognition.cpp``), the same one used by
``dlib_face_recognition_resnet_model_v1.dat``.  In compute order (input first):

* ``input_rgb_image_sized<150>``: a 150x150 RGB uint8 chip becomes
  ``(pixel - mean[c]) / 256`` per channel, with the per-channel means
  (R, G, B = 122.782, 117.001, 104.298) read from the file.
* ``con<32,7,7,2,2>`` -> ``affine`` -> ``relu`` -> ``max_pool<3,3,2,2>``:
  150 -> 72 -> 35 pixels.  dlib's default padding is ``kernel//2`` only when
  the stride is 1; **every stride-2 conv/pool layer has zero padding**.
* 4 resolution levels of residual blocks (level 4 is applied first)::

      level4: 3 x ares<32>                       35x35x32
      level3: ares_down<64>,  3 x ares<64>       17x17x64
      level2: ares_down<128>, 2 x ares<128>      8x8x128
      level1: ares_down<256>, 2 x ares<256>      4x4x256
      level0: ares_down<256>                     2x2x256

  where ``block(N, s) = con<N,3,3,s,s> -> affine -> relu -> con<N,3,3,1,1> -> affine``,
  ``ares(N)  = relu(block(N, 1)(x) + x)`` and
  ``ares_down(N) = relu(block(N, 2)(x) + avg_pool<2,2,2,2>(x))``.
  In ``ares_down`` the two addends usually differ in shape: the pooled
  shortcut has fewer channels, and because the strided 3x3 conv has no
  padding its spatial size can also differ (level1: conv gives 3x3, pool
  gives 4x4; level0: 1x1 vs 2x2).  dlib's ``add_prev`` then produces a
  tensor of the element-wise *maximum* shape and treats missing entries of
  either addend as 0, i.e. each addend is aligned at index 0 (top-left,
  first channels) and zero-padded.
* ``avg_pool_everything`` (mean over the remaining 2x2) -> ``fc_no_bias<128>``
  -> ``loss_metric`` (identity at inference: the descriptor is the raw fc
  output, not re-normalised).

File format (``dlib/serialize.h``, ``dlib/dnn/core.h``): integers are
dlib's portable variable-length encoding (a control byte holding the byte
count and a sign bit, then little-endian magnitude bytes); ``double`` and
``float`` *scalars* are ``float_details`` = (int64 mantissa, int16 exponent),
both in that integer encoding; strings are a length + bytes; ``bool`` is the
ASCII character ``'0'``/``'1'``.  Tensor *contents*, however, are raw
little-endian IEEE float32 (``dlib/cuda/tensor.h``, tensor version 2), so the
5.6 M weights load with a single ``numpy.frombuffer`` per tensor.  Nested
layers are written recursively: each wrapper writes its version, then its
whole sub-network, then its own details, so the file contains every
wrapper version from the loss layer inwards followed by the layer details
from the input outwards.  Tag and skip layers carry no type information, so
the parser walks the known ``anet_type`` structure and checks every version
string and hyper-parameter against it.

Only numpy and the standard library are used; importing this module does
no work.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from eventlens.backends.cache_files import write_atomically

__all__ = [
    "CHIP_SIZE",
    "DESCRIPTOR_DIM",
    "LayerWeights",
    "ResnetWeights",
    "parse_resnet_dat",
    "load_resnet_weights",
    "cache_path_for",
]

CHIP_SIZE = 150
"""Side length (pixels) of the square RGB chip the network expects."""

DESCRIPTOR_DIM = 128
"""Length of the face descriptor."""

_CACHE_FORMAT = 1

# --------------------------------------------------------------------------------------
# Architecture (mirrors anet_type in dlib/tools/python/src/face_recognition.cpp)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    """One expected layer, in compute order (input side first)."""

    kind: str  # con | affine | relu | max_pool | avg_pool | add_prev | tag | skip | fc
    num_outputs: int = 0  # con: filters, fc: outputs
    kernel: tuple[int, int] = (0, 0)  # (rows, cols); pools: (0, 0) means "whole input"
    stride: tuple[int, int] = (1, 1)
    tag: int = 0  # tag / skip / add_prev: the tag id


def _con(n: int, k: int, s: int) -> _Spec:
    return _Spec("con", num_outputs=n, kernel=(k, k), stride=(s, s))


def _block(n: int, stride: int) -> list[_Spec]:
    """``BN<con<N,3,3,1,1,relu<BN<con<N,3,3,stride,stride,SUBNET>>>>>`` in compute order."""
    return [_con(n, 3, stride), _Spec("affine"), _Spec("relu"), _con(n, 3, 1), _Spec("affine")]


def _ares(n: int) -> list[_Spec]:
    """``relu<add_prev1<block<N,affine,1,tag1<SUBNET>>>>``."""
    return [_Spec("tag", tag=1), *_block(n, 1), _Spec("add_prev", tag=1), _Spec("relu")]


def _ares_down(n: int) -> list[_Spec]:
    """``relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,affine,2,tag1<SUBNET>>>>>>>``."""
    return [
        _Spec("tag", tag=1),
        *_block(n, 2),
        _Spec("tag", tag=2),
        _Spec("skip", tag=1),
        _Spec("avg_pool", kernel=(2, 2), stride=(2, 2)),
        _Spec("add_prev", tag=2),
        _Spec("relu"),
    ]


def _anet_specs() -> tuple[_Spec, ...]:
    """All layers between the input layer and the loss layer, input side first."""
    specs: list[_Spec] = [
        _con(32, 7, 2),
        _Spec("affine"),
        _Spec("relu"),
        _Spec("max_pool", kernel=(3, 3), stride=(2, 2)),
    ]
    specs += _ares(32) * 3  # alevel4
    specs += _ares_down(64) + _ares(64) * 3  # alevel3
    specs += _ares_down(128) + _ares(128) * 2  # alevel2
    specs += _ares_down(256) + _ares(256) * 2  # alevel1
    specs += _ares_down(256)  # alevel0
    specs += [_Spec("avg_pool", kernel=(0, 0), stride=(1, 1)), _Spec("fc", num_outputs=DESCRIPTOR_DIM)]
    return tuple(specs)


def _default_padding(kernel: int, stride: int) -> int:
    """dlib's default ``_padding = stride != 1 ? 0 : kernel/2`` (con_, max_pool_, avg_pool_)."""
    return 0 if stride != 1 else kernel // 2


# --------------------------------------------------------------------------------------
# Parsed weights
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LayerWeights:
    """One layer of the network, in compute order, with dlib's own parameter layout.

    ``kind`` is one of ``con``, ``affine``, ``relu``, ``max_pool``, ``avg_pool``,
    ``add_prev``, ``tag``, ``skip``, ``fc``.

    * ``con``: ``weight`` float32 (out_channels, in_channels, rows, cols), ``bias``
      float32 (out_channels,) (zeros when dlib's ``use_bias`` is false);
      ``relu`` is dlib's fused ``use_relu`` flag.
    * ``affine``: per-channel ``weight`` (gamma) and ``bias`` (beta), float32 (channels,);
      output = gamma * input + beta.  A batch-norm layer in the file is converted at
      load time exactly like dlib's ``affine_(const bn_&)`` constructor.
    * ``fc``: ``weight`` float32 (inputs, outputs), no bias.
    * pools: ``kernel`` (rows, cols), (0, 0) meaning the whole input; ``stride``; ``padding``.
    * ``tag``/``skip``/``add_prev``: ``tag`` is the tag id.
    """

    kind: str
    kernel: tuple[int, int] = (0, 0)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    tag: int = 0
    relu: bool = False
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class ResnetWeights:
    """All parameters of dlib's face-recognition ResNet.

    ``mean_rgb``: float32 (3,), per-channel pixel means subtracted by the input layer
    (the input layer then divides by 256).  ``layers``: every layer between the input
    layer and the loss layer, input side first.  ``loss_margin`` and
    ``loss_distance_threshold`` are the ``loss_metric_`` settings (unused at inference;
    the distance threshold is the 0.6 commonly used to decide "same person").
    """

    mean_rgb: np.ndarray
    layers: tuple[LayerWeights, ...]
    loss_margin: float
    loss_distance_threshold: float
    chip_size: int = CHIP_SIZE
    source_sha256: str = field(default="")


# --------------------------------------------------------------------------------------
# Low-level reader for dlib's serialization primitives
# --------------------------------------------------------------------------------------


class _Reader:
    """Cursor over the bytes of a dlib-serialized file; every read checks bounds."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def fail(self, what: str) -> ValueError:
        return ValueError(f"dlib ResNet file: {what} (at byte offset {self.pos} of {len(self.data)})")

    def _take(self, n: int, what: str) -> int:
        start = self.pos
        if n < 0 or start + n > len(self.data):
            raise self.fail(f"file is truncated while reading {what}")
        self.pos = start + n
        return start

    def int_(self, what: str, max_bytes: int = 8, signed: bool = True) -> int:
        """dlib portable integer: control byte (size in low nibble, 0x80 = negative), then LE bytes."""
        start = self._take(1, what)
        ctrl = self.data[start]
        size = ctrl & 0x0F
        if (ctrl & 0x70) or size == 0 or size > max_bytes or (not signed and ctrl & 0x80):
            self.pos = start
            raise self.fail(f"invalid integer control byte 0x{ctrl:02x} for {what}")
        b = self._take(size, what)
        value = int.from_bytes(self.data[b : b + size], "little")
        return -value if ctrl & 0x80 else value

    def uint(self, what: str, max_bytes: int = 8) -> int:
        return self.int_(what, max_bytes=max_bytes, signed=False)

    def float_(self, what: str) -> float:
        """dlib portable float (``float_details``): int64 mantissa then int16 exponent."""
        if self.pos < len(self.data) and self.data[self.pos] & 0x70:
            raise self.fail(f"{what} uses dlib's old ASCII float format, which is not supported")
        mantissa = self.int_(what + " (mantissa)", max_bytes=8)
        exponent = self.int_(what + " (exponent)", max_bytes=2)
        if exponent == 32000:
            return float("inf")
        if exponent == 32001:
            return float("-inf")
        if exponent > 32001:
            return float("nan")
        return float(np.ldexp(float(mantissa), exponent))

    def bool_(self, what: str) -> bool:
        start = self._take(1, what)
        ch = self.data[start]
        if ch not in (0x30, 0x31):
            self.pos = start
            raise self.fail(f"invalid bool byte 0x{ch:02x} for {what}")
        return ch == 0x31

    def string(self, what: str, max_len: int = 256) -> str:
        n = self.uint(what + " (length)")
        if n > max_len:
            raise self.fail(f"implausible string length {n} for {what}")
        start = self._take(n, what)
        try:
            return self.data[start : start + n].decode("ascii")
        except UnicodeDecodeError:
            raise self.fail(f"non-ASCII bytes in {what}") from None

    def expect_version(self, what: str, allowed: Sequence[int]) -> int:
        v = self.int_(what + " version", max_bytes=4)
        if v not in allowed:
            raise self.fail(f"unexpected {what} version {v} (expected one of {list(allowed)})")
        return v

    def tensor(self, what: str) -> np.ndarray:
        """``resizable_tensor`` (version 2): 4 dims then raw little-endian float32, shape (n, k, nr, nc)."""
        self.expect_version(what + " tensor", (2,))
        dims = [self.int_(f"{what} tensor dim") for _ in range(4)]
        if any(d < 0 for d in dims):
            raise self.fail(f"negative dimension {dims} in {what} tensor")
        count = dims[0] * dims[1] * dims[2] * dims[3]
        start = self._take(4 * count, f"{what} tensor data ({count} floats)")
        arr = np.frombuffer(self.data, dtype="<f4", count=count, offset=start)
        return arr.astype(np.float32).reshape(dims)

    def alias_tensor(self, what: str) -> tuple[int, int, int, int]:
        """``alias_tensor`` (version 1): shape only, (n, k, nr, nc)."""
        self.expect_version(what + " alias_tensor", (1,))
        n, k, nr, nc = (self.int_(f"{what} alias_tensor dim") for _ in range(4))
        return (n, k, nr, nc)


# --------------------------------------------------------------------------------------
# Layer detail parsers (each mirrors the matching deserialize() in dlib/dnn/layers.h)
# --------------------------------------------------------------------------------------


def _check(cond: bool, r: _Reader, msg: str) -> None:
    if not cond:
        raise r.fail(msg)


def _skip_doubles(r: _Reader, what: str, n: int) -> None:
    for i in range(n):
        r.float_(f"{what} double #{i}")


def _parse_con(r: _Reader, spec: _Spec, in_channels: int, idx: int) -> LayerWeights:
    what = f"layer {idx} (con_)"
    version = r.string(what + " version")
    _check(version in ("con_4", "con_5", "con_6"), r, f"unexpected version '{version}' for {what}")
    params = r.tensor(what + " params").ravel()
    num_filters = r.int_(what + " num_filters")
    nr, nc = r.int_(what + " nr"), r.int_(what + " nc")
    sy, sx = r.int_(what + " stride_y"), r.int_(what + " stride_x")
    py, px = r.int_(what + " padding_y"), r.int_(what + " padding_x")
    fshape = r.alias_tensor(what + " filters")
    bshape = r.alias_tensor(what + " biases")
    _skip_doubles(r, what + " multipliers", 4)
    use_bias = r.bool_(what + " use_bias") if version in ("con_5", "con_6") else True
    use_relu = r.bool_(what + " use_relu") if version == "con_6" else False
    k, s = spec.kernel[0], spec.stride[0]
    pad = _default_padding(k, s)
    _check(num_filters == spec.num_outputs, r, f"{what}: {num_filters} filters, expected {spec.num_outputs}")
    _check((nr, nc) == spec.kernel, r, f"{what}: kernel {nr}x{nc}, expected {k}x{k}")
    _check((sy, sx) == spec.stride, r, f"{what}: stride {sy}x{sx}, expected {s}x{s}")
    _check((py, px) == (pad, pad), r, f"{what}: padding {py}x{px}, expected {pad}x{pad}")
    expected_f = (num_filters, in_channels, nr, nc)
    _check(fshape == expected_f, r, f"{what}: filter shape {fshape}, expected {expected_f}")
    n_f = int(np.prod(expected_f))
    n_b = num_filters if use_bias else 0
    if use_bias:
        _check(bshape == (1, num_filters, 1, 1), r, f"{what}: bias shape {bshape}")
    _check(params.size == n_f + n_b, r, f"{what}: {params.size} params, expected {n_f + n_b}")
    weight = params[:n_f].reshape(expected_f).copy()
    bias = params[n_f:].copy() if use_bias else np.zeros(num_filters, np.float32)
    return LayerWeights(
        "con", kernel=(nr, nc), stride=(sy, sx), padding=(py, px), relu=use_relu, weight=weight, bias=bias
    )


def _parse_bn_con(r: _Reader, channels: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``bn_<CONV_MODE>`` ("bn_con2") converted to (gamma, beta) as ``affine_(const bn_&)`` does."""
    params = r.tensor(what + " params").ravel()
    g = r.alias_tensor(what + " gamma")
    b = r.alias_tensor(what + " beta")
    for name in ("means", "invstds"):
        r.tensor(f"{what} {name}")
    running_means = r.tensor(what + " running_means").ravel()
    running_vars = r.tensor(what + " running_variances").ravel()
    r.uint(what + " num_updates")
    r.uint(what + " running_stats_window_size")
    _skip_doubles(r, what + " multipliers", 4)
    eps = r.float_(what + " eps")
    _check(
        g == b == (1, channels, 1, 1), r, f"{what}: gamma/beta shape {g}/{b}, expected (1, {channels}, 1, 1)"
    )
    _check(params.size == 2 * channels, r, f"{what}: {params.size} params, expected {2 * channels}")
    _check(running_means.size == running_vars.size == channels, r, f"{what}: running stats size mismatch")
    gamma = params[:channels] / np.sqrt(running_vars + np.float32(eps))
    beta = params[channels:] - gamma * running_means
    return gamma.astype(np.float32), beta.astype(np.float32)


def _parse_affine(r: _Reader, channels: int, idx: int) -> LayerWeights:
    what = f"layer {idx} (affine_)"
    version = r.string(what + " version")
    if version == "bn_con2":
        gamma, beta = _parse_bn_con(r, channels, what)
        return LayerWeights("affine", weight=gamma, bias=beta)
    _check(version in ("affine_", "affine_2"), r, f"unexpected version '{version}' for {what}")
    params = r.tensor(what + " params").ravel()
    g = r.alias_tensor(what + " gamma")
    b = r.alias_tensor(what + " beta")
    mode = r.int_(what + " mode", max_bytes=4)
    disabled = r.bool_(what + " disabled") if version == "affine_2" else False
    _check(mode == 0, r, f"{what}: layer_mode {mode}, expected CONV_MODE (0)")
    if disabled:
        one, zero = np.ones(channels, np.float32), np.zeros(channels, np.float32)
        return LayerWeights("affine", weight=one, bias=zero)
    _check(
        g == b == (1, channels, 1, 1), r, f"{what}: gamma/beta shape {g}/{b}, expected (1, {channels}, 1, 1)"
    )
    _check(params.size == 2 * channels, r, f"{what}: {params.size} params, expected {2 * channels}")
    return LayerWeights("affine", weight=params[:channels].copy(), bias=params[channels:].copy())


def _parse_relu(r: _Reader, idx: int) -> LayerWeights | None:
    what = f"layer {idx} (relu_)"
    version = r.string(what + " version")
    _check(version in ("relu_", "relu_2"), r, f"unexpected version '{version}' for {what}")
    disabled = r.bool_(what + " disabled") if version == "relu_2" else False
    return None if disabled else LayerWeights("relu")


def _parse_pool(r: _Reader, spec: _Spec, idx: int) -> LayerWeights:
    name = "max_pool_" if spec.kind == "max_pool" else "avg_pool_"
    what = f"layer {idx} ({name})"
    version = r.string(what + " version")
    _check(version == name + "2", r, f"unexpected version '{version}' for {what}")
    nr, nc = r.int_(what + " nr"), r.int_(what + " nc")
    sy, sx = r.int_(what + " stride_y"), r.int_(what + " stride_x")
    py, px = r.int_(what + " padding_y"), r.int_(what + " padding_x")
    pad = _default_padding(spec.kernel[0], spec.stride[0])
    _check((nr, nc) == spec.kernel, r, f"{what}: window {nr}x{nc}, expected {spec.kernel}")
    _check((sy, sx) == spec.stride, r, f"{what}: stride {sy}x{sx}, expected {spec.stride}")
    _check((py, px) == (pad, pad), r, f"{what}: padding {py}x{px}, expected {pad}x{pad}")
    return LayerWeights(spec.kind, kernel=(nr, nc), stride=(sy, sx), padding=(py, px))


def _parse_add_prev(r: _Reader, spec: _Spec, idx: int) -> LayerWeights:
    what = f"layer {idx} (add_prev_)"
    version = r.string(what + " version")
    _check(version == "add_prev_", r, f"unexpected version '{version}' for {what}")
    return LayerWeights("add_prev", tag=spec.tag)


def _parse_fc(r: _Reader, spec: _Spec, in_features: int, idx: int) -> LayerWeights:
    what = f"layer {idx} (fc_)"
    version = r.string(what + " version")
    _check(version in ("fc_2", "fc_3"), r, f"unexpected version '{version}' for {what}")
    num_outputs = r.uint(what + " num_outputs")
    num_inputs = r.uint(what + " num_inputs")
    params = r.tensor(what + " params")
    wshape = r.alias_tensor(what + " weights")
    r.alias_tensor(what + " biases")
    bias_mode = r.int_(what + " bias_mode", max_bytes=4)
    _skip_doubles(r, what + " multipliers", 4)
    if version == "fc_3":
        r.bool_(what + " use_bias")
    _check(bias_mode == 1, r, f"{what}: bias_mode {bias_mode}, expected FC_NO_BIAS (1)")
    _check(num_outputs == spec.num_outputs, r, f"{what}: {num_outputs} outputs, expected {spec.num_outputs}")
    _check(num_inputs == in_features, r, f"{what}: {num_inputs} inputs, expected {in_features}")
    _check(wshape == (num_inputs, num_outputs, 1, 1), r, f"{what}: weight shape {wshape}")
    _check(params.size == num_inputs * num_outputs, r, f"{what}: {params.size} params")
    return LayerWeights("fc", weight=params.reshape(num_inputs, num_outputs).copy())


# --------------------------------------------------------------------------------------
# Whole-file parser
# --------------------------------------------------------------------------------------


def _out_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """dlib output size ``1 + (size + 2*pad - kernel) / stride`` (integer division)."""
    return 1 + (size + 2 * pad - kernel) // stride


def _read_add_layer_tail(r: _Reader, version: int, idx: int, innermost: bool) -> None:
    """Bookkeeping written by ``add_layer`` after the layer details (all ignored at inference)."""
    what = f"layer {idx} add_layer"
    r.bool_(what + " this_layer_setup_called")
    r.bool_(what + " gradient_input_is_stale")
    r.bool_(what + " get_output_and_gradient_input_disabled")
    r.tensor(what + " x_grad")
    r.tensor(what + " cached_output")
    if innermost:
        r.tensor(what + " grad_final")
        if version >= 3:
            r.uint(what + " sample_expansion_factor", max_bytes=4)
    elif version == 2:
        r.tensor(what + " params_grad")


def _read_input_layer(r: _Reader) -> np.ndarray:
    version = r.string("input layer version")
    _check(version == "input_rgb_image_sized", r, f"unexpected input layer '{version}'")
    means = [r.float_(f"input layer avg_{c}") for c in ("red", "green", "blue")]
    nr, nc = r.uint("input layer nr"), r.uint("input layer nc")
    _check(
        (nr, nc) == (CHIP_SIZE, CHIP_SIZE), r, f"input layer is {nr}x{nc}, expected {CHIP_SIZE}x{CHIP_SIZE}"
    )
    return np.array(means, dtype=np.float32)


def _parse_bytes(data: bytes) -> ResnetWeights:
    r = _Reader(data)
    specs = _anet_specs()

    # add_loss_layer: version, loss details, then the sub-network.
    r.expect_version("add_loss_layer", (1,))
    loss_version = r.string("loss layer version")
    if loss_version == "loss_metric_":
        margin, thresh = 0.1, 0.75
    elif loss_version == "loss_metric_2":
        margin, thresh = r.float_("loss margin"), r.float_("loss distance threshold")
    else:
        raise r.fail(f"unexpected loss layer '{loss_version}', expected loss_metric_2")

    # Wrapper headers, outermost (fc) to innermost (first conv).
    versions: list[int] = [0] * len(specs)
    for i in range(len(specs) - 1, -1, -1):
        kind = specs[i].kind
        if kind in ("tag", "skip"):
            versions[i] = r.expect_version(f"layer {i} add_{kind}_layer", (1,))
        elif i == 0:
            versions[i] = r.expect_version(f"layer {i} add_layer (over input)", (2, 3))
        else:
            versions[i] = r.expect_version(f"layer {i} add_layer", (1, 2))
    mean_rgb = _read_input_layer(r)

    # Layer details, input side first, tracking the activation shape (channels, rows, cols).
    shape = (3, CHIP_SIZE, CHIP_SIZE)
    tagged: dict[int, tuple[int, int, int]] = {}
    layers: list[LayerWeights] = []
    for i, spec in enumerate(specs):
        layer: LayerWeights | None
        if spec.kind == "tag":
            tagged[spec.tag] = shape
            layers.append(LayerWeights("tag", tag=spec.tag))
            continue
        if spec.kind == "skip":
            shape = tagged[spec.tag]
            layers.append(LayerWeights("skip", tag=spec.tag))
            continue
        if spec.kind == "con":
            layer = _parse_con(r, spec, shape[0], i)
            if layer.relu:
                raise r.fail(f"layer {i} (con_) has use_relu=true, which anet_type never sets")
            k, s, p = spec.kernel[0], spec.stride[0], layer.padding[0]
            shape = (spec.num_outputs, _out_size(shape[1], k, s, p), _out_size(shape[2], k, s, p))
        elif spec.kind == "affine":
            layer = _parse_affine(r, shape[0], i)
        elif spec.kind == "relu":
            layer = _parse_relu(r, i)
        elif spec.kind in ("max_pool", "avg_pool"):
            layer = _parse_pool(r, spec, i)
            win = spec.kernel if spec.kernel != (0, 0) else (shape[1], shape[2])
            rows = _out_size(shape[1], win[0], spec.stride[0], 0)
            shape = (shape[0], rows, _out_size(shape[2], win[1], spec.stride[1], 0))
        elif spec.kind == "add_prev":
            layer = _parse_add_prev(r, spec, i)
            other = tagged[spec.tag]
            shape = (max(shape[0], other[0]), max(shape[1], other[1]), max(shape[2], other[2]))
        elif spec.kind == "fc":
            layer = _parse_fc(r, spec, shape[0] * shape[1] * shape[2], i)
            shape = (spec.num_outputs, 1, 1)
        else:  # pragma: no cover - specs are static
            raise AssertionError(spec.kind)
        _read_add_layer_tail(r, versions[i], i, innermost=(i == 0))
        if layer is not None:
            layers.append(layer)
    if r.pos != len(data):
        raise r.fail(f"{len(data) - r.pos} unexpected trailing bytes after the network")
    return ResnetWeights(
        mean_rgb=mean_rgb, layers=tuple(layers), loss_margin=margin, loss_distance_threshold=thresh
    )


def parse_resnet_dat(dat_path: Path) -> ResnetWeights:
    """Parse ``dlib_face_recognition_resnet_model_v1.dat`` (no cache).

    Raises ``ValueError`` (with the byte offset) if the file does not hold exactly
    dlib's face-recognition ``anet_type`` network.
    """
    data = Path(dat_path).read_bytes()
    weights = _parse_bytes(data)
    return _with_sha(weights, hashlib.sha256(data).hexdigest())


def _with_sha(w: ResnetWeights, sha: str) -> ResnetWeights:
    return ResnetWeights(w.mean_rgb, w.layers, w.loss_margin, w.loss_distance_threshold, w.chip_size, sha)


# --------------------------------------------------------------------------------------
# .npz cache
# --------------------------------------------------------------------------------------


def _to_npz_dict(w: ResnetWeights) -> dict[str, np.ndarray]:
    manifest = {
        "format": _CACHE_FORMAT,
        "loss_margin": w.loss_margin,
        "loss_distance_threshold": w.loss_distance_threshold,
        "chip_size": w.chip_size,
        "source_sha256": w.source_sha256,
        "layers": [
            {
                "kind": L.kind,
                "kernel": L.kernel,
                "stride": L.stride,
                "padding": L.padding,
                "tag": L.tag,
                "relu": L.relu,
            }
            for L in w.layers
        ],
    }
    arrays = {"manifest": np.array(json.dumps(manifest)), "mean_rgb": w.mean_rgb}
    for i, L in enumerate(w.layers):
        if L.weight is not None:
            arrays[f"w{i}"] = L.weight
        if L.bias is not None:
            arrays[f"b{i}"] = L.bias
    return arrays


def _from_npz(path: Path) -> ResnetWeights:
    with np.load(path, allow_pickle=False) as z:
        manifest = json.loads(str(z["manifest"]))
        if manifest.get("format") != _CACHE_FORMAT:
            raise ValueError(f"{path}: cache format {manifest.get('format')!r}, expected {_CACHE_FORMAT}")
        layers = []
        for i, m in enumerate(manifest["layers"]):
            layers.append(
                LayerWeights(
                    kind=m["kind"],
                    kernel=tuple(m["kernel"]),
                    stride=tuple(m["stride"]),
                    padding=tuple(m["padding"]),
                    tag=m["tag"],
                    relu=m["relu"],
                    weight=z[f"w{i}"] if f"w{i}" in z.files else None,
                    bias=z[f"b{i}"] if f"b{i}" in z.files else None,
                )
            )
        return ResnetWeights(
            mean_rgb=z["mean_rgb"],
            layers=tuple(layers),
            loss_margin=manifest["loss_margin"],
            loss_distance_threshold=manifest["loss_distance_threshold"],
            chip_size=manifest["chip_size"],
            source_sha256=manifest["source_sha256"],
        )


def _atomic_save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    write_atomically(path, lambda f: np.savez(f, **cast(dict[str, Any], arrays)))


def cache_path_for(dat_sha256: str, cache_dir: Path) -> Path:
    """Cache file used for a .dat whose sha256 hex digest is ``dat_sha256``."""
    return Path(cache_dir) / f"dlib_resnet_{dat_sha256}.npz"


def load_resnet_weights(dat_path: Path, cache_dir: Path | None = None) -> ResnetWeights:
    """Load the network weights, using an ``.npz`` cache in ``cache_dir`` when given.

    The cache file is named after the sha256 of the ``.dat`` file (so a changed model
    never hits a stale cache) and is written atomically (temp file + ``os.replace``).
    An unreadable cache file is ignored and rewritten.  Raises ``ValueError`` if the
    ``.dat`` file is malformed.  Never touches the network.
    """
    data = Path(dat_path).read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    cache_file = cache_path_for(sha, cache_dir) if cache_dir is not None else None
    if cache_file is not None and cache_file.is_file():
        try:
            cached = _from_npz(cache_file)
        except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile):
            cached = None  # corrupt or foreign cache file: fall through and rebuild it
        if cached is not None and cached.source_sha256 == sha:
            return cached
    weights = _with_sha(_parse_bytes(data), sha)
    if cache_file is not None:
        _atomic_save_npz(cache_file, _to_npz_dict(weights))
    return weights
