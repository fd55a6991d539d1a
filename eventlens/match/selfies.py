"""Which users are in which event photos: selfie embeddings against the faces of an event.

Pure numpy, no catalog: the caller reads the event's faces (one row per face: its photo's key, its
embedding and, optionally, the event cluster it belongs to) and each user's selfie embeddings (the
:func:`largest_face` of each selfie photo).

How a user is compared with a face (each rule chosen by measurement, ``benchmarks/selfie_matching.py``;
figures in BENCHMARKS.md, "Selfie matching (issue 10)")::

    u          = mean of the user's selfie embeddings s_1..s_k (k >= 1)
    direct     = |f - u|
    to C       = max(|u - centre(C)|, min_i |s_i - centre(C)|)   centre = mean embedding of cluster C
    via event  = max(to C, |f - centre(C)|)                      f in the event cluster C
    distance   = min(direct, via event)
    confidence = confidence_of_distance(distance)        (eventlens.match.confidence)

Measured on ``../shared/data`` at precision 0.99, all 31 people as users (docs/matching.md):

* Several selfies: their mean embedding. With 3 selfies the mean finds 0.82 of a user's photos; the
  minimum distance over the selfies 0.50 (three chances for a stranger to come close), the mean or
  median of the distances to the selfies 0.60.
* The event's own clusters: a face is also reached through its cluster (``face_clusters``, e.g. the
  persons of the cluster stage) when the user is close to the cluster's mean face (with the mean selfie
  *and* with at least one selfie) and the face is close to it too. The mean of a person's many photos
  is far steadier than one photo, so faces far from the selfie (turned, older, a tight crop) but typical
  of their cluster are found: recall 0.51 -> 0.87 with one selfie, 0.82 -> 0.93 with three. The face
  guard keeps out a stranger whom Chinese Whispers chained into the cluster (far from its mean; without
  it no threshold keeps precision 0.99); the selfie guard keeps the mean of poor selfies, an "average
  face", from reaching the centre of a cluster of small, average-looking faces.
* Each face goes to its best user only (``exclusive``): when two users are close to one face, the nearer
  one keeps it (exact ties: both). No change at the default threshold; at looser ones it removes
  confusions between users (3 selfies, distance 0.55: precision 0.71 -> 0.90, recall unchanged).

Every photo gets at most one record per user: its best face for that user (highest confidence; ties:
the lowest row). Records are sorted by user, then confidence (highest first), then photo key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from eventlens.match.confidence import confidence_of_distance

if TYPE_CHECKING:
    from eventlens.settings import Settings

#: the cluster label of a face in no cluster (``face_clusters``)
NO_CLUSTER = -1

Bucket = Literal["definitely", "probably", "ignore"]


@dataclass(frozen=True)
class Match:
    """One user found in one photo."""

    user_id: str
    photo_key: str
    confidence: float  # in [0, 1], of the photo's best face for this user
    face_index: int  # row of that face in the face arrays given to match_users


def largest_face(boxes_xyxy: np.ndarray) -> int | None:
    """Row of the largest box (by area) of ``boxes_xyxy`` (shape (n, 4), ``x1, y1, x2, y2``), or ``None``
    when there is none. Ties go to the first. A selfie with several faces is matched by its largest."""
    boxes = np.asarray(boxes_xyxy, dtype=np.float64)
    if boxes.size == 0:
        return None
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must have shape (n, 4); got {boxes.shape}")
    area = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    return int(np.argmax(area))


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a_i - b_j|² (float64, (len(a), len(b)))."""
    d2: np.ndarray = np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T), 0.0)
    return d2


def _selfie_arrays(users: Mapping[str, np.ndarray], dim: int) -> tuple[list[str], list[np.ndarray]]:
    """Users sorted by id and each one's selfie embeddings, float64 (k, dim), checked."""
    ids = sorted(users)
    arrays = []
    for user_id in ids:
        selfies = np.asarray(users[user_id], dtype=np.float64)
        if selfies.ndim == 1:
            selfies = selfies[None, :]
        if selfies.ndim != 2 or selfies.shape[1] != dim or len(selfies) == 0:
            raise ValueError(
                f"user {user_id!r}: selfie embeddings must have shape (k, {dim}) with k >= 1; "
                f"got {np.shape(users[user_id])}"
            )
        if not np.isfinite(selfies).all():
            raise ValueError(f"user {user_id!r}: selfie embeddings must be finite")
        arrays.append(selfies)
    return ids, arrays


