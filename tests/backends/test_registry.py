"""The backend registry: names map to implementations, unknown names fail loudly, nothing falls back."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap

import pytest
from testkit import REPO, add_test_backends

from eventlens.analysis.pool import build_models
from eventlens.backends import registry
from eventlens.backends.base import require_same_model
from eventlens.backends.fake import FakeDetector, FakeEmbedder, FakeLandmarker
from eventlens.errors import ConfigError, ModelError, ModelMismatchError
from eventlens.settings import load_settings


def test_available_names() -> None:
    assert {"libfacedetection", "fake"} <= set(registry.available("detector"))
    assert {"dlib_68", "fake"} <= set(registry.available("landmarker"))
    assert {"dlib_resnet", "fake"} <= set(registry.available("embedder"))
    assert registry.available("detector") == sorted(registry.available("detector"))


def test_fake_backends_are_created_by_name() -> None:
    s = load_settings()
    assert isinstance(registry.create_detector("fake", s), FakeDetector)
    assert isinstance(registry.create_landmarker("fake", s), FakeLandmarker)
    assert isinstance(registry.create_embedder("fake", s), FakeEmbedder)


@pytest.mark.parametrize(
    ("create", "kind"),
    [
        (registry.create_detector, "detector"),
        (registry.create_landmarker, "landmarker"),
        (registry.create_embedder, "embedder"),
    ],
)
def test_unknown_name_lists_the_available_ones(create, kind: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelError) as info:
        create("retinaface", load_settings())
    message = str(info.value)
    assert "retinaface" in message and kind in message
    for name in registry.available(kind):  # type: ignore[arg-type]
        assert name in message


def test_no_fallback_when_building_models() -> None:
    """An unknown embedder must stop the run, never be replaced by another model: the settings refuse it,
    and so does building the models from settings that skipped validation."""
    with pytest.raises(ConfigError, match="facenet.*did you mean"):
        load_settings(detector="fake", landmarker="fake", embedder="facenet")
    settings = load_settings(detector="fake", landmarker="fake").model_copy(update={"embedder": "facenet"})
    with pytest.raises(ModelError, match="facenet"):
        build_models(settings)


def test_a_registered_backend_that_cannot_be_imported_is_a_model_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_test_backends(monkeypatch, {"detector.gone": "eventlens_no_such_module:Detector"})
    with pytest.raises(ModelError, match="not installed"):
        registry.create_detector("gone", load_settings())


def test_a_test_backend_is_added_for_one_test(monkeypatch: pytest.MonkeyPatch) -> None:
    add_test_backends(monkeypatch, {"embedder.fake2": "eventlens.backends.fake:FakeEmbedder"})
    assert "fake2" in registry.available("embedder")
    assert isinstance(registry.create_embedder("fake2", load_settings()), FakeEmbedder)
    assert load_settings(embedder="fake2").embedder == "fake2"  # the settings accept it too


def test_backends_are_the_installed_entry_points() -> None:
    """Every name comes from the ``eventlens.backends`` entry points of the installed package."""
    installed = {ep.name for ep in importlib.metadata.entry_points(group=registry.GROUP)}
    listed = {f"{kind}.{name}" for kind, eps in registry.entry_points().items() for name in eps}
    assert listed == installed
    assert {"detector.libfacedetection", "embedder.dlib_resnet", "eyes.mediapipe_iris_int8"} <= listed


def test_a_plug_in_distribution_on_the_path_adds_backends(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A distribution's entry points are found in a fresh process, as spawned workers find them."""
    info = tmp_path / "eventlens_plugin_demo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: eventlens-plugin-demo\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[eventlens.backends]\ndetector.demo = eventlens.backends.fake:FakeDetector\n"
    )
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from eventlens.backends import registry
        from eventlens.settings import load_settings
        print(type(registry.create_detector("demo", load_settings(detector="demo"))).__name__)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "FakeDetector"


def test_a_misnamed_or_doubled_entry_point_is_a_model_error(monkeypatch: pytest.MonkeyPatch) -> None:
    ep = importlib.metadata.EntryPoint
    cases = {
        "<kind>.<name>": [ep("fake", "eventlens.backends.fake:FakeDetector", registry.GROUP)],
        "installed twice": [
            ep("detector.x", "eventlens.backends.fake:FakeDetector", registry.GROUP),
            ep("detector.x", "eventlens.backends.fake:FakeEmbedder", registry.GROUP),
        ],
        "not installed": [],
    }
    for message, eps in cases.items():
        monkeypatch.setattr(importlib.metadata, "entry_points", lambda group, eps=eps: eps)
        registry.entry_points.cache_clear()
        with pytest.raises(ModelError, match=message):
            registry.available("detector")
    monkeypatch.undo()
    registry.entry_points.cache_clear()
    assert "fake" in registry.available("detector")


def test_embeddings_of_different_models_are_never_compared() -> None:
    fake = registry.create_embedder("fake", load_settings())
    require_same_model(fake.info.key, "fake-embedder@1")
    with pytest.raises(ModelMismatchError, match="fake-embedder@1.*dlib-resnet"):
        require_same_model(fake.info.key, "dlib-resnet-v1@x")
    assert isinstance(ModelMismatchError("x"), ModelError)


def test_a_registered_target_without_its_factory_is_a_model_error(monkeypatch: pytest.MonkeyPatch) -> None:
    add_test_backends(monkeypatch, {"detector.typo": "eventlens.backends.fake:FakeDetectr"})
    with pytest.raises(ModelError, match="typo"):
        registry.create_detector("typo", load_settings())
