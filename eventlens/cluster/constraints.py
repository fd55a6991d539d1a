"""Undoing wrong merges: one person appears at most once per photo, and one person's faces hang together.

Same-photo conflicts:

A cluster holding two faces of the same photo is certainly wrong somewhere. Such a cluster is clustered
again on its own, with the threshold lowered in steps, until its parts are free of same-photo pairs or the
floor is reached. Any conflict left at the floor is resolved by keeping, per photo, the face closest to its
part's mean embedding and taking the others out (they become singletons, i.e. unassigned unless they join
something else later).

Loose clusters: Chinese Whispers can join two people through a chain of a few close pairs. Each cluster of
:data:`MIN_SPLIT_SIZE` faces or more is checked with average linkage: if its two top-level halves are on
average farther apart than :data:`SPLIT_AVERAGE_DISTANCE`, it is cut in two (and the halves checked
again). Different people's clusters sit >= 0.67 apart on average on the identity set, one person's
halves <= 0.59 (BENCHMARKS.md).

Both are functions of one cluster's faces alone (:func:`resolve_same_photo`, :func:`split_loose_cluster`,
with local labels), so a cluster that did not change is split exactly as before whatever else was added.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from eventlens.cluster.chinese_whispers import chinese_whispers, threshold_graph

THRESHOLD_STEP = 0.03
THRESHOLD_FLOOR_DROP = 0.15


def _has_conflict(members: Sequence[int], photo: Sequence[str]) -> bool:
    seen: set[str] = set()
    for i in members:
        if photo[i] in seen:
            return True
        seen.add(photo[i])
    return False


def resolve_same_photo(
    embeddings: np.ndarray, photo: Sequence[str], threshold: float, fixed: np.ndarray | None = None
) -> tuple[np.ndarray, bool]:
    """Local labels (``0..k-1``) of ONE cluster's faces with its same-photo conflicts removed, and whether
    it had one. A function of this cluster's faces alone (in their given order): the parts are ordered
    largest first (ties: first face first), so label 0 is the largest part; faces taken out of a part
    follow as singletons. ``fixed`` faces (assigned by a person) are never taken out."""
    n = len(photo)
    frozen = np.zeros(n, dtype=bool) if fixed is None else np.asarray(fixed, dtype=bool)
    labels = np.zeros(n, dtype=np.int64)
    if n < 2 or not _has_conflict(range(n), photo):
        return labels, False
    x = np.asarray(embeddings)
    parts = _split(np.arange(n), x, photo, threshold - THRESHOLD_STEP, threshold - THRESHOLD_FLOOR_DROP)
    parts.sort(key=lambda p: (-len(p), int(p.min())))
    next_label = 0
    for part in parts:
        labels[part] = next_label
        next_label += 1
        for loner in _conflict_losers(part, x, photo, frozen):
            labels[loner] = next_label
            next_label += 1
    return labels, True


def split_same_photo_conflicts(
    embeddings: np.ndarray,
    labels: np.ndarray,
    photo: Sequence[str],
    threshold: float,
    fixed: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """:func:`resolve_same_photo` applied to every cluster of ``labels``: labels with same-photo conflicts
    removed, and the number of clusters that had one. The largest part keeps the cluster's label; new
    labels are allocated above the current maximum."""
    labels = np.array(labels, dtype=np.int64)
    frozen = np.zeros(len(labels), dtype=bool) if fixed is None else np.asarray(fixed, dtype=bool)
    out = labels.copy()
    next_label = int(labels.max(initial=-1)) + 1
    conflicted = 0
    for lab in np.unique(labels).tolist():
        members = np.flatnonzero(labels == lab)
        local, had = resolve_same_photo(
            embeddings[members], [photo[int(i)] for i in members], threshold, frozen[members]
        )
        conflicted += had
        for k in range(1, int(local.max(initial=0)) + 1):
            out[members[local == k]] = next_label
            next_label += 1
    return out, conflicted


def _split(
    members: np.ndarray, embeddings: np.ndarray, photo: Sequence[str], threshold: float, floor: float
) -> list[np.ndarray]:
    """Recluster ``members`` at ``threshold``; parts that still conflict go one step lower."""
    if threshold < floor or len(members) < 2:
        return [members]
    sub = chinese_whispers(threshold_graph(embeddings[members], threshold))
    parts: list[np.ndarray] = []
    for value in np.unique(sub):
        part = members[sub == value]
        if _has_conflict(part.tolist(), photo):
            parts.extend(_split(part, embeddings, photo, threshold - THRESHOLD_STEP, floor))
        else:
            parts.append(part)
    return parts


def _conflict_losers(
    part: np.ndarray, embeddings: np.ndarray, photo: Sequence[str], fixed: np.ndarray
) -> list[int]:
    """Faces to take out of ``part`` so that each photo keeps only its face closest to the part's mean."""
    counts = Counter(photo[i] for i in part)
    if max(counts.values(), default=0) < 2:
        return []
    centroid = embeddings[part].mean(0)
    losers: list[int] = []
    for shown in (p for p, c in counts.items() if c > 1):
        same = [int(i) for i in part if photo[i] == shown]
        keep = min(same, key=lambda i: (not fixed[i], float(np.linalg.norm(embeddings[i] - centroid))))
        losers.extend(i for i in same if i != keep and not fixed[i])
    return losers


