"""The cluster stage: group faces into persons, incrementally, keeping person ids stable.

1. Faces of analysed photos with an embedding of the current model (and at least
   ``cluster_min_face_px``) are partitioned by :func:`eventlens.cluster.partition.partition_faces`,
   from scratch: a pure function of the faces in their stable order, their embeddings, the faces a user
   assigned by hand (pinned; they never move) and the settings, never of the previous run's persons, so
   the same input always gives the same persons (consensus Chinese Whispers per connected component; no
   person twice in one photo).
2. Clusters continue existing persons by an optimal assignment on the faces they share
   (:mod:`eventlens.cluster.matching`; same id, same ``person_001`` label, name and category); a cluster
   holding a face a user assigned continues that person. A person whose faces all went elsewhere
   disappears unless a user named, categorised or hid it. A face a user said is not a person (a
   cannot-link, ``face_not_person``) is split off unassigned when its cluster continues that person.
   A representative face a user chose is kept while the face stays with its person. A person a user
   moved a face out of (``eventlens person move``) keeps its other faces: they are pinned to it for the
   partition, so that the moved face's pin cannot pull the whole person along; and a person a user moved
   a face into also continues the cluster of its own earlier faces. Two persons a user said are not the
   same person (``person_not_person``, a merge suggestion answered no) keep their faces the same way, so
   the partition never joins them.
   The threshold is ``cluster_max_distance``, or the event's re-fitted one (:mod:`eventlens.cluster.refit`)
   while the setting is still the value it was fitted from.
3. New clusters of at least ``min_faces`` faces become new persons, numbered after the highest existing
   number in order of descending photo count, so a first run numbers persons by photo count and later runs
   never renumber. Smaller clusters stay unassigned.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa

from eventlens.catalog.arrays import from_blob
from eventlens.catalog.schema import (
    catalog_state,
    face_not_person,
    faces,
    person_not_person,
    persons,
    photo_paths,
    photos,
)
from eventlens.cluster.matching import NONE, continue_persons
from eventlens.cluster.partition import FREE, partition_faces
from eventlens.settings import Settings
from eventlens.summaries import ClusterSummary


@dataclass
class _Faces:
    ids: np.ndarray
    photo: list[str]
    embeddings: np.ndarray
    person: np.ndarray  # existing person id, or -1
    fixed: np.ndarray  # assigned by a user


#: ``catalog_state`` key of the event's re-fitted clustering threshold (JSON, see :func:`event_max_distance`)
REFIT_STATE_KEY = "cluster_max_distance_refit"


def stored_refit(conn: sa.Connection) -> dict[str, float] | None:
    """The event's re-fitted threshold as stored: ``{"threshold": ..., "base": ...}``, or None."""
    value = conn.execute(
        sa.select(catalog_state.c.value).where(catalog_state.c.key == REFIT_STATE_KEY)
    ).scalar()
    return None if value is None else dict(json.loads(value))


def event_max_distance(conn: sa.Connection, settings: Settings) -> float:
    """The threshold this event clusters at: the re-fitted one while ``cluster_max_distance`` is still the
    value it was fitted from (``base``), else the setting (a changed setting is the user's choice)."""
    refit = stored_refit(conn)
    if refit is not None and abs(refit["base"] - settings.cluster_max_distance) < 1e-9:
        return float(refit["threshold"])
    return settings.cluster_max_distance


def label_for(number: int) -> str:
    return f"person_{number:03d}"


def number_of(label: str) -> int:
    return int(label.rsplit("_", 1)[1])


def _present_photos() -> sa.Select[tuple[str]]:
    """Photos with at least one file still present in a source (deleted photos leave the persons)."""
    return sa.select(photo_paths.c.sha256).where(
        photo_paths.c.status == "ok", photo_paths.c.sha256.is_not(None)
    )


def load_clusterable_faces(
    conn: sa.Connection, embed_model: str, min_face_px: float, summary: ClusterSummary
) -> _Faces:
    """The faces the cluster stage partitions, in a stable order (photo, face index); the summary counts
    the faces left out (too small, other embedding model)."""
    rows = conn.execute(
        sa.select(
            faces.c.id,
            faces.c.photo_sha256,
            faces.c.embedding,
            faces.c.embed_model,
            faces.c.person_id,
            faces.c.assigned_by,
            faces.c.x1,
            faces.c.y1,
            faces.c.x2,
            faces.c.y2,
        )
        .join(photos, photos.c.sha256 == faces.c.photo_sha256)
        .where(photos.c.status == "analyzed", photos.c.sha256.in_(_present_photos()))
        .order_by(faces.c.photo_sha256, faces.c.face_index)  # independent of analysis completion order
    ).all()
    keep = []
    for r in rows:
        if r.embedding is None:  # too small to embed (cluster_min_face_px at analysis)
            summary.faces_skipped_small += 1
        elif r.embed_model != embed_model:
            summary.faces_other_model += 1
        elif np.sqrt(max(r.x2 - r.x1, 0) * max(r.y2 - r.y1, 0)) < min_face_px and r.assigned_by != "user":
            summary.faces_skipped_small += 1
        else:
            keep.append(r)
    emb = np.stack([from_blob(r.embedding) for r in keep]) if keep else np.zeros((0, 128), np.float32)
    return _Faces(
        ids=np.array([r.id for r in keep], dtype=np.int64),
        photo=[r.photo_sha256 for r in keep],
        embeddings=emb,
        person=np.array([r.person_id if r.person_id is not None else -1 for r in keep], dtype=np.int64),
        fixed=np.array([r.assigned_by == "user" for r in keep], dtype=bool),
    )


