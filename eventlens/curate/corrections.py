"""The one write path for human corrections: every change a person makes to persons and faces.

Each function takes an engine (it runs in one ``BEGIN IMMEDIATE`` transaction of its own) or a connection
(it runs inside the caller's transaction), records one row in ``corrections`` (when, by whom, what, and
the state before it) and returns that :class:`Correction`; :func:`undo` reverts the last ones.

    rename(target, person, name)                 persons.name
    set_category(target, person, category)       persons.category: main | important | other
    hide(target, person, hidden=True)            persons.hidden: left out of the export; faces stay with it
    merge(target, person, others)                others' faces pinned to person (must-links); others deleted
    move_faces(target, faces, to)                faces pinned to a person, or to a new one (to=NEW), and
                                                 cannot-linked to the person they leave
    not_person(target, face, person)             a cannot-link: the face never gets that person again
    not_same_person(target, person, other)       a person-pair cannot-link (a merge suggestion answered
                                                 no): clustering keeps the two apart
    set_representative(target, person, face)     the face shown for the person, kept over re-clustering
    undo(target, steps=1, correction_id=None)    revert corrections, newest first; recorded itself

A person is named by its label (``person_002``), its number (``2``) or its exact name; a face by
``photo_sha256:face`` as in ``face_data.csv`` (a unique prefix of the sha256 is enough). Errors are
:class:`~eventlens.errors.NotFoundError` (no such person or face) and :class:`~eventlens.errors.InputError`
(a correction that makes no sense), with one-line messages. The catalog changes only: the person folders
change at the next ``eventlens export`` (or ``score``/``process``).
"""

from __future__ import annotations

import getpass
import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeAlias

import sqlalchemy as sa

from eventlens.catalog.schema import corrections, face_not_person, faces, person_not_person, persons
from eventlens.errors import InputError, NotFoundError

CATEGORIES = ("main", "important", "other")
#: ``move_faces(..., to=NEW)`` makes a new person
NEW = "new"
USER = "user"

Target = sa.Engine | sa.Connection


def default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no user name in the environment nor in the password database
        return "cli:unknown"


@contextmanager
def writing(target: Target) -> Iterator[sa.Connection]:
    """A connection in a write transaction: the caller's, or a new ``BEGIN IMMEDIATE`` one (SQLite takes
    the write lock at once, so two writers wait on ``busy_timeout`` instead of failing mid-way)."""
    if isinstance(target, sa.Connection):
        yield target
        return
    with target.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


@contextmanager
def reading(target: Target) -> Iterator[sa.Connection]:
    if isinstance(target, sa.Connection):
        yield target
        return
    with target.connect() as conn:
        yield conn


@dataclass(frozen=True)
class Correction:
    id: int
    at: str
    by: str
    action: str
    summary: str
    undone_by: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "by": self.by,
            "action": self.action,
            "summary": self.summary,
            "undone_by": self.undone_by,
        }

    def line(self) -> str:
        undone = f" (undone by #{self.undone_by})" if self.undone_by is not None else ""
        return f"#{self.id} {self.at} {self.by} {self.action}: {self.summary}{undone}"


#: a catalog row of any columns
AnyRow: TypeAlias = sa.Row[*tuple[Any, ...]]


# --- reads -------------------------------------------------------------------------------------------


def find_person(conn: sa.Connection, ref: str | int) -> AnyRow:
    """The person named by label (``person_002``), number (``2``) or exact name; NotFoundError if none."""
    text = str(ref).strip()
    if re.fullmatch(r"\d+", text):
        text = f"person_{int(text):03d}"
    row = conn.execute(sa.select(persons).where(persons.c.label == text)).first()
    if row is not None:
        return row
    named = conn.execute(sa.select(persons).where(persons.c.name == text)).all()
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        labels = ", ".join(r.label for r in named)
        raise InputError(f"{len(named)} persons are named {text!r} ({labels}); use the label")
    raise NotFoundError(f"no person {text!r} in the catalog; use a label from summary.csv (person_001 ...)")


