"""Walking a folder never stops on one path: names that are not UTF-8, very deep trees, directory
symlinks and unreadable folders are ingested or listed in rejected.csv with a reason, never a crash."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from testkit import EVENT_PHOTOS, A, SyntheticEvent, hash_tree, read_csv, read_metadata, write_photo

from eventlens import pipeline
from eventlens.catalog.db import open_catalog
from eventlens.catalog.schema import photo_paths, photos
from eventlens.ingest import sources
from eventlens.ingest.ingest import ingest
from eventlens.ingest.sources import display_text, iter_folder
from eventlens.settings import Settings
from eventlens.storage import LocalStore

#: a Latin-1 file name: the bytes 0xE9 are not UTF-8
LATIN1_NAME = b"latin1_\xe9t\xe9.png"
#: how that name is shown in the catalog and every output file
LATIN1_SHOWN = "latin1_\\xe9t\\xe9.png"


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = open_catalog(f"sqlite:///{tmp_path / 'cat' / 'catalog.sqlite'}")
    yield engine
    engine.dispose()


def _paths(engine: sa.Engine) -> dict[str, tuple[str, str | None]]:
    with engine.connect() as conn:
        return {
            r.rel_path: (r.status, r.reason)
            for r in conn.execute(
                sa.select(photo_paths.c.rel_path, photo_paths.c.status, photo_paths.c.reason)
            )
        }


def _latin1_path(folder: Path) -> Path:
    return Path(os.fsdecode(os.fsencode(folder) + b"/" + LATIN1_NAME))


def test_display_text_escapes_only_bytes_that_are_not_utf8() -> None:
    assert display_text("été/photo.jpg") == "été/photo.jpg"
    assert display_text(os.fsdecode(LATIN1_NAME)) == LATIN1_SHOWN
    assert display_text("lone\ud800surrogate") == "lone\\ud800surrogate"


def test_a_name_that_is_not_utf8_goes_through_the_whole_job(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    original = write_photo(_latin1_path(event.root), [A], variant=11)
    assert os.fsencode(original).endswith(LATIN1_NAME)
    before = hash_tree(event.root)
    out = tmp_path / "out"
    summary = pipeline.process(event.root, out, make_settings())
    assert summary.ingest.new_photos == EVENT_PHOTOS + 2  # + the truncated JPEG (see testkit)
    assert summary.analyze.faces >= 1

    _, faces_rows = read_csv(out / "face_data.csv")
    assert LATIN1_SHOWN in {r["photo"] for r in faces_rows}
    shown = [p for p in read_metadata(out / "person_001")["photos"] if p["photo"] == LATIN1_SHOWN]
    assert len(shown) == 1
    linked = out / "person_001" / shown[0]["file"]
    assert linked.read_bytes() == original.read_bytes()
    assert hash_tree(event.root) == before, "an original was changed"

    # a second run reads nothing again and keeps the photo
    again = pipeline.process(event.root, out, make_settings())
    assert again.ingest.unchanged == again.ingest.files
    assert again.analyze.photos == 0
    assert (out / "person_001" / shown[0]["file"]).is_file()


def test_a_name_that_is_not_utf8_is_read_from_a_copy_in_the_store(
    tmp_path: Path, catalog: sa.Engine, make_settings: Callable[..., Settings]
) -> None:
    root = _latin1_path(tmp_path)  # the source folder's own name is not UTF-8 either
    original = write_photo(_latin1_path(root), [A])
    write_photo(Path(os.fsdecode(os.fsencode(root) + b"/dossier_\xe9")) / "inside.png", [A], variant=2)
    store = LocalStore(tmp_path / "store")
    summary = ingest(catalog, root, make_settings(), store)
    assert summary.new_photos == 2 and summary.rejected == 0
    assert _paths(catalog) == {LATIN1_SHOWN: ("ok", None), "dossier_\\xe9/inside.png": ("ok", None)}
    assert summary.source == display_text(str(root)) and summary.source.endswith(LATIN1_SHOWN)
    with catalog.connect() as conn:
        local_paths = conn.execute(sa.select(photos.c.local_path)).scalars().all()
    assert all(Path(p).is_relative_to(store.root) for p in local_paths)
    (local,) = (p for p in local_paths if Path(p).read_bytes() == original.read_bytes())

    Path(local).unlink()  # the store was wiped: the copy is made again
    ingest(catalog, root, make_settings(), store)
    assert Path(local).read_bytes() == original.read_bytes()


def test_a_name_that_collides_once_escaped_is_rejected_not_a_crash(
    tmp_path: Path, catalog: sa.Engine, make_settings: Callable[..., Settings]
) -> None:
    root = tmp_path / "photos"
    write_photo(_latin1_path(root), [A])
    write_photo(root / LATIN1_SHOWN, [A], variant=2)  # a real backslash in the name
    summary = ingest(catalog, root, make_settings(), LocalStore(tmp_path / "store"))
    paths = _paths(catalog)
    assert summary.new_photos == 1 and summary.rejected == 1
    assert paths[LATIN1_SHOWN] == ("ok", None)
    (other,) = (p for p in paths if p != LATIN1_SHOWN)
    assert paths[other][0] == "rejected" and "collides" in (paths[other][1] or "")


def _nest(root: Path, depth: int) -> Path:
    """``depth`` nested one-letter folders, made one by one (os.makedirs itself recurses)."""
    root.mkdir(parents=True, exist_ok=True)
    folder = root
    for _ in range(depth):
        folder = folder / "d"
        folder.mkdir()
    return folder


def _unnest(root: Path, depth: int) -> None:
    """Remove what :func:`_nest` made, bottom up (shutil.rmtree of Python 3.11 recurses per level)."""
    for level in range(depth, 0, -1):
        folder = root.joinpath(*["d"] * level)
        for item in folder.iterdir():
            if not item.is_dir():
                item.unlink()
        folder.rmdir()


def test_a_very_deep_tree_is_walked_without_recursion(
    tmp_path: Path, catalog: sa.Engine, make_settings: Callable[..., Settings]
) -> None:
    root = tmp_path / "photos"
    bottom = _nest(root, 1_100)
    try:
        write_photo(bottom / "deep.png", [A])
        summary = ingest(catalog, root, make_settings(), LocalStore(tmp_path / "store"))
    finally:
        _unnest(root, 1_100)
    assert summary.new_photos == 1 and summary.rejected == 0
    assert _paths(catalog) == {"d/" * 1_100 + "deep.png": ("ok", None)}


def test_a_tree_deeper_than_the_limit_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "photos"
    write_photo(_nest(root, 5) / "deep.png", [A])
    write_photo(root / "top.png", [A])
    monkeypatch.setattr(sources, "MAX_FOLDER_DEPTH", 3)
    found, _ = iter_folder(root)
    assert [(c.rel_path, c.problem) for c in found] == [
        ("top.png", None),
        ("d/d/d/d/", "skipped: folder nested deeper than 3 levels"),
    ]


def test_a_path_too_long_for_the_system_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    fd = os.open(root, os.O_RDONLY)
    length = len(os.fsencode(root))
    try:
        while length < 4_300:  # PATH_MAX is 4096 on Linux: made relative to an open folder
            os.mkdir("x" * 200, dir_fd=fd)
            inner = os.open("x" * 200, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd, length = inner, length + 201
    finally:
        os.close(fd)
    found, _ = iter_folder(root)
    assert len(found) == 1 and found[0].problem is not None
    assert found[0].problem.startswith("skipped: path too long"), found[0].problem
    assert found[0].rel_path.endswith("/") and found[0].rel_path.startswith("x" * 200 + "/")


def _with_symlink_and_locked_folder(event: SyntheticEvent, tmp_path: Path) -> Path:
    elsewhere = tmp_path / "elsewhere"
    write_photo(elsewhere / "outside.png", [A], variant=12)
    (event.root / "linked").symlink_to(elsewhere, target_is_directory=True)
    locked = event.root / "locked"
    write_photo(locked / "inside.png", [A], variant=13)
    return locked


def _deny(locked: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Listing ``locked`` fails as it does for a folder of mode 000 without root rights."""
    real_scandir = os.scandir

    def scandir(path: Any = ".") -> Any:
        if isinstance(path, str | os.PathLike) and Path(path) == locked.resolve():
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(sources.os, "scandir", scandir)


