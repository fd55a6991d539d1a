"""dlib's 68-point model cut to fewer cascade levels: the file surgery, and what it costs in accuracy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eventlens.backends.shape_cascades import _pack_int, _Tokens, truncate, truncated_model


def _float(value: float) -> bytes:
    mantissa, exponent = float(value).as_integer_ratio()  # exact: value = mantissa / 2**k
    return _pack_int(mantissa) + _pack_int(-(exponent.bit_length() - 1))


def _matrix(values: list[float]) -> bytes:
    return _pack_int(-len(values)) + _pack_int(-1) + b"".join(_float(v) for v in values)


def _model(levels: int) -> bytes:
    """A tiny serialized predictor: 2 landmarks, one tree of depth 1 per level, 2 feature pixels."""
    tree = (
        _pack_int(1) + _pack_int(0) + _pack_int(1) + _float(0.5)  # one split: pixel 0 - pixel 1 > 0.5
        + _pack_int(2) + _matrix([0.25, 0.5, -0.25, 1.0]) + _matrix([-0.5, 0.125, 2.0, 0.75])
    )  # fmt: skip
    level = _pack_int(1) + tree
    anchors = _pack_int(2) + _pack_int(0) + _pack_int(1)
    deltas = _pack_int(2) + _float(0.5) + _float(-0.25) + _float(1.0) + _float(0.0)
    return (
        _pack_int(1)
        + _matrix([0.25, 0.25, 0.75, 0.75])
        + _pack_int(levels) + level * levels
        + _pack_int(levels) + anchors * levels
        + _pack_int(levels) + deltas * levels
    )  # fmt: skip


def test_truncation_keeps_the_first_levels_byte_for_byte() -> None:
    assert truncate(_model(5), 5) == _model(5)
    assert truncate(_model(5), 2) == _model(2)
    assert truncate(_model(3), 1) == _model(1)


def test_truncation_refuses_what_it_cannot_do() -> None:
    with pytest.raises(ValueError, match="cannot keep 4"):
        truncate(_model(3), 4)
    with pytest.raises(ValueError, match="cannot keep 0"):
        truncate(_model(3), 0)
    with pytest.raises(ValueError, match="version 1"):
        truncate(_pack_int(2) + _model(1)[1:], 1)
    with pytest.raises(ValueError, match="bytes after the model"):
        truncate(_model(2) + b"\x01\x00", 1)
    with pytest.raises(ValueError):
        truncate(_model(2)[:-7], 1)


def test_integers_round_trip() -> None:
    for v in (0, 1, -1, 255, 256, -70000, 2**40):
        t = _Tokens(_pack_int(v))
        assert t.int_() == v and t.pos == len(_pack_int(v))


def test_cut_file_is_made_once_and_reused(tmp_path: Path) -> None:
    source = tmp_path / "tiny_predictor.dat"
    source.write_bytes(_model(4))
    cut = truncated_model(source, 2, tmp_path / "cache")
    assert cut.read_bytes() == _model(2) and cut.parent == tmp_path / "cache" / "models"
    mtime = cut.stat().st_mtime_ns
    assert truncated_model(source, 2, tmp_path / "cache") == cut and cut.stat().st_mtime_ns == mtime
    assert truncated_model(source, 15, tmp_path / "cache") == source  # all levels: the file itself


@pytest.mark.real_models
def test_dlib_runs_the_cut_model_and_its_points_stay_close(tmp_path: Path) -> None:
    """The real 68-point model cut to 12 of 15 levels: dlib loads it, and on a real face the points move
    little (mean under 2 % of the face size) compared with all 15 levels."""
    dlib = pytest.importorskip("dlib")
    shared = Path(__file__).resolve().parents[3] / "shared" / "data"
    photo = shared / "identities" / "Vladimir_Putin" / "Vladimir_Putin_0009.jpg"
    if not photo.is_file():
        pytest.skip(f"{photo} is absent")
    from eventlens.backends.dlib_face import DlibLandmarker, _model_path
    from eventlens.imaging.decode import decode
    from eventlens.settings import load_settings

    source = Path(_model_path("shape68"))
    assert truncate(source.read_bytes(), 15) == source.read_bytes()
    rgb = decode(photo, 100).rgb
    box = np.array([[76.0, 76.0, 176.0, 190.0]])
    full = DlibLandmarker(levels=15).landmarks68(rgb, box)[0]
    settings = load_settings(cache_dir=tmp_path, workers=1)
    cut = DlibLandmarker(settings)
    assert cut.levels == 12 and cut.info.version.endswith("-levels12")
    points = cut.landmarks68(rgb, box)[0]
    assert isinstance(dlib.shape_predictor(str(next((tmp_path / "models").glob("*12levels*.dat")))), object)
    error = np.linalg.norm(points - full, axis=1).mean() / 100.0
    assert 0 < error < 0.02, error