#: clusters whose two average-linkage halves are farther apart than this (Euclidean) are two people
SPLIT_AVERAGE_DISTANCE = 0.68
MIN_SPLIT_SIZE = 4


def _top_split(embeddings: np.ndarray) -> tuple[np.ndarray, float]:
    """Mask of one of the two halves at the top of the average-linkage tree, and their average distance."""
    from scipy.cluster.hierarchy import linkage, to_tree  # noqa: PLC0415 - only when a cluster is checked
    from scipy.spatial.distance import pdist  # noqa: PLC0415

    tree = to_tree(linkage(pdist(embeddings.astype(np.float64)), method="average"))
    mask = np.zeros(len(embeddings), dtype=bool)
    mask[tree.get_left().pre_order()] = True
    return mask, float(tree.dist)


def split_loose_cluster(embeddings: np.ndarray, max_distance: float = SPLIT_AVERAGE_DISTANCE) -> np.ndarray:
    """Local labels (``0..k-1``) of ONE cluster's faces after cutting it at its average-linkage top split
    while the halves are farther apart than ``max_distance`` (the halves checked again); a function of
    this cluster's embeddings alone. Label 0 is the part that kept the larger half at every cut."""
    x = np.asarray(embeddings)
    labels = np.zeros(len(x), dtype=np.int64)
    pending = [0]
    next_label = 1
    while pending:
        lab = pending.pop()
        members = np.flatnonzero(labels == lab)
        if len(members) < MIN_SPLIT_SIZE:
            continue
        half, distance = _top_split(x[members])
        if distance <= max_distance:
            continue
        smaller = half if half.sum() <= len(half) / 2 else ~half  # the larger half keeps the label
        labels[members[smaller]] = next_label
        pending += [lab, next_label]
        next_label += 1
    return labels


def split_loose_clusters(
    embeddings: np.ndarray, labels: np.ndarray, max_distance: float = SPLIT_AVERAGE_DISTANCE
) -> tuple[np.ndarray, int]:
    """:func:`split_loose_cluster` applied to every cluster of ``labels``: labels with every loose cluster
    cut, and the number of cuts. New labels are allocated above the current maximum."""
    labels = np.array(labels, dtype=np.int64)
    out = labels.copy()
    next_label = int(labels.max(initial=-1)) + 1
    cuts = 0
    for lab in np.unique(labels).tolist():
        members = np.flatnonzero(labels == lab)
        local = split_loose_cluster(embeddings[members], max_distance)
        for k in range(1, int(local.max(initial=0)) + 1):
            out[members[local == k]] = next_label
            next_label += 1
            cuts += 1
    return out, cuts
