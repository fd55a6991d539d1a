"""The reader of dlib's ResNet ``.dat`` weights: architecture, ``.npz`` cache, damaged files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from eventlens.backends.dlib_face import _model_path
from eventlens.backends.dlib_weights import ResnetWeights, load_resnet_weights, parse_resnet_dat

DAT = Path(_model_path("resnet"))


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> ResnetWeights:
    return load_resnet_weights(DAT, cache_dir=tmp_path_factory.mktemp("resnet-cache"))


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
