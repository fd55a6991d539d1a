"""The catalog: real SQLite files in tmp folders, migrated to the latest version, tuned per connection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from eventlens.catalog import schema
from eventlens.catalog.arrays import from_blob, to_blob
from eventlens.catalog.db import default_url, open_catalog
from eventlens.catalog.migrations import MIGRATIONS, migrate
from eventlens.errors import CatalogError

LATEST = MIGRATIONS[-1][0]


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cat' / 'catalog.sqlite'}"


def _versions(engine: sa.Engine) -> list[int]:
    with engine.connect() as conn:
        return [r.version for r in conn.execute(sa.select(schema.schema_migrations).order_by("version"))]


def test_migration_numbers_are_increasing_and_unique() -> None:
    numbers = [m[0] for m in MIGRATIONS]
    assert numbers == sorted(set(numbers)) and numbers[0] == 1


def test_fresh_catalog_reaches_the_latest_version(tmp_path: Path) -> None:
    engine = open_catalog(_url(tmp_path))  # also creates the missing folder
    try:
        assert (tmp_path / "cat" / "catalog.sqlite").is_file()
        assert _versions(engine) == [m[0] for m in MIGRATIONS]
        assert migrate(engine) == LATEST
    finally:
        engine.dispose()


def test_reopening_is_a_no_op(tmp_path: Path) -> None:
    engine = open_catalog(_url(tmp_path))
    with engine.begin() as conn:
        conn.execute(
            schema.runs.insert().values(command="x", started_at="t", status="done", settings_json="{}")
        )
        applied = conn.execute(sa.select(schema.schema_migrations.c.applied_at)).scalars().all()
    engine.dispose()
    engine = open_catalog(_url(tmp_path))
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.select(schema.schema_migrations.c.applied_at)).scalars().all() == applied
            assert conn.execute(sa.select(sa.func.count()).select_from(schema.runs)).scalar() == 1
    finally:
        engine.dispose()


def test_a_newer_catalog_is_refused(tmp_path: Path) -> None:
    engine = open_catalog(_url(tmp_path))
    with engine.begin() as conn:
        conn.execute(
            schema.schema_migrations.insert().values(version=LATEST + 1, name="future", applied_at="t")
        )
    engine.dispose()
    with pytest.raises(CatalogError, match=rf"version {LATEST + 1}.*newer"):
        open_catalog(_url(tmp_path))


def test_a_file_that_is_not_a_database_is_a_catalog_error(tmp_path: Path) -> None:
    path = tmp_path / "cat" / "catalog.sqlite"
    path.parent.mkdir()
    path.write_bytes(b"this is no sqlite file" * 300)
    with pytest.raises(CatalogError, match="cannot open catalog"):
        open_catalog(_url(tmp_path))


def test_invalid_url() -> None:
    with pytest.raises(CatalogError, match="invalid catalog URL"):
        open_catalog("not a url at all")


def test_wal_foreign_keys_and_busy_timeout_on_every_connection(tmp_path: Path) -> None:
    engine = open_catalog(_url(tmp_path))
    try:
        for _ in range(2):
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    finally:
        engine.dispose()


def test_foreign_keys_are_enforced(tmp_path: Path) -> None:
    engine = open_catalog(_url(tmp_path))
    try:
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(
                schema.faces.insert().values(
                    photo_sha256="0" * 64, face_index=0, x1=0, y1=0, x2=1, y2=1, det_score=1, detect_model="m"
                )
            )
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_metadata(tmp_path: Path) -> None:
    engine = open_catalog(_url(tmp_path))
    try:
        inspector = sa.inspect(engine)
        assert set(inspector.get_table_names()) == set(schema.metadata.tables)
        for name, table in schema.metadata.tables.items():
            reflected = {c["name"]: c for c in inspector.get_columns(name)}
            assert set(reflected) == {c.name for c in table.columns}, name
            for column in table.columns:
                assert reflected[column.name]["nullable"] == column.nullable or column.primary_key, (
                    name,
                    column.name,
                )
            primary_key = set(inspector.get_pk_constraint(name)["constrained_columns"])
            assert primary_key == {c.name for c in table.primary_key.columns}, name
            want_fks = {(fk.parent.name, fk.column.table.name, fk.column.name) for fk in table.foreign_keys}
            got_fks = {
                (col, fk["referred_table"], ref)
                for fk in inspector.get_foreign_keys(name)
                for col, ref in zip(fk["constrained_columns"], fk["referred_columns"], strict=True)
            }
            assert got_fks == want_fks, name
            want_indexes = {i.name for i in table.indexes}
            assert want_indexes <= {i["name"] for i in inspector.get_indexes(name)}, name
    finally:
        engine.dispose()


def test_default_url_lives_in_the_output_folder(tmp_path: Path) -> None:
    assert default_url(tmp_path).endswith("/.eventlens/catalog.sqlite")
    assert str(tmp_path.resolve()) in default_url(tmp_path)


def test_array_blobs_round_trip() -> None:
    a = np.arange(136, dtype=np.float64).reshape(68, 2) / 3
    back = from_blob(to_blob(a), (68, 2))
    assert back is not None and back.dtype == np.float32 and back.shape == (68, 2)
    np.testing.assert_allclose(back, a, rtol=1e-6)
    assert to_blob(None) is None and from_blob(None) is None
    assert len(to_blob(np.zeros(128)) or b"") == 128 * 4  # little-endian float32


def test_add_smile_measurements_fills_old_faces_from_their_stored_landmarks(tmp_path: Path) -> None:
    """A catalog from before ``add_smile_measurements`` (its columns dropped, its version row removed) gets
    the columns, filled from ``landmarks68`` with what the analysis measures; unmeasured faces stay NULL."""
    from eventlens.attributes.face_geometry import mouth_shape  # noqa: PLC0415
    from eventlens.backends.fake import _TEMPLATE68  # noqa: PLC0415

    number = next(n for n, name, _ in MIGRATIONS if name.startswith("add_smile_measurements"))
    landmarks = _TEMPLATE68.astype(np.float64) * 180 + 40
    engine = open_catalog(_url(tmp_path))
    with engine.begin() as conn:
        conn.execute(
            schema.photos.insert().values(
                sha256="a" * 64, size_bytes=1, local_path="/x.jpg", status="analyzed"
            )
        )
        for index, measured in enumerate((True, False)):
            conn.execute(
                schema.faces.insert().values(
                    photo_sha256="a" * 64,
                    face_index=index,
                    x1=0,
                    y1=0,
                    x2=10,
                    y2=10,
                    det_score=1,
                    detect_model="m",
                    landmarks68=to_blob(landmarks) if measured else None,
                    mouth_width=0.9 if measured else None,
                )
            )
        for name in ("mouth_gap", "corners_below_eyes", "lip_below_nose"):
            conn.exec_driver_sql(f"ALTER TABLE faces DROP COLUMN {name}")
        conn.execute(schema.schema_migrations.delete().where(schema.schema_migrations.c.version >= number))
    engine.dispose()
    engine = open_catalog(_url(tmp_path))
    try:
        assert _versions(engine) == [m[0] for m in MIGRATIONS]
        with engine.connect() as conn:
            rows = conn.execute(sa.select(schema.faces).order_by(schema.faces.c.face_index)).all()
        want = mouth_shape(from_blob(to_blob(landmarks), (68, 2)))
        assert rows[0].mouth_gap == pytest.approx(want.gap)
        assert rows[0].corners_below_eyes == pytest.approx(want.corners_below_eyes)
        assert rows[0].lip_below_nose == pytest.approx(want.lip_below_nose)
        assert 0.5 < rows[0].corners_below_eyes < 1.5 and 0.0 < rows[0].lip_below_nose < 0.5
        assert rows[1].mouth_gap is None and rows[1].corners_below_eyes is None
    finally:
        engine.dispose()


def test_add_iris_dark_adds_the_iris_dark_columns_to_a_version_1_catalog(tmp_path: Path) -> None:
    """A catalog made before the iris dark height: its faces table lacks the columns; add_iris_dark adds
    them (NULL for the rows already there) and the catalog ends like a fresh one."""
    url = _url(tmp_path)
    (tmp_path / "cat").mkdir()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        MIGRATIONS[0][2](conn)  # version 1 as this code creates it, then back to the version-1 faces table
        for name in schema.IRIS_DARK_COLUMNS + schema.MOUTH_APPEARANCE_COLUMNS:  # both came later
            conn.exec_driver_sql(f"ALTER TABLE faces DROP COLUMN {name}")
        schema.schema_migrations.create(conn)
        conn.execute(schema.schema_migrations.insert().values(version=1, name="initial", applied_at="t"))
        conn.execute(
            schema.photos.insert().values(
                sha256="a" * 64, size_bytes=1, local_path="x.jpg", status="analyzed"
            )
        )
        conn.exec_driver_sql(
            "INSERT INTO faces (photo_sha256, face_index, x1, y1, x2, y2, det_score, detect_model, ear_right)"
            f" VALUES ('{'a' * 64}', 0, 0, 0, 10, 10, 0.9, 'm', 0.25)"
        )
    engine.dispose()
    engine = open_catalog(url)
    try:
        assert _versions(engine) == [m[0] for m in MIGRATIONS]
        with engine.connect() as conn:
            columns = [c["name"] for c in sa.inspect(conn).get_columns("faces")]
            row = conn.execute(sa.select(schema.faces)).one()
        assert set(schema.IRIS_DARK_COLUMNS) <= set(columns)
        assert row.ear_right == 0.25 and row.iris_dark_right is None and row.iris_dark_left is None
    finally:
        engine.dispose()
    fresh = open_catalog(f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    try:
        with fresh.connect() as conn:
            assert [c["name"] for c in sa.inspect(conn).get_columns("faces")] == columns
    finally:
        fresh.dispose()


def test_a_version_1_catalog_gains_the_corrections_schema_and_keeps_its_persons(tmp_path: Path) -> None:
    """add_corrections on a catalog written by version 1: persons kept, not hidden."""
    from datetime import UTC, datetime  # noqa: PLC0415

    url = _url(tmp_path)
    (tmp_path / "cat").mkdir()
    engine = sa.create_engine(url)
    (number, name, apply) = MIGRATIONS[0]
    with engine.begin() as conn:
        schema.schema_migrations.create(conn)
        apply(conn)
        conn.execute(
            schema.schema_migrations.insert().values(
                version=number, name=name, applied_at=datetime.now(UTC).isoformat()
            )
        )
        conn.execute(sa.text("INSERT INTO persons (id, label, name) VALUES (1, 'person_001', 'Ana')"))
    engine.dispose()
    engine = open_catalog(url)
    try:
        assert _versions(engine) == [m[0] for m in MIGRATIONS]
        with engine.connect() as conn:
            row = conn.execute(sa.select(schema.persons)).one()
            assert (row.label, row.name, row.hidden, row.representative_by) == (
                "person_001",
                "Ana",
                False,
                None,
            )
            assert conn.execute(sa.select(sa.func.count()).select_from(schema.corrections)).scalar() == 0
    finally:
        engine.dispose()
