"""Undoing wrong merges: one person appears at most once per photo, and one person's faces hang together.

Same-photo conflicts:

A cluster holding two faces of the same photo is certainly wrong somewhere. Such a cluster is clustered
again on its own, with the threshold lowered in steps, until its parts are free of same-photo pairs or the
floor is reached; the largest part keeps the cluster's label (so person ids stay stable). Any conflict left
at the floor is resolved by keeping, per photo, the face closest to its part's mean embedding and taking
the others out (they become singletons, i.e. unassigned unless they join something else later).

Loose clusters: Chinese Whispers can join two people through a chain of a few close pairs. Each cluster of
:data:`MIN_SPLIT_SIZE` faces or more is checked with average linkage: if its two top-level halves are on
average farther apart than :data:`SPLIT_AVERAGE_DISTANCE`, it is cut in two (and the halves checked
again). Different people's clusters sit >= 0.67 apart on average on the identity set, one person's
halves <= 0.59 (BENCHMARKS.md).
"""

from __future__ import annotations

from collections import Counter, defaultdict
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


def split_same_photo_conflicts(
    embeddings: np.ndarray,
    labels: np.ndarray,
    photo: Sequence[str],
    threshold: float,
    fixed: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """Labels with same-photo conflicts removed, and the number of clusters that had one.

    New labels are allocated above the current maximum; ``fixed`` faces (assigned by a person) keep
    their label and are never taken out.
    """
    labels = np.array(labels, dtype=np.int64)
    frozen = np.zeros(len(labels), dtype=bool) if fixed is None else np.asarray(fixed, dtype=bool)
    next_label = int(labels.max(initial=-1)) + 1
    groups: dict[int, list[int]] = defaultdict(list)
    for i, lab in enumerate(labels):
        groups[int(lab)].append(i)
    conflicted = 0
    for lab, members in sorted(groups.items()):
        if len(members) < 2 or not _has_conflict(members, photo):
            continue
        conflicted += 1
        floor = threshold - THRESHOLD_FLOOR_DROP
        parts = _split(np.array(members), embeddings, photo, threshold - THRESHOLD_STEP, floor)
        parts.sort(key=lambda p: (-len(p), int(p.min())))
        for k, part in enumerate(parts):
            target = lab if k == 0 else next_label
            next_label += k != 0
            labels[part] = target
            for loner in _conflict_losers(part, embeddings, photo, frozen):
                labels[loner] = next_label
                next_label += 1
    return labels, conflicted


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
    losers = []
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


def split_loose_clusters(
    embeddings: np.ndarray, labels: np.ndarray, max_distance: float = SPLIT_AVERAGE_DISTANCE
) -> tuple[np.ndarray, int]:
    """Labels with every loose cluster cut at its average-linkage top split, and the number of cuts."""
    labels = np.array(labels, dtype=np.int64)
    next_label = int(labels.max(initial=-1)) + 1
    pending = [int(v) for v in np.unique(labels)]
    cuts = 0
    while pending:
        lab = pending.pop()
        members = np.flatnonzero(labels == lab)
        if len(members) < MIN_SPLIT_SIZE:
            continue
        half, distance = _top_split(embeddings[members])
        if distance <= max_distance:
            continue
        smaller = half if half.sum() <= len(half) / 2 else ~half  # the larger half keeps the label
        labels[members[smaller]] = next_label
        pending += [lab, next_label]
        next_label += 1
        cuts += 1
    return labels, cuts
