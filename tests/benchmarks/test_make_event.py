"""The benchmark's event builder (``benchmarks/make_event.py``) on 3 small photos from ../shared/data."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"
SIZE = (400, 300)

pytestmark = pytest.mark.skipif(
    not (DATA / "groups").is_dir() or not (DATA / "identities").is_dir(),
    reason=f"shared data not found at {DATA} (groups/ and identities/ are needed to build the event)",
)


def _load_make_event() -> ModuleType:
    """Import benchmarks/make_event.py (benchmarks/ is a folder of scripts, not a package)."""
    name = "eventlens_bench_make_event"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / "make_event.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def make_event() -> ModuleType:
    return _load_make_event()


def _build(make_event: ModuleType, event_dir: Path) -> dict:
    return make_event.ensure_event(
        DATA, event_dir, photos=3, seed=7, size=SIZE, rotated_fraction=0.34, workers=1, log=lambda _msg: None
    )


def test_builds_small_event_with_exif_and_manifest(make_event: ModuleType, tmp_path: Path) -> None:
    event_dir = tmp_path / "event"
    manifest = _build(make_event, event_dir)

    entries = manifest["photos"]
    assert [e["file_name"] for e in entries] == ["EVT_0001.jpg", "EVT_0002.jpg", "EVT_0003.jpg"]
    assert sorted(p.name for p in (event_dir / "photos").iterdir()) == [e["file_name"] for e in entries]
    assert json.loads((event_dir / "manifest.json").read_text()) == manifest
    assert manifest["params"]["photos"] == 3 and manifest["params"]["seed"] == 7
    assert manifest["params"]["size"] == list(SIZE)
    assert {e["kind"] for e in entries} == {"group", "identity"}  # a small event keeps the mix
    assert all((DATA / e["source"]).is_file() for e in entries)
    for e in entries:
        with Image.open(DATA / e["source"]) as source:
            assert max(source.size) >= make_event.MIN_IDENTITY_SIDE_PX  # no tight face crops
    assert sum(e["orientation"] == 6 for e in entries) == 1  # round(3 * 0.34)

    taken = []
    for e in entries:
        with Image.open(event_dir / "photos" / e["file_name"]) as im:
            exif = im.getexif()
            assert im.format == "JPEG"
            assert exif.get(0x0112) == e["orientation"]
            taken.append(exif.get_ifd(0x8769)[0x9003])
            stored = im.size
            displayed = ImageOps.exif_transpose(im).size
        assert sorted(displayed, reverse=True) == list(SIZE)
        assert list(displayed) == e["displayed_px"]
        if e["orientation"] == 6:
            assert stored == (displayed[1], displayed[0])  # stored rotated: the decoder must turn it
        else:
            assert stored == displayed
    assert taken == sorted(taken) and len(set(taken)) == 3  # one increasing time line


def test_reuses_event_unless_parameters_change(make_event: ModuleType, tmp_path: Path) -> None:
    event_dir = tmp_path / "event"
    first = _build(make_event, event_dir)
    mtime = (event_dir / "photos" / "EVT_0001.jpg").stat().st_mtime_ns
    assert _build(make_event, event_dir) == first
    assert (event_dir / "photos" / "EVT_0001.jpg").stat().st_mtime_ns == mtime  # not rebuilt

    rebuilt = make_event.ensure_event(
        DATA, event_dir, photos=3, seed=8, size=SIZE, rotated_fraction=0.34, workers=1, log=lambda _msg: None
    )
    assert rebuilt["params"]["seed"] == 8
    assert not event_dir.with_name("event.partial").exists()


def test_refuses_foreign_folder(make_event: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("not an event")
    with pytest.raises(FileExistsError):
        _build(make_event, tmp_path)
