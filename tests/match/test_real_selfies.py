"""Selfie matching on real photos, the way benchmarks/selfie_matching.py runs it, on a small part of
../shared/data: four people with clear faces (LFW and dlib's face chips, deepface's photos) and two group
photos of strangers. The real pipeline embeds them (``eventlens process``), the first photo of each
person is their selfie, and at the default threshold no stranger is matched and most photos are found.
The full data set, thresholds and misses: run the benchmark."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from eventlens.match.selfies import match_users
from eventlens.settings import load_settings

pytestmark = pytest.mark.real_models

REPO = Path(__file__).resolve().parents[2]
PEOPLE = ["John_Salley", "John_Schneider", "Vladimir_Putin", "deepface_person03"]
PHOTOS_PER_PERSON = 4
GROUP_PHOTOS = ["ulfd_13.jpg", "dlib_2008_001009.jpg"]


def _load_script() -> ModuleType:
    """Import benchmarks/selfie_matching.py (benchmarks/ is a folder of scripts, not a package)."""
    name = "eventlens_bench_selfie_matching"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / "selfie_matching.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_real_selfies_find_their_photos(
    shared_data: Path, tmp_path: Path, model_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = _load_script()
    data = tmp_path / "data"
    for person in PEOPLE:
        folder = data / "identities" / person
        folder.mkdir(parents=True)
        for photo in sorted((shared_data / "identities" / person).iterdir())[:PHOTOS_PER_PERSON]:
            (folder / photo.name).symlink_to(photo)
    (data / "groups").mkdir()
    for name in GROUP_PHOTOS:
        (data / "groups" / name).symlink_to(shared_data / "groups" / name)
    monkeypatch.setenv("EVENTLENS_CACHE_DIR", str(model_cache_dir))  # the `eventlens process` runs
    monkeypatch.setenv("EVENTLENS_WORKERS", "1")
    settings = load_settings()

    photos = script.load_data(data, tmp_path / "work")
    assert {p.label for p in photos} == {*PEOPLE, None}
    selfies = script.choose_selfies(photos, PEOPLE, 1, None)
    event = script.build_event(photos, selfies, settings)
    found = match_users(
        event.users(PEOPLE),
        event.keys,
        event.embeddings,
        settings.match_min_confidence,
        face_clusters=event.clusters,
    )
    label = {p.key: p.label for p in event.photos}
    wrong = [(m.user_id, m.photo_key) for m in found if label[m.photo_key] != m.user_id]
    assert not wrong, f"strangers matched: {wrong}"
    expected = {(p.label, p.key) for p in event.photos if p.label is not None}
    found_pairs = {(m.user_id, m.photo_key) for m in found}
    assert len(found_pairs) >= 0.75 * len(expected), f"missed {sorted(expected - found_pairs)}"
    assert all(event.keys[m.face_index] == m.photo_key for m in found)
