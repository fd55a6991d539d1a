"""The numpy ResNet runtime must reproduce dlib-bin's face descriptors (same weights, same arithmetic)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from eventlens.backends.dlib_face import _model_path
from eventlens.backends.dlib_resnet_numpy import (
    DESCRIPTOR_DIM,
    NumpyResnetDescriptor,
    ResnetWeights,
    load_resnet_weights,
    parse_resnet_dat,
)

dlib = pytest.importorskip("dlib")

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
IDENTITIES = DATA / "identities"
DAT = Path(_model_path("resnet"))

MAX_ABS_DIFF = 1e-3
MIN_COSINE = 0.9999
N_PEOPLE = 10
PHOTOS_PER_PERSON = 2
MAX_IMAGE_SIDE = 1000  # keep the test fast: skip the multi-megapixel phone photos


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> ResnetWeights:
    return load_resnet_weights(DAT, cache_dir=tmp_path_factory.mktemp("resnet-cache"))


@dataclass(frozen=True)
class Chips:
    chips: np.ndarray  # uint8 (N, 150, 150, 3)
    people: list[str]  # identity label of each chip
    reference: np.ndarray  # float64 (N, 128) from dlib-bin


def _chip_for(path: Path, detector, predictor) -> np.ndarray | None:
    img = dlib.load_rgb_image(str(path))
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
def real_chips() -> Chips:
    if not IDENTITIES.is_dir():
        pytest.skip(f"{IDENTITIES} is absent: the ../shared/data photos (beside the repo) are needed")
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(_model_path("shape5"))
    model = dlib.face_recognition_model_v1(str(DAT))
    chips: list[np.ndarray] = []
    people: list[str] = []
    for person in sorted(p for p in IDENTITIES.iterdir() if p.is_dir()):
        photos = sorted(f for f in person.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png"))
        got = []
        for photo in photos:
            chip = _chip_for(photo, detector, predictor)
            if chip is not None:
                got.append(chip)
            if len(got) == PHOTOS_PER_PERSON:
                break
        if len(got) == PHOTOS_PER_PERSON:
            chips += got
            people += [person.name] * PHOTOS_PER_PERSON
        if len(set(people)) == N_PEOPLE:
            break
    if len(set(people)) < 8:
        pytest.fail(f"only {len(set(people))} people with usable photos in {IDENTITIES}; need >= 8")
    reference = np.array([np.asarray(model.compute_face_descriptor(c)) for c in chips])
    return Chips(np.stack(chips), people, reference)


def _pairwise(d: np.ndarray) -> np.ndarray:
    d = d.astype(np.float64)
    return np.linalg.norm(d[:, None, :] - d[None, :, :], axis=-1)


@pytest.mark.real_models
def test_descriptors_match_dlib(weights: ResnetWeights, real_chips: Chips) -> None:
    ours = NumpyResnetDescriptor(weights, batch_size=8).compute(real_chips.chips)
    ref = real_chips.reference
    assert ours.dtype == np.float32 and ours.shape == (len(ref), DESCRIPTOR_DIM)
    assert len(set(real_chips.people)) >= 8
    max_abs = float(np.abs(ours - ref).max())
    cosine = (ours * ref).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(ref, axis=1))
    assert max_abs < MAX_ABS_DIFF, f"max |numpy - dlib| = {max_abs:.3g}"
    assert cosine.min() > MIN_COSINE, f"min cosine = {cosine.min():.8f}"


@pytest.mark.real_models
def test_unfolded_affine_matches_dlib_too(weights: ResnetWeights, real_chips: Chips) -> None:
    ours = NumpyResnetDescriptor(weights, fold_affine=False).compute(real_chips.chips)
    assert np.abs(ours - real_chips.reference).max() < MAX_ABS_DIFF


@pytest.mark.real_models
def test_same_and_different_person_distances_match_dlib(weights: ResnetWeights, real_chips: Chips) -> None:
    ours = _pairwise(NumpyResnetDescriptor(weights).compute(real_chips.chips))
    ref = _pairwise(real_chips.reference)
    people = np.array(real_chips.people)
    same = people[:, None] == people[None, :]
    off_diag = ~np.eye(len(people), dtype=bool)
    same_pairs, diff_pairs = same & off_diag, ~same
    assert same_pairs.any() and diff_pairs.any()
    assert np.abs(ours - ref)[same_pairs].max() < 1e-3
    assert np.abs(ours - ref)[diff_pairs].max() < 1e-3
    # same-person pairs are on average closer than different-person pairs, in both runtimes
    for d in (ours, ref):
        assert d[same_pairs].mean() < d[diff_pairs].mean()


def test_batching_and_empty_input(weights: ResnetWeights) -> None:
    rng = np.random.default_rng(0)
    chips = rng.integers(0, 256, size=(5, 150, 150, 3), dtype=np.uint8)
    one_by_one = NumpyResnetDescriptor(weights, batch_size=1).compute(chips)
    batched = NumpyResnetDescriptor(weights, batch_size=3).compute(chips)
    np.testing.assert_allclose(one_by_one, batched, atol=1e-5)
    empty = NumpyResnetDescriptor(weights).compute(np.zeros((0, 150, 150, 3), np.uint8))
    assert empty.shape == (0, DESCRIPTOR_DIM) and empty.dtype == np.float32
    with pytest.raises(ValueError, match="uint8"):
        NumpyResnetDescriptor(weights).compute(chips.astype(np.float32))
    with pytest.raises(ValueError, match="150"):
        NumpyResnetDescriptor(weights).compute(chips[:, :100])


def test_parsed_architecture(weights: ResnetWeights) -> None:
    kinds = [layer.kind for layer in weights.layers]
    assert kinds.count("con") == 29 and kinds.count("affine") == 29 and kinds.count("fc") == 1
    np.testing.assert_allclose(weights.mean_rgb, [122.782, 117.001, 104.298], rtol=1e-6)
    n_params = sum(x.size for layer in weights.layers for x in (layer.weight, layer.bias) if x is not None)
    assert n_params == 5_614_592  # 29 conv filter banks + biases, 29 affine (gamma, beta), fc 256x128
    first = weights.layers[0]
    assert first.kind == "con" and first.weight.shape == (32, 3, 7, 7) and first.padding == (0, 0)


def test_cache_round_trip(tmp_path: Path) -> None:
    parsed = parse_resnet_dat(DAT)
    first = load_resnet_weights(DAT, cache_dir=tmp_path)
    sha = hashlib.sha256(DAT.read_bytes()).hexdigest()
    files = list(tmp_path.iterdir())
    assert [f.name for f in files] == [f"dlib_resnet_{sha}.npz"]  # no temp file left behind
    mtime = files[0].stat().st_mtime_ns
    second = load_resnet_weights(DAT, cache_dir=tmp_path)
    assert files[0].stat().st_mtime_ns == mtime  # read, not rewritten
    for w in (first, second):
        assert w.source_sha256 == sha
        assert len(w.layers) == len(parsed.layers)
        np.testing.assert_array_equal(w.mean_rgb, parsed.mean_rgb)
        for a, b in zip(w.layers, parsed.layers, strict=True):
            assert (a.kind, a.kernel, a.stride, a.padding, a.tag, a.relu) == (
                b.kind,
                b.kernel,
                b.stride,
                b.padding,
                b.tag,
                b.relu,
            )
            for x, y in ((a.weight, b.weight), (a.bias, b.bias)):
                assert (x is None) == (y is None)
                if x is not None:
                    assert x.dtype == np.float32
                    np.testing.assert_array_equal(x, y)


def test_corrupt_cache_is_rebuilt(tmp_path: Path) -> None:
    sha = hashlib.sha256(DAT.read_bytes()).hexdigest()
    bad = tmp_path / f"dlib_resnet_{sha}.npz"
    bad.write_bytes(b"not an npz")
    w = load_resnet_weights(DAT, cache_dir=tmp_path)
    assert len(w.layers) == len(parse_resnet_dat(DAT).layers)
    assert bad.stat().st_size > 1_000_000


def test_truncated_dat_raises(tmp_path: Path) -> None:
    data = DAT.read_bytes()
    truncated = tmp_path / "truncated.dat"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        load_resnet_weights(truncated, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())
    empty = tmp_path / "empty.dat"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="truncated"):
        parse_resnet_dat(empty)


def test_corrupted_dat_raises(tmp_path: Path) -> None:
    data = DAT.read_bytes()
    # an unknown layer version string
    bad_version = tmp_path / "bad_version.dat"
    i = data.index(b"con_4")
    bad_version.write_bytes(data[:i] + b"con_9" + data[i + 5 :])
    with pytest.raises(ValueError, match="con_9"):
        parse_resnet_dat(bad_version)
    # a different loss layer (i.e. not the face-recognition network)
    wrong_net = tmp_path / "wrong_net.dat"
    wrong_net.write_bytes(data.replace(b"loss_metric_2", b"loss_metric_7", 1))
    with pytest.raises(ValueError, match="loss"):
        parse_resnet_dat(wrong_net)
    # trailing garbage
    trailing = tmp_path / "trailing.dat"
    trailing.write_bytes(data + b"\x00")
    with pytest.raises(ValueError, match="trailing"):
        parse_resnet_dat(trailing)
    # not a dlib file at all
    garbage = tmp_path / "garbage.dat"
    garbage.write_bytes(b"\xff" * 64)
    with pytest.raises(ValueError, match="dlib ResNet file"):
        parse_resnet_dat(garbage)
