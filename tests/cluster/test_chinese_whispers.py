"""Chinese Whispers: deterministic, incremental (initial labels), and respectful of fixed nodes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventlens.cluster.chinese_whispers import chinese_whispers, pairwise_distances, threshold_graph


def _blobs(
    sizes: list[int], dim: int = 16, spread: float = 0.05, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Points around well-separated unit-vector centres; returns (points, true blob index)."""
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[: len(sizes)] * 2.0
    points = np.concatenate(
        [c + spread * rng.standard_normal((n, dim)) for c, n in zip(centres, sizes, strict=True)]
    )
    truth = np.repeat(np.arange(len(sizes)), sizes)
    return points.astype(np.float32), truth


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    return len(set(zip(a.tolist(), b.tolist(), strict=True))) == len(set(a.tolist())) == len(set(b.tolist()))


def test_pairwise_distances() -> None:
    a = np.array([[0, 0], [3, 4]], dtype=np.float32)
    np.testing.assert_allclose(pairwise_distances(a, a), [[0, 5], [5, 0]], atol=1e-5)


def test_threshold_graph_links_close_pairs_symmetrically_without_self_loops() -> None:
    x = np.array([[0.0], [0.3], [1.0], [5.0]], dtype=np.float32)
    g = threshold_graph(x, 0.75)
    assert g.num_nodes == 4
    edges = {(i, int(j)) for i in range(4) for j in g.neighbours(i)[0]}
    assert edges == {(0, 1), (1, 0), (1, 2), (2, 1)}
    weighted = threshold_graph(x, 0.75, weighted=True)
    _, w = weighted.neighbours(0)
    np.testing.assert_allclose(w, [1 - 0.3 / 0.75], rtol=1e-5)


def test_threshold_graph_of_nothing() -> None:
    g = threshold_graph(np.zeros((0, 128), dtype=np.float32), 0.5)
    assert g.num_nodes == 0
    assert chinese_whispers(g).shape == (0,)


def test_two_well_separated_blobs_give_two_clusters() -> None:
    x, truth = _blobs([12, 9])
    labels = chinese_whispers(threshold_graph(x, 0.5))
    assert len(set(labels.tolist())) == 2
    assert _same_partition(labels, truth)


def test_isolated_nodes_keep_their_own_label() -> None:
    x, _ = _blobs([5, 1, 1])
    labels = chinese_whispers(threshold_graph(x, 0.5))
    assert labels[5] == 5 and labels[6] == 6
    assert len(set(labels[:5].tolist())) == 1


def test_deterministic_for_the_same_seed() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((80, 8)).astype(np.float32)  # no clear structure: order matters
    g = threshold_graph(x, 3.0)
    first = chinese_whispers(g, seed=7)
    for _ in range(3):
        np.testing.assert_array_equal(chinese_whispers(g, seed=7), first)


def test_initial_labels_are_kept_for_stable_clusters() -> None:
    x, truth = _blobs([6, 4])
    initial = np.where(truth == 0, 17, 42)
    labels = chinese_whispers(threshold_graph(x, 0.5), initial=initial)
    np.testing.assert_array_equal(labels, initial)


def test_new_nodes_join_the_existing_label_of_their_cluster() -> None:
    x, truth = _blobs([6, 4, 3])
    # the first 4 faces of blob 0 and the first 2 of blob 1 were clustered before (persons 1 and 2);
    # everything else is new and starts with a fresh label of its own (100 + index)
    initial = 100 + np.arange(len(x))
    old0 = np.flatnonzero(truth == 0)[:4]
    old1 = np.flatnonzero(truth == 1)[:2]
    initial[old0], initial[old1] = 1, 2
    labels = chinese_whispers(threshold_graph(x, 0.5), initial=initial)
    assert set(labels[truth == 0].tolist()) == {1}
    assert set(labels[truth == 1].tolist()) == {2}
    new_blob = labels[truth == 2]
    assert len(set(new_blob.tolist())) == 1 and new_blob[0] not in (1, 2)