def face_distances(
    selfies: Sequence[np.ndarray], face_embeddings: np.ndarray, face_clusters: np.ndarray | None = None
) -> np.ndarray:
    """Distance of every user to every face (float64, (u, n)); ``selfies[i]`` holds user i's selfie
    embeddings (k, d). The smaller of the direct distance (to the mean selfie) and the path through the
    face's cluster (module docstring); ``face_clusters`` (int, (n,)) labels each face's cluster,
    :data:`NO_CLUSTER` (any negative value) for none."""
    f = np.asarray(face_embeddings, dtype=np.float64)
    means = np.stack([np.asarray(s, dtype=np.float64).mean(0) for s in selfies]).reshape(len(selfies), -1)
    distances: np.ndarray = np.sqrt(_squared_distances(means, f))
    if face_clusters is None or not len(f) or not len(selfies):
        return distances
    labels = np.asarray(face_clusters, dtype=np.int64)
    members = np.flatnonzero(labels >= 0)
    if not len(members):
        return distances
    values, inverse = np.unique(labels[members], return_inverse=True)
    sums = np.zeros((len(values), f.shape[1]))
    np.add.at(sums, inverse, f[members])
    centres = sums / np.bincount(inverse, minlength=len(values))[:, None]
    # the user is as close to a cluster as the farther of its mean selfie and its nearest selfie
    nearest_selfie = np.stack(
        [np.sqrt(_squared_distances(np.asarray(s, dtype=np.float64), centres)).min(0) for s in selfies]
    )
    to_centre = np.maximum(np.sqrt(_squared_distances(means, centres)), nearest_selfie)  # (u, clusters)
    face_to_centre = np.linalg.norm(f[members] - centres[inverse], axis=1)  # (members,)
    via = np.maximum(to_centre[:, inverse], face_to_centre[None, :])
    distances[:, members] = np.minimum(distances[:, members], via)
    return distances


def best_user_only(distances: np.ndarray) -> np.ndarray:
    """Mask (bool, like ``distances`` (u, n)): True where the user is the nearest to the face (ties: all
    the nearest)."""
    d = np.asarray(distances)
    if not d.size:
        return np.ones(d.shape, dtype=bool)
    nearest: np.ndarray = d <= d.min(axis=0, keepdims=True)
    return nearest


def matches_from_distances(
    user_ids: Sequence[str],
    distances: np.ndarray,
    face_photo_keys: Sequence[str],
    min_confidence: float,
    keep: np.ndarray | None = None,
) -> list[Match]:
    """One :class:`Match` per user x photo whose best kept face reaches ``min_confidence`` (sorted as
    :func:`match_users` sorts them). ``keep`` (bool, like ``distances``) leaves faces out per user."""
    confidence = confidence_of_distance(np.asarray(distances, dtype=np.float64))
    if keep is not None:
        confidence = np.where(keep, confidence, -1.0)
    keys = np.asarray(face_photo_keys, dtype=object)
    found: list[Match] = []
    for row, user_id in enumerate(user_ids):
        hits = np.flatnonzero(confidence[row] >= min_confidence)
        # best face per photo: highest confidence, then lowest row
        order = hits[np.lexsort((hits, -confidence[row, hits]))]
        seen: set[str] = set()
        for face in order.tolist():
            key = str(keys[face])
            if key not in seen:
                seen.add(key)
                found.append(Match(user_id, key, float(confidence[row, face]), int(face)))
    found.sort(key=lambda m: (m.user_id, -m.confidence, m.photo_key))
    return found


def match_users(
    users: Mapping[str, np.ndarray],
    face_photo_keys: Sequence[str],
    face_embeddings: np.ndarray,
    min_confidence: float,
    *,
    face_clusters: np.ndarray | Sequence[int] | None = None,
    exclusive: bool = True,
) -> list[Match]:
    """Every user x photo whose best face reaches ``min_confidence`` (see the module docstring).

    ``users`` maps a user id to its selfie embeddings (shape (k, d), k >= 1; a (d,) vector is one
    selfie); ``face_photo_keys`` and ``face_embeddings`` (n, d) hold one row per face of the event;
    ``face_clusters`` (n,) the event cluster of each face (:data:`NO_CLUSTER` for none), e.g. the person
    ids of the cluster stage, or ``None`` to compare faces one by one; ``exclusive`` gives each face to
    its nearest user only. Returns one record per user x photo, sorted by user, then confidence (highest
    first), then photo key; ``face_index`` is the row of the photo's best face.
    """
    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"min_confidence must be in [0, 1]; got {min_confidence}")
    faces = np.asarray(face_embeddings, dtype=np.float64)
    if faces.ndim != 2:
        raise ValueError(f"face_embeddings must have shape (n, d); got {faces.shape}")
    n, dim = faces.shape
    if len(face_photo_keys) != n:
        raise ValueError(f"face_photo_keys must have {n} entries (one per face); got {len(face_photo_keys)}")
    if not np.isfinite(faces).all():
        raise ValueError("face_embeddings must be finite")
    clusters = None
    if face_clusters is not None:
        clusters = np.asarray(face_clusters, dtype=np.int64)
        if clusters.shape != (n,):
            raise ValueError(f"face_clusters must have shape ({n},); got {clusters.shape}")
    ids, selfies = _selfie_arrays(users, dim)
    if not ids or not n:
        return []
    distances = face_distances(selfies, faces, clusters)
    keep = best_user_only(distances) if exclusive else None
    return matches_from_distances(ids, distances, face_photo_keys, min_confidence, keep)


def bucket(confidence: float, settings: Settings) -> Bucket:
    """``definitely`` from ``settings.match_definitely_confidence``, ``probably`` from
    ``settings.match_probably_confidence``, else ``ignore``."""
    if confidence >= settings.match_definitely_confidence:
        return "definitely"
    if confidence >= settings.match_probably_confidence:
        return "probably"
    return "ignore"
