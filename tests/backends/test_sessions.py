"""Sessions (how a model runs): the factory, LiteRT's batching, and the iris model against the committed
LiteRT reference ``data/iris_reference.npz`` (MediaPipe's float iris model run by ai-edge-litert on four
drawn eyes and one image of noise)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eventlens.backends.iris import INT8_MODEL
from eventlens.backends.model_files import IRIS_LANDMARK, model_path
from eventlens.backends.sessions import RUNTIMES, create_session
from eventlens.errors import ModelError
from eventlens.settings import Settings

REFERENCE = Path(__file__).resolve().parent / "data" / "iris_reference.npz"


def test_an_unknown_runtime_is_a_model_error_never_another_runtime(tmp_path: Path) -> None:
    assert set(RUNTIMES) == {"onnxruntime", "litert", "dlib"}
    with pytest.raises(ModelError, match="unknown runtime 'numpy'; did you mean .*available: onnxruntime"):
        create_session("numpy", tmp_path / "model.tflite")


def test_a_file_the_runtime_cannot_read_is_a_model_error(tmp_path: Path) -> None:
    bad = tmp_path / "model.bin"
    bad.write_bytes(b"not a model" * 10)
    with pytest.raises(ModelError, match="LiteRT cannot load"):
        create_session("litert", bad)
    with pytest.raises(ModelError, match="ONNX Runtime cannot load"):
        create_session("onnxruntime", bad)
    with pytest.raises(ModelError, match="ONNX Runtime cannot load the ONNX graph"):
        create_session("onnxruntime", b"not a model")


def test_litert_batches_of_any_size_match_one_by_one() -> None:
    """Full chunks of 8 and tails of any length give the per-sample outputs; no inputs give no outputs."""
    session = create_session("litert", INT8_MODEL)
    (name,) = [i.name for i in session.inputs]
    assert session.inputs[0].shape == (None, 64, 64, 3) and session.outputs[0].shape == (None, 213)
    x = np.random.default_rng(3).random((19, 64, 64, 3), dtype=np.float32)
    (batched,) = session.run({name: x})
    (single,) = zip(*[session.run({name: x[i : i + 1]}) for i in range(len(x))], strict=True)
    np.testing.assert_array_equal(batched, np.concatenate(single))
    (empty,) = session.run({name: x[:0]})
    assert empty.shape == (0, 213) and empty.dtype == np.float32
    with pytest.raises(ValueError, match="inputs must be"):
        session.run({"image": x})


def test_the_float_iris_model_matches_the_committed_litert_reference() -> None:
    try:
        path = model_path(IRIS_LANDMARK, Path(Settings.model_fields["cache_dir"].default))
    except ModelError:
        pytest.skip(
            "iris_landmark.tflite is not installed (run `eventlens models install`; `make test` does)"
        )
    ref = np.load(REFERENCE)
    session = create_session("litert", path)
    outputs = session.run({session.inputs[0].name: ref["inputs"].astype(np.float32) / np.float32(255)})
    assert [o.name for o in session.outputs] == ["output_eyes_contours_and_brows", "output_iris"]
    for info, out in zip(session.outputs, outputs, strict=True):
        err = float(np.abs(out - ref[info.name]).max())
        assert err < 1e-3, f"{info.name}: max |session - reference| = {err:.3g} px"