def _rejected(out: Path) -> dict[str, str]:
    _, rows = read_csv(out / "rejected.csv")
    return {r["path"]: r["reason"] for r in rows}


def test_directory_symlinks_and_unreadable_folders_are_listed_in_rejected_csv(
    event: SyntheticEvent,
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _deny(_with_symlink_and_locked_folder(event, tmp_path), monkeypatch)
    out = tmp_path / "out"
    out.mkdir()
    (event.root / "output").symlink_to(out, target_is_directory=True)  # the output is excluded, not listed
    summary = pipeline.process(event.root, out, make_settings())
    rejected = _rejected(out)
    assert rejected["linked/"] == "skipped: directory symlink" and "output/" not in rejected
    assert rejected["locked/"].startswith("skipped: permission denied (")
    assert summary.ingest.reasons["skipped: directory symlink"] == 1
    assert summary.ingest.reasons["skipped: permission denied"] == 1
    photos_seen = {p["photo"] for p in read_metadata(out / "person_001")["photos"]}
    assert not any(p.startswith(("linked/", "locked/")) for p in photos_seen)


@pytest.mark.skipif(
    os.geteuid() == 0, reason="root reads a folder of mode 000: the monkeypatched test covers it"
)
def test_a_folder_of_mode_000_is_listed_in_rejected_csv(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    locked = _with_symlink_and_locked_folder(event, tmp_path)
    locked.chmod(0)
    try:
        pipeline.process(event.root, tmp_path / "out", make_settings())
    finally:
        locked.chmod(0o755)
    assert _rejected(tmp_path / "out")["locked/"].startswith("skipped: permission denied (")


def test_an_unreadable_source_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    _deny(root, monkeypatch)
    with pytest.raises(sources.InputError, match="cannot read the folder"):
        iter_folder(root)