def _representative(members: np.ndarray, data: _Faces, sizes: dict[int, float]) -> int:
    """The largest of the faces that are typical of the cluster (closer than the median to its mean
    embedding): a clear face to put a name on, and a large one crops sharply (and cheaply)."""
    centroid = data.embeddings[members].mean(0)
    d = np.linalg.norm(data.embeddings[members] - centroid, axis=1)
    typical = members[d <= np.median(d)]
    size = np.array([sizes[int(f)] for f in data.ids[typical]])
    return int(data.ids[typical[int(np.argmax(size))]])


def _pins(data: _Faces, max_person_id: int) -> np.ndarray:
    """What the partition pins: a face a user assigned to a person is pinned to that person; one a user
    took out of every person is pinned alone (a key no person has)."""
    alone = max_person_id + 1 + np.arange(len(data.ids))
    return np.where(data.fixed, np.where(data.person >= 0, data.person, alone), FREE)


def _anchor(conn: sa.Connection, data: _Faces, pins: np.ndarray) -> np.ndarray:
    """A person a user moved a face out of (the pinned face has a cannot-link to it), or said is not the
    same person as another, keeps its faces: they are pinned to it for this partition, so that the moved
    face's pin does not pull them along and two persons said apart are never joined."""
    fixed_ids = set(data.ids[data.fixed].tolist())
    links = conn.execute(sa.select(face_not_person.c.face_id, face_not_person.c.person_id)).all()
    anchored = {p for f, p in links if f in fixed_ids}
    for pair in conn.execute(sa.select(person_not_person.c.person_id, person_not_person.c.other_id)):
        anchored.update(pair)
    if not anchored:
        return pins
    linked = set(map(tuple, links))
    mask = np.array(
        [
            not fixed and int(p) in anchored and (int(f), int(p)) not in linked
            for f, p, fixed in zip(data.ids, data.person, data.fixed, strict=True)
        ],
        dtype=bool,
    )
    return np.where(mask, data.person, pins)


def _also_continued(
    labels: np.ndarray, data: _Faces, pins: np.ndarray, continued: dict[int, int], existing: dict[int, Any]
) -> dict[int, int]:
    """A person continued by a cluster of faces pinned to it (say, a face a user moved in) also continues
    the cluster that holds most of its own earlier faces: a moved-in face adds to the person instead of
    taking its name away from its faces (which would become a new person)."""
    by_pin = {int(p) for p in pins[pins != FREE].tolist() if int(p) in existing}
    leftover = sorted({int(c) for c in labels.tolist()} - set(continued))
    if not by_pin or not leftover:
        return {}
    in_leftover = np.isin(labels, leftover)
    previous = np.where(in_leftover & np.isin(data.person, sorted(by_pin)), data.person, NONE)
    return continue_persons(labels, previous, np.full(len(labels), NONE), by_pin)


