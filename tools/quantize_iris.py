"""Build `eventlens/backends/models/iris_contours_int8.tflite`: MediaPipe's iris model, int8 convolutions.

The shipped file is derived from the pinned ``iris_landmark.tflite`` (``eventlens models install``) in
two steps, each in its own environment:

1. ``crops`` (the eventlens environment): 600 eye crops, cut exactly as the pipeline cuts them (dlib's
   eye corners, :func:`eventlens.backends.iris.sample_eye_crops`), from photos of
   ``DATA/identities`` that are *not* among the hand-labelled faces of ``tests/data/face_attributes``
   (those measure the result; they must not shape it). Never from ``holdout/``::

       .venv/bin/python tools/quantize_iris.py crops --data ../shared/data --out /tmp/iris_calib.npy

2. ``convert`` (a separate environment with ``tensorflow-cpu==2.21.0``; eventlens itself never needs
   TensorFlow): the float graph is rebuilt op by op as a Keras model that outputs the eye and brow
   contours only (the iris head, 7 % of the arithmetic, is dropped: eventlens does not use it), then
   converted by TFLiteConverter with the crops as the representative data set, with only ``CONV_2D``
   quantized (int8 per-channel weights, int8 activations); PReLU, depthwise convolutions, adds and
   pooling stay float32. ::

       python3.11 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu==2.21.0
       /tmp/tfenv/bin/python tools/quantize_iris.py convert --crops /tmp/iris_calib.npy \
           --model ~/.cache/eventlens/models/iris_landmark.tflite \
           --out eventlens/backends/models/iris_contours_int8.tflite

With tensorflow-cpu 2.21.0 and the crops of step 1 the conversion is deterministic: it reproduces the
shipped file byte for byte (sha256 ``INT8_MODEL_SHA256`` in :mod:`eventlens.backends.iris`; the script
says whether it does).

Why only the convolutions: XNNPACK (LiteRT's CPU kernels) has no int8 PReLU, so a fully int8 model
falls back to reference kernels between 39 delegate partitions (4.9 ms/eye, 4x slower than float);
with the convolutions alone in int8 the whole graph stays in XNNPACK and runs at ~0.66 ms/eye against
1.24 ms for the float model (AVX-512 VNNI), with eye outlines 0.45 px (of 64) from the float model's on
average. Also keeping PReLU-only float (adds and depthwise in int8) is no faster and less accurate;
keeping the most error-prone convolutions float does not help either (error is spread over all of
them). BENCHMARKS.md §3 and §6 have the accuracy and speed.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CALIBRATION_EYES = 600
SEED = 1
CONTOURS = "output_eyes_contours_and_brows"


def collect_crops(data: Path, out: Path) -> None:
    from eventlens.analysis.photo import EYES_MIN_FACE_PX, decode_for_detection, run_detection  # noqa: PLC0415
    from eventlens.analysis.pool import build_models  # noqa: PLC0415
    from eventlens.backends.iris import eye_corners68, eye_crop_transforms, sample_eye_crops  # noqa: PLC0415
    from eventlens.settings import Settings  # noqa: PLC0415

    settings = Settings(workers=1)
    models = build_models(settings, load=True)
    labels = REPO / "tests" / "data" / "face_attributes" / "labels.csv"
    with labels.open(newline="") as f:
        labelled = {(r["dataset"], r["photo"]) for r in csv.DictReader(f)}
    root = data / "identities"
    paths = sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in (".jpg", ".jpeg", ".png")
        and ("identities", p.relative_to(root).as_posix()) not in labelled
    )
    np.random.default_rng(SEED).shuffle(paths)  # type: ignore[arg-type]
    crops: list[np.ndarray] = []
    for path in paths:
        plan, image = decode_for_detection(
            path, models.detector, settings.min_face_px, settings.max_image_megapixels
        )
        dets = run_detection(models.detector, image, plan).detections
        dets = dets[(dets.scores >= settings.min_det_score) & (dets.sizes_px >= EYES_MIN_FACE_PX)]
        if not len(dets):
            continue
        landmarks = models.landmarker.landmarks68(image.rgb, dets.xyxy * image.scale)
        transforms = eye_crop_transforms(eye_corners68(landmarks)).reshape(-1, 2, 3)
        crops.append(sample_eye_crops(image.rgb, transforms))
        if sum(len(c) for c in crops) >= CALIBRATION_EYES:
            break
    stacked = np.concatenate(crops)[:CALIBRATION_EYES]
    np.save(out, stacked)
    print(f"{len(stacked)} eye crops from {root} -> {out}")


def read_tflite(model_path: Path) -> SimpleNamespace:
    """The single subgraph of a float ``.tflite`` file, read with the FlatBuffer schema that ai-edge-litert
    ships: ``tensors`` (``name``, ``shape``, ``data``: the constant's array or None), ``operators`` (``op``
    name, ``inputs``, ``outputs``, ``options``: stride, padding, activation, dilation, filter), graph
    ``inputs`` and ``outputs``."""
    from ai_edge_litert import schema_py_generated as schema  # noqa: PLC0415

    model = schema.ModelT.InitFromPackedBuf(model_path.read_bytes(), 0)
    (graph,) = model.subgraphs
    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    paddings = {v: k for k, v in vars(schema.Padding).items() if not k.startswith("_")}
    activations = {v: k for k, v in vars(schema.ActivationFunctionType).items() if not k.startswith("_")}
    dtypes = {schema.TensorType.FLOAT32: "<f4", schema.TensorType.INT32: "<i4"}

    def tensor(t: Any) -> SimpleNamespace:
        raw = model.buffers[t.buffer].data
        shape = tuple(int(v) for v in t.shape)
        data = (
            None if raw is None or not len(raw) else np.frombuffer(bytes(raw), dtypes[t.type]).reshape(shape)
        )
        return SimpleNamespace(name=t.name.decode(), shape=shape, data=data)

    def options(o: Any) -> dict[str, object]:
        found: dict[str, object] = {}
        if hasattr(o, "padding"):
            found |= {"padding": paddings[o.padding], "stride": (o.strideH, o.strideW)}
        if hasattr(o, "dilationHFactor"):
            found["dilation"] = (o.dilationHFactor, o.dilationWFactor)
        if hasattr(o, "filterHeight"):
            found["filter"] = (o.filterHeight, o.filterWidth)
        if hasattr(o, "fusedActivationFunction"):
            found["activation"] = activations[o.fusedActivationFunction]
        return found

    def op_name(code: Any) -> str:
        return op_names[max(code.deprecatedBuiltinCode, code.builtinCode)]  # the schema's rule

    operators = [
        SimpleNamespace(
            op=op_name(model.operatorCodes[op.opcodeIndex]),
            inputs=tuple(int(i) for i in op.inputs),
            outputs=tuple(int(i) for i in op.outputs),
            options=options(op.builtinOptions),
        )
        for op in graph.operators
    ]
    return SimpleNamespace(
        tensors=[tensor(t) for t in graph.tensors],
        operators=operators,
        inputs=tuple(int(i) for i in graph.inputs),
        outputs=tuple(int(i) for i in graph.outputs),
    )


def keras_contours_model(model_path: Path):  # type: ignore[no-untyped-def]
    """The float iris graph as a Keras model whose only output is the contours (71 x 3 values)."""
    import tensorflow as tf  # noqa: PLC0415 - conversion environment only

    graph = read_tflite(model_path)
    t = graph.tensors
    layers = tf.keras.layers
    values = {graph.inputs[0]: tf.keras.Input((64, 64, 3), name="input")}
    for op in graph.operators:
        o, x = op.options, values[op.inputs[0]]
        if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            w, b = t[op.inputs[1]].data, t[op.inputs[2]].data
            assert o["activation"] == "NONE" and tuple(o.get("dilation", (1, 1))) == (1, 1), o
            if op.op == "CONV_2D":
                layer = layers.Conv2D(
                    w.shape[0], w.shape[1:3], strides=o["stride"], padding=o["padding"].lower()
                )
            else:
                assert w.shape[3] == x.shape[3], "depth multiplier 1 only"
                layer = layers.DepthwiseConv2D(
                    w.shape[1:3], strides=o["stride"], padding=o["padding"].lower()
                )
            y = layer(x)
            layer.set_weights([w.transpose(1, 2, 3, 0), b])
        elif op.op == "PRELU":
            layer = layers.PReLU(shared_axes=[1, 2])
            y = layer(x)
            layer.set_weights([np.asarray(t[op.inputs[1]].data, np.float32).reshape(1, 1, -1)])
        elif op.op == "ADD":
            assert o["activation"] == "NONE", o
            y = layers.Add()([x, values[op.inputs[1]]])
        elif op.op == "MAX_POOL_2D":
            assert o["activation"] == "NONE", o
            y = layers.MaxPool2D(o["filter"], o["stride"], padding=o["padding"].lower())(x)
        elif op.op == "PAD":
            pads = t[op.inputs[1]].data.tolist()
            y = layers.Lambda(lambda v, p=pads: tf.pad(v, p))(x)
        elif op.op == "RESHAPE":
            y = layers.Reshape(t[op.outputs[0]].shape[1:])(x)
        else:
            raise ValueError(f"unexpected operator {op.op}")
        values[op.outputs[0]] = y
    (contours,) = [i for i in graph.outputs if t[i].name == CONTOURS]
    return tf.keras.Model(values[graph.inputs[0]], values[contours]), graph


def convert(crops_path: Path, model_path: Path, out: Path) -> None:
    import tensorflow as tf  # noqa: PLC0415

    from eventlens.backends.sessions import create_session  # noqa: PLC0415

    crops = np.load(crops_path).astype(np.float32)
    model, _ = keras_contours_model(model_path)
    session = create_session("litert", model_path)
    outputs = session.run({session.inputs[0].name: crops[:16]})
    reference = outputs[[o.name for o in session.outputs].index(CONTOURS)].reshape(16, -1)
    rebuilt = np.asarray(model(crops[:16])).reshape(16, -1)
    assert np.abs(rebuilt - reference).max() < 1e-3, "the Keras rebuild differs from the tflite graph"

    def representative():  # type: ignore[no-untyped-def]
        for i in range(len(crops)):
            yield [crops[i : i + 1]]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    options = tf.lite.experimental.QuantizationDebugOptions(
        denylisted_ops=["PRELU", "ADD", "DEPTHWISE_CONV_2D", "MAX_POOL_2D"]
    )
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter,
        debug_dataset=lambda: ([crops[i : i + 1]] for i in range(2)),
        debug_options=options,
    )
    out.write_bytes(debugger.get_nondebug_quantized_model())
    import hashlib  # noqa: PLC0415
    import re  # noqa: PLC0415

    # read from the source: importing eventlens.backends.iris needs Pillow, which this venv may lack
    source = (REPO / "eventlens" / "backends" / "iris.py").read_text(encoding="utf-8")
    pinned = re.search(r'^INT8_MODEL_SHA256 = "([0-9a-f]{64})"', source, re.MULTILINE)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    same = "the same as" if pinned and digest == pinned.group(1) else "DIFFERENT from"
    print(f"wrote {out} ({out.stat().st_size} bytes), sha256 {digest}: {same} the shipped model's")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="step", required=True)
    c = sub.add_parser("crops", help="eye crops for calibration (eventlens environment)")
    c.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    c.add_argument("--out", type=Path, required=True)
    v = sub.add_parser("convert", help="the int8 model (TensorFlow environment)")
    v.add_argument("--crops", type=Path, required=True)
    v.add_argument(
        "--model", type=Path, default=Path.home() / ".cache" / "eventlens" / "models" / "iris_landmark.tflite"
    )
    v.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    if args.step == "crops":
        collect_crops(args.data, args.out)
    else:
        convert(args.crops, args.model, args.out)


if __name__ == "__main__":
    main()