def test_fixed_nodes_never_change() -> None:
    x, truth = _blobs([8])
    initial = np.zeros(len(x), dtype=np.int64)
    initial[0] = 5  # a face a user assigned by hand to another person, inside a cluster of label 0
    fixed = np.zeros(len(x), dtype=bool)
    fixed[0] = True
    labels = chinese_whispers(threshold_graph(x, 0.5), initial=initial, fixed=fixed)
    assert labels[0] == 5
    assert set(labels[1:].tolist()) == {0}


def test_initial_labels_must_match_the_graph() -> None:
    g = threshold_graph(np.zeros((3, 2), dtype=np.float32), 0.5)
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        chinese_whispers(g, initial=np.zeros(2))


@settings(deadline=None, max_examples=40)
@given(
    st.lists(st.integers(1, 6), min_size=1, max_size=5),
    st.integers(0, 2**16),
    st.data(),
)
def test_labels_come_from_initial_and_fixed_nodes_hold(
    sizes: list[int], seed: int, data: st.DataObject
) -> None:
    x, truth = _blobs(sizes, seed=seed)
    n = len(x)
    initial = np.array(data.draw(st.lists(st.integers(0, 20), min_size=n, max_size=n)), dtype=np.int64)
    fixed = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    labels = chinese_whispers(threshold_graph(x, 0.5), initial=initial, fixed=fixed, seed=seed)
    assert set(labels.tolist()) <= set(initial.tolist())
    np.testing.assert_array_equal(labels[fixed], initial[fixed])
    # labels spread along edges only: a node ends with a label that started in its own blob
    for i in range(n):
        assert labels[i] in set(initial[truth == truth[i]].tolist())


def test_a_cluster_of_two_distant_groups_is_cut_in_two() -> None:
    from eventlens.cluster.constraints import SPLIT_AVERAGE_DISTANCE, split_loose_clusters

    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 128))
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)  # ~1.4 apart
    noise = rng.standard_normal((12, 128)) * 0.01
    emb = np.concatenate([a + noise[:6], b + noise[6:]]).astype(np.float32)
    labels, cuts = split_loose_clusters(emb, np.zeros(12, dtype=np.int64))
    assert cuts == 1
    assert len(set(labels[:6].tolist())) == 1 and len(set(labels[6:].tolist())) == 1
    assert labels[0] != labels[6]
    tight, cuts = split_loose_clusters(emb[:6], np.zeros(6, dtype=np.int64))
    assert cuts == 0 and set(tight.tolist()) == {0}
    assert SPLIT_AVERAGE_DISTANCE < 1.4


def test_small_clusters_are_not_checked() -> None:
    from eventlens.cluster.constraints import MIN_SPLIT_SIZE, split_loose_clusters

    rng = np.random.default_rng(4)
    emb = rng.standard_normal((MIN_SPLIT_SIZE - 1, 128)).astype(np.float32)
    labels, cuts = split_loose_clusters(emb, np.zeros(len(emb), dtype=np.int64))
    assert cuts == 0 and set(labels.tolist()) == {0}


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wide_nodes_summed_with_numpy_give_the_loops_labels(
    monkeypatch: pytest.MonkeyPatch, weighted: bool, seed: int
) -> None:
    """Dense graphs (crowd events) take the bincount path for wide nodes; it must not change a label."""
    import eventlens.cluster.chinese_whispers as cw

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(6, 16))
    x = (centres[rng.integers(0, 6, 400)] + rng.normal(scale=0.35, size=(400, 16))).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    graph = threshold_graph(x, 0.9, weighted=weighted)
    assert np.diff(graph.indptr).mean() > 40  # mostly wide nodes
    fixed = np.zeros(400, dtype=bool)
    fixed[::50] = True
    results = []
    for wide_from in (10**9, 0, 32):  # the loop everywhere, numpy everywhere, the default mix
        monkeypatch.setattr(cw, "_WIDE_DEGREE", wide_from)
        results.append(chinese_whispers(graph, fixed=fixed, seed=seed))
    assert np.array_equal(results[0], results[1])
    assert np.array_equal(results[0], results[2])
    assert len(np.unique(results[0])) < 100  # it did cluster
