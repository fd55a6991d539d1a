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

The graph is written by :mod:`eventlens.backends.onnx_writer` (no ``onnx`` package at run time).

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

import numpy as np

from eventlens.backends.dlib_weights import DESCRIPTOR_DIM, ResnetWeights
from eventlens.backends.onnx_writer import FLOAT, OPSET, UINT8, Graph, model_bytes, node

__all__ = ["OPSET", "build_onnx_model"]

_INPUT = "chips"
_OUTPUT = "descriptors"


def _out_size(size: int, kernel: int, stride: int, pad: int) -> int:
    return 1 + (size + 2 * pad - kernel) // stride


def _pad_to(g: Graph, x: str, target: tuple[int, int, int]) -> str:
    """Zero-pad NCHW ``x`` at the end of C, H and W up to ``target`` (dlib's add_prev alignment)."""
    shape = g.shapes[x]
    if shape == target:
        return x
    ends = [t - s for s, t in zip(shape, target, strict=True)]
    pads = g.const("pads", np.array([0, 0, 0, 0, 0, *ends], dtype=np.int64))
    return g.op("Pad", [x, pads], target)  # mode "constant", value 0 (the defaults)


def _add_prev(g: Graph, a: str, b: str) -> str:
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
    g = Graph()
    s = weights.chip_size
    mean = np.asarray(weights.mean_rgb, dtype=np.float32).reshape(1, 3, 1, 1)
    x = g.op("Transpose", [_INPUT], perm=[0, 3, 1, 2])
    x = g.op("Cast", [x], to=FLOAT)
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
    g.nodes.append(node("Identity", [x], [_OUTPUT], name=_OUTPUT))

    return model_bytes(
        g,
        "dlib_face_recognition_resnet_v1",
        [(_INPUT, UINT8, ["N", s, s, 3])],
        [(_OUTPUT, FLOAT, ["N", DESCRIPTOR_DIM])],
    )
