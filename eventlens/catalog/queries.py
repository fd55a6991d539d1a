"""The read model of the catalog: typed, read-only views of persons, photos, faces and rejections.

Export, scoring, ``enhance``, the labels file and the evaluation read the catalog only through these
functions, and so will an API or web pages: each of these reads is written here and nowhere else (the
stages that write keep their own bookkeeping reads: ingest, analysis, and the cluster stage, which needs
the embeddings). Every function takes an open :class:`sqlalchemy.engine.Connection`
(the caller owns the transaction, so one export sees one consistent catalog) and returns views::

    list_persons(conn)               Page of PersonView, by label
    person(conn, label)              one PersonView, or NotFoundError
    people_page(conn, sort=...)      Page of PersonView by photos, name or label; filtered by category,
                                     hidden (the web UI's people grid)
    list_photos(conn)                Page of PhotoView (shown photos), by display path then sha256
    photos_for_export(conn)          every analysed, shown photo (what export lays out)
    photos_on_disk(conn)             the same, whose files are still there
    photos_of_person(conn, label)    Page of the photos in which a person appears
    photo(conn, sha256)              one PhotoView, or NotFoundError
    faces_of_photos(conn, shas)      FaceView per face of those photos (all photos: ``None``)
    faces_of_person(conn, label)     Page of the faces of one person, by photo sha256 then face index
    face(conn, face_id)              one FaceView, or NotFoundError
    faces_by_ids(conn, ids)          FaceView per face id that exists
    unassigned_faces(conn)           Page of the faces of shown photos without a person
    photo_sizes(conn, shas)          (width_px, height_px) as displayed, per analysed photo
    rejections(conn)                 Page of RejectionView (rejected paths), by path, reason, path id
    catalog_counts(conn)             CatalogCounts: shown photos, their faces, persons (for a summary)

The functions that return a :class:`~eventlens.catalog.paging.Page` take ``limit`` (items per page; all
items when None) and ``after`` (the ``next_cursor`` of the previous page): keyset pagination over a
sort key that is unique per item and served by an index (see :mod:`eventlens.catalog.paging`); without
either, the page is the whole listing (``.items``).

A photo is *shown* when at least one of its files is still present in a source (a ``photo_paths`` row
with status ``ok``); its *display path* is the smallest of those paths relative to their input root.

Views are frozen, slotted dataclasses rather than pydantic models: the rows come from eventlens' own
schema, so validating them again would buy nothing and cost time per face on every export, and pydantic
(hence FastAPI) serialises dataclasses as they are (``pydantic.TypeAdapter(PersonView)``; a test dumps
every view to JSON that way) when an API needs them. A new person column (as ``hidden``) is a
field of :class:`PersonView`, a column of ``_PERSON_COLUMNS`` and a line of ``_person_view``; a face
column goes in ``_FACE_COLUMNS`` in the order of :class:`FaceView`'s fields (a test checks that every
field holds its own column).

Biometric data (embeddings, landmarks) is never selected: no view has a field for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from eventlens.catalog.paging import Page, check_limit, decode_cursor, paginate
from eventlens.catalog.schema import FACE_MEASUREMENT_COLUMNS, faces, persons, photo_paths, photos
from eventlens.errors import InputError, NotFoundError

#: shas per ``IN (...)`` (far below SQLite's limit on bound parameters)
_CHUNK = 500
DEFAULT_CATEGORY = "other"


@dataclass(frozen=True, slots=True)
class PersonView:
    id: int
    label: str  # person_001 ...
    name: str | None
    category: str  # main | important | other (other when none was given)
    representative_face_id: int | None
    hidden: bool  # left out of the export (eventlens person hide)
    photo_count: int  # shown photos in which at least one of its faces is
    face_count: int  # its faces in shown photos


@dataclass(frozen=True, slots=True)
class PhotoView:
    sha256: str
    display_path: str  # smallest of display_paths
    display_paths: tuple[str, ...]  # every present path relative to its input root, sorted
    local_path: str  # where the bytes can be read
    size_bytes: int
    format: str | None
    width_px: int | None
    height_px: int | None
    taken_at: str | None  # EXIF time, ISO 8601, when the photo has one
    status: str  # pending | analyzed | rejected
    reject_reason: str | None
    pipeline_key: str | None  # models and settings the analysis used (JSON)
    sharpness: float | None
    brightness: float | None
    clipped_high: float | None
    clipped_low: float | None
    phash: str | None  # 64-bit perceptual hash, hex


@dataclass(frozen=True, slots=True)
class FaceView:
    id: int
    photo_sha256: str
    face_index: int
    x1: float  # original pixels as displayed (EXIF orientation applied)
    y1: float
    x2: float
    y2: float
    det_score: float
    detect_model: str
    embed_model: str | None
    person_id: int | None
    person_label: str | None
    assigned_by: str | None  # cluster | user
    cut_by_edge: bool | None
    measurements: dict[str, float | None]  # every column of FACE_MEASUREMENT_COLUMNS (this view's own copy)

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)


@dataclass(frozen=True, slots=True)
class CatalogCounts:
    photos: int  # shown photos, any status
    analyzed: int  # of which analysed
    faces: int  # faces in shown photos
    persons: int  # persons not hidden


@dataclass(frozen=True, slots=True)
class RejectionView:
    path: str  # relative to its input root
    reason: str


# --- persons --------------------------------------------------------------------------------------


def _is_shown(sha256: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    """The photo ``sha256`` has a file still present in a source (an index probe per row)."""
    return sa.exists().where(photo_paths.c.sha256 == sha256, photo_paths.c.status == "ok")


def _person_counts(only: sa.Select[Any] | None) -> sa.Subquery:
    query = (
        sa.select(
            faces.c.person_id,
            sa.func.count(sa.distinct(faces.c.photo_sha256)).label("photo_count"),
            sa.func.count().label("face_count"),
        )
        .join(photos, photos.c.sha256 == faces.c.photo_sha256)
        .where(
            faces.c.person_id.is_not(None),
            photos.c.status == "analyzed",
            _is_shown(photos.c.sha256),
        )
    )
    if only is not None:
        query = query.where(faces.c.person_id.in_(only))
    return query.group_by(faces.c.person_id).subquery("counts")


_PERSON_COLUMNS = (persons.c.id, persons.c.label, persons.c.name, persons.c.category, persons.c.hidden)


def _persons_query(only: sa.Select[Any] | None = None) -> sa.Select[Any]:
    """Persons with their counts; only the persons of ``only`` (a select of ids) when given, whose faces
    alone are counted."""
    counts = _person_counts(only)
    query = sa.select(
        *_PERSON_COLUMNS,
        persons.c.representative_face_id,
        sa.func.coalesce(counts.c.photo_count, 0).label("photo_count"),
        sa.func.coalesce(counts.c.face_count, 0).label("face_count"),
    ).outerjoin(counts, counts.c.person_id == persons.c.id)
    return query if only is None else query.where(persons.c.id.in_(only))


def _person_view(r: sa.Row[Any]) -> PersonView:
    return PersonView(
        id=r.id,
        label=r.label,
        name=r.name,
        category=r.category or DEFAULT_CATEGORY,
        representative_face_id=r.representative_face_id,
        hidden=bool(r.hidden),
        photo_count=r.photo_count,
        face_count=r.face_count,
    )


def _more(limit: int | None) -> int | None:
    """Rows to fetch for a page of ``limit``: one more tells whether another page follows."""
    return None if limit is None else limit + 1


def list_persons(
    conn: sa.Connection, *, limit: int | None = None, after: str | None = None
) -> Page[PersonView]:
    """Every person, by label (unique), also persons left without faces in shown photos (counts 0)."""
    check_limit(limit)
    only = None
    if limit is not None or after is not None:
        only = sa.select(persons.c.id).order_by(persons.c.label, persons.c.id).limit(_more(limit))
        if after is not None:
            label, person_id = decode_cursor(after, "persons", (str, int))
            only = only.where(sa.tuple_(persons.c.label, persons.c.id) > sa.tuple_(label, person_id))
    rows = conn.execute(_persons_query(only).order_by(persons.c.label, persons.c.id)).all()
    items, cursor = paginate(rows, limit, "persons", lambda r: (r.label, r.id))
    return Page([_person_view(r) for r in items], cursor)


#: sort orders of :func:`people_page`: most photos first, by name (unnamed last), by label
PERSON_SORTS = ("photos", "name", "label")


def people_page(
    conn: sa.Connection,
    *,
    sort: str = "photos",
    category: str | None = None,
    hidden: bool | None = None,
    limit: int | None = None,
    after: str | None = None,
) -> Page[PersonView]:
    """Persons sorted by ``sort`` (:data:`PERSON_SORTS`; names ignoring ASCII case; ties by label, then id),
    only those of ``category``
    (``other`` includes persons without one) and of ``hidden`` when given; keyset pages."""
    check_limit(limit)
    if sort not in PERSON_SORTS:
        raise InputError(f"sort {sort!r} is unknown; use one of {', '.join(PERSON_SORTS)}")
    listed = _persons_query().subquery("listed")
    keys: tuple[sa.ColumnElement[Any], ...]
    types: tuple[type[str] | type[int], ...]
    if sort == "photos":
        keys, types = (-listed.c.photo_count, listed.c.label, listed.c.id), (int, str, int)
    elif sort == "name":
        unnamed = sa.case((listed.c.name.is_(None), 1), else_=0)
        name = sa.func.lower(sa.func.coalesce(listed.c.name, ""))  # the cursor holds what SQL computed
        keys, types = (unnamed, name, listed.c.label, listed.c.id), (int, str, str, int)
    else:
        keys, types = (listed.c.label, listed.c.id), (str, int)
    first = keys[1] if sort == "name" else keys[0]  # the key column computed in SQL, for the cursor
    query = sa.select(listed, first.label("sort_key")).order_by(*keys)
    if category is not None:
        if category == DEFAULT_CATEGORY:
            query = query.where(sa.or_(listed.c.category.is_(None), listed.c.category == category))
        else:
            query = query.where(listed.c.category == category)
    if hidden is not None:
        query = query.where(listed.c.hidden == hidden)
    listing = f"people:{sort}"
    if after is not None:
        query = query.where(sa.tuple_(*keys) > sa.tuple_(*decode_cursor(after, listing, types)))
    rows = conn.execute(query.limit(_more(limit))).all()

    def key(r: sa.Row[Any]) -> tuple[str | int, ...]:
        if sort == "photos":
            return (int(r.sort_key), r.label, r.id)
        if sort == "name":
            return (int(r.name is None), r.sort_key, r.label, r.id)
        return (r.label, r.id)

    items, cursor = paginate(rows, limit, listing, key)
    return Page([_person_view(r) for r in items], cursor)


def person(conn: sa.Connection, label: str) -> PersonView:
    row = conn.execute(_persons_query(sa.select(persons.c.id).where(persons.c.label == label))).first()
    if row is None:
        raise NotFoundError(f"no person {label} in the catalog (list them in OUT/summary.csv)")
    return _person_view(row)


# --- photos ---------------------------------------------------------------------------------------


_PHOTO_COLUMNS = tuple(c for c in photos.c if c.name not in ("analyzed_at", "added_run", "orientation"))
#: the path a photo is shown by: the smallest of its present paths (the first such row on a tie)
_DISPLAY = photo_paths.alias("display")
_OTHER = photo_paths.alias("other")
#: a photo's sort key in listings: its display path, then its sha256 (unique: one display row per photo)
_PHOTO_ORDER = (_DISPLAY.c.rel_path, _DISPLAY.c.sha256)


def _photos_query(status: str | None) -> sa.Select[Any]:
    """Shown photos (with ``status``), each once, by display path then sha256.

    Each photo is the present path row that no other present path of it precedes, so that a page walks
    the index ``ix_photo_paths_shown`` from its cursor instead of grouping every path first."""
    smaller = sa.exists().where(
        _OTHER.c.sha256 == _DISPLAY.c.sha256,
        _OTHER.c.status == "ok",
        sa.tuple_(_OTHER.c.rel_path, _OTHER.c.id) < sa.tuple_(_DISPLAY.c.rel_path, _DISPLAY.c.id),
    )
    query = (
        sa.select(*_PHOTO_COLUMNS, _DISPLAY.c.rel_path.label("display_path"))
        .select_from(_DISPLAY)
        .join(photos, photos.c.sha256 == _DISPLAY.c.sha256)
        .where(_DISPLAY.c.status == "ok", ~smaller)
    )
    if status is not None:
        # a probe of the photo's row per display row, not the index on status: SQLite (without ANALYZE
        # statistics) would take that index for selective and sort every photo to find one page
        checked = photos.alias("checked")
        query = query.where(
            sa.exists().where(checked.c.sha256 == _DISPLAY.c.sha256, checked.c.status == status)
        )
    return query.order_by(*_PHOTO_ORDER)


def photos_listing_query(status: str | None) -> sa.Select[Any]:
    """The query behind :func:`list_photos` (columns of :class:`PhotoView` but ``display_paths``), for
    listings that add filters to it (:mod:`eventlens.catalog.search`); see :func:`photo_order_after`."""
    return _photos_query(status)


def photo_order_after(display_path: str, sha256: str) -> sa.ColumnElement[bool]:
    """Rows of :func:`photos_listing_query` after the photo with this key."""
    return sa.tuple_(*_PHOTO_ORDER) > sa.tuple_(display_path, sha256)


def _every_photo_query(status: str | None) -> sa.Select[Any]:
    """:func:`_photos_query` for the whole listing: grouping every present path once is faster than the
    probes of each path when every photo is read (export)."""
    shown = (
        sa.select(photo_paths.c.sha256, sa.func.min(photo_paths.c.rel_path).label("display_path"))
        .where(photo_paths.c.status == "ok", photo_paths.c.sha256.is_not(None))
        .group_by(photo_paths.c.sha256)
        .subquery("shown")
    )
    query = sa.select(*_PHOTO_COLUMNS, shown.c.display_path).join(shown, shown.c.sha256 == photos.c.sha256)
    if status is not None:
        query = query.where(photos.c.status == status)
    return query.order_by(shown.c.display_path, photos.c.sha256)


def _photos_page(
    conn: sa.Connection,
    query: sa.Select[Any],
    listing: str,
    limit: int | None,
    after: str | None,
) -> Page[PhotoView]:
    check_limit(limit)
    if after is not None:
        path, sha256 = decode_cursor(after, listing, (str, str))
        query = query.where(sa.tuple_(*_PHOTO_ORDER) > sa.tuple_(path, sha256))
    rows = conn.execute(query.limit(_more(limit))).all()
    items, cursor = paginate(rows, limit, listing, lambda r: (r.display_path, r.sha256))
    return Page(_photo_views(conn, items, every_photo=False), cursor)


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _all_paths(conn: sa.Connection, shas: Sequence[str] | None) -> dict[str, list[str]]:
    """Present paths of the given photos (all photos: ``None``), each list sorted."""
    query = sa.select(photo_paths.c.sha256, photo_paths.c.rel_path).where(
        photo_paths.c.status == "ok", photo_paths.c.sha256.is_not(None)
    )
    found: dict[str, list[str]] = {}
    parts = [query] if shas is None else [query.where(photo_paths.c.sha256.in_(c)) for c in _chunks(shas)]
    for part in parts:
        for r in conn.execute(part.order_by(photo_paths.c.rel_path)):
            found.setdefault(r.sha256, []).append(r.rel_path)
    return found


def _photo_views(conn: sa.Connection, rows: Sequence[sa.Row[Any]], every_photo: bool) -> list[PhotoView]:
    paths = _all_paths(conn, None if every_photo else [r.sha256 for r in rows])
    return [
        PhotoView(
            sha256=r.sha256,
            display_path=r.display_path,
            display_paths=tuple(paths.get(r.sha256, (r.display_path,))),
            local_path=r.local_path,
            size_bytes=r.size_bytes,
            format=r.format,
            width_px=r.width_px,
            height_px=r.height_px,
            taken_at=r.taken_at,
            status=r.status,
            reject_reason=r.reject_reason,
            pipeline_key=r.pipeline_key,
            sharpness=r.sharpness,
            brightness=r.brightness,
            clipped_high=r.clipped_high,
            clipped_low=r.clipped_low,
            phash=r.phash,
        )
        for r in rows
    ]


def list_photos(
    conn: sa.Connection,
    *,
    status: str | None = "analyzed",
    limit: int | None = None,
    after: str | None = None,
) -> Page[PhotoView]:
    """Shown photos with ``status`` (any: ``None``), by display path then sha256."""
    if limit is None and after is None:
        rows = conn.execute(_every_photo_query(status)).all()
        return Page(_photo_views(conn, rows, every_photo=True), None)
    return _photos_page(conn, _photos_query(status), f"photos:{status}", limit, after)


def photos_for_export(conn: sa.Connection) -> list[PhotoView]:
    """Every analysed, shown photo, by display path (the export also leaves out files gone since)."""
    return list_photos(conn).items


def photos_on_disk(conn: sa.Connection) -> list[PhotoView]:
    """:func:`photos_for_export` whose file is still there (photos whose files all vanished are left out,
    even before an ingest of their folder noticed), each with its size (analysed photos have one)."""
    present = []
    for p in photos_for_export(conn):
        if Path(p.local_path).exists():
            assert p.width_px is not None and p.height_px is not None  # analysed photos have a size
            present.append(p)
    return present


def photos_of_person(
    conn: sa.Connection, label: str, *, limit: int | None = None, after: str | None = None
) -> Page[PhotoView]:
    """Analysed, shown photos holding at least one face of person ``label``, by display path then sha256."""
    pid = person(conn, label).id
    # the person's faces drive the query (one index probe per photo), not the walk of every photo
    query = _photos_query("analyzed").where(
        _DISPLAY.c.sha256.in_(sa.select(faces.c.photo_sha256).where(faces.c.person_id == pid))
    )
    return _photos_page(conn, query, f"photos_of_person:{label}", limit, after)


def photo(conn: sa.Connection, sha256: str) -> PhotoView:
    """One shown photo of any status."""
    rows = conn.execute(_photos_query(None).where(photos.c.sha256 == sha256)).all()
    if not rows:
        raise NotFoundError(f"no photo {sha256} in the catalog (photo_sha256 in OUT/face_data.csv)")
    return _photo_views(conn, rows, every_photo=False)[0]


# --- faces ----------------------------------------------------------------------------------------

#: what a face view reads, in the order of FaceView's fields: never the embedding or the landmarks
_FACE_COLUMNS = (
    faces.c.id,
    faces.c.photo_sha256,
    faces.c.face_index,
    faces.c.x1,
    faces.c.y1,
    faces.c.x2,
    faces.c.y2,
    faces.c.det_score,
    faces.c.detect_model,
    faces.c.embed_model,
    faces.c.person_id,
    persons.c.label.label("person_label"),
    faces.c.assigned_by,
    faces.c.cut_by_edge,
    *(faces.c[name] for name in FACE_MEASUREMENT_COLUMNS),
)
_FACE_FIXED = len(_FACE_COLUMNS) - len(FACE_MEASUREMENT_COLUMNS)


def _faces_query() -> sa.Select[Any]:
    return (
        sa.select(*_FACE_COLUMNS)
        .outerjoin(persons, persons.c.id == faces.c.person_id)
        .order_by(faces.c.photo_sha256, faces.c.face_index)
    )


def _face_view(r: sa.Row[Any]) -> FaceView:
    # positional: a face view is built for every face of every export, and keyword access costs twice
    measured = dict(zip(FACE_MEASUREMENT_COLUMNS, r[_FACE_FIXED:], strict=True))
    fixed: tuple[Any, ...] = tuple(r[:_FACE_FIXED])
    return FaceView(*fixed, measured)  # type: ignore[call-arg]  # mypy cannot count a row's columns


def faces_of_photos(conn: sa.Connection, shas: Iterable[str] | None = None) -> list[FaceView]:
    """Every face of the photos ``shas`` (of every photo: ``None``), by photo sha256 then face index."""
    if shas is None:
        return [_face_view(r) for r in conn.execute(_faces_query())]
    wanted = sorted(set(shas))
    return [
        _face_view(r)
        for chunk in _chunks(wanted)
        for r in conn.execute(_faces_query().where(faces.c.photo_sha256.in_(chunk)))
    ]


def faces_of_person(
    conn: sa.Connection, label: str, *, limit: int | None = None, after: str | None = None
) -> Page[FaceView]:
    """The faces of person ``label`` in shown, analysed photos, by photo sha256 then face index (unique)."""
    check_limit(limit)
    pid = person(conn, label).id
    analyzed = sa.exists().where(photos.c.sha256 == faces.c.photo_sha256, photos.c.status == "analyzed")
    query = _faces_query().where(faces.c.person_id == pid, analyzed, _is_shown(faces.c.photo_sha256))
    listing = f"faces_of_person:{label}"
    if after is not None:
        sha256, face_index = decode_cursor(after, listing, (str, int))
        query = query.where(
            sa.tuple_(faces.c.photo_sha256, faces.c.face_index) > sa.tuple_(sha256, face_index)
        )
    rows = conn.execute(query.limit(_more(limit))).all()
    items, cursor = paginate(rows, limit, listing, lambda r: (r.photo_sha256, r.face_index))
    return Page([_face_view(r) for r in items], cursor)


def faces_by_ids(conn: sa.Connection, ids: Iterable[int]) -> dict[int, FaceView]:
    """The faces of ``ids`` that exist, by id."""
    wanted = sorted(set(ids))
    return {
        r.id: _face_view(r)
        for chunk in _chunks(wanted)
        for r in conn.execute(_faces_query().where(faces.c.id.in_(chunk)))
    }


def unassigned_faces(
    conn: sa.Connection, *, limit: int | None = None, after: str | None = None
) -> Page[FaceView]:
    """Faces of shown, analysed photos that no person has, by photo sha256 then face index (unique)."""
    check_limit(limit)
    analyzed = sa.exists().where(photos.c.sha256 == faces.c.photo_sha256, photos.c.status == "analyzed")
    query = _faces_query().where(faces.c.person_id.is_(None), analyzed, _is_shown(faces.c.photo_sha256))
    if after is not None:
        sha256, face_index = decode_cursor(after, "unassigned_faces", (str, int))
        query = query.where(
            sa.tuple_(faces.c.photo_sha256, faces.c.face_index) > sa.tuple_(sha256, face_index)
        )
    rows = conn.execute(query.limit(_more(limit))).all()
    items, cursor = paginate(rows, limit, "unassigned_faces", lambda r: (r.photo_sha256, r.face_index))
    return Page([_face_view(r) for r in items], cursor)


def photo_sizes(conn: sa.Connection, shas: Iterable[str]) -> dict[str, tuple[int, int]]:
    """(width_px, height_px) as displayed (EXIF orientation applied) of the analysed photos of ``shas``."""
    wanted = sorted(set(shas))
    out: dict[str, tuple[int, int]] = {}
    for chunk in _chunks(wanted):
        query = sa.select(photos.c.sha256, photos.c.width_px, photos.c.height_px).where(
            photos.c.sha256.in_(chunk), photos.c.width_px.is_not(None), photos.c.height_px.is_not(None)
        )
        out.update({r.sha256: (int(r.width_px), int(r.height_px)) for r in conn.execute(query)})
    return out


def face(conn: sa.Connection, face_id: int) -> FaceView:
    row = conn.execute(_faces_query().where(faces.c.id == face_id)).first()
    if row is None:
        raise NotFoundError(f"no face {face_id} in the catalog")
    return _face_view(row)


# --- rejections -----------------------------------------------------------------------------------


def _or_rejected(reason: sa.Column[Any]) -> sa.ColumnElement[str]:
    return sa.func.coalesce(sa.func.nullif(reason, ""), "rejected")


def rejections(
    conn: sa.Connection, *, limit: int | None = None, after: str | None = None
) -> Page[RejectionView]:
    """Every rejected path, by path, reason, then path id (the same path in two sources is listed twice):
    files the ingest refused, and present files of photos the analysis rejected (a reason nobody gave
    reads ``rejected``)."""
    check_limit(limit)
    refused = sa.select(
        photo_paths.c.rel_path.label("path"),
        _or_rejected(photo_paths.c.reason).label("reason"),
        photo_paths.c.id.label("path_id"),
    ).where(photo_paths.c.status == "rejected")
    unreadable = (
        sa.select(
            photo_paths.c.rel_path.label("path"),
            _or_rejected(photos.c.reject_reason).label("reason"),
            photo_paths.c.id.label("path_id"),
        )
        .join(photos, photos.c.sha256 == photo_paths.c.sha256)
        .where(photos.c.status == "rejected", photo_paths.c.status == "ok")
    )
    if after is not None:
        path, reason, path_id = decode_cursor(after, "rejections", (str, str, int))
        refused = refused.where(photo_paths.c.rel_path >= path)  # the index range; the key filter below
        unreadable = unreadable.where(photo_paths.c.rel_path >= path)
    both = sa.union_all(refused, unreadable).subquery("rejections")
    order = (both.c.path, both.c.reason, both.c.path_id)
    query = sa.select(*order).order_by(*order)
    if after is not None:
        query = query.where(sa.tuple_(*order) > sa.tuple_(path, reason, path_id))
    rows = conn.execute(query.limit(_more(limit))).all()
    items, cursor = paginate(rows, limit, "rejections", lambda r: (r.path, r.reason, r.path_id))
    return Page([RejectionView(r.path, r.reason) for r in items], cursor)


def face_counts(conn: sa.Connection) -> dict[str, int]:
    """Faces per photo, for every analysed photo (0 for a photo with none)."""
    counted = (
        sa.select(photos.c.sha256, sa.func.count(faces.c.id).label("n"))
        .outerjoin(faces, faces.c.photo_sha256 == photos.c.sha256)
        .where(photos.c.status == "analyzed")
        .group_by(photos.c.sha256)
    )
    return {r.sha256: int(r.n) for r in conn.execute(counted)}


def photo_states(conn: sa.Connection, shas: list[str]) -> dict[str, tuple[str, str | None]]:
    """(status, reject reason) of the given photos."""
    out: dict[str, tuple[str, str | None]] = {}
    for start in range(0, len(shas), 500):
        chunk = shas[start : start + 500]
        for r in conn.execute(
            sa.select(photos.c.sha256, photos.c.status, photos.c.reject_reason).where(
                photos.c.sha256.in_(chunk)
            )
        ):
            out[r.sha256] = (r.status, r.reject_reason)
    return out


def catalog_counts(conn: sa.Connection) -> CatalogCounts:
    """How big the event is: a few COUNTs, cheap enough for a list of events."""
    shown = sa.select(photos.c.sha256, photos.c.status).where(_is_shown(photos.c.sha256)).subquery()
    by_status = {
        r.status: int(r.n)
        for r in conn.execute(sa.select(shown.c.status, sa.func.count().label("n")).group_by(shown.c.status))
    }
    n_faces = conn.execute(
        sa.select(sa.func.count()).select_from(faces).join(shown, shown.c.sha256 == faces.c.photo_sha256)
    ).scalar_one()
    n_persons = conn.execute(
        sa.select(sa.func.count()).select_from(persons).where(persons.c.hidden.is_(False))
    ).scalar_one()
    return CatalogCounts(sum(by_status.values()), by_status.get("analyzed", 0), int(n_faces), int(n_persons))
