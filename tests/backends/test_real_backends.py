"""Golden tests of the real models on real photos from ../shared/data, with tolerances."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from eventlens.backends.dlib_face import DlibEmbedder, DlibLandmarker
from eventlens.backends.libfacedetection import LibFaceDetection
from eventlens.detections import box_iou
from eventlens.settings import load_settings

pytestmark = pytest.mark.real_models

GROUP_PHOTO = "dlib_2008_002506.jpg"


def _rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _dlib_boxes(annotations: Path, image_name: str) -> np.ndarray:
    """Face boxes of one image in dlib's imglab XML, as x1, y1, x2, y2."""
    root = ET.parse(annotations).getroot()
    for image in root.iter("image"):
        if image.get("file") == image_name:
            return np.array(
                [
                    (
                        int(b.get("left")),
                        int(b.get("top")),
                        int(b.get("left")) + int(b.get("width")),
                        int(b.get("top")) + int(b.get("height")),
                    )
                    for b in image.iter("box")
                    if b.get("ignore") != "1"
                ],
                dtype=np.float32,
            )
    raise AssertionError(f"{image_name} is not annotated in {annotations}")


@pytest.fixture(scope="module")
def group_photo(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    groups = shared_data / "groups"
    truth = _dlib_boxes(groups / "annotations" / "dlib_testing.xml", GROUP_PHOTO.removeprefix("dlib_"))
    return _rgb(groups / GROUP_PHOTO), truth


def test_libfacedetection_finds_the_annotated_faces(group_photo: tuple[np.ndarray, np.ndarray]) -> None:
    rgb, truth = group_photo
    assert len(truth) == 3
    found = LibFaceDetection().detect(rgb)
    found = found[found.scores >= 0.5]
    assert len(found) == 3
    iou = box_iou(truth, found.xyxy)
    assert np.all(iou.max(axis=1) >= 0.3), iou
    assert len(set(iou.argmax(axis=1).tolist())) == 3, "each annotated face matches its own detection"
    assert found.landmarks5 is not None
    for box, points in zip(found.xyxy, found.landmarks5, strict=True):  # landmarks lie on their face
        assert np.all((points >= box[:2] - 5) & (points <= box[2:] + 5))
    assert np.all((found.scores > 0) & (found.scores <= 1))


def test_dlib_landmarks_lie_on_the_face(group_photo: tuple[np.ndarray, np.ndarray]) -> None:
    rgb, truth = group_photo
    points = DlibLandmarker().landmarks68(rgb, truth)
    assert points.shape == (3, 68, 2)
    for box, pts in zip(truth, points, strict=True):
        margin = 0.25 * (box[2] - box[0])
        inside = (pts >= box[:2] - margin) & (pts <= box[2:] + margin)
        assert inside.all(axis=1).mean() > 0.95


def test_onnxruntime_and_dlib_runtimes_give_the_same_embedding(
    shared_data: Path, group_photo: tuple[np.ndarray, np.ndarray], model_cache_dir: Path
) -> None:
    rgb, truth = group_photo
    photos = [(rgb, truth)]
    for name in ("George_W_Bush/George_W_Bush_0001.jpg", "Vladimir_Putin/Vladimir_Putin_0001.jpg"):
        face_rgb = _rgb(shared_data / "identities" / name)
        dets = LibFaceDetection().detect(face_rgb)
        photos.append((face_rgb, dets.xyxy[np.argmax(dets.sizes_px)][None]))

    ort_runtime = DlibEmbedder(load_settings(cache_dir=model_cache_dir))
    dlib_runtime = DlibEmbedder(load_settings(cache_dir=model_cache_dir, dlib_runtime="dlib"))
    assert (ort_runtime.runtime, dlib_runtime.runtime) == ("onnxruntime", "dlib")
    assert ort_runtime.info.key == dlib_runtime.info.key  # one embedding space
    for image, boxes in photos:
        a, b = ort_runtime.embed(image, boxes), dlib_runtime.embed(image, boxes)
        assert a.shape == b.shape == (len(boxes), 128)
        np.testing.assert_allclose(a, b, atol=1e-3)
        cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        assert cosine.min() > 0.9999
    # different people are far apart, as the clustering threshold assumes
    bush = ort_runtime.embed(*photos[1])
    putin = ort_runtime.embed(*photos[2])
    assert np.linalg.norm(bush - putin) > 0.6
