"""Keyset pagination of the read model (:mod:`eventlens.catalog.paging`): paging through any listing in
pages of any size gives exactly the whole listing, ties included, on a catalog built to have ties and on
random catalogs (hypothesis); cursors stay on their item; bad cursors are a clear error; the sort keys
have their indexes, also in a catalog migrated from version 4."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from eventlens.catalog import queries
from eventlens.catalog.db import open_catalog
from eventlens.catalog.migrations import MIGRATIONS
from eventlens.catalog.paging import Page, encode_cursor
from eventlens.catalog.schema import faces, persons, photo_paths, photos, schema_migrations, sources
from eventlens.errors import BadCursorError, InputError

PAGE_SIZES = (1, 2, 7)
SHAS = [f"{i:064x}" for i in range(6)]
LABELS = ["person_001", "person_002", "person_003"]


@dataclass
class Catalog:
    """Rows to insert: every photo of SHAS exists; persons 1..3 exist."""

    #: (source_id, rel_path, sha256 or None, status ok|rejected|missing, reason)
    paths: list[tuple[int, str, str | None, str, str | None]]
    #: sha256 -> (status analyzed|rejected|pending, reject_reason)
    photo_status: dict[str, tuple[str, str | None]]
    #: (sha256, face_index, person id or None)
    faces: list[tuple[str, int, int | None]] = field(default_factory=list)


def _fill(conn: sa.Connection, cat: Catalog) -> None:
    conn.execute(
        sources.insert(), [{"id": 1, "kind": "folder", "uri": "/a"}, {"id": 2, "kind": "zip", "uri": "/b"}]
    )
    conn.execute(
        photos.insert(),
        [
            {
                "sha256": sha,
                "size_bytes": 1,
                "local_path": f"/store/{sha}",
                "status": st_,
                "reject_reason": why,
            }
            for sha, (st_, why) in cat.photo_status.items()
        ],
    )
    conn.execute(persons.insert(), [{"id": i + 1, "label": label} for i, label in enumerate(LABELS)])
    if cat.paths:
        conn.execute(
            photo_paths.insert(),
            [
                {"source_id": src, "rel_path": rel, "sha256": sha, "status": status, "reason": reason}
                for src, rel, sha, status, reason in cat.paths
            ],
        )
    if cat.faces:
        box = {"x1": 0.0, "y1": 0.0, "x2": 1.0, "y2": 1.0, "det_score": 0.9, "detect_model": "m"}
        conn.execute(
            faces.insert(),
            [{"photo_sha256": sha, "face_index": i, "person_id": pid, **box} for sha, i, pid in cat.faces],
        )


#: a catalog built to have every kind of tie
TIES = Catalog(
    paths=[
        (1, "a.jpg", SHAS[0], "ok", None),
        (2, "a.jpg", SHAS[1], "ok", None),  # the same display path as another photo: sha256 decides
        (1, "b.jpg", SHAS[2], "ok", None),
        (2, "b.jpg", SHAS[2], "ok", None),  # one photo twice under the same path: shown once
        (1, "c.jpg", SHAS[3], "ok", None),
        (1, "z.jpg", SHAS[0], "ok", None),  # a second path of a photo: not its display path
        (1, "bad.txt", None, "rejected", "not an image"),
        (2, "bad.txt", None, "rejected", "not an image"),  # the same rejection twice: both listed
        (1, "broken.jpg", SHAS[4], "ok", None),
        (2, "broken.jpg", SHAS[4], "ok", None),
        (1, "gone.jpg", SHAS[5], "missing", None),
    ],
    photo_status={
        SHAS[0]: ("analyzed", None),
        SHAS[1]: ("analyzed", None),
        SHAS[2]: ("analyzed", None),
        SHAS[3]: ("analyzed", None),
        SHAS[4]: ("rejected", "truncated"),
        SHAS[5]: ("analyzed", None),
    },
    faces=[
        (SHAS[0], 0, 1),
        (SHAS[0], 1, 2),
        (SHAS[1], 0, 1),
        (SHAS[2], 0, 1),
        (SHAS[2], 1, 1),
        (SHAS[3], 0, 1),
    ],
)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    engine = open_catalog(f"sqlite:///{tmp_path_factory.mktemp('paging') / 'catalog.sqlite'}")
    yield engine
    engine.dispose()


@contextmanager
def _filled(engine: sa.Engine, cat: Catalog) -> Iterator[sa.Connection]:
    """A connection on ``cat``'s rows, rolled back after."""
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            _fill(conn, cat)
            yield conn
        finally:
            trans.rollback()


