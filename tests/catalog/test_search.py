"""Photo search on a synthetic catalog, checked against a plain-Python reading of the same catalog."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from testkit import load_benchmark

from eventlens.catalog import queries
from eventlens.catalog.db import open_catalog
from eventlens.catalog.search import PhotoFacts, PhotoQuery, search_photos
from eventlens.curate.facts import CurationCache, event_curation
from eventlens.errors import BadCursorError, InputError
from eventlens.settings import load_settings


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> sa.Engine:
    url = load_benchmark("synthetic_catalog").build_catalog(tmp_path_factory.mktemp("catalog"), 400, seed=3)
    return open_catalog(url)


@pytest.fixture(scope="module")
def facts(engine: sa.Engine) -> dict[str, PhotoFacts]:
    with engine.connect() as conn:
        return event_curation(conn, load_settings()).facts


def _expected(conn: sa.Connection, q: PhotoQuery, facts: dict[str, PhotoFacts]) -> list[str]:
    people = {p.id: p for p in queries.list_persons(conn).items}
    by_photo: dict[str, list[queries.FaceView]] = {}
    for f in queries.faces_of_photos(conn):
        by_photo.setdefault(f.photo_sha256, []).append(f)
    found = []
    for p in queries.list_photos(conn).items:
        fs = by_photo.get(p.sha256, [])
        who = [people[f.person_id] for f in fs if f.person_id is not None]
        day = date.fromisoformat(p.taken_at[:10]) if p.taken_at else None
        ok = (
            (
                q.person is None
                or any(w.label == q.person or (w.name or "").lower() == q.person.lower() for w in who)
            )
            and (q.category is None or any(w.category == q.category for w in who))
            and (q.taken_from is None or (day is not None and day >= q.taken_from))
            and (q.taken_to is None or (day is not None and day <= q.taken_to))
            and (q.min_people is None or len(fs) >= q.min_people)
            and (q.max_people is None or len(fs) <= q.max_people)
            and (q.min_score is None or facts[p.sha256].score >= q.min_score)
            and (not q.eyes_open or facts[p.sha256].eyes_open)
            and (not q.smiling or facts[p.sha256].smiling)
        )
        if ok:
            found.append(p.sha256)
    return found


def _all_pages(conn: sa.Connection, q: PhotoQuery, facts: dict[str, PhotoFacts], limit: int) -> list[str]:
    shas: list[str] = []
    after = None
    while True:
        page = search_photos(conn, q, facts, limit=limit, after=after)
        assert len(page.items) <= limit
        shas += [h.sha256 for h in page.items]
        if page.next_cursor is None:
            return shas
        after = page.next_cursor


QUERIES = [
    PhotoQuery(),
    PhotoQuery(person="person_002"),
    PhotoQuery(person="ADA 1"),
    PhotoQuery(category="main", min_people=2),
    PhotoQuery(taken_from=date(2024, 6, 15), taken_to=date(2024, 6, 15), max_people=1),
    PhotoQuery(min_score=0.5, eyes_open=True),
    PhotoQuery(smiling=True, category="important"),
    PhotoQuery(person="person_003", min_people=2, max_people=6, eyes_open=True),
    PhotoQuery(taken_from=date(2030, 1, 1)),
]


@pytest.mark.parametrize("q", QUERIES, ids=lambda q: repr(q)[11:60])
def test_search_matches_the_filters_over_every_page(
    engine: sa.Engine, facts: dict[str, PhotoFacts], q: PhotoQuery
) -> None:
    with engine.connect() as conn:
        expected = _expected(conn, q, facts)
        assert _all_pages(conn, q, facts, limit=7) == expected
        assert [h.sha256 for h in search_photos(conn, q, facts, limit=None).items] == expected


def test_filters_really_narrow(engine: sa.Engine, facts: dict[str, PhotoFacts]) -> None:
    with engine.connect() as conn:
        total = len(_expected(conn, PhotoQuery(), facts))
        for q in QUERIES[1:-1]:
            assert 0 < len(_expected(conn, q, facts)) < total, q


def test_hits_carry_persons_and_facts(engine: sa.Engine, facts: dict[str, PhotoFacts]) -> None:
    with engine.connect() as conn:
        hit = search_photos(conn, PhotoQuery(person="person_002"), facts, limit=1).items[0]
        assert "person_002" in hit.persons
        assert hit.facts == facts[hit.sha256] and hit.face_count == hit.facts.faces


def test_bad_inputs_are_refused(engine: sa.Engine) -> None:
    with pytest.raises(InputError, match="category"):
        PhotoQuery(category="vip")
    with pytest.raises(InputError, match="min_people"):
        PhotoQuery(min_people=3, max_people=1)
    with pytest.raises(InputError, match="date range"):
        PhotoQuery(taken_from=date(2024, 2, 1), taken_to=date(2024, 1, 1))
    with engine.connect() as conn:
        with pytest.raises(InputError, match="curation facts"):
            search_photos(conn, PhotoQuery(min_score=0.2))
        with pytest.raises(BadCursorError):
            search_photos(conn, PhotoQuery(), after="bm90LWEtY3Vyc29y")


def test_curation_cache_recomputes_only_after_a_change(engine: sa.Engine) -> None:
    cache = CurationCache()
    settings = load_settings()
    first = cache.get(engine, settings)
    assert cache.get(engine, settings) is first
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO corrections (at, by, action, payload_json) "
                "VALUES ('2024-01-01', 'test', 'rename', '{}')"
            )
        )
    assert cache.get(engine, settings) is not first
