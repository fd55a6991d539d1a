"""A source that shrinks (an unmounted card, a wrong folder) is refused before the catalog or the output
changes, unless ``--allow-shrink`` accepts it; ordinary deletions pass."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from testkit import A, B, C, SyntheticEvent, person_folders, snapshot, write_photo

from eventlens import pipeline
from eventlens.catalog.db import default_url, open_catalog
from eventlens.catalog.schema import faces, persons, photo_paths, photos
from eventlens.cli import main
from eventlens.errors import InputError
from eventlens.settings import Settings


@pytest.fixture
def fake_env(model_cache_dir: Path) -> dict[str, str]:
    return {
        "EVENTLENS_DETECTOR": "fake",
        "EVENTLENS_LANDMARKER": "fake",
        "EVENTLENS_EMBEDDER": "fake",
        "EVENTLENS_EYE_MODEL": "fake",
        "EVENTLENS_CACHE_DIR": str(model_cache_dir),
        "EVENTLENS_WORKERS": "1",
    }


def _catalog_rows(out: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the tables an ingest or later stage writes (runs aside)."""
    engine = open_catalog(default_url(out))
    try:
        with engine.connect() as conn:
            return {
                t.name: [tuple(r) for r in conn.execute(sa.select(t).order_by(*t.primary_key.columns))]
                for t in (photos, photo_paths, persons, faces)
            }
    finally:
        engine.dispose()


def _empty(root: Path) -> None:
    for item in root.iterdir():
        shutil.rmtree(item) if item.is_dir() else item.unlink()


def test_an_emptied_source_is_refused_and_changes_nothing(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    out = tmp_path / "out"
    pipeline.process(event.root, out, make_settings())
    folders, files, rows = person_folders(out), snapshot(out), _catalog_rows(out)
    assert folders
    _empty(event.root)  # the card is not mounted: its mount point is an empty folder
    with pytest.raises(InputError, match=r"holds no files now.*--allow-shrink"):
        pipeline.process(event.root, out, make_settings())
    assert person_folders(out) == folders and snapshot(out) == files
    assert _catalog_rows(out) == rows


def test_allow_shrink_accepts_an_emptied_source(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    out = tmp_path / "out"
    pipeline.process(event.root, out, make_settings())
    _empty(event.root)
    summary = pipeline.process(event.root, out, make_settings(), allow_shrink=True)
    assert summary.ingest.files == 0 and summary.ingest.missing > 0
    assert person_folders(out) == []


def _source_of(root: Path, photos_count: int) -> list[Path]:
    return [write_photo(root / f"p{i:02}.png", [(A, B, C)[i % 3]], variant=i) for i in range(photos_count)]


@pytest.mark.parametrize(("removed", "refused"), [(1, False), (5, False), (6, True)])
def test_losing_more_than_max_shrink_fraction_is_refused(
    tmp_path: Path, make_settings: Callable[..., Settings], removed: int, refused: bool
) -> None:
    root, out = tmp_path / "photos", tmp_path / "out"
    files = _source_of(root, 10)
    pipeline.process(root, out, make_settings())
    for path in files[:removed]:
        path.unlink()
    if refused:
        with pytest.raises(InputError, match=r"6 of the 10 photos .* are gone.*max_shrink_fraction"):
            pipeline.process(root, out, make_settings())
    else:  # 10 % and exactly half (the default 0.5) are ordinary deletions
        summary = pipeline.process(root, out, make_settings())
        assert summary.ingest.missing == removed


def test_max_shrink_fraction_is_a_setting(tmp_path: Path, make_settings: Callable[..., Settings]) -> None:
    root, out = tmp_path / "photos", tmp_path / "out"
    files = _source_of(root, 10)
    pipeline.process(root, out, make_settings())
    files[0].unlink()
    files[1].unlink()
    with pytest.raises(InputError, match="2 of the 10 photos"):
        pipeline.process(root, out, make_settings(max_shrink_fraction=0.1))


def test_a_new_source_is_never_refused(tmp_path: Path, make_settings: Callable[..., Settings]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    summary = pipeline.process(empty, tmp_path / "out", make_settings())
    assert summary.ingest.files == 0


@pytest.mark.parametrize("command", ["process", "ingest"])
def test_the_cli_refuses_with_exit_2_and_allow_shrink_accepts(
    event: SyntheticEvent, tmp_path: Path, fake_env: dict[str, str], command: str
) -> None:
    out = tmp_path / "out"
    runner = CliRunner()
    first = runner.invoke(main, [command, str(event.root), "--out", str(out), "-q"], env=fake_env)
    assert first.exit_code == 0, first.stderr
    _empty(event.root)
    refused = runner.invoke(main, [command, str(event.root), "--out", str(out), "-q"], env=fake_env)
    assert refused.exit_code == 2
    errors = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: "), refused.stderr
    assert "--allow-shrink" in errors[0] and "Traceback" not in refused.stderr
    if command == "process":
        assert person_folders(out)
    accepted = runner.invoke(
        main, [command, str(event.root), "--out", str(out), "-q", "--allow-shrink"], env=fake_env
    )
    assert accepted.exit_code == 0, accepted.stderr
    if command == "process":
        assert person_folders(out) == []
