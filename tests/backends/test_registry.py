"""The backend registry: names map to implementations, unknown names fail loudly, nothing falls back."""

from __future__ import annotations

import pytest

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
    monkeypatch.setitem(registry._FACTORIES["detector"], "gone", "eventlens_no_such_module:Detector")
    with pytest.raises(ModelError, match="not installed"):
        registry.create_detector("gone", load_settings())


def test_register_adds_a_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry._FACTORIES, "embedder", dict(registry._FACTORIES["embedder"]))
    registry.register("embedder", "fake2", "eventlens.backends.fake:FakeEmbedder")
    assert "fake2" in registry.available("embedder")
    assert isinstance(registry.create_embedder("fake2", load_settings()), FakeEmbedder)


def test_embeddings_of_different_models_are_never_compared() -> None:
    fake = registry.create_embedder("fake", load_settings())
    require_same_model(fake.info.key, "fake-embedder@1")
    with pytest.raises(ModelMismatchError, match="fake-embedder@1.*dlib-resnet"):
        require_same_model(fake.info.key, "dlib-resnet-v1@x")
    assert isinstance(ModelMismatchError("x"), ModelError)


def test_a_registered_target_without_its_factory_is_a_model_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry._FACTORIES["detector"], "typo", "eventlens.backends.fake:FakeDetectr")
    with pytest.raises(ModelError, match="typo"):
        registry.create_detector("typo", load_settings())
