"""Settings: defaults < YAML file < EVENTLENS_* environment < explicit overrides; invalid -> ConfigError."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventlens.errors import ConfigError
from eventlens.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def _yaml(tmp_path: Path, text: str, name: str = "cfg.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    s = load_settings()
    assert isinstance(s, Settings)
    assert s.detector == "libfacedetection" and s.embedder == "dlib_resnet" and s.min_faces == 2
    assert s.catalog_url is None and s.link_mode == "hardlink"


def test_env_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTLENS_MIN_FACES", "5")
    monkeypatch.setenv("EVENTLENS_DETECTOR", "fake")
    monkeypatch.setenv("EVENTLENS_CLUSTER_THRESHOLD", "0.4")
    monkeypatch.setenv("MIN_FACES", "9")  # without the prefix: ignored
    s = load_settings()
    assert (s.min_faces, s.detector, s.cluster_max_distance) == (5, "fake", 0.4)


def test_yaml_file(tmp_path: Path) -> None:
    s = load_settings(_yaml(tmp_path, "min_faces: 4\nlink_mode: copy\ncache_dir: ~/models\n"))
    assert s.min_faces == 4 and s.link_mode == "copy"
    assert s.cache_dir == Path.home() / "models"  # ~ expanded


def test_default_config_file_and_eventlens_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _yaml(tmp_path, "min_faces: 3\n", "eventlens.yaml")
    assert load_settings().min_faces == 3  # ./eventlens.yaml when present
    other = _yaml(tmp_path, "min_faces: 6\n", "other.yaml")
    monkeypatch.setenv("EVENTLENS_CONFIG", str(other))  # not a setting: must not be refused as unknown
    assert load_settings().min_faces == 6


def test_priority_overrides_over_env_over_yaml_over_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _yaml(tmp_path, "min_faces: 3\nworkers: 3\nface_crop_px: 100\n")
    monkeypatch.setenv("EVENTLENS_MIN_FACES", "4")
    monkeypatch.setenv("EVENTLENS_WORKERS", "4")
    s = load_settings(cfg, min_faces=5, workers=None)  # None overrides fall through
    assert s.min_faces == 5  # override beats env and file
    assert s.workers == 4  # env beats file
    assert s.face_crop_px == 100  # file beats default
    assert s.max_zip_ratio == Settings.model_fields["max_zip_ratio"].default


@pytest.mark.parametrize(
    ("source", "field"),
    [
        ("override", "min_faces"),
        ("env", "workers"),
        ("yaml", "cluster_max_distance"),
        ("yaml", "link_mode"),
        ("env", "min_det_score"),
    ],
)
def test_invalid_values_name_the_field(
    source: str, field: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = {
        "min_faces": 0,
        "workers": -1,
        "cluster_max_distance": 5,
        "link_mode": "teleport",
        "min_det_score": "high",
    }
    value = bad[field]
    config = None
    if source == "override":
        call = {field: value}
    elif source == "env":
        monkeypatch.setenv(f"EVENTLENS_{field.upper()}", str(value))
        call = {}
    else:
        config = _yaml(tmp_path, f"{field}: {value}\n")
        call = {}
    with pytest.raises(ConfigError, match=field):
        load_settings(config, **call)


def test_unknown_keys_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="min_face_size"):
        load_settings(_yaml(tmp_path, "min_face_size: 30\n"))  # a typo must not be silently ignored
    with pytest.raises(ConfigError, match="detectr"):
        load_settings(detectr="fake")


@pytest.mark.parametrize("text", ["[1, 2", "- a\n- b\n", "just a string\n"])
def test_a_malformed_file_is_a_config_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="cfg.yaml"):
        load_settings(_yaml(tmp_path, text))


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    assert load_settings(_yaml(tmp_path, "")) == load_settings()


def test_effective_workers() -> None:
    assert load_settings(workers=3).effective_workers == 3
    assert load_settings(workers=0).effective_workers >= 1


def test_nothing_is_read_at_import(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTLENS_MIN_FACES", "7")
    assert load_settings().min_faces == 7  # read when called, not frozen at import time
    monkeypatch.setenv("EVENTLENS_MIN_FACES", "8")
    assert load_settings().min_faces == 8


@pytest.mark.parametrize("source", ["override", "env", "yaml"])
def test_a_renamed_setting_is_still_read_under_its_old_name_with_a_warning(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``cluster_threshold`` was renamed ``cluster_max_distance`` (it is a distance): the old name works
    from every source, says so, and the new name wins when both are given."""
    config = None
    if source == "override":
        settings = load_settings(cluster_threshold=0.5)
    elif source == "env":
        monkeypatch.setenv("EVENTLENS_CLUSTER_THRESHOLD", "0.5")
        settings = load_settings()
    else:
        config = tmp_path / "eventlens.yaml"
        config.write_text("cluster_threshold: 0.5\n")
        settings = load_settings(config)
    assert settings.cluster_max_distance == 0.5
    assert "now called 'cluster_max_distance'" in caplog.text or "CLUSTER_MAX_DISTANCE" in caplog.text
    assert (
        load_settings(config, cluster_threshold=0.4, cluster_max_distance=0.45).cluster_max_distance == 0.45
    )
