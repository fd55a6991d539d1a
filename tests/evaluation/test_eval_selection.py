"""The labelled-face rule, fresh clustering and item scoring, on synthetic boxes and embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from eventlens.evaluation.fresh_clusters import UNASSIGNED, cluster_embeddings, drop_small_clusters
from eventlens.evaluation.identities import (
    LabelledCatalog,
    LabelledPhoto,
    centrality_weight,
    label_of,
    labelled_face_index,
    score_labels,
    score_persons,
)


def test_centrality_weight() -> None:
    assert centrality_weight((40, 40, 60, 60), 100, 100) == pytest.approx(1.0)
    assert centrality_weight((90, 40, 110, 60), 100, 100) == pytest.approx(0.0)  # centre on the right edge
    assert centrality_weight((0, 0, 10, 10), 100, 100) == 0.0  # corner: clamped, not negative
    # per-axis normalisation: a quarter of the width off-centre weighs the same in a wide photo
    assert centrality_weight((65, 40, 85, 60), 100, 100) == pytest.approx(
        centrality_weight((130, 40, 170, 60), 200, 100)
    )


def test_the_largest_most_central_face_is_labelled() -> None:
    central_small = (80, 80, 120, 120)  # area 1600, weight 1
    edge_large = (150, 60, 200, 140)  # area 4000, centre (175, 100): distance 0.375 -> weight 0.25
    assert labelled_face_index([edge_large, central_small], 200, 200) == 1
    bigger_central = (60, 60, 140, 140)
    assert labelled_face_index([central_small, bigger_central], 200, 200) == 1


def test_labelled_face_ties_and_empty() -> None:
    assert labelled_face_index([], 100, 100) is None
    corners = [(0, 0, 10, 10), (90, 90, 100, 100), (0, 80, 20, 100)]  # all weigh 0: the larger wins
    assert labelled_face_index(corners, 100, 100) == 2
    same = [(40, 40, 60, 60), (40, 40, 60, 60)]
    assert labelled_face_index(same, 100, 100) == 0


def test_label_of() -> None:
    assert label_of("Ariel_Sharon/a.jpg") == "Ariel_Sharon"
    assert label_of("Ariel_Sharon/sub/a.jpg") == "Ariel_Sharon"
    assert label_of("MANIFEST.md") is None


def test_drop_small_clusters() -> None:
    labels = np.array([5, 5, 5, 9, 9, 2])
    np.testing.assert_array_equal(drop_small_clusters(labels, 1), labels)
    np.testing.assert_array_equal(drop_small_clusters(labels, 2), [5, 5, 5, 9, 9, UNASSIGNED])
    np.testing.assert_array_equal(drop_small_clusters(labels, 3), [5, 5, 5, -1, -1, -1])
    assert drop_small_clusters(np.zeros(0, np.int64), 2).shape == (0,)


def test_cluster_embeddings_groups_close_faces() -> None:
    rng = np.random.default_rng(0)
    a, b, lone = rng.normal(size=(3, 128))
    a, b, lone = (v / np.linalg.norm(v) for v in (a, b, lone))
    emb = np.stack([a, a + 0.01, a - 0.01, b, b + 0.01, lone]).astype(np.float32)
    labels = cluster_embeddings(emb, threshold=0.5, min_faces=2)
    assert labels[0] == labels[1] == labels[2] != labels[3]
    assert labels[3] == labels[4] != UNASSIGNED
    assert labels[5] == UNASSIGNED


def test_cluster_embeddings_splits_two_faces_of_one_photo() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=128)
    a /= np.linalg.norm(a)
    noise = rng.normal(size=(4, 128))
    noise *= 0.05 / np.linalg.norm(noise, axis=1, keepdims=True)
    emb = (a + noise).astype(np.float32)  # four faces, all within 0.1 of each other
    assert len(set(cluster_embeddings(emb, threshold=0.3, min_faces=1).tolist())) == 1
    split = cluster_embeddings(emb, threshold=0.3, min_faces=1, photo=["p1", "p2", "p3", "p1"])
    assert split[0] != split[3]


def _catalog() -> LabelledCatalog:
    """Five labelled photos: faces 10, 11 (a), 12 (a, small), none (a); 13 (b), 14 (b)."""
    photos = [
        LabelledPhoto("s1", "a", True, 10),
        LabelledPhoto("s2", "a", True, 11),
        LabelledPhoto("s3", "a", True, None),  # no face detected
        LabelledPhoto("s4", "b", True, 13),
        LabelledPhoto("s5", "b", True, 14),
        LabelledPhoto("s6", "a", True, 12),  # its face is not clustered (e.g. too small)
    ]
    person_of_face = {10: 1, 11: 1, 12: None, 13: 2, 14: None, 15: 2}
    ids = np.array([10, 11, 13, 14, 15], dtype=np.int64)
    return LabelledCatalog(photos, person_of_face, ids, np.zeros((5, 128), np.float32))


def test_score_persons_counts_faceless_and_unassigned_as_singletons() -> None:
    s = score_persons(_catalog())
    # s1, s2 -> person 1; s4 -> person 2; s3 (no face), s5 (unassigned), s6 (not clustered) are alone.
    # Predicted pairs: {s1, s2}, correct -> P = 1. True pairs: 6 among the four a's + 1 -> R = 1/7.
    assert s.pairwise.precision == 1.0
    assert s.pairwise.recall == pytest.approx(1 / 7)
    assert s.items == 6 and s.clusters == 5


def test_score_labels_uses_positions_of_clustered_faces() -> None:
    data = _catalog()
    labels = np.array([0, 0, 3, 3, UNASSIGNED])  # faces 10, 11 | 13, 14 | 15 alone
    s = score_labels(data, labels)
    assert s.pairwise.precision == 1.0
    assert s.pairwise.recall == pytest.approx(2 / 7)
    merged = score_labels(data, np.array([0, 0, 0, 0, 0]))
    assert merged.pairwise.precision < 1.0
