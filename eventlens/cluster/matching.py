"""Which existing person each new cluster continues: an optimal assignment on face overlap.

The partition is computed from scratch every run (:mod:`eventlens.cluster.partition`); this module puts
the persons of the previous run back on it. A cluster holding faces a user pinned to a person continues
that person. The other clusters and persons are matched by :func:`scipy.optimize.linear_sum_assignment`
on the number of faces they share (the total of shared faces is maximal), each person continued by at
most one cluster and only by one that holds some of its faces. Ties go to the cluster holding the
person's earliest faces in the stable (photo sha256, face index) order, so the result depends on the
faces only, never on ids or on the order in which clusters are listed.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

NONE = -1


def continue_persons(
    cluster: np.ndarray, previous: np.ndarray, pinned: np.ndarray, existing: Collection[int]
) -> dict[int, int]:
    """Cluster label -> id of the existing person it continues.

    Per face, in the stable order: ``cluster`` its new cluster label, ``previous`` its person of the last
    run and ``pinned`` the person a user assigned it to (both :data:`NONE` when there is none). Persons
    not in ``existing`` are ignored. A cluster pinned to two persons takes the one of its first pinned face
    (the partition never produces one).
    """
    from scipy.optimize import linear_sum_assignment  # noqa: PLC0415 - scipy only when the stage runs

    cluster = np.asarray(cluster, dtype=np.int64)
    known = set(existing)
    result: dict[int, int] = {}
    for i in range(len(cluster)):
        pid = int(pinned[i])
        if pid in known and int(cluster[i]) not in result and pid not in result.values():
            result[int(cluster[i])] = pid
    taken = set(result.values())
    faces = [
        i
        for i in range(len(cluster))
        if int(previous[i]) in known and int(previous[i]) not in taken and int(cluster[i]) not in result
    ]
    if not faces:
        return result
    rows = sorted({int(cluster[i]) for i in faces})
    cols = sorted({int(previous[i]) for i in faces})
    row_of = {c: k for k, c in enumerate(rows)}
    col_of = {p: k for k, p in enumerate(cols)}
    overlap = np.zeros((len(rows), len(cols)))
    earliest = np.zeros((len(rows), len(cols)))  # sum of 2**-(rank of the face among its person's faces)
    rank: dict[int, int] = {}
    for i in faces:  # ascending: the stable order
        r, c = row_of[int(cluster[i])], col_of[int(previous[i])]
        k = rank.get(c, 0)
        rank[c] = k + 1
        overlap[r, c] += 1
        earliest[r, c] += 2.0 ** -(k + 1)
    # the tie-break weighs less than one face in total: at most min(rows, cols) pairs, each below 1
    weight = overlap + earliest / (min(len(rows), len(cols)) + 1)
    for r, c in zip(*linear_sum_assignment(weight, maximize=True), strict=True):
        if overlap[r, c] > 0:
            result[rows[r]] = cols[c]
    return result
