"""Folder ingest on its own (real SQLite catalog in tmp): refusals that need no decoding, clutter, and
re-ingesting changed, touched and unchanged files."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from testkit import A, B, write_photo

from eventlens.catalog.db import open_catalog
from eventlens.catalog.schema import photo_paths, photos
from eventlens.errors import InputError
from eventlens.ingest.ingest import ingest
from eventlens.ingest.sources import is_system_clutter
from eventlens.settings import Settings
from eventlens.storage import LocalStore
from eventlens.summaries import IngestSummary


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = open_catalog(f"sqlite:///{tmp_path / 'cat' / 'catalog.sqlite'}")
    yield engine
    engine.dispose()


def _ingest(engine: sa.Engine, root: Path, settings: Settings, tmp_path: Path) -> IngestSummary:
    return ingest(engine, root, settings, LocalStore(tmp_path / "store"))


def _paths(engine: sa.Engine) -> dict[str, tuple[str, str | None]]:
    with engine.connect() as conn:
        return {
            r.rel_path: (r.status, r.reason)
            for r in conn.execute(
                sa.select(photo_paths.c.rel_path, photo_paths.c.status, photo_paths.c.reason)
            )
        }


def test_refusals_before_decoding(
    tmp_path: Path, catalog: sa.Engine, make_settings: Callable[..., Settings]
) -> None:
    root = tmp_path / "photos"
    write_photo(root / "ok.png", [A])
    (root / "empty.jpg").write_bytes(b"")
    (root / "ok.xmp").write_text("<x:xmpmeta/>", encoding="utf-8")
    (root / "IMG_1.AAE").write_text("<plist/>", encoding="utf-8")
    (root / "huge.jpg").write_bytes(bytes(2_100_000))
    os.mkfifo(root / "pipe.jpg")
    summary = _ingest(catalog, root, make_settings(max_file_mb=2), tmp_path)
    paths = _paths(catalog)
    assert paths["ok.png"] == ("ok", None)
    assert paths["empty.jpg"][0] == "rejected" and "empty file" in (paths["empty.jpg"][1] or "")
    assert "XMP sidecar" in (paths["ok.xmp"][1] or "")
    assert "Apple edit sidecar" in (paths["IMG_1.AAE"][1] or "")
    assert "max_file_mb" in (paths["huge.jpg"][1] or "")
    assert "not a regular file" in (paths["pipe.jpg"][1] or "")
    assert summary.new_photos == 1 and summary.rejected == 5
    assert sum(summary.reasons.values()) == 5


def test_clutter_is_skipped_silently(
    tmp_path: Path, catalog: sa.Engine, make_settings: Callable[..., Settings]
) -> None:
    root = tmp_path / "photos"
    write_photo(root / "a.png", [A])
    for rel in [
        ".DS_Store",
        "Thumbs.db",
        "._a.png",
        "sub/desktop.ini",
        ".hidden/x.png",
        "@eaDir/a.png/t.jpg",
    ]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"junk")
    summary = _ingest(catalog, root, make_settings(), tmp_path)
    assert list(_paths(catalog)) == ["a.png"]
    assert summary.files == 1 and summary.rejected == 0
    assert summary.skipped_system_files == 4  # files in skipped folders are not even listed


@pytest.mark.parametrize(
    ("rel", "clutter"),
    [
        ("__MACOSX/a/._b.jpg", True),
        ("a/.DS_Store", True),
        ("a/._b.jpg", True),
        (".git/config", True),
        ("a/b.jpg", False),
        ("a/.b.jpg", False),
        ("x/thumbs.db.jpg", False),
    ],
)
def test_is_system_clutter(rel: str, clutter: bool) -> None:
    assert is_system_clutter(rel) is clutter


def test_reingest_unchanged_touched_and_modified(
    tmp_path: Path, catalog: sa.Engine, make_settings: Callable[..., Settings]
) -> None:
    root = tmp_path / "photos"
    write_photo(root / "a.png", [A], 1)
    write_photo(root / "b.png", [B], 2)
    write_photo(root / "c.png", [B], 3)
    first = _ingest(catalog, root, make_settings(), tmp_path)
    assert first.new_photos == 3

    again = _ingest(catalog, root, make_settings(), tmp_path)
    assert (again.unchanged, again.new_photos, again.duplicates) == (3, 0, 0)

    stat = (root / "a.png").stat()
    os.utime(root / "a.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched, same bytes
    write_photo(root / "b.png", [A, B], 4)  # edited in place
    third = _ingest(catalog, root, make_settings(), tmp_path)
    assert third.new_photos == 1, "only the edited file holds a new photo"
    assert third.unchanged == 2
    with catalog.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(photos)).scalar() == 4


def test_the_source_must_exist(
    tmp_path: Path, catalog: sa.Engine, make_settings: Callable[..., Settings]
) -> None:
    with pytest.raises(InputError, match="does not exist"):
        _ingest(catalog, tmp_path / "nope", make_settings(), tmp_path)
