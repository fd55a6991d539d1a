"""Migration 6: a version-5 catalog gains ``person_not_person`` (person-pair cannot-links), keeps its rows."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from eventlens.catalog.db import open_catalog
from eventlens.catalog.migrations import MIGRATIONS
from eventlens.catalog.schema import persons, schema_migrations


def test_a_version_5_catalog_gains_person_cannot_links(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    engine = open_catalog(url)
    with engine.begin() as conn:
        conn.execute(persons.insert().values(label="person_001", name="Ana"))
        conn.exec_driver_sql("DROP TABLE person_not_person")
        conn.execute(schema_migrations.delete().where(schema_migrations.c.version >= 6))  # back to 5
    engine.dispose()
    engine = open_catalog(url)
    try:
        inspector = sa.inspect(engine)
        assert "person_not_person" in inspector.get_table_names()
        assert {c["name"] for c in inspector.get_columns("person_not_person")} == {"person_id", "other_id"}
        with engine.connect() as conn:
            assert conn.execute(sa.select(persons.c.name)).scalar() == "Ana"
            assert max(conn.execute(sa.select(schema_migrations.c.version)).scalars()) == MIGRATIONS[-1][0]
    finally:
        engine.dispose()