#: each listing: name -> a function of (conn, limit, after)
Listing = Callable[[sa.Connection, int | None, str | None], Page[Any]]
LISTINGS: dict[str, Listing] = {
    "persons": lambda c, n, a: queries.list_persons(c, limit=n, after=a),
    "photos": lambda c, n, a: queries.list_photos(c, limit=n, after=a),
    "photos_any_status": lambda c, n, a: queries.list_photos(c, status=None, limit=n, after=a),
    "photos_of_person_001": lambda c, n, a: queries.photos_of_person(c, "person_001", limit=n, after=a),
    "faces_of_person_001": lambda c, n, a: queries.faces_of_person(c, "person_001", limit=n, after=a),
    "rejections": lambda c, n, a: queries.rejections(c, limit=n, after=a),
}


def _paged(conn: sa.Connection, listing: Listing, size: int) -> list[Any]:
    items: list[Any] = []
    after = None
    for _ in range(1000):
        page = listing(conn, size, after)
        assert len(page.items) <= size
        assert page.items or after is None, "only the first page of an empty listing is empty"
        items += page.items
        if page.next_cursor is None:
            return items
        after = page.next_cursor
    raise AssertionError("paging does not end")


@pytest.fixture
def ties(engine: sa.Engine) -> Iterator[sa.Connection]:
    """The TIES catalog, in a transaction rolled back after the test (so that each test holds the write
    lock of the module's catalog only while it runs)."""
    with _filled(engine, TIES) as conn:
        yield conn


@pytest.mark.parametrize("size", PAGE_SIZES)
@pytest.mark.parametrize("name", LISTINGS)
def test_pages_add_up_to_the_whole_listing(ties: sa.Connection, name: str, size: int) -> None:
    whole = LISTINGS[name](ties, None, None)
    assert whole.next_cursor is None and whole.items, name
    assert _paged(ties, LISTINGS[name], size) == whole.items


def test_ties_are_broken_deterministically(ties: sa.Connection) -> None:
    shown = queries.list_photos(ties).items
    assert [(p.display_path, p.sha256) for p in shown] == [
        ("a.jpg", SHAS[0]),  # also at z.jpg
        ("a.jpg", SHAS[1]),
        ("b.jpg", SHAS[2]),  # in both sources: once
        ("c.jpg", SHAS[3]),
    ]
    assert shown[0].display_paths == ("a.jpg", "z.jpg") and shown[2].display_paths == ("b.jpg", "b.jpg")
    assert [(r.path, r.reason) for r in queries.rejections(ties).items] == [
        ("bad.txt", "not an image"),
        ("bad.txt", "not an image"),
        ("broken.jpg", "truncated"),
        ("broken.jpg", "truncated"),
    ]