def find_face(conn: sa.Connection, ref: str) -> AnyRow:
    """The face named ``photo_sha256:face`` (columns of face_data.csv; a unique sha256 prefix of at least
    6 characters will do)."""
    match = re.fullmatch(r"\s*([0-9a-fA-F]{6,64}):(\d+)\s*", ref)
    if match is None:
        raise InputError(
            f"face {ref!r} must be PHOTO_SHA256:FACE, the photo_sha256 and face of face_data.csv"
        )
    prefix, index = match.group(1).lower(), int(match.group(2))
    rows = conn.execute(
        sa.select(
            faces.c.id, faces.c.photo_sha256, faces.c.face_index, faces.c.person_id, faces.c.assigned_by
        )
        .where(faces.c.photo_sha256.startswith(prefix, autoescape=True), faces.c.face_index == index)
        .limit(2)
    ).all()
    if not rows:
        raise NotFoundError(f"no face {ref} in the catalog; take photo_sha256 and face from face_data.csv")
    if len(rows) > 1:
        raise InputError(
            f"face {ref} is ambiguous: several photos start with {prefix}; give more of the sha256"
        )
    return rows[0]


def face_name(row: Any) -> str:
    return f"{row.photo_sha256[:12]}:{row.face_index}"


def _label_of(conn: sa.Connection, person_id: int | None) -> str:
    if person_id is None:
        return "unassigned"
    label = conn.execute(sa.select(persons.c.label).where(persons.c.id == person_id)).scalar()
    return label or f"person id {person_id}"


