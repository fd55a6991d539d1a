"""Continuing persons: optimal assignment on face overlap, pinned faces decide, ties by the stable order."""

from __future__ import annotations

import numpy as np

from eventlens.cluster.matching import NONE, continue_persons


def _match(
    cluster: list[int], previous: list[int], pinned: list[int] | None = None, existing: set[int] | None = None
) -> dict[int, int]:
    pins = pinned if pinned is not None else [NONE] * len(cluster)
    known = existing if existing is not None else {p for p in previous if p != NONE}
    return continue_persons(np.array(cluster), np.array(previous), np.array(pins), known)


def test_the_same_partition_continues_the_same_persons() -> None:
    assert _match([0, 0, 1, 1, 2], [5, 5, 9, 9, NONE]) == {0: 5, 1: 9}


def test_the_assignment_is_optimal_not_greedy() -> None:
    # cluster 0 holds 3 faces of person 1 and 2 of person 2; cluster 1 holds 2 of person 1. Greedy by the
    # largest overlap gives person 1 to cluster 0 (3 faces kept); the optimum keeps 4: 0 -> 2, 1 -> 1.
    cluster = [0, 0, 0, 0, 0, 1, 1]
    previous = [1, 1, 1, 2, 2, 1, 1]
    assert _match(cluster, previous) == {0: 2, 1: 1}


def test_a_cluster_takes_only_a_person_it_shares_faces_with() -> None:
    assert _match([0, 0, 1, 1], [3, 3, NONE, NONE]) == {0: 3}


def test_pinned_faces_force_their_cluster_to_their_person() -> None:
    # cluster 0 mostly held person 4, but a user put one of its faces into person 8
    cluster = [0, 0, 0, 0, 1, 1]
    previous = [4, 4, 4, 8, 8, 8]
    pinned = [NONE, NONE, NONE, 8, NONE, NONE]
    assert _match(cluster, previous, pinned) == {0: 8}, "person 4 has no other cluster; 8 is pinned to 0"


def test_ties_go_to_the_cluster_with_the_persons_earliest_face() -> None:
    # person 6 split in two halves of two faces each: the half with its first face continues it
    assert _match([1, 0, 1, 0], [6, 6, 6, 6]) == {1: 6}
    assert _match([0, 1, 0, 1], [6, 6, 6, 6]) == {0: 6}
    # the cluster labels themselves do not matter, only the faces
    assert _match([7, 3, 7, 3], [6, 6, 6, 6]) == {7: 6}


def test_the_tie_break_never_outweighs_a_face() -> None:
    # cluster 0 has person 1's first faces, cluster 1 has one face more of it
    cluster = [0, 0, 1, 1, 1]
    assert _match(cluster, [1, 1, 1, 1, 1]) == {1: 1}


def test_persons_that_no_longer_exist_are_ignored() -> None:
    assert _match([0, 0], [5, 5], existing=set()) == {}
    assert _match([0, 0], [NONE, NONE], pinned=[5, NONE], existing=set()) == {}