def test_a_cursor_stays_on_its_item_when_items_are_added_before_it(engine: sa.Engine) -> None:
    with _filled(engine, TIES) as conn:
        first = queries.list_photos(conn, limit=2)
        expected = queries.list_photos(conn, limit=2, after=first.next_cursor).items
        conn.execute(photo_paths.insert().values(source_id=2, rel_path="0.jpg", sha256=SHAS[5], status="ok"))
        assert queries.list_photos(conn).items[0].display_path == "0.jpg"  # new, before the cursor
        assert queries.list_photos(conn, limit=2, after=first.next_cursor).items == expected


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor!",  # not base64
        "bm90IGpzb24",  # base64 of "not json"
        encode_cursor("persons", ("person_001", 1)),  # another listing's
        encode_cursor("photos:analyzed", ("a.jpg", 3)),  # a number where a sha256 belongs
        encode_cursor("photos:analyzed", ("a.jpg",)),  # too short
        encode_cursor("photos:None", ("a.jpg", SHAS[0])),  # the listing of another status
        "",
    ],
)
def test_a_bad_cursor_is_a_clear_input_error(ties: sa.Connection, cursor: str) -> None:
    with pytest.raises(BadCursorError, match="not a page cursor of photos:analyzed") as raised:
        queries.list_photos(ties, limit=2, after=cursor)
    assert isinstance(raised.value, InputError) and raised.value.exit_code == 2
    assert "next_cursor of the previous page" in str(raised.value)


def test_a_cursor_of_one_person_is_not_one_of_another(ties: sa.Connection) -> None:
    cursor = queries.faces_of_person(ties, "person_001", limit=1).next_cursor
    assert cursor is not None
    with pytest.raises(BadCursorError, match="faces_of_person:person_002"):
        queries.faces_of_person(ties, "person_002", limit=1, after=cursor)
    with pytest.raises(BadCursorError):
        queries.rejections(ties, after=encode_cursor("rejections", ("bad.txt", "not an image", True)))


@pytest.mark.parametrize("name", LISTINGS)
def test_a_page_holds_at_least_one_item(ties: sa.Connection, name: str) -> None:
    with pytest.raises(InputError, match="at least one item"):
        LISTINGS[name](ties, 0, None)


# --- random catalogs ------------------------------------------------------------------------------

_REL_PATHS = ["a.jpg", "b.jpg", "d/a.jpg", "A.jpg", "é.jpg", "d/é/x.png"]
_path_rows = st.lists(
    st.tuples(
        st.integers(1, 2),
        st.sampled_from(_REL_PATHS),
        st.sampled_from(SHAS),
        st.sampled_from(["ok", "ok", "rejected", "missing"]),
        st.sampled_from([None, "", "not an image"]),
    ),
    max_size=14,
    unique_by=lambda row: (row[0], row[1]),
)
_statuses = st.fixed_dictionaries(
    {
        sha: st.tuples(
            st.sampled_from(["analyzed", "rejected", "pending"]), st.sampled_from([None, "", "bad"])
        )
        for sha in SHAS
    }
)
_face_rows = st.lists(
    st.tuples(st.sampled_from(SHAS), st.integers(0, 2), st.sampled_from([None, 1, 2, 3])),
    max_size=12,
    unique_by=lambda row: (row[0], row[1]),
)
catalogs = st.builds(
    lambda paths, status, fs: Catalog(
        # an ingest leaves no sha256 on a file it refused
        [(s, r, None if st_ == "rejected" else sha, st_, why) for s, r, sha, st_, why in paths],
        status,
        fs,
    ),
    _path_rows,
    _statuses,
    _face_rows,
)


