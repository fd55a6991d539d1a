"""Pairwise and BCubed scores on hand-computed examples."""

from __future__ import annotations

import pytest

from eventlens.evaluation.metrics import PRF, score_clustering


def test_perfect_clustering_scores_one() -> None:
    s = score_clustering(["c1", "c1", "c2", "c2", "c2"], ["x", "x", "y", "y", "y"])
    assert (s.pairwise.precision, s.pairwise.recall, s.bcubed.precision, s.bcubed.recall) == (1, 1, 1, 1)
    assert (s.items, s.clusters, s.labels) == (5, 2, 2)


def test_cluster_ids_need_not_match_label_names() -> None:
    s = score_clustering([7, 7, 3], ["a", "a", "b"])
    assert s.pairwise.f1 == 1.0 and s.bcubed.f1 == 1.0


def test_all_singletons() -> None:
    # truth x, x, y: one true pair, no predicted pair -> pairwise P is 1 by convention, R = 0.
    # BCubed: every item is alone -> P = 1; R = (1/2 + 1/2 + 1/1) / 3 = 2/3.
    s = score_clustering([None, None, None], ["x", "x", "y"])
    assert s.pairwise.precision == 1.0 and s.pairwise.recall == 0.0
    assert s.bcubed.precision == 1.0
    assert s.bcubed.recall == pytest.approx(2 / 3)
    assert s.clusters == 3


def test_none_never_groups_items() -> None:
    s = score_clustering([None, None], ["x", "x"])
    assert s.pairwise.recall == 0.0 and s.bcubed.recall == pytest.approx(0.5)


def test_one_wrong_merge() -> None:
    # truth x, x, y, y all in one cluster: 6 predicted pairs, 2 correct -> P = 1/3, R = 1.
    # BCubed P: each item shares its cluster of 4 with 2 of its label -> 1/2; R = 1; F = 2/3.
    s = score_clustering(["c"] * 4, ["x", "x", "y", "y"])
    assert s.pairwise.precision == pytest.approx(1 / 3) and s.pairwise.recall == 1.0
    assert s.bcubed.precision == pytest.approx(0.5) and s.bcubed.recall == 1.0
    assert s.bcubed.f1 == pytest.approx(2 / 3)


def test_mixed_example() -> None:
    # truth a a a b b; predicted 1 1 2 2 None.
    # pairwise: correct pairs {0,1} = 1; predicted pairs {0,1}, {2,3} = 2; true pairs 3 + 1 = 4.
    # BCubed P = (1 + 1 + 1/2 + 1/2 + 1) / 5 = 4/5; R = (2/3 + 2/3 + 1/3 + 1/2 + 1/2) / 5 = 8/15.
    s = score_clustering([1, 1, 2, 2, None], ["a", "a", "a", "b", "b"])
    assert s.pairwise.precision == pytest.approx(0.5)
    assert s.pairwise.recall == pytest.approx(0.25)
    assert s.bcubed.precision == pytest.approx(0.8)
    assert s.bcubed.recall == pytest.approx(8 / 15)
    assert s.clusters == 3 and s.labels == 2


def test_f1_and_rounding() -> None:
    assert PRF(0.0, 0.0).f1 == 0.0
    assert PRF(0.5, 1.0).f1 == pytest.approx(2 / 3)
    d = score_clustering([1, 1, 2, 2, None], ["a", "a", "a", "b", "b"]).as_dict()
    assert d["bcubed_recall"] == 0.5333 and d["pairwise_f1"] == 0.3333


def test_invalid_input() -> None:
    with pytest.raises(ValueError, match="items"):
        score_clustering([1], ["a", "b"])
    with pytest.raises(ValueError, match="no items"):
        score_clustering([], [])
