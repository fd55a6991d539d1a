"""Merge suggestions: pairs of persons that may be one person, most similar first ("the same person?").

Two persons are compared by their faces' embeddings
(:func:`eventlens.catalog.embeddings.analysed_face_embeddings`):
``distance`` is the mean of the :data:`CLOSEST_PAIRS` smallest distances between a face of one and a face of
the other (a single close pair can be a fluke, the mean of a few is not; a person's spread does not dilute it
as a centroid would), ``min_distance`` the smallest (what the cluster stage's threshold compares:
:mod:`eventlens.cluster.refit` fits to it). Left out are pairs a user answered "no" (``person_not_person``,
:func:`eventlens.curate.corrections.not_same_person`), pairs with faces in one photo (one person is never
twice in a photo), and pairs farther apart than ``max_distance``.

Answers go through the corrections write path: "yes" is :func:`eventlens.curate.corrections.merge`, "no"
:func:`~eventlens.curate.corrections.not_same_person`, each recording the pair's distances
(:func:`answer`), so that they can be undone and the threshold re-fitted to them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa

from eventlens.catalog.embeddings import analysed_face_embeddings
from eventlens.catalog.schema import person_not_person, persons
from eventlens.curate import corrections
from eventlens.errors import InputError

#: the cross-person face pairs whose mean distance is a suggestion's ``distance``
CLOSEST_PAIRS = 3
#: faces compared per block (memory: this many rows of distances to every face)
_BLOCK_FACES = 256


@dataclass(frozen=True, slots=True)
class Suggestion:
    """Persons ``label`` and ``other_label`` may be one person (``label`` has the smaller id)."""

    person_id: int
    label: str
    other_id: int
    other_label: str
    distance: float  # mean of the CLOSEST_PAIRS smallest face distances (Euclidean, as the threshold)
    min_distance: float  # the smallest face distance

    def evidence(self) -> dict[str, float]:
        """What an answer records (:mod:`eventlens.cluster.refit` reads ``min_distance``)."""
        return {"distance": round(self.distance, 6), "min_distance": round(self.min_distance, 6)}


def _cross_distances(x: np.ndarray, owner: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
    """Per pair of owners ``(a, b)``, ``a < b``: the CLOSEST_PAIRS smallest distances between their faces."""
    out: dict[tuple[int, int], np.ndarray] = {}
    squared = (x * x).sum(1)
    order = np.argsort(owner, kind="stable")
    x, owner, squared = x[order], owner[order], squared[order]
    bounds = np.flatnonzero(np.diff(owner)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [len(owner)]])
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        a = int(owner[start])
        rest = slice(end, len(owner))  # owners after a: each pair once
        if end >= len(owner):
            continue
        others = owner[rest]
        best = np.full((len(others), 0), np.inf, dtype=np.float64)
        for block in range(start, end, _BLOCK_FACES):
            rows = slice(block, min(block + _BLOCK_FACES, end))
            d2 = squared[rows, None] + squared[None, rest] - 2.0 * (x[rows] @ x[rest].T)
            d = np.sqrt(np.maximum(d2, 0.0)).T.astype(np.float64)  # (others, rows)
            best = np.sort(np.concatenate([best, d], axis=1), axis=1)[:, :CLOSEST_PAIRS]
        other_starts = np.concatenate([[0], np.flatnonzero(np.diff(others)) + 1])
        for pos in other_starts.tolist():
            b = int(others[pos])
            members = best[others == b].ravel()
            out[(a, b)] = np.sort(members)[:CLOSEST_PAIRS]
    return out


def merge_suggestions(
    conn: sa.Connection, embed_model: str, max_distance: float, limit: int | None = None
) -> list[Suggestion]:
    """Pairs of persons that may be one person, most similar (smallest ``distance``) first; see the module
    docstring for what is left out."""
    data = analysed_face_embeddings(conn, embed_model)
    assigned = data.person_ids >= 0
    if assigned.sum() == 0:
        return []
    owner = data.person_ids[assigned]
    x = data.embeddings[assigned].astype(np.float32)
    shas = [s for s, keep in zip(data.photo_sha256, assigned.tolist(), strict=True) if keep]
    together: set[tuple[int, int]] = set()
    by_photo: dict[str, set[int]] = defaultdict(set)
    for sha, pid in zip(shas, owner.tolist(), strict=True):
        by_photo[sha].add(int(pid))
    for present in by_photo.values():
        ids = sorted(present)
        together.update((a, b) for i, a in enumerate(ids) for b in ids[i + 1 :])
    answered = {
        (int(a), int(b))
        for a, b in conn.execute(sa.select(person_not_person.c.person_id, person_not_person.c.other_id))
    }
    labels = {int(r.id): str(r.label) for r in conn.execute(sa.select(persons.c.id, persons.c.label))}
    found = []
    for (a, b), closest in _cross_distances(x, owner).items():
        if (a, b) in together or (a, b) in answered or a not in labels or b not in labels:
            continue
        distance = float(closest.mean())
        if distance > max_distance:
            continue
        found.append(Suggestion(a, labels[a], b, labels[b], distance, float(closest[0])))
    found.sort(key=lambda s: (s.distance, s.label, s.other_label))
    return found if limit is None else found[:limit]


def find_suggestion(conn: sa.Connection, embed_model: str, label: str, other_label: str) -> Suggestion:
    """The suggestion for the pair ``label``/``other_label`` (either order), whatever its distance; an
    InputError when it is not one (answered no already, or the two share a photo)."""
    for s in merge_suggestions(conn, embed_model, max_distance=float("inf")):
        if {s.label, s.other_label} == {label, other_label}:
            return s
    raise InputError(
        f"{label} and {other_label} are not a merge suggestion (answered already, in one photo together, "
        "or not persons with faces)"
    )


def answer(
    target: corrections.Target,
    embed_model: str,
    label: str,
    other_label: str,
    same: bool,
    by: str | None = None,
) -> corrections.Correction:
    """Answer the suggestion ``label``/``other_label``: ``same`` merges ``other_label`` into ``label``
    (:func:`~eventlens.curate.corrections.merge`), not ``same`` records a person-pair cannot-link
    (:func:`~eventlens.curate.corrections.not_same_person`); both record the pair's distances."""
    with corrections.writing(target) as conn:
        found = find_suggestion(conn, embed_model, label, other_label)
        if same:
            return corrections.merge(conn, label, [other_label], by=by, suggestion=found.evidence())
        return corrections.not_same_person(conn, label, other_label, by=by, suggestion=found.evidence())