def _expected(cat: Catalog) -> dict[str, list[tuple[Any, ...]]]:
    """What each listing holds, computed from the rows in Python (the reference of the SQL)."""
    present: dict[str, list[str]] = {}
    for _, rel, sha, status, _ in cat.paths:
        if status == "ok" and sha is not None:
            present.setdefault(sha, []).append(rel)
    analyzed = {sha for sha, (status, _) in cat.photo_status.items() if status == "analyzed"}

    def photo_rows(keep: Callable[[str], bool]) -> list[tuple[Any, ...]]:
        rows = [(min(rels), sha, tuple(sorted(rels))) for sha, rels in present.items() if keep(sha)]
        return sorted(rows)

    shown_faces = [(sha, i, pid) for sha, i, pid in cat.faces if sha in present and sha in analyzed]
    person_rows = []
    for pid, label in enumerate(LABELS, start=1):
        own = [(sha, i) for sha, i, p in shown_faces if p == pid]
        person_rows.append((label, len({sha for sha, _ in own}), len(own)))
    refused = [(rel, why or "rejected") for _, rel, _, status, why in cat.paths if status == "rejected"]
    unreadable = [
        (rel, cat.photo_status[sha][1] or "rejected")
        for _, rel, sha, status, _ in cat.paths
        if status == "ok" and sha is not None and cat.photo_status[sha][0] == "rejected"
    ]
    return {
        "persons": person_rows,
        "photos": photo_rows(lambda sha: sha in analyzed),
        "photos_any_status": photo_rows(lambda sha: True),
        "photos_of_person_001": photo_rows(
            lambda sha: sha in analyzed and any(s == sha and p == 1 for s, _, p in cat.faces)
        ),
        "faces_of_person_001": sorted((sha, i) for sha, i, p in shown_faces if p == 1),
        "rejections": sorted(refused + unreadable),
    }


def _as_rows(name: str, items: list[Any]) -> list[tuple[Any, ...]]:
    if name == "persons":
        return [(p.label, p.photo_count, p.face_count) for p in items]
    if name.startswith("photos"):
        return [(p.display_path, p.sha256, p.display_paths) for p in items]
    if name.startswith("faces"):
        return [(f.photo_sha256, f.face_index) for f in items]
    return [(r.path, r.reason) for r in items]


@settings(max_examples=60, deadline=None)
@given(cat=catalogs)
def test_pages_of_random_catalogs_add_up_to_the_expected_listing(engine: sa.Engine, cat: Catalog) -> None:
    expected = _expected(cat)
    with _filled(engine, cat) as conn:
        for name, listing in LISTINGS.items():
            whole = listing(conn, None, None).items
            assert _as_rows(name, whole) == expected[name], name
            for size in PAGE_SIZES:
                assert _paged(conn, listing, size) == whole, (name, size)


# --- indexes --------------------------------------------------------------------------------------


def _plan(conn: sa.Connection, query: sa.Select[Any]) -> str:
    sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    return " / ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))


def test_a_page_walks_the_index_of_its_sort_key(ties: sa.Connection) -> None:
    """SQLite reads a page from the index in order: no sort of the whole listing before the first row."""
    photo_page = queries._photos_query("analyzed").limit(3)
    assert "ix_photo_paths_shown" in _plan(ties, photo_page), _plan(ties, photo_page)
    assert "TEMP B-TREE" not in _plan(ties, photo_page)
    face_page = queries._faces_query().where(faces.c.person_id == 1).limit(3)
    assert "ix_faces_person_photo" in _plan(ties, face_page), _plan(ties, face_page)


def test_a_version_4_catalog_gains_the_indexes_of_the_listings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    engine = open_catalog(url)
    with engine.begin() as conn:  # back to version 4: its indexes, no version 5 or later
        for name in ("ix_faces_person_photo", "ix_photo_paths_shown", "ix_photo_paths_refused"):
            conn.exec_driver_sql(f"DROP INDEX {name}")
        conn.exec_driver_sql("CREATE INDEX ix_faces_person ON faces (person_id)")
        conn.exec_driver_sql("DROP TABLE person_not_person")  # version 6's
        conn.execute(schema_migrations.delete().where(schema_migrations.c.version >= 5))
    engine.dispose()
    engine = open_catalog(url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(sa.select(schema_migrations.c.version)).scalars().all()
        assert sorted(versions) == [m[0] for m in MIGRATIONS]
        inspector = sa.inspect(engine)
        assert {i["name"] for i in inspector.get_indexes("faces")} == {"ix_faces_person_photo"}
        assert {i["name"] for i in inspector.get_indexes("photo_paths")} == {
            "ix_photo_paths_sha",
            "ix_photo_paths_shown",
            "ix_photo_paths_refused",
        }
    finally:
        engine.dispose()
