"""The ONNX Runtime ResNet runtime must give the numpy runtime's (and dlib-bin's) face descriptors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from eventlens.backends.dlib_face import _model_path
from eventlens.backends.dlib_resnet_numpy import (
    DESCRIPTOR_DIM,
    NumpyResnetDescriptor,
    ResnetWeights,
    load_resnet_weights,
)
from eventlens.backends.dlib_resnet_onnx import OPSET, OnnxResnetDescriptor, build_onnx_model
from eventlens.errors import ModelError

dlib = pytest.importorskip("dlib")

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
IDENTITIES = DATA / "identities"
DAT = Path(_model_path("resnet"))

MAX_ABS_DIFF = 1e-4
MIN_COSINE = 0.99999
N_CHIPS = 20  # >= 17, the largest batch tested
MAX_IMAGE_SIDE = 1000  # skip the multi-megapixel phone photos: the test stays fast
N_DLIB_CHIPS = 4  # dlib-bin takes ~70 ms per chip


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> ResnetWeights:
    return load_resnet_weights(DAT, cache_dir=tmp_path_factory.mktemp("resnet-cache"))


@pytest.fixture(scope="module")
def onnx_desc(weights: ResnetWeights) -> OnnxResnetDescriptor:
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install onnxruntime)")
    desc = OnnxResnetDescriptor(weights, batch_size=8)
    desc.load()
    return desc


@pytest.fixture(scope="module")
def numpy_desc(weights: ResnetWeights) -> NumpyResnetDescriptor:
    return NumpyResnetDescriptor(weights, batch_size=8)


def _chip_for(path: Path, detector, predictor) -> np.ndarray | None:
    """Same chip-making as test_dlib_resnet_numpy: HOG box (or the whole crop), 5 points, 150 px, 25 %."""
    try:
        img = dlib.load_rgb_image(str(path))
    except RuntimeError:  # e.g. a WebP file behind a .jpg name: dlib-bin is built without libwebp
        return None
    if max(img.shape[:2]) > MAX_IMAGE_SIDE:
        return None
    dets = detector(img, 1)
    if len(dets):
        rect = max(dets, key=lambda d: d.area())
    else:  # aligned crops (e.g. 112x112) are too tight for HOG: the whole image is the face
        rect = dlib.rectangle(0, 0, img.shape[1] - 1, img.shape[0] - 1)
    shape = predictor(img, rect)
    return np.asarray(dlib.get_face_chip(img, shape, size=150, padding=0.25), dtype=np.uint8)


@pytest.fixture(scope="module")
def real_chips() -> np.ndarray:
    """uint8 (20, 150, 150, 3): two photos each of ten people from ../shared/data/identities."""
    if not IDENTITIES.is_dir():
        pytest.skip(f"{IDENTITIES} is absent: the ../shared/data photos (beside the repo) are needed")
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(_model_path("shape5"))
    chips: list[np.ndarray] = []
    for person in sorted(p for p in IDENTITIES.iterdir() if p.is_dir()):
        photos = sorted(f for f in person.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png"))
        got = [c for c in (_chip_for(p, detector, predictor) for p in photos[:4]) if c is not None][:2]
        chips += got
        if len(chips) >= N_CHIPS:
            break
    if len(chips) < N_CHIPS:
        pytest.fail(f"only {len(chips)} usable face chips in {IDENTITIES}; need {N_CHIPS}")
    return np.stack(chips[:N_CHIPS])


def _agreement(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(max |a - b|, min cosine similarity of matching rows)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return float(np.abs(a - b).max()), float(cosine.min())


@pytest.mark.real_models
@pytest.mark.parametrize("n", [0, 1, 3, 17])
def test_matches_numpy_runtime_on_real_chips(
    onnx_desc: OnnxResnetDescriptor, numpy_desc: NumpyResnetDescriptor, real_chips: np.ndarray, n: int
) -> None:
    chips = real_chips[:n]
    ours = onnx_desc.compute(chips)
    assert ours.dtype == np.float32 and ours.shape == (n, DESCRIPTOR_DIM)
    if n == 0:
        return
    max_abs, cosine = _agreement(ours, numpy_desc.compute(chips))
    assert max_abs < MAX_ABS_DIFF, f"max |onnx - numpy| = {max_abs:.3g}"
    assert cosine > MIN_COSINE, f"min cosine = {cosine:.8f}"


@pytest.mark.real_models
def test_matches_dlib_on_real_chips(onnx_desc: OnnxResnetDescriptor, real_chips: np.ndarray) -> None:
    chips = real_chips[:: len(real_chips) // N_DLIB_CHIPS][:N_DLIB_CHIPS]  # different people
    model = dlib.face_recognition_model_v1(str(DAT))
    ref = np.array([np.asarray(model.compute_face_descriptor(c)) for c in chips])
    max_abs, cosine = _agreement(onnx_desc.compute(chips), ref)
    assert max_abs < MAX_ABS_DIFF, f"max |onnx - dlib| = {max_abs:.3g}"
    assert cosine > MIN_COSINE, f"min cosine = {cosine:.8f}"


@pytest.mark.parametrize("batch_size", [1, 3, 17])
def test_batching_matches_numpy_on_synthetic_chips(
    weights: ResnetWeights, numpy_desc: NumpyResnetDescriptor, batch_size: int
) -> None:
    """Runs without ../shared/data: 17 random chips, split into session runs of 1, 3 or 17."""
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install onnxruntime)")
    chips = np.random.default_rng(0).integers(0, 256, size=(17, 150, 150, 3), dtype=np.uint8)
    ours = OnnxResnetDescriptor(weights, batch_size=batch_size).compute(chips)
    max_abs, cosine = _agreement(ours, numpy_desc.compute(chips))
    assert max_abs < MAX_ABS_DIFF and cosine > MIN_COSINE, (max_abs, cosine)


def test_empty_input_and_bad_input(onnx_desc: OnnxResnetDescriptor, weights: ResnetWeights) -> None:
    empty = OnnxResnetDescriptor(weights).compute(np.zeros((0, 150, 150, 3), np.uint8))
    assert empty.shape == (0, DESCRIPTOR_DIM) and empty.dtype == np.float32
    chips = np.zeros((2, 150, 150, 3), np.uint8)
    with pytest.raises(ValueError, match="uint8"):
        onnx_desc.compute(chips.astype(np.float32))
    with pytest.raises(ValueError, match="150"):
        onnx_desc.compute(chips[:, :100])
    with pytest.raises(ValueError, match="batch_size"):
        OnnxResnetDescriptor(weights, batch_size=0)


def test_missing_onnxruntime_raises_model_error(
    weights: ResnetWeights, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    desc = OnnxResnetDescriptor(weights)  # constructing is free and does not need the package
    with pytest.raises(ModelError, match="pip install onnxruntime"):
        desc.load()
    with pytest.raises(ModelError, match="onnxruntime"):
        desc.compute(np.zeros((1, 150, 150, 3), np.uint8))


def test_graph_is_valid_onnx_with_dlib_add_prev_padding(weights: ResnetWeights) -> None:
    """The hand-written protobuf passes onnx's checker and shape inference, and pads where dlib does."""
    onnx = pytest.importorskip("onnx", reason="the optional `onnx` package validates the graph")
    model = onnx.load_from_string(build_onnx_model(weights))
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == OPSET >= 13
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    g = inferred.graph
    (inp,), (out,) = g.input, g.output
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim] == ["N", 150, 150, 3]
    assert [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim] == ["N", DESCRIPTOR_DIM]
    ops = [n.op_type for n in g.node]
    assert ops.count("Conv") == 29 and ops.count("MatMul") == 1 and "BatchNormalization" not in ops
    # add_prev of mismatched shapes (pooled shortcut first): shortcut channels at levels 3, 2, 1;
    # the unpadded strided conv's H x W at levels 1 and 0
    shapes = {v.name: tuple(d.dim_value for d in v.type.tensor_type.shape.dim[1:]) for v in g.value_info}
    pads = [(shapes[n.input[0]], shapes[n.output[0]]) for n in g.node if n.op_type == "Pad"]
    assert pads == [
        ((32, 17, 17), (64, 17, 17)),
        ((64, 8, 8), (128, 8, 8)),
        ((128, 4, 4), (256, 4, 4)),
        ((256, 3, 3), (256, 4, 4)),
        ((256, 1, 1), (256, 2, 2)),
    ]
    # zero padding only where dlib pads: kernel//2 at stride 1, none at stride 2
    for node in g.node:
        if node.op_type in ("Conv", "MaxPool", "AveragePool"):
            attrs = {a.name: list(a.ints) for a in node.attribute}
            k, s = attrs["kernel_shape"][0], attrs["strides"][0]
            assert attrs["pads"] == [0 if s != 1 else k // 2] * 4, node.name