def cluster(
    engine: sa.Engine, settings: Settings, embed_model: str, run_id: int | None = None
) -> ClusterSummary:
    """Assign faces to persons (see the module docstring). ``embed_model`` is the current model key."""
    summary = ClusterSummary()
    with engine.begin() as conn:
        data = load_clusterable_faces(conn, embed_model, settings.cluster_min_face_px, summary)
        existing = {r.id: r for r in conn.execute(sa.select(persons))}
        sizes = {
            r.id: float(np.sqrt(max(r.x2 - r.x1, 0) * max(r.y2 - r.y1, 0)))
            for r in conn.execute(sa.select(faces.c.id, faces.c.x1, faces.c.y1, faces.c.x2, faces.c.y2))
        }
        n = len(data.ids)
        summary.faces_clustered = n
        pins = _anchor(conn, data, _pins(data, max(existing, default=0)))
        labels, summary.conflicts_split = partition_faces(
            data.embeddings, data.photo, event_max_distance(conn, settings), pins
        )
        groups: dict[int, list[int]] = defaultdict(list)
        for idx, lab in enumerate(labels):
            groups[int(lab)].append(idx)
        continued = continue_persons(labels, data.person, np.where(pins != FREE, pins, NONE), existing)
        continued.update(_also_continued(labels, data, pins, continued, existing))

        person_of_group: dict[int, int | None] = {}
        new_groups = []
        for comp, members in groups.items():
            has_user = bool(data.fixed[members].any())
            if comp in continued:
                pid = continued[comp]
                keep = len(members) >= settings.min_faces or has_user or existing[pid].name is not None
                person_of_group[comp] = pid if keep else None
            elif len(members) >= settings.min_faces or has_user:
                new_groups.append(comp)
            else:
                person_of_group[comp] = None

        def photo_count(comp: int) -> int:
            return len({data.photo[i] for i in groups[comp]})

        # ties by the first face in the stable (photo sha256, face index) order, not by face id: ids follow
        # the order in which the workers finished the photos, which varies from run to run
        new_groups.sort(key=lambda comp: (-photo_count(comp), int(np.min(groups[comp]))))
        next_number = max((number_of(p.label) for p in existing.values()), default=0) + 1
        for comp in new_groups:
            key = conn.execute(
                persons.insert().values(label=label_for(next_number), created_run=run_id)
            ).inserted_primary_key
            assert key is not None  # an INSERT always has one
            person_of_group[comp] = int(key[0])
            next_number += 1
            summary.new_persons += 1

        face_person = {
            int(data.ids[i]): person_of_group[comp] for comp, members in groups.items() for i in members
        }
        summary.cannot_links_split = _respect_cannot_links(conn, data, face_person)
        _write_assignments(conn, data, face_person)
        index_of = {int(f): i for i, f in enumerate(data.ids)}
        for pid in {p for p in person_of_group.values() if p is not None}:
            own = np.array([index_of[f] for f, p in face_person.items() if p == pid], dtype=np.int64)
            if len(own) == 0:
                continue
            chosen = existing[pid].representative_face_id if pid in existing else None
            if (
                pid in existing
                and existing[pid].representative_by == "user"
                and chosen is not None
                and face_person.get(chosen) == pid
            ):
                continue  # a user chose this face and it is still the person's
            rep = _representative(own, data, sizes)
            conn.execute(
                persons.update()
                .where(persons.c.id == pid)
                .values(representative_face_id=rep, representative_by=None)
            )
        summary.removed_persons = _drop_empty_persons(conn)
        summary.persons = conn.execute(sa.select(sa.func.count()).select_from(persons)).scalar() or 0
        summary.assigned_faces = sum(1 for p in face_person.values() if p is not None)
        summary.unassigned_faces = n - summary.assigned_faces
    return summary


def preview_partition(
    conn: sa.Connection, settings: Settings, embed_model: str, max_distance: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the cluster stage's partition would be at ``max_distance``, without writing: the faces' ids,
    their current person ids (-1: none) and their cluster labels."""
    data = load_clusterable_faces(conn, embed_model, settings.cluster_min_face_px, ClusterSummary())
    top = conn.execute(sa.select(sa.func.max(persons.c.id))).scalar() or 0
    pins = _anchor(conn, data, _pins(data, top))
    labels, _ = partition_faces(data.embeddings, data.photo, max_distance, pins)
    return data.ids, data.person, labels


def _respect_cannot_links(conn: sa.Connection, data: _Faces, face_person: dict[int, int | None]) -> int:
    """Faces a user said are not the person their cluster continues are split off, unassigned (the
    simplest rule that never breaks a cannot-link: no other person is guessed for them); returns their
    number. A pinned face is never split (a move to a person drops its cannot-link to that person)."""
    fixed_ids = set(data.ids[data.fixed].tolist())
    split = 0
    for face_id, person_id in conn.execute(sa.select(face_not_person.c.face_id, face_not_person.c.person_id)):
        if face_person.get(face_id) == person_id and face_id not in fixed_ids:
            face_person[face_id] = None
            split += 1
    return split


def _write_assignments(conn: sa.Connection, data: _Faces, face_person: dict[int, int | None]) -> None:
    by_person: dict[int | None, list[int]] = defaultdict(list)
    fixed_ids = set(data.ids[data.fixed].tolist())
    for fid, pid in face_person.items():
        if fid not in fixed_ids:
            by_person[pid].append(fid)
    for pid, fids in by_person.items():
        for start in range(0, len(fids), 500):
            chunk = fids[start : start + 500]
            conn.execute(
                faces.update()
                .where(faces.c.id.in_(chunk))
                .values(person_id=pid, assigned_by=None if pid is None else "cluster")
            )


def _drop_empty_persons(conn: sa.Connection) -> int:
    with_faces = sa.select(faces.c.person_id).where(faces.c.person_id.is_not(None)).distinct()
    corrected = persons.c.name.is_not(None) | persons.c.category.is_not(None) | persons.c.hidden
    result = conn.execute(persons.delete().where(persons.c.id.not_in(with_faces), ~corrected))
    return result.rowcount or 0
