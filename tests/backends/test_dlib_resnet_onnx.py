"""dlib's ResNet as an ONNX graph on ONNX Runtime must give dlib-bin's face descriptors."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from eventlens.backends.dlib_face import DlibEmbedder, _model_path
from eventlens.backends.dlib_resnet_onnx import OPSET, build_onnx_model
from eventlens.backends.dlib_weights import DESCRIPTOR_DIM, ResnetWeights, load_resnet_weights
from eventlens.backends.sessions import Session, create_session
from eventlens.errors import ModelError

dlib = pytest.importorskip("dlib")

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
IDENTITIES = DATA / "identities"
DAT = Path(_model_path("resnet"))

MAX_ABS_DIFF = 1e-4
MIN_COSINE = 0.99999
N_PEOPLE = 10
PHOTOS_PER_PERSON = 2
MAX_IMAGE_SIDE = 1000  # skip the multi-megapixel phone photos: the test stays fast


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> ResnetWeights:
    return load_resnet_weights(DAT, cache_dir=tmp_path_factory.mktemp("resnet-cache"))


@pytest.fixture(scope="module")
def onnx_session(weights: ResnetWeights) -> Session:
    return create_session("onnxruntime", build_onnx_model(weights), batch_size=8)


@pytest.fixture(scope="module")
def dlib_session() -> Session:
    return create_session("dlib", DAT)


def _descriptors(session: Session, chips: np.ndarray) -> np.ndarray:
    (out,) = session.run({"chips": chips})
    return out


@dataclass(frozen=True)
class Chips:
    chips: np.ndarray  # uint8 (N, 150, 150, 3)
    people: list[str]  # identity label of each chip
    reference: np.ndarray  # float32 (N, 128) from dlib-bin


def _chip_for(path: Path, detector, predictor) -> np.ndarray | None:
    """HOG box (or the whole crop), 5 points, 150 px, 25 % padding: dlib's own chip-making."""
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
def real_chips(dlib_session: Session) -> Chips:
    """Two photos each of ten people from ../shared/data/identities, with dlib-bin's descriptors."""
    if not IDENTITIES.is_dir():
        pytest.skip(f"{IDENTITIES} is absent: the ../shared/data photos (beside the repo) are needed")
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(_model_path("shape5"))
    chips: list[np.ndarray] = []
    people: list[str] = []
    for person in sorted(p for p in IDENTITIES.iterdir() if p.is_dir()):
        photos = sorted(f for f in person.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png"))
        got = [c for c in (_chip_for(p, detector, predictor) for p in photos[:4]) if c is not None]
        if len(got) >= PHOTOS_PER_PERSON:
            chips += got[:PHOTOS_PER_PERSON]
            people += [person.name] * PHOTOS_PER_PERSON
        if len(set(people)) == N_PEOPLE:
            break
    if len(set(people)) < 8:
        pytest.fail(f"only {len(set(people))} people with usable photos in {IDENTITIES}; need >= 8")
    stacked = np.stack(chips)
    return Chips(stacked, people, _descriptors(dlib_session, stacked))


def _agreement(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(max |a - b|, min cosine similarity of matching rows)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return float(np.abs(a - b).max()), float(cosine.min())


@pytest.mark.real_models
@pytest.mark.parametrize("n", [0, 1, 3, 17])
def test_matches_dlib_on_real_chips(onnx_session: Session, real_chips: Chips, n: int) -> None:
    ours = _descriptors(onnx_session, real_chips.chips[:n])
    assert ours.dtype == np.float32 and ours.shape == (n, DESCRIPTOR_DIM)
    if n == 0:
        return
    max_abs, cosine = _agreement(ours, real_chips.reference[:n])
    assert max_abs < MAX_ABS_DIFF, f"max |onnx - dlib| = {max_abs:.3g}"
    assert cosine > MIN_COSINE, f"min cosine = {cosine:.8f}"


@pytest.mark.real_models
def test_same_and_different_person_distances_match_dlib(onnx_session: Session, real_chips: Chips) -> None:
    def pairwise(d: np.ndarray) -> np.ndarray:
        d = d.astype(np.float64)
        return np.linalg.norm(d[:, None, :] - d[None, :, :], axis=-1)

    ours, ref = pairwise(_descriptors(onnx_session, real_chips.chips)), pairwise(real_chips.reference)
    people = np.array(real_chips.people)
    same = people[:, None] == people[None, :]
    same_pairs, diff_pairs = same & ~np.eye(len(people), dtype=bool), ~same
    assert same_pairs.any() and diff_pairs.any()
    assert np.abs(ours - ref).max() < 1e-4
    for d in (ours, ref):  # same-person pairs are on average closer than different-person pairs
        assert d[same_pairs].mean() < d[diff_pairs].mean()


@pytest.mark.parametrize("batch_size", [1, 3, 17])
def test_batching_matches_dlib_on_synthetic_chips(
    weights: ResnetWeights, dlib_session: Session, batch_size: int
) -> None:
    """Runs without ../shared/data: 5 random chips, split into session runs of 1, 3 or 17."""
    chips = np.random.default_rng(0).integers(0, 256, size=(5, 150, 150, 3), dtype=np.uint8)
    session = create_session("onnxruntime", build_onnx_model(weights), batch_size=batch_size)
    max_abs, cosine = _agreement(_descriptors(session, chips), _descriptors(dlib_session, chips))
    assert max_abs < MAX_ABS_DIFF and cosine > MIN_COSINE, (max_abs, cosine)


def test_the_embedder_checks_its_chips_and_runtime() -> None:
    embedder = DlibEmbedder()
    assert embedder.runtime == "onnxruntime"  # the settings' default
    empty = embedder.embed_chips(np.zeros((0, 150, 150, 3), np.uint8))
    assert empty.shape == (0, DESCRIPTOR_DIM) and empty.dtype == np.float32
    chips = np.zeros((2, 150, 150, 3), np.uint8)
    with pytest.raises(ValueError, match="uint8"):
        embedder.embed_chips(chips.astype(np.float32))
    with pytest.raises(ValueError, match="150"):
        embedder.embed_chips(chips[:, :100])
    with pytest.raises(ModelError, match="unknown dlib_runtime 'numpy'; did you mean"):
        DlibEmbedder(runtime="numpy")


def test_missing_onnxruntime_raises_model_error(
    weights: ResnetWeights, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(ModelError, match="pip install onnxruntime"):
        create_session("onnxruntime", build_onnx_model(weights))


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