def history(target: Target, limit: int | None = None) -> list[Correction]:
    """Corrections, newest first."""
    with reading(target) as conn:
        query = sa.select(corrections).order_by(corrections.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        return [_correction(r) for r in conn.execute(query)]


def _correction(row: Any) -> Correction:
    payload = json.loads(row.payload_json)
    return Correction(row.id, row.at, row.by, row.action, payload.get("summary", ""), row.undone_by)


# --- the state before a correction -------------------------------------------------------------------


def _person_dict(row: Any) -> dict[str, Any]:
    return {c.name: getattr(row, c.name) for c in persons.columns}


@dataclass
class _Before:
    """What a correction changed, as it was before: enough to put it back."""

    persons: dict[int, dict[str, Any]] = field(default_factory=dict)  # updated persons, their old rows
    created: list[int] = field(default_factory=list)  # persons this correction made
    deleted: dict[int, dict[str, Any]] = field(default_factory=dict)  # persons it deleted, their rows
    faces: dict[int, dict[str, Any]] = field(default_factory=dict)  # face id -> person_id, assigned_by
    links: dict[tuple[int, int], bool] = field(default_factory=dict)  # (face, person) -> existed
    pairs: dict[tuple[int, int], bool] = field(default_factory=dict)  # (person, other) -> existed

    def person(self, conn: sa.Connection, pid: int) -> None:
        if pid not in self.persons and pid not in self.created:
            row = conn.execute(sa.select(persons).where(persons.c.id == pid)).one()
            self.persons[pid] = _person_dict(row)

    def face(self, row: Any) -> None:
        self.faces.setdefault(row.id, {"person_id": row.person_id, "assigned_by": row.assigned_by})

    def link(self, conn: sa.Connection, face_id: int, person_id: int) -> None:
        if (face_id, person_id) not in self.links:
            self.links[(face_id, person_id)] = _has_link(conn, face_id, person_id)

    def pair(self, conn: sa.Connection, pair: tuple[int, int]) -> None:
        if pair not in self.pairs:
            self.pairs[pair] = _has_pair(conn, pair)

    def as_json(self) -> dict[str, Any]:
        return {
            "persons": [self.persons[k] for k in sorted(self.persons)],
            "created": self.created,
            "deleted": [self.deleted[k] for k in sorted(self.deleted)],
            "faces": [{"id": k, **v} for k, v in sorted(self.faces.items())],
            "links": [[f, p, existed] for (f, p), existed in sorted(self.links.items())],
            "pairs": [[a, b, existed] for (a, b), existed in sorted(self.pairs.items())],
        }


def _has_link(conn: sa.Connection, face_id: int, person_id: int) -> bool:
    query = sa.select(face_not_person.c.face_id).where(
        face_not_person.c.face_id == face_id, face_not_person.c.person_id == person_id
    )
    return conn.execute(query).first() is not None


def person_pair(a: int, b: int) -> tuple[int, int]:
    """A person pair in the order ``person_not_person`` stores it (smaller id first)."""
    return (a, b) if a < b else (b, a)


def _has_pair(conn: sa.Connection, pair: tuple[int, int]) -> bool:
    query = sa.select(person_not_person.c.person_id).where(
        person_not_person.c.person_id == pair[0], person_not_person.c.other_id == pair[1]
    )
    return conn.execute(query).first() is not None


def _set_pair(conn: sa.Connection, before: _Before, pair: tuple[int, int], present: bool) -> None:
    before.pair(conn, pair)
    where = (person_not_person.c.person_id == pair[0]) & (person_not_person.c.other_id == pair[1])
    conn.execute(person_not_person.delete().where(where))
    if present:
        conn.execute(person_not_person.insert().values(person_id=pair[0], other_id=pair[1]))


def _pairs_of(conn: sa.Connection, person_id: int) -> list[tuple[int, int]]:
    rows = conn.execute(
        sa.select(person_not_person.c.person_id, person_not_person.c.other_id).where(
            (person_not_person.c.person_id == person_id) | (person_not_person.c.other_id == person_id)
        )
    ).all()
    return [(int(a), int(b)) for a, b in rows]


def _record(
    conn: sa.Connection, action: str, summary: str, before: _Before, by: str | None, **details: Any
) -> Correction:
    at = datetime.now(UTC).isoformat(timespec="seconds")
    actor = by or default_actor()
    payload = {"summary": summary, **details, "before": before.as_json()}
    key = conn.execute(
        corrections.insert().values(at=at, by=actor, action=action, payload_json=json.dumps(payload))
    ).inserted_primary_key
    assert key is not None
    cid = key[0]
    return Correction(int(cid), at, actor, action, summary)


def _update_person(conn: sa.Connection, before: _Before, pid: int, **values: Any) -> None:
    before.person(conn, pid)
    conn.execute(persons.update().where(persons.c.id == pid).values(**values))


def _assign(conn: sa.Connection, before: _Before, face: Any, person_id: int | None, by: str | None) -> None:
    """Give ``face`` a person (``by`` user: pinned); its old person loses it as representative."""
    before.face(face)
    if face.person_id is not None and face.person_id != person_id:
        old = conn.execute(sa.select(persons).where(persons.c.id == face.person_id)).first()
        if old is not None and old.representative_face_id == face.id:
            _update_person(conn, before, old.id, representative_face_id=None, representative_by=None)
    conn.execute(faces.update().where(faces.c.id == face.id).values(person_id=person_id, assigned_by=by))


def _set_link(conn: sa.Connection, before: _Before, face_id: int, person_id: int, present: bool) -> None:
    before.link(conn, face_id, person_id)
    where = (face_not_person.c.face_id == face_id) & (face_not_person.c.person_id == person_id)
    conn.execute(face_not_person.delete().where(where))
    if present:
        conn.execute(face_not_person.insert().values(face_id=face_id, person_id=person_id))


def _next_label(conn: sa.Connection) -> str:
    labels = conn.execute(sa.select(persons.c.label)).scalars().all()
    numbers = [int(m.group(1)) for m in (re.fullmatch(r"person_(\d+)", x) for x in labels) if m]
    return f"person_{max(numbers, default=0) + 1:03d}"


# --- corrections -------------------------------------------------------------------------------------


def rename(target: Target, person: str | int, name: str | None, by: str | None = None) -> Correction:
    """Give a person a name (``None`` or blank: no name)."""
    new = name.strip() if name is not None and name.strip() else None
    with writing(target) as conn:
        row = find_person(conn, person)
        before = _Before()
        _update_person(conn, before, row.id, name=new)
        summary = f"{row.label} {row.name or '(no name)'!s} -> {new or '(no name)'}"
        return _record(conn, "rename", summary, before, by, person=row.label, name=new)


def set_category(target: Target, person: str | int, category: str, by: str | None = None) -> Correction:
    if category not in CATEGORIES:
        raise InputError(f"category {category!r} is unknown; use one of {', '.join(CATEGORIES)}")
    with writing(target) as conn:
        row = find_person(conn, person)
        before = _Before()
        _update_person(conn, before, row.id, category=category)
        summary = f"{row.label} {row.category or 'other'} -> {category}"
        return _record(conn, "category", summary, before, by, person=row.label, category=category)


def hide(target: Target, person: str | int, hidden: bool = True, by: str | None = None) -> Correction:
    """Hide a person from the export (its faces stay with it, so they go to no other person)."""
    with writing(target) as conn:
        row = find_person(conn, person)
        before = _Before()
        _update_person(conn, before, row.id, hidden=hidden)
        summary = f"{row.label} {'hidden' if hidden else 'shown'}"
        return _record(conn, "hide" if hidden else "unhide", summary, before, by, person=row.label)


def _faces_of(conn: sa.Connection, person_id: int) -> list[AnyRow]:
    rows = conn.execute(
        sa.select(
            faces.c.id, faces.c.photo_sha256, faces.c.face_index, faces.c.person_id, faces.c.assigned_by
        )
        .where(faces.c.person_id == person_id)
        .order_by(faces.c.id)
    ).all()
    return list(rows)


def merge(
    target: Target,
    person: str | int,
    others: Sequence[str | int],
    by: str | None = None,
    suggestion: dict[str, float] | None = None,
) -> Correction:
    """Merge ``others`` into ``person``: every face of them all is pinned to ``person`` (a must-link, so a
    re-cluster keeps them together); ``person`` keeps its name and category, or takes the first other's;
    cannot-links of the others (face and person-pair ones) apply to ``person``, a "not the same person"
    between the merged persons is dropped; the others are deleted. ``suggestion`` (a merge suggestion
    answered yes: its distances) is recorded with the correction, for :mod:`eventlens.cluster.refit`."""
    if not others:
        raise InputError("name at least one person to merge into the first")
    with writing(target) as conn:
        into = find_person(conn, person)
        rows = [find_person(conn, o) for o in others]
        if any(r.id == into.id for r in rows) or len({r.id for r in rows}) != len(rows):
            raise InputError(f"cannot merge a person into itself ({into.label}); name each person once")
        before = _Before()
        before.person(conn, into.id)
        members = {f.id for r in [into, *rows] for f in _faces_of(conn, r.id)}
        for r in [into, *rows]:
            for f in _faces_of(conn, r.id):
                _assign(conn, before, f, into.id, USER)
        fill: dict[str, Any] = {}
        for r in rows:
            if into.name is None and "name" not in fill and r.name is not None:
                fill["name"] = r.name
            if into.category is None and "category" not in fill and r.category is not None:
                fill["category"] = r.category
            links = conn.execute(
                sa.select(face_not_person.c.face_id).where(face_not_person.c.person_id == r.id)
            ).scalars()
            for face_id in links:
                _set_link(conn, before, face_id, r.id, False)
                if face_id not in members:
                    _set_link(conn, before, face_id, into.id, True)
        merged = {into.id, *(r.id for r in rows)}
        for r in [into, *rows]:
            for pair in _pairs_of(conn, r.id):
                _set_pair(conn, before, pair, False)
                other = pair[1] if pair[0] == r.id else pair[0]
                if other not in merged:
                    _set_pair(conn, before, person_pair(into.id, other), True)
        if fill:
            conn.execute(persons.update().where(persons.c.id == into.id).values(**fill))
        for r in rows:
            current = conn.execute(sa.select(persons).where(persons.c.id == r.id)).one()
            before.deleted[r.id] = before.persons.pop(r.id, {}) or _person_dict(current)
            conn.execute(persons.delete().where(persons.c.id == r.id))
        labels = ", ".join(r.label for r in rows)
        summary = f"{labels} merged into {into.label} ({len(members)} faces)"
        extra: dict[str, Any] = {} if suggestion is None else {"suggestion": suggestion}
        others_labels = [r.label for r in rows]
        return _record(conn, "merge", summary, before, by, into=into.label, others=others_labels, **extra)


def move_faces(target: Target, face_refs: Sequence[str], to: str | int, by: str | None = None) -> Correction:
    """Pin faces to person ``to`` (or to a new person with ``to=NEW``): a must-link, kept by every
    re-cluster. A face taken out of another person gets a cannot-link to it (so that person keeps its
    other faces, see :mod:`eventlens.cluster.stage`); a cannot-link to ``to`` is dropped."""
    if not face_refs:
        raise InputError("name at least one face (PHOTO_SHA256:FACE) to move")
    with writing(target) as conn:
        rows = [find_face(conn, ref) for ref in face_refs]
        before = _Before()
        if str(to).strip().lower() == NEW:
            label = _next_label(conn)
            key = conn.execute(persons.insert().values(label=label)).inserted_primary_key
            assert key is not None
            pid = int(key[0])
            before.created.append(pid)
        else:
            dest = find_person(conn, to)
            pid, label = dest.id, dest.label
        for f in rows:
            if f.person_id is not None and f.person_id != pid:  # taken out of a person: not that one
                _set_link(conn, before, f.id, f.person_id, True)
            _assign(conn, before, f, pid, USER)
            if _has_link(conn, f.id, pid):
                _set_link(conn, before, f.id, pid, False)
        summary = f"{len(rows)} face{'s' if len(rows) != 1 else ''} -> {label}" + (
            " (new)" if before.created else ""
        )
        names = [face_name(f) for f in rows]
        return _record(conn, "move", summary, before, by, faces=names, to=label)


def not_person(target: Target, face_ref: str, person: str | int, by: str | None = None) -> Correction:
    """Record that a face is not ``person`` (a cannot-link): it leaves that person now and clustering never
    gives it back. A face pinned to that person is unpinned."""
    with writing(target) as conn:
        face = find_face(conn, face_ref)
        row = find_person(conn, person)
        before = _Before()
        if face.person_id == row.id:
            _assign(conn, before, face, None, None)
        _set_link(conn, before, face.id, row.id, True)
        summary = f"face {face_name(face)} is not {row.label}"
        return _record(conn, "not", summary, before, by, face=face_name(face), person=row.label)


def not_same_person(
    target: Target,
    person: str | int,
    other: str | int,
    by: str | None = None,
    suggestion: dict[str, float] | None = None,
) -> Correction:
    """Record that ``person`` and ``other`` are two people (a person-pair cannot-link, e.g. a merge
    suggestion answered no): clustering never joins them and the pair is not suggested again. ``suggestion``
    (the pair's distances when it was suggested) is recorded for :mod:`eventlens.cluster.refit`."""
    with writing(target) as conn:
        a, b = find_person(conn, person), find_person(conn, other)
        if a.id == b.id:
            raise InputError(f"{a.label} is one person; name two different persons")
        before = _Before()
        _set_pair(conn, before, person_pair(a.id, b.id), True)
        summary = f"{a.label} is not the same person as {b.label}"
        extra: dict[str, Any] = {} if suggestion is None else {"suggestion": suggestion}
        return _record(conn, "not_same", summary, before, by, person=a.label, other=b.label, **extra)


def set_representative(target: Target, person: str | int, face_ref: str, by: str | None = None) -> Correction:
    """Show ``face`` for ``person`` (its crop in output_clusters/); the face must be that person's, and is
    pinned to it so that a re-cluster keeps the choice."""
    with writing(target) as conn:
        row = find_person(conn, person)
        face = find_face(conn, face_ref)
        if face.person_id != row.id:
            raise InputError(
                f"face {face_name(face)} is {_label_of(conn, face.person_id)}, not {row.label}; "
                f"move it first (eventlens person move {face_ref} --to {row.label})"
            )
        before = _Before()
        if face.assigned_by != USER:
            _assign(conn, before, face, row.id, USER)
        _update_person(conn, before, row.id, representative_face_id=face.id, representative_by=USER)
        summary = f"{row.label} shown by face {face_name(face)}"
        return _record(conn, "representative", summary, before, by, person=row.label, face=face_name(face))


# --- undo --------------------------------------------------------------------------------------------


def undo(
    target: Target, steps: int = 1, correction_id: int | None = None, by: str | None = None
) -> Correction:
    """Revert the last ``steps`` corrections not undone yet, newest first (or only ``correction_id``),
    and record the undo. A face or person that no longer exists is left out."""
    with writing(target) as conn:
        if correction_id is not None:
            picked = conn.execute(sa.select(corrections).where(corrections.c.id == correction_id)).all()
            if not picked:
                raise NotFoundError(f"no correction #{correction_id}; see `eventlens person history`")
            if picked[0].action == "undo" or picked[0].undone_by is not None:
                raise InputError(f"correction #{correction_id} is an undo or was undone already")
        else:
            if steps < 1:
                raise InputError(f"--steps must be at least 1, not {steps}")
            picked = conn.execute(
                sa.select(corrections)
                .where(corrections.c.action != "undo", corrections.c.undone_by.is_(None))
                .order_by(corrections.c.id.desc())
                .limit(steps)
            ).all()
            if not picked:
                raise InputError("there is no correction to undo")
        before = _Before()
        for row in picked:  # newest first
            _revert(conn, before, json.loads(row.payload_json)["before"], row.id)
        ids = [r.id for r in picked]
        summary = "undid " + ", ".join(f"#{r.id} ({json.loads(r.payload_json)['summary']})" for r in picked)
        done = _record(conn, "undo", summary, before, by, undid=ids)
        conn.execute(corrections.update().where(corrections.c.id.in_(ids)).values(undone_by=done.id))
        return done


def _revert(conn: sa.Connection, before: _Before, state: dict[str, Any], cid: int) -> None:
    def exists(pid: int | None) -> bool:
        return (
            pid is not None
            and conn.execute(sa.select(persons.c.id).where(persons.c.id == pid)).first() is not None
        )

    for old in state["deleted"]:
        clash = conn.execute(
            sa.select(persons.c.label).where((persons.c.id == old["id"]) | (persons.c.label == old["label"]))
        ).first()
        if clash is not None:
            raise InputError(
                f"cannot undo #{cid}: {old['label']} was made again since; undo or merge that person first"
            )
        conn.execute(persons.insert().values(**old))
        before.created.append(old["id"])
    for old in state["persons"]:
        if exists(old["id"]):
            values = {k: v for k, v in old.items() if k != "id"}
            _update_person(conn, before, old["id"], **values)
    for old in state["faces"]:
        face = conn.execute(
            sa.select(faces.c.id, faces.c.person_id, faces.c.assigned_by).where(faces.c.id == old["id"])
        ).first()
        if face is None:
            continue
        pid = old["person_id"] if exists(old["person_id"]) else None
        assigned_by = old["assigned_by"] if pid == old["person_id"] else None
        before.face(face)
        conn.execute(
            faces.update().where(faces.c.id == face.id).values(person_id=pid, assigned_by=assigned_by)
        )
    for face_id, person_id, existed in state["links"]:
        face_there = conn.execute(sa.select(faces.c.id).where(faces.c.id == face_id)).first() is not None
        if face_there and exists(person_id):
            _set_link(conn, before, face_id, person_id, existed)
    for person_id, other_id, existed in state.get("pairs", []):  # none before version 6
        if exists(person_id) and exists(other_id):
            _set_pair(conn, before, (person_id, other_id), existed)
    for pid in state["created"]:
        if exists(pid):
            row = conn.execute(sa.select(persons).where(persons.c.id == pid)).one()
            before.deleted[pid] = _person_dict(row)
            for f in _faces_of(conn, pid):
                before.face(f)
            conn.execute(
                faces.update().where(faces.c.person_id == pid).values(person_id=None, assigned_by=None)
            )
            conn.execute(persons.delete().where(persons.c.id == pid))
