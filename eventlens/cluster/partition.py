"""From face embeddings to a partition into persons: the algorithm of the cluster stage, without a catalog.

1. Link faces whose embedding distance is below ``threshold`` (:func:`threshold_graph`).
2. Run Chinese Whispers ``runs`` times with different visiting orders (seeds ``0..runs-1``), each starting
   from ``initial`` labels (the persons of the previous run) with ``fixed`` faces pinned.
3. Keep the links on which at least half of the runs agree and take connected components: a consensus
   that removes Chinese Whispers' dependence on the order of the faces (one run's F1 varies by about
   0.01 with the order; the consensus does not).
4. Split components holding two faces of one photo, and components whose two halves are far apart on
   average (:mod:`eventlens.cluster.constraints`).

The returned labels are component ids (``0..k-1``), not person ids; the stage maps them to persons.
Deterministic for the same inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from eventlens.cluster.chinese_whispers import Graph, chinese_whispers, threshold_graph
from eventlens.cluster.constraints import split_loose_clusters, split_same_photo_conflicts

#: Chinese Whispers runs whose agreement forms the consensus (measured: 8 runs give the same partitions as
#: 20 on the identity set, see BENCHMARKS.md)
CONSENSUS_RUNS = 8
#: share of runs that must put two linked faces together for the link to be kept
CONSENSUS_AGREEMENT = 0.5


def _components(n: int, edges_i: np.ndarray, edges_j: np.ndarray) -> np.ndarray:
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return int(i)

    for i, j in zip(edges_i.tolist(), edges_j.tolist(), strict=True):
        a, b = find(i), find(j)
        if a != b:
            parent[max(a, b)] = min(a, b)
    roots = np.array([find(i) for i in range(n)], dtype=np.int64)
    _, labels = np.unique(roots, return_inverse=True)
    return labels.astype(np.int64)


def consensus_whispers(
    graph: Graph,
    initial: np.ndarray | None = None,
    fixed: np.ndarray | None = None,
    runs: int = CONSENSUS_RUNS,
    agreement: float = CONSENSUS_AGREEMENT,
) -> np.ndarray:
    """Component labels of the links that at least ``agreement`` of ``runs`` Chinese Whispers runs keep."""
    n = graph.num_nodes
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    rows = np.repeat(np.arange(n), np.diff(graph.indptr))
    cols = graph.indices
    upper = rows < cols
    rows, cols = rows[upper], cols[upper]
    together = np.zeros(len(rows), dtype=np.int64)
    for seed in range(runs):
        labels = chinese_whispers(graph, initial=initial, fixed=fixed, seed=seed)
        together += labels[rows] == labels[cols]
    keep = together >= agreement * runs
    return _components(n, rows[keep], cols[keep])


def partition_faces(
    embeddings: np.ndarray,
    photo: Sequence[str],
    threshold: float,
    initial: np.ndarray | None = None,
    fixed: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """Component label per face (int64, shape (n,)) and the number of components split for holding two
    faces of one photo; see the module docstring."""
    graph = threshold_graph(embeddings, threshold)
    labels = consensus_whispers(graph, initial, fixed)
    labels, conflicts = split_same_photo_conflicts(embeddings, labels, photo, threshold, fixed)
    labels, _cuts = split_loose_clusters(embeddings, labels)
    _, dense = np.unique(labels, return_inverse=True)
    return dense.astype(np.int64), conflicts
