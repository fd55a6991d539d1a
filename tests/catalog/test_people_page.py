"""The people grid's read model: persons sorted by photos, name or label, filtered by category and hidden,
in keyset pages that walk the whole listing once; unassigned faces; photo sizes; faces by id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from people_kit import FaceSpec, build_catalog, sha, unit

from eventlens.catalog import queries
from eventlens.catalog.schema import persons
from eventlens.errors import InputError


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    rng = np.random.default_rng(5)
    specs = []
    photos_per_person = {"person_001": 2, "person_002": 5, "person_003": 2, "person_004": 1, "person_005": 3}
    for label, count in photos_per_person.items():
        specs += [FaceSpec(f"{label}_{k}.jpg", label, unit(rng)) for k in range(count)]
    specs += [FaceSpec("loose_0.jpg", None, unit(rng)), FaceSpec("person_002_0.jpg", None, unit(rng))]
    engine = build_catalog(tmp_path, specs)
    with engine.begin() as conn:
        values = {
            "person_001": {"name": "Zoe", "category": "main"},
            "person_003": {"name": "Ana", "category": "important", "hidden": True},
            "person_005": {"name": "ana b"},
        }
        for label, v in values.items():
            conn.execute(persons.update().where(persons.c.label == label).values(**v))
    return engine


def _walk(conn: sa.Connection, **kw: Any) -> list[str]:
    labels: list[str] = []
    after = None
    while True:
        page = queries.people_page(conn, limit=2, after=after, **kw)
        labels += [p.label for p in page.items]
        if page.next_cursor is None:
            return labels
        after = page.next_cursor


def test_people_sorted_filtered_and_paged(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        by_photos = queries.people_page(conn).items
        assert [p.label for p in by_photos] == [
            "person_002",
            "person_005",
            "person_001",
            "person_003",
            "person_004",
        ]
        assert [p.photo_count for p in by_photos] == [5, 3, 2, 2, 1]
        assert _walk(conn) == [p.label for p in by_photos]
        by_name = ["person_003", "person_005", "person_001", "person_002", "person_004"]  # unnamed last
        assert [p.label for p in queries.people_page(conn, sort="name").items] == by_name
        assert _walk(conn, sort="name") == by_name
        assert _walk(conn, sort="label") == [f"person_00{k}" for k in range(1, 6)]
        assert _walk(conn, category="other") == [
            "person_002",
            "person_005",
            "person_004",
        ]  # none given: other
        assert _walk(conn, category="main") == ["person_001"]
        assert _walk(conn, hidden=True) == ["person_003"]
        assert _walk(conn, hidden=False, category="important") == []
        with pytest.raises(InputError, match="sort"):
            queries.people_page(conn, sort="age")
        cursor = queries.people_page(conn, limit=1).next_cursor
        assert cursor is not None
        with pytest.raises(InputError):  # a cursor of another sort order
            queries.people_page(conn, sort="name", after=cursor)


def test_unassigned_faces_sizes_and_faces_by_id(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        first = queries.unassigned_faces(conn, limit=1)
        rest = queries.unassigned_faces(conn, limit=1, after=first.next_cursor)
        shas = {f.photo_sha256 for f in first.items + rest.items}
        assert shas == {sha("loose_0.jpg"), sha("person_002_0.jpg")} and rest.next_cursor is None
        assert all(f.person_id is None for f in first.items + rest.items)
        assert queries.photo_sizes(conn, [sha("loose_0.jpg"), "0" * 64]) == {sha("loose_0.jpg"): (1000, 800)}
        ids = [f.id for f in first.items] + [10_000]
        assert list(queries.faces_by_ids(conn, ids)) == [first.items[0].id]
