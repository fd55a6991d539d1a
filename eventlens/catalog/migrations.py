"""Versioned, transactional schema migrations, recorded in ``schema_migrations``.

Each migration is a function of a connection, applied once, in order, inside a transaction. A catalog
written by a newer eventlens (a version this program does not know) is refused rather than damaged.
Migrations after the first use SQLAlchemy DDL constructs (``ALTER TABLE ... ADD COLUMN`` with types
compiled for the dialect) so the same migration runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa

from eventlens.errors import CatalogError

Migration = Callable[[sa.Connection], None]


def _v1_initial(conn: sa.Connection) -> None:
    """The first schema: every table of :mod:`eventlens.catalog.schema` as of version 1.

    When the schema changes, the change goes into a new migration and this one gets a frozen copy of
    the version-1 tables, so that old catalogs and new ones end in the same state.
    """
    from eventlens.catalog import schema  # noqa: PLC0415

    tables = [t for name, t in schema.metadata.tables.items() if name != "schema_migrations"]
    schema.metadata.create_all(conn, tables=tables)


def _v2_iris_dark(conn: sa.Connection) -> None:
    """The faces' iris dark heights (:mod:`eventlens.attributes.eye_appearance`), one float column per eye.

    A catalog created by this version already has them (version 1 creates the tables as they stand), so
    only missing columns are added. Old rows keep NULL until their photos are analysed again (the eye
    model's version changed with it, so ``analyze`` counts them as stale)."""
    from eventlens.catalog.schema import IRIS_DARK_COLUMNS  # noqa: PLC0415

    present = {c["name"] for c in sa.inspect(conn).get_columns("faces")}
    for name in IRIS_DARK_COLUMNS:
        if name not in present:
            column = sa.Column(name, sa.Float)
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(sa.text(f"ALTER TABLE faces ADD COLUMN {name} {kind}"))


MIGRATIONS: list[tuple[int, str, Migration]] = [
    (1, "initial catalog: runs, sources, photos, photo_paths, persons, faces", _v1_initial),
    (2, "faces: iris_dark_right, iris_dark_left (eye openness from the eye crop)", _v2_iris_dark),
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
