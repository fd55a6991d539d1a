"""The checks of ``benchmarks/repeat_runs.py`` with the real models on a small part of ../shared/data:
10 photos added to an event move no face of an untouched person, and five more runs of the same command
give byte-identical summary.csv and face_data.csv. The full data sets: run the script."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from eventlens.settings import load_settings

pytestmark = pytest.mark.real_models

REPO = Path(__file__).resolve().parents[2]
IDENTITIES = 10
PHOTOS_PER_IDENTITY = 4
GROUP_PHOTOS = ["ulfd_13.jpg", "dlib_2008_001009.jpg", "ulfd_2.jpg"]


def _load_script() -> ModuleType:
    """Import benchmarks/repeat_runs.py (benchmarks/ is a folder of scripts, not a package)."""
    name = "eventlens_bench_repeat_runs"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / "repeat_runs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_added_photos_and_repeated_runs(shared_data: Path, tmp_path: Path, model_cache_dir: Path) -> None:
    script = _load_script()
    data = tmp_path / "data"
    identities = sorted(p for p in (shared_data / "identities").iterdir() if p.is_dir())[:IDENTITIES]
    subset = [
        Path("identities") / d.name / f.name
        for d in identities
        for f in sorted(d.iterdir())[:PHOTOS_PER_IDENTITY]
    ] + [Path("groups") / name for name in GROUP_PHOTOS]
    script.link(shared_data, data, subset)
    settings = load_settings(workers=1, cache_dir=model_cache_dir)

    result, photos, out = script.added_photos_check(data, tmp_path / "work", settings, add=10, subset=subset)
    assert result.new_faces >= 10
    assert result.untouched >= 3, "most persons are not touched by the 10 new photos"
    assert result.ok, f"faces of untouched persons moved: {result.moved_faces}"

    first = script.output_hashes(out)
    assert script.repeat(photos, out, settings, runs=5) == [first] * 5
