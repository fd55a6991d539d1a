"""Versioned, transactional schema migrations, recorded in ``schema_migrations``.

Each migration is a function of a connection, applied once, in order, inside a transaction. A catalog
written by a newer eventlens (a version this program does not know) is refused rather than damaged.
Migrations after the first use SQLAlchemy DDL constructs (``ALTER TABLE ... ADD COLUMN`` with types
compiled for the dialect) so the same migration runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from eventlens.errors import CatalogError

Migration = Callable[[sa.Connection], None]


#: tables added after version 1 (version 1 does not create them)
_LATER_TABLES = {
    "schema_migrations",
    "persons",
    "corrections",
    "face_not_person",
    "catalog_state",
    "person_not_person",
}


def _v1_persons() -> sa.Table:
    """A frozen copy of the version-1 ``persons`` table."""
    frozen = sa.MetaData()
    sa.Table("runs", frozen, sa.Column("id", sa.Integer, primary_key=True))  # the target of created_run
    return sa.Table(
        "persons",
        frozen,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("label", sa.String(40), nullable=False, unique=True),
        sa.Column("name", sa.Text),
        sa.Column("category", sa.String(20)),
        sa.Column("representative_face_id", sa.Integer),
        sa.Column("created_run", sa.Integer, sa.ForeignKey("runs.id")),
    )


def _v1_initial(conn: sa.Connection) -> None:
    """The first schema: the tables of :mod:`eventlens.catalog.schema` as of version 1.

    Tables changed since have a frozen copy here (``persons``) or are left to their migration, so that
    old catalogs and new ones end in the same state. (Migrations that only add nullable columns to a
    version-1 table skip the columns a new catalog already has instead.)
    """
    from eventlens.catalog import schema  # noqa: PLC0415

    _v1_persons().create(conn)
    tables = [t for name, t in schema.metadata.tables.items() if name not in _LATER_TABLES]
    schema.metadata.create_all(conn, tables=tables)


def _add_column(conn: sa.Connection, table: str, column: sa.Column[object]) -> None:
    """``ALTER TABLE ... ADD COLUMN`` with the column's full definition (default, nullability), unless the
    table has it already."""
    if column.name in {c["name"] for c in sa.inspect(conn).get_columns(table)}:
        return
    ddl = sa.schema.CreateColumn(column).compile(dialect=conn.dialect)
    conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {ddl}"))


def _add_corrections(conn: sa.Connection) -> None:
    """Human corrections: the ``corrections`` log, cannot-links, hidden persons, a chosen representative."""
    from eventlens.catalog import schema  # noqa: PLC0415

    _add_column(conn, "persons", sa.Column("hidden", sa.Boolean, nullable=False, server_default=sa.false()))
    _add_column(conn, "persons", sa.Column("representative_by", sa.String(20)))
    tables = [schema.corrections, schema.face_not_person, schema.catalog_state]
    schema.metadata.create_all(conn, tables=tables)


def _add_columns(conn: sa.Connection, table: str, columns: dict[str, sa.types.TypeEngine[Any]]) -> list[str]:
    """``ALTER TABLE ... ADD COLUMN`` for each of ``columns`` the table lacks; the names added."""
    existing = {c["name"] for c in sa.inspect(conn).get_columns(table)}
    added = [name for name in columns if name not in existing]
    for name in added:
        column_type = columns[name].compile(dialect=conn.dialect)
        conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {name} {column_type}"))
    return added


_SMILE_COLUMNS = ("mouth_gap", "corners_below_eyes", "lip_below_nose")


def _add_smile_measurements(conn: sa.Connection) -> None:
    """Three mouth measurements of the smile decision (issue 13) on ``faces``, filled in for the faces
    already measured from their stored 68 landmarks: they are ratios of landmark distances, so the
    stored copy (original pixels) gives what the analysis would (its pixels differ by a scale only), and
    no photo needs analysing again."""
    from eventlens.attributes.face_geometry import mouth_shape  # noqa: PLC0415
    from eventlens.catalog.arrays import from_blob  # noqa: PLC0415

    if not _add_columns(conn, "faces", dict.fromkeys(_SMILE_COLUMNS, sa.Float())):
        return
    faces = sa.table("faces", sa.column("id"), sa.column("landmarks68"), sa.column("mouth_width"))
    measured = conn.execute(
        sa.select(faces.c.id, faces.c.landmarks68).where(
            faces.c.mouth_width.is_not(None), faces.c.landmarks68.is_not(None)
        )
    ).all()
    rows = []
    for face_id, blob in measured:
        points = from_blob(blob, (68, 2))
        assert points is not None  # the query keeps only rows with landmarks
        mouth = mouth_shape(points)
        rows.append(
            {
                "face_id": face_id,
                "mouth_gap": mouth.gap,
                "corners_below_eyes": mouth.corners_below_eyes,
                "lip_below_nose": mouth.lip_below_nose,
            }
        )
    if rows:
        target = sa.table("faces", sa.column("id"), *(sa.column(name) for name in _SMILE_COLUMNS))
        conn.execute(
            target.update()
            .where(target.c.id == sa.bindparam("face_id"))
            .values({name: sa.bindparam(name) for name in _SMILE_COLUMNS}),
            rows,
        )


def _add_iris_dark(conn: sa.Connection) -> None:
    """The faces' iris dark heights (:mod:`eventlens.attributes.eye_appearance`), one float column per eye.

    Old rows keep NULL until their photos are analysed again (the eye model's version changed with it, so
    ``analyze`` counts them as stale)."""
    from eventlens.catalog.schema import IRIS_DARK_COLUMNS  # noqa: PLC0415

    _add_columns(conn, "faces", dict.fromkeys(IRIS_DARK_COLUMNS, sa.Float()))


#: indexes of version 5, on the sort keys of the read model's pages; and the ones they replace
_LISTING_INDEXES = ("ix_faces_person_photo", "ix_photo_paths_shown", "ix_photo_paths_refused")
_REPLACED_INDEXES = ("ix_faces_person",)


def _add_listing_indexes(conn: sa.Connection) -> None:
    """Indexes on the sort keys of the read model's pages (keyset pagination): a person's faces by photo
    and face index (replacing ``ix_faces_person``, its prefix), present paths by path then sha256, refused
    paths by path. A catalog created at version 1 since has them already."""
    from eventlens.catalog import schema  # noqa: PLC0415

    for table in (schema.faces, schema.photo_paths):
        for index in table.indexes:
            if index.name in _LISTING_INDEXES:
                index.create(conn, checkfirst=True)
    for name in _REPLACED_INDEXES:
        conn.execute(sa.text(f"DROP INDEX IF EXISTS {name}"))  # SQLite and PostgreSQL


def _add_person_cannot_links(conn: sa.Connection) -> None:
    """Person-pair cannot-links: a merge suggestion answered "not the same person"."""
    from eventlens.catalog import schema  # noqa: PLC0415

    schema.person_not_person.create(conn, checkfirst=True)


def _add_mouth_appearance(conn: sa.Connection) -> None:
    """The smile model's term from the mouth crop's pixels (:mod:`eventlens.attributes.mouth_appearance`).

    Old rows keep NULL, and their smile score the five landmark measurements alone
    (:data:`eventlens.attributes.decide.SMILE_WEIGHTS`), until their photos are analysed again."""
    from eventlens.catalog.schema import MOUTH_APPEARANCE_COLUMNS  # noqa: PLC0415

    _add_columns(conn, "faces", dict.fromkeys(MOUTH_APPEARANCE_COLUMNS, sa.Float()))


MIGRATIONS: list[tuple[int, str, Migration]] = [
    (1, "initial catalog: runs, sources, photos, photo_paths, persons, faces", _v1_initial),
    (
        2,
        "add_smile_measurements: faces.mouth_gap, corners_below_eyes, lip_below_nose",
        _add_smile_measurements,
    ),
    (
        3,
        "add_iris_dark: faces.iris_dark_right, iris_dark_left (eye openness from the eye crop)",
        _add_iris_dark,
    ),
    (
        4,
        "add_corrections: corrections log, cannot-links, hidden persons, chosen representative",
        _add_corrections,
    ),
    (
        5,
        "add_listing_indexes: faces (person_id, photo_sha256, face_index), "
        "photo_paths (rel_path, sha256) where ok, (rel_path) where rejected",
        _add_listing_indexes,
    ),
    (
        6,
        "add_person_cannot_links: person_not_person (merge suggestions answered no)",
        _add_person_cannot_links,
    ),
    (
        7,
        "add_mouth_appearance: faces.mouth_appearance (smile from the mouth crop's pixels)",
        _add_mouth_appearance,
    ),
]


def current_version(conn: sa.Connection) -> int:
    from eventlens.catalog.schema import schema_migrations  # noqa: PLC0415

    schema_migrations.create(conn, checkfirst=True)
    return conn.execute(sa.select(sa.func.max(schema_migrations.c.version))).scalar() or 0


def migrate(engine: sa.Engine) -> int:
    """Apply pending migrations; return the resulting version."""
    from eventlens.catalog.schema import schema_migrations  # noqa: PLC0415

    known = MIGRATIONS[-1][0]
    with engine.begin() as conn:
        version = current_version(conn)
    if version > known:
        raise CatalogError(
            f"the catalog has schema version {version}, newer than this eventlens knows ({known}); "
            "upgrade eventlens instead of using an older one on it"
        )
    for number, name, apply in MIGRATIONS:
        if number <= version:
            continue
        with engine.begin() as conn:
            apply(conn)
            conn.execute(
                schema_migrations.insert().values(
                    version=number, name=name, applied_at=datetime.now(UTC).isoformat(timespec="seconds")
                )
            )
        version = number
    return version
