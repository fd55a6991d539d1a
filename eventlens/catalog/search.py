"""Photo search over the catalog: combinable filters, keyset-paginated like every listing of the read model.

Filters on what the catalog stores are SQL: a person (label, or name without regard to case) and a
person category (a person: the set of its photos, made once per query through the index on
``faces.person_id``; a category: a probe of each photo's faces), the EXIF time range and the number of
faces (a count per photo on its faces index). Filters on what the curation step derives from the catalog
(the photo's score, eyes open, smiling) are applied to the SQL rows in order, from :class:`PhotoFacts` the
caller passes (computed by :func:`eventlens.curate.facts.event_curation`; the catalog does not import a
stage). Results come in the
order of :func:`eventlens.catalog.queries.list_photos` (display path, then sha256), so a cursor stays on
its photo while others are added or removed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from eventlens.catalog import queries
from eventlens.catalog.paging import Page, check_limit, decode_cursor, encode_cursor
from eventlens.catalog.schema import faces, persons, photos
from eventlens.errors import InputError

LISTING = "search"
CATEGORIES = ("main", "important", "other")
_BATCH = 500


@dataclass(frozen=True, slots=True)
class PhotoFacts:
    """What the curation step says of one photo (see :func:`eventlens.curate.facts.event_curation`)."""

    score: float  # final score, higher is better
    eyes_open: bool  # every face has its eyes open (a face too small to tell counts as open)
    smiling: bool  # every face smiles
    faces: int


@dataclass(frozen=True, slots=True)
class PhotoQuery:
    """Filters of a photo search; each one given narrows the result (None/False: not filtered)."""

    person: str | None = None  # a label (person_001) or a name, case-insensitive
    category: str | None = None  # main | important | other: a person of that category is in the photo
    taken_from: date | None = None  # EXIF time on or after this day
    taken_to: date | None = None  # EXIF time on or before this day
    min_people: int | None = None  # at least this many faces
    max_people: int | None = None  # at most this many faces
    min_score: float | None = None
    eyes_open: bool = False  # every face with eyes open
    smiling: bool = False  # every face smiling

    def __post_init__(self) -> None:
        if self.category is not None and self.category not in CATEGORIES:
            raise InputError(f"category {self.category!r} is not one of {', '.join(CATEGORIES)}")
        for name in ("min_people", "max_people"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise InputError(f"{name} is a number of faces, 0 or more (got {value})")
        if self.min_people is not None and self.max_people is not None and self.min_people > self.max_people:
            raise InputError(f"min_people ({self.min_people}) is above max_people ({self.max_people})")
        if self.taken_from is not None and self.taken_to is not None and self.taken_from > self.taken_to:
            raise InputError(f"the date range starts ({self.taken_from}) after it ends ({self.taken_to})")

    @property
    def needs_facts(self) -> bool:
        return self.min_score is not None or self.eyes_open or self.smiling


@dataclass(frozen=True, slots=True)
class PhotoHit:
    sha256: str
    display_path: str
    taken_at: str | None
    width_px: int | None
    height_px: int | None
    face_count: int
    persons: tuple[str, ...]  # labels of the persons in the photo, sorted
    facts: PhotoFacts | None


def _face_count(sha: sa.ColumnElement[Any]) -> sa.ScalarSelect[Any]:
    return sa.select(sa.func.count()).select_from(faces).where(faces.c.photo_sha256 == sha).scalar_subquery()


def _with_person(sha: sa.ColumnElement[Any], condition: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    """The photo has a face of a person meeting a selective ``condition`` (one person): the set of such
    photos is made once per query through the index on faces.person_id."""
    with_person = (
        sa.select(faces.c.photo_sha256).join(persons, persons.c.id == faces.c.person_id).where(condition)
    )
    return sha.in_(with_person)


def _has_person(sha: sa.ColumnElement[Any], condition: sa.ColumnElement[bool]) -> sa.Exists:
    """The same for a broad ``condition`` (a category): a probe of the photo's faces, which stops at the
    first match, so that a first page reads only the photos before it."""
    return sa.exists().where(faces.c.photo_sha256 == sha, faces.c.person_id == persons.c.id, condition)


def _query(q: PhotoQuery) -> sa.Select[Any]:
    base = queries.photos_listing_query("analyzed")
    sha = photos.c.sha256
    count = _face_count(sha)
    query = base.add_columns(count.label("face_count"))
    if q.person is not None:
        wanted = q.person.strip()
        query = query.where(
            _with_person(
                sha, sa.or_(persons.c.label == wanted, sa.func.lower(persons.c.name) == wanted.lower())
            )
        )
    if q.category is not None:
        query = query.where(_has_person(sha, sa.func.coalesce(persons.c.category, "other") == q.category))
    if q.taken_from is not None:
        query = query.where(photos.c.taken_at >= q.taken_from.isoformat())
    if q.taken_to is not None:
        query = query.where(photos.c.taken_at < (q.taken_to + timedelta(days=1)).isoformat())
    if q.min_people is not None:
        query = query.where(count >= q.min_people)
    if q.max_people is not None:
        query = query.where(count <= q.max_people)
    return query


def _rows(conn: sa.Connection, query: sa.Select[Any], batch: int | None) -> Iterator[sa.Row[Any]]:
    """The rows of ``query`` in batches of keyset pages (``batch`` None: all at once)."""
    if batch is None:
        yield from conn.execute(query)
        return
    after: tuple[str, str] | None = None
    while True:
        part = query if after is None else query.where(queries.photo_order_after(*after))
        rows = conn.execute(part.limit(batch)).all()
        yield from rows
        if len(rows) < batch:
            return
        after = (rows[-1].display_path, rows[-1].sha256)


def _keep(q: PhotoQuery, facts: PhotoFacts | None) -> bool:
    if facts is None:
        return not q.needs_facts
    return (
        (q.min_score is None or facts.score >= q.min_score)
        and (not q.eyes_open or facts.eyes_open)
        and (not q.smiling or facts.smiling)
    )


def search_photos(
    conn: sa.Connection,
    q: PhotoQuery,
    facts: Mapping[str, PhotoFacts] | None = None,
    limit: int | None = 60,
    after: str | None = None,
) -> Page[PhotoHit]:
    """The analysed, shown photos matching every filter of ``q``, in listing order, one page.

    ``facts`` (by sha256) is needed for the score, eyes and smile filters (InputError without it) and is
    attached to each hit when given."""
    check_limit(limit)
    if q.needs_facts and facts is None:
        raise InputError("the score, eyes-open and smiling filters need the photos' curation facts")
    query = _query(q)
    if after is not None:
        path, sha256 = decode_cursor(after, LISTING, (str, str))
        query = query.where(queries.photo_order_after(str(path), str(sha256)))
    kept: list[sa.Row[Any]] = []
    more = False
    batch = None if limit is None else (limit + 1 if not q.needs_facts else max(_BATCH, limit + 1))
    for r in _rows(conn, query, batch):
        if not _keep(q, facts.get(r.sha256) if facts is not None else None):
            continue
        if limit is not None and len(kept) == limit:
            more = True
            break
        kept.append(r)
    cursor = encode_cursor(LISTING, (kept[-1].display_path, kept[-1].sha256)) if more else None
    return Page(_hits(conn, kept, facts), cursor)


def _hits(
    conn: sa.Connection, rows: list[sa.Row[Any]], facts: Mapping[str, PhotoFacts] | None
) -> list[PhotoHit]:
    labels: dict[str, set[str]] = {}
    for f in queries.faces_of_photos(conn, [r.sha256 for r in rows]):
        if f.person_label:
            labels.setdefault(f.photo_sha256, set()).add(f.person_label)
    return [
        PhotoHit(
            r.sha256,
            r.display_path,
            r.taken_at,
            r.width_px,
            r.height_px,
            int(r.face_count),
            tuple(sorted(labels.get(r.sha256, ()))),
            facts.get(r.sha256) if facts is not None else None,
        )
        for r in rows
    ]
