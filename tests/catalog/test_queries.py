"""The read model (:mod:`eventlens.catalog.queries`) on the catalog of the standard synthetic event (fake
backend), where every identity is known: counts, ordering, pagination, not-found errors, and no
biometric data in any view."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pydantic
import pytest
import sqlalchemy as sa
from testkit import EVENT_PHOTOS, EVENT_REJECTED, A, B, C, D, SyntheticEvent, build_event, fake_settings

from eventlens import pipeline
from eventlens.catalog import queries
from eventlens.catalog.db import default_url, open_catalog
from eventlens.catalog.paging import Page
from eventlens.catalog.schema import FACE_MEASUREMENT_COLUMNS, faces, persons, photo_paths, photos
from eventlens.errors import NotFoundError

VIEWS = (queries.PersonView, queries.PhotoView, queries.FaceView, queries.RejectionView)


@pytest.fixture(scope="module")
def catalog(
    tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path
) -> Iterator[tuple[SyntheticEvent, sa.Engine]]:
    root = tmp_path_factory.mktemp("queries")
    event = build_event(root / "photos")
    pipeline.process(event.root, root / "out", fake_settings(model_cache_dir))
    engine = open_catalog(default_url(root / "out"))
    yield event, engine
    engine.dispose()


@pytest.fixture
def conn(catalog: tuple[SyntheticEvent, sa.Engine]) -> Iterator[sa.Connection]:
    """A connection whose changes are rolled back at the end of the test."""
    with catalog[1].connect() as connection:
        yield connection
        connection.rollback()


@pytest.fixture
def event(catalog: tuple[SyntheticEvent, sa.Engine]) -> SyntheticEvent:
    return catalog[0]


def test_persons_with_counts_by_label(conn: sa.Connection, event: SyntheticEvent) -> None:
    people = queries.list_persons(conn).items
    assert [p.label for p in people] == ["person_001", "person_002", "person_003"]
    # A in 4 photos, B in 3, C in 2, one face each per photo; D (one photo) is nobody
    expected = [len(event.photos_of(i)) for i in (A, B, C)]
    assert [p.photo_count for p in people] == expected == [4, 3, 2]
    assert [p.face_count for p in people] == expected
    assert all(p.name is None and p.category == "other" for p in people)
    for p in people:
        assert p.representative_face_id is not None
        assert queries.face(conn, p.representative_face_id).person_label == p.label
    assert queries.person(conn, "person_002") == people[1]


def test_hidden_persons_are_listed_with_their_flag(conn: sa.Connection) -> None:
    assert not any(p.hidden for p in queries.list_persons(conn).items)
    conn.execute(persons.update().where(persons.c.label == "person_002").values(hidden=True))  # rolled back
    assert [p.label for p in queries.list_persons(conn).items if p.hidden] == ["person_002"]
    assert queries.person(conn, "person_002").hidden


def test_person_pages_add_up_to_the_list(conn: sa.Connection) -> None:
    whole = queries.list_persons(conn)
    assert whole.next_cursor is None
    first = queries.list_persons(conn, limit=2)
    assert first.items == whole.items[:2] and first.next_cursor is not None
    last = queries.list_persons(conn, limit=2, after=first.next_cursor)
    assert last.items == whole.items[2:] and last.next_cursor is None  # no empty page after the last


def test_unknown_person_photo_and_face_are_not_found(conn: sa.Connection) -> None:
    with pytest.raises(NotFoundError, match="person_999"):
        queries.person(conn, "person_999")
    with pytest.raises(NotFoundError, match="person_999"):
        queries.photos_of_person(conn, "person_999")
    with pytest.raises(NotFoundError, match="abc"):
        queries.photo(conn, "abc")
    with pytest.raises(NotFoundError, match="123456"):
        queries.face(conn, 123456)


def test_photos_for_export_by_display_path(conn: sa.Connection, event: SyntheticEvent) -> None:
    shown = queries.photos_for_export(conn)
    assert len(shown) == EVENT_PHOTOS
    assert [p.display_path for p in shown] == sorted(event.photos)
    assert all(p.status == "analyzed" and Path(p.local_path).is_file() for p in shown)
    # the exact duplicate is one photo shown under its smallest path, with both paths listed
    p01 = next(p for p in shown if p.display_path == "p01.png")
    assert p01.display_paths == ("p01.png", "sub/deeper/p01_copy.png")
    assert all(p.display_paths == (p.display_path,) for p in shown if p is not p01)
    assert all(p.size_bytes > 0 and (p.width_px, p.height_px) == (320, 240) for p in shown)
    assert all(p.phash is not None and len(p.phash) == 16 and p.sharpness is not None for p in shown)
    assert queries.list_photos(conn).items == shown
    assert queries.photo(conn, p01.sha256) == p01


def test_photo_pages_add_up_to_the_list(conn: sa.Connection) -> None:
    whole = queries.list_photos(conn).items
    pages = [queries.list_photos(conn, limit=3)]
    while pages[-1].next_cursor is not None:
        pages.append(queries.list_photos(conn, limit=3, after=pages[-1].next_cursor))
    assert [len(p.items) for p in pages] == [3, 3, 2]
    assert [p for page in pages for p in page.items] == whole


def test_photos_of_a_person(conn: sa.Connection, event: SyntheticEvent) -> None:
    for label, identity in zip(("person_001", "person_002", "person_003"), (A, B, C), strict=True):
        photos = queries.photos_of_person(conn, label).items
        assert [p.display_path for p in photos] == sorted(event.photos_of(identity))
    first = queries.photos_of_person(conn, "person_001", limit=1)
    second = queries.photos_of_person(conn, "person_001", limit=2, after=first.next_cursor)
    assert second.items == queries.photos_of_person(conn, "person_001").items[1:3]


def test_faces_of_photos(conn: sa.Connection, event: SyntheticEvent) -> None:
    every = queries.faces_of_photos(conn)
    assert len(every) == sum(len(ids) for ids in event.photos.values())
    assert [(f.photo_sha256, f.face_index) for f in every] == sorted(
        (f.photo_sha256, f.face_index) for f in every
    )
    labels = [f.person_label for f in every]
    assert (labels.count("person_001"), labels.count("person_002"), labels.count("person_003")) == (4, 3, 2)
    nobody = [f for f in every if f.person_label is None]
    assert len(nobody) == len(event.photos_of(D)) == 1
    assert nobody[0].person_id is None and nobody[0].assigned_by is None
    assert all(f.assigned_by == "cluster" for f in every if f.person_label is not None)
    for f in every:
        assert f.box == (f.x1, f.y1, f.x2, f.y2) and f.x1 < f.x2 and f.y1 < f.y2
        assert 0 < f.det_score <= 1
        assert tuple(f.measurements) == FACE_MEASUREMENT_COLUMNS

    some = sorted({f.photo_sha256 for f in every})[:3]
    assert queries.faces_of_photos(conn, reversed(some)) == [f for f in every if f.photo_sha256 in some]
    # more photos than one IN (...) holds: asked in chunks, still in order
    many = [f"{i:064x}" for i in range(1200)] + [f.photo_sha256 for f in every]
    assert queries.faces_of_photos(conn, many) == every
    assert queries.faces_of_photos(conn, []) == []


def test_every_field_holds_its_own_column(conn: sa.Connection) -> None:
    """Each view field equals the catalog column of its name (the views are built positionally)."""
    face_rows = {r.id: r._mapping for r in conn.execute(sa.select(faces))}
    label_of = {r.id: r.label for r in conn.execute(sa.select(persons.c.id, persons.c.label))}
    for f in queries.faces_of_photos(conn):
        row = face_rows[f.id]
        for name in (n.name for n in dataclasses.fields(f)):
            if name == "measurements":
                assert dict(f.measurements) == {c: row[c] for c in FACE_MEASUREMENT_COLUMNS}
            elif name == "person_label":
                assert f.person_label == label_of.get(row["person_id"])
            else:
                assert getattr(f, name) == row[name], name
    photo_rows = {r.sha256: r._mapping for r in conn.execute(sa.select(photos))}
    for p in queries.list_photos(conn, status=None).items:
        for name in (n.name for n in dataclasses.fields(p)):
            if not name.startswith("display_path"):
                assert getattr(p, name) == photo_rows[p.sha256][name], name
    person_rows = {r.label: r._mapping for r in conn.execute(sa.select(persons))}
    for person in queries.list_persons(conn).items:
        row = person_rows[person.label]
        assert (person.id, person.name, person.representative_face_id) == (
            row["id"],
            row["name"],
            row["representative_face_id"],
        )


def test_faces_of_a_person_and_their_pages(conn: sa.Connection) -> None:
    faces = queries.faces_of_person(conn, "person_001").items
    assert len(faces) == 4 and {f.person_label for f in faces} == {"person_001"}
    first = queries.faces_of_person(conn, "person_001", limit=3)
    rest = queries.faces_of_person(conn, "person_001", limit=3, after=first.next_cursor)
    assert first.items + rest.items == faces and rest.next_cursor is None


def test_rejections_by_path(conn: sa.Connection) -> None:
    rejected = queries.rejections(conn).items
    assert [r.path for r in rejected] == sorted(EVENT_REJECTED)
    for r in rejected:
        assert EVENT_REJECTED[r.path] in r.reason
    first = queries.rejections(conn, limit=1)
    assert queries.rejections(conn, after=first.next_cursor).items == rejected[1:]


def test_a_photo_whose_files_vanished_leaves_every_view(conn: sa.Connection, event: SyntheticEvent) -> None:
    p06 = next(p for p in queries.photos_for_export(conn) if p.display_path == "p06.png")
    conn.execute(photo_paths.delete().where(photo_paths.c.sha256 == p06.sha256))  # rolled back after
    assert p06.sha256 not in {p.sha256 for p in queries.list_photos(conn).items}
    c = queries.person(conn, "person_003")  # C was in sub/p04.png and p06.png
    assert (c.photo_count, c.face_count) == (1, 1)
    assert [p.display_path for p in queries.photos_of_person(conn, "person_003").items] == ["sub/p04.png"]
    assert len(queries.faces_of_person(conn, "person_003").items) == 1
    with pytest.raises(NotFoundError):
        queries.photo(conn, p06.sha256)


@pytest.mark.parametrize("view", VIEWS, ids=lambda v: v.__name__)
def test_no_view_holds_biometric_data(view: type) -> None:
    names = {f.name for f in dataclasses.fields(view)}
    assert not {n for n in names if "embedding" in n or "landmark" in n}
    assert dataclasses.is_dataclass(view) and view.__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_views_hold_no_bytes_and_cannot_be_changed(conn: sa.Connection) -> None:
    views: list[object] = [
        *queries.list_persons(conn).items,
        *queries.list_photos(conn).items,
        *queries.faces_of_photos(conn),
        *queries.rejections(conn).items,
    ]
    for v in views:
        values = [getattr(v, f.name) for f in dataclasses.fields(v)]  # type: ignore[arg-type]
        assert not any(isinstance(x, bytes | bytearray | memoryview) for x in values)
    f = queries.faces_of_photos(conn)[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.person_label = "person_009"  # type: ignore[misc]


def test_every_view_serialises_with_pydantic(conn: sa.Connection) -> None:
    """What an API would do: pydantic dumps the dataclasses as they are, to JSON and back."""
    for view, items in [
        (queries.PersonView, queries.list_persons(conn).items),
        (queries.PhotoView, queries.list_photos(conn).items),
        (queries.FaceView, queries.faces_of_photos(conn)),
        (queries.RejectionView, queries.rejections(conn).items),
    ]:
        adapter = pydantic.TypeAdapter(list[view])  # type: ignore[valid-type]
        assert adapter.validate_json(adapter.dump_json(items)) == items


def test_a_page_serialises_with_pydantic(conn: sa.Connection) -> None:
    """A page is what an API returns for a listing: its items and the cursor of the next page."""
    page = queries.list_persons(conn, limit=2)
    adapter = pydantic.TypeAdapter(Page[queries.PersonView])
    dumped = adapter.dump_python(page, mode="json")
    assert set(dumped) == {"items", "next_cursor"} and dumped["next_cursor"] == page.next_cursor
    assert adapter.validate_json(adapter.dump_json(page)) == page
