"""The read model of the catalog: typed, read-only views of persons, photos, faces and rejections.

Export, scoring, ``enhance``, the labels file and the evaluation read the catalog only through these
functions, and so will an API or web pages: each of these reads is written here and nowhere else (the
stages that write keep their own bookkeeping reads: ingest, analysis, and the cluster stage, which needs
the embeddings). Every function takes an open :class:`sqlalchemy.engine.Connection`
(the caller owns the transaction, so one export sees one consistent catalog) and returns views::

    list_persons(conn)               PersonView per person, by label (limit / offset)
    person(conn, label)              one PersonView, or NotFoundError
    list_photos(conn)                PhotoView per shown photo, by display path (limit / offset)
    photos_for_export(conn)          every analysed, shown photo (what export lays out)
    photos_on_disk(conn)             the same, whose files are still there
    photos_of_person(conn, label)    the photos in which a person appears (limit / offset)
    photo(conn, sha256)              one PhotoView, or NotFoundError
    faces_of_photos(conn, shas)      FaceView per face of those photos (all photos: ``None``)
    faces_of_person(conn, label)     the faces of one person (limit / offset)
    face(conn, face_id)              one FaceView, or NotFoundError
    rejections(conn)                 RejectionView per rejected path, by path (limit / offset)

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

from eventlens.catalog.schema import FACE_MEASUREMENT_COLUMNS, faces, persons, photo_paths, photos
from eventlens.errors import NotFoundError

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
class RejectionView:
    path: str  # relative to its input root
    reason: str


# --- persons --------------------------------------------------------------------------------------


def _shown_shas() -> sa.Select[Any]:
    return sa.select(photo_paths.c.sha256).where(
        photo_paths.c.status == "ok", photo_paths.c.sha256.is_not(None)
    )


def _person_counts() -> sa.Subquery:
    return (
        sa.select(
            faces.c.person_id,
            sa.func.count(sa.distinct(faces.c.photo_sha256)).label("photo_count"),
            sa.func.count().label("face_count"),
        )
        .join(photos, photos.c.sha256 == faces.c.photo_sha256)
        .where(
            faces.c.person_id.is_not(None),
            photos.c.status == "analyzed",
            photos.c.sha256.in_(_shown_shas()),
        )
        .group_by(faces.c.person_id)
        .subquery("counts")
    )


_PERSON_COLUMNS = (persons.c.id, persons.c.label, persons.c.name, persons.c.category, persons.c.hidden)


def _persons_query() -> sa.Select[Any]:
    counts = _person_counts()
    return sa.select(
        *_PERSON_COLUMNS,
        persons.c.representative_face_id,
        sa.func.coalesce(counts.c.photo_count, 0).label("photo_count"),
        sa.func.coalesce(counts.c.face_count, 0).label("face_count"),
    ).outerjoin(counts, counts.c.person_id == persons.c.id)


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


def list_persons(conn: sa.Connection, *, limit: int | None = None, offset: int = 0) -> list[PersonView]:
    """Every person, by label (also persons left without faces in shown photos: counts 0)."""
    query = _persons_query().order_by(persons.c.label).limit(limit).offset(offset)
    return [_person_view(r) for r in conn.execute(query)]


def person(conn: sa.Connection, label: str) -> PersonView:
    row = conn.execute(_persons_query().where(persons.c.label == label)).first()
    if row is None:
        raise NotFoundError(f"no person {label} in the catalog (list them in OUT/summary.csv)")
    return _person_view(row)


# --- photos ---------------------------------------------------------------------------------------


def _display_paths() -> sa.Subquery:
    return (
        sa.select(photo_paths.c.sha256, sa.func.min(photo_paths.c.rel_path).label("display_path"))
        .where(photo_paths.c.status == "ok", photo_paths.c.sha256.is_not(None))
        .group_by(photo_paths.c.sha256)
        .subquery("shown")
    )


_PHOTO_COLUMNS = tuple(c for c in photos.c if c.name not in ("analyzed_at", "added_run", "orientation"))


def _photos_query(status: str | None) -> tuple[sa.Select[Any], sa.Subquery]:
    shown = _display_paths()
    query = sa.select(*_PHOTO_COLUMNS, shown.c.display_path).join(shown, shown.c.sha256 == photos.c.sha256)
    if status is not None:
        query = query.where(photos.c.status == status)
    return query.order_by(shown.c.display_path, photos.c.sha256), shown


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
    conn: sa.Connection, *, status: str | None = "analyzed", limit: int | None = None, offset: int = 0
) -> list[PhotoView]:
    """Shown photos with ``status`` (any: ``None``), by display path then sha256."""
    query, _shown = _photos_query(status)
    rows = conn.execute(query.limit(limit).offset(offset)).all()
    return _photo_views(conn, rows, every_photo=limit is None)


def photos_for_export(conn: sa.Connection) -> list[PhotoView]:
    """Every analysed, shown photo, by display path (the export also leaves out files gone since)."""
    query, _shown = _photos_query("analyzed")
    return _photo_views(conn, conn.execute(query).all(), every_photo=True)


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
    conn: sa.Connection, label: str, *, limit: int | None = None, offset: int = 0
) -> list[PhotoView]:
    """Analysed, shown photos holding at least one face of person ``label``, by display path."""
    pid = person(conn, label).id
    query, _shown = _photos_query("analyzed")
    query = query.where(photos.c.sha256.in_(sa.select(faces.c.photo_sha256).where(faces.c.person_id == pid)))
    return _photo_views(conn, conn.execute(query.limit(limit).offset(offset)).all(), every_photo=False)


def photo(conn: sa.Connection, sha256: str) -> PhotoView:
    """One shown photo of any status."""
    query, _shown = _photos_query(None)
    rows = conn.execute(query.where(photos.c.sha256 == sha256)).all()
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
    conn: sa.Connection, label: str, *, limit: int | None = None, offset: int = 0
) -> list[FaceView]:
    """The faces of person ``label`` in shown, analysed photos, by photo sha256 then face index."""
    pid = person(conn, label).id
    query = _faces_query().where(
        faces.c.person_id == pid,
        faces.c.photo_sha256.in_(sa.select(photos.c.sha256).where(photos.c.status == "analyzed")),
        faces.c.photo_sha256.in_(_shown_shas()),
    )
    return [_face_view(r) for r in conn.execute(query.limit(limit).offset(offset))]


def face(conn: sa.Connection, face_id: int) -> FaceView:
    row = conn.execute(_faces_query().where(faces.c.id == face_id)).first()
    if row is None:
        raise NotFoundError(f"no face {face_id} in the catalog")
    return _face_view(row)


# --- rejections -----------------------------------------------------------------------------------


def _or_rejected(reason: sa.Column[Any]) -> sa.ColumnElement[str]:
    return sa.func.coalesce(sa.func.nullif(reason, ""), "rejected")


def rejections(conn: sa.Connection, *, limit: int | None = None, offset: int = 0) -> list[RejectionView]:
    """Every rejected path, by path then reason: files the ingest refused, and present files of photos
    the analysis rejected (a reason nobody gave reads ``rejected``)."""
    refused = sa.select(
        photo_paths.c.rel_path.label("path"),
        _or_rejected(photo_paths.c.reason).label("reason"),
    ).where(photo_paths.c.status == "rejected")
    unreadable = (
        sa.select(
            photo_paths.c.rel_path.label("path"),
            _or_rejected(photos.c.reject_reason).label("reason"),
        )
        .join(photos, photos.c.sha256 == photo_paths.c.sha256)
        .where(photos.c.status == "rejected", photo_paths.c.status == "ok")
    )
    both = sa.union_all(refused, unreadable).subquery("rejections")
    query = sa.select(both.c.path, both.c.reason).order_by(both.c.path, both.c.reason)
    return [RejectionView(r.path, r.reason) for r in conn.execute(query.limit(limit).offset(offset))]


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
