"""From face embeddings to a partition into persons: the algorithm of the cluster stage, without a catalog.

The partition is a pure function of the faces (in the caller's stable order), their embeddings, the faces
pinned by hand and the threshold; it never sees the persons of an earlier run, so re-running it on the
same faces gives the same partition, and the stage maps it to persons afterwards
(:mod:`eventlens.cluster.matching`).

1. Link faces whose embedding distance is below ``threshold`` (:func:`threshold_graph`) and take the
   connected components of that graph. Everything below runs per component, from the component's own
   faces only (local indices in the given order, fixed seeds), so a component that gained no face is
   partitioned exactly as before, whatever was added elsewhere.
2. Run Chinese Whispers ``runs`` times with different visiting orders (seeds ``0..runs-1``); every face
   starts with its own label, pinned faces with their pin's and never move.
3. Keep the links on which at least half of the runs agree and take connected components: a consensus
   that removes Chinese Whispers' dependence on the order of the faces (one run's F1 varies by about
   0.01 with the order; the consensus does not). A consensus cluster holding faces pinned to two persons
   is divided: every face goes to the nearest pinned face over the kept links.
4. Split clusters holding two faces of one photo, and clusters whose two halves are far apart on average
   (:mod:`eventlens.cluster.constraints`).
5. Clusters holding faces pinned to the same person are one cluster (a person said they are one).

The returned labels are cluster ids (``0..k-1``, numbered by each cluster's first face), not person ids.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from eventlens.cluster.chinese_whispers import Graph, chinese_whispers, threshold_graph
from eventlens.cluster.constraints import resolve_same_photo, split_loose_cluster

#: Chinese Whispers runs whose agreement forms the consensus (measured: 8 runs give the same partitions as
#: 20 on the identity set, see BENCHMARKS.md)
CONSENSUS_RUNS = 8
#: share of runs that must put two linked faces together for the link to be kept
CONSENSUS_AGREEMENT = 0.5
#: pin of a face nobody assigned by hand
FREE = -1


def _union_find(n: int, edges_i: np.ndarray, edges_j: np.ndarray) -> np.ndarray:
    """Component labels ``0..k-1`` numbered by each component's first node."""
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(edges_i.tolist(), edges_j.tolist(), strict=True):
        a, b = find(i), find(j)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return first_face_labels(np.array([find(i) for i in range(n)], dtype=np.int64))


def first_face_labels(labels: np.ndarray) -> np.ndarray:
    """``labels`` renumbered ``0..k-1`` in the order of each cluster's first face: the same partition
    always gets the same labels, whatever values it came with."""
    labels = np.asarray(labels, dtype=np.int64)
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inverse.reshape(-1)]


def _links(graph: Graph) -> tuple[np.ndarray, np.ndarray]:
    """Each undirected edge once, as ``(i, j)`` with ``i < j``."""
    rows = np.repeat(np.arange(graph.num_nodes), np.diff(graph.indptr))
    upper = rows < graph.indices
    return rows[upper], graph.indices[upper]


def consensus_links(
    graph: Graph,
    initial: np.ndarray | None = None,
    fixed: np.ndarray | None = None,
    runs: int = CONSENSUS_RUNS,
    agreement: float = CONSENSUS_AGREEMENT,
) -> tuple[np.ndarray, np.ndarray]:
    """The links ``(i, j)`` that at least ``agreement`` of ``runs`` Chinese Whispers runs keep together."""
    rows, cols = _links(graph)
    together = np.zeros(len(rows), dtype=np.int64)
    for seed in range(runs):
        labels = chinese_whispers(graph, initial=initial, fixed=fixed, seed=seed)
        together += labels[rows] == labels[cols]
    keep = together >= agreement * runs
    return rows[keep], cols[keep]


def consensus_whispers(
    graph: Graph,
    initial: np.ndarray | None = None,
    fixed: np.ndarray | None = None,
    runs: int = CONSENSUS_RUNS,
    agreement: float = CONSENSUS_AGREEMENT,
) -> np.ndarray:
    """Component labels of the links that at least ``agreement`` of ``runs`` Chinese Whispers runs keep."""
    rows, cols = consensus_links(graph, initial, fixed, runs, agreement)
    return _union_find(graph.num_nodes, rows, cols)


def _nearest_pin(n: int, rows: np.ndarray, cols: np.ndarray, start: np.ndarray) -> np.ndarray:
    """For every node, the start label of the nearest pinned node over the links (breadth first; ties go to
    the smaller label), or -1 if none is reachable. ``start`` is -1 for free nodes."""
    neighbours: list[list[int]] = [[] for _ in range(n)]
    for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
        neighbours[i].append(j)
        neighbours[j].append(i)
    owner = [int(v) for v in start]
    frontier = sorted((owner[i], i) for i in range(n) if owner[i] >= 0)
    while frontier:
        claimed: dict[int, int] = {}
        for label, i in frontier:
            for j in neighbours[i]:
                if owner[j] < 0 and j not in claimed:
                    claimed[j] = label
        for j, label in claimed.items():
            owner[j] = label
        frontier = sorted((label, j) for j, label in claimed.items())
    return np.array(owner, dtype=np.int64)


def _partition_component(
    graph: Graph, embeddings: np.ndarray, photo: Sequence[str], threshold: float, pins: np.ndarray
) -> tuple[np.ndarray, int]:
    """Local cluster labels of one connected component, and how many of its clusters had a same-photo
    conflict; a function of this component's faces alone (local indices, fixed seeds)."""
    n = graph.num_nodes
    if n == 1:
        return np.zeros(1, dtype=np.int64), 0
    fixed = pins != FREE
    # a pinned face starts with the label of its pin's first face here: pinned faces stay together
    first_of_pin: dict[int, int] = {}
    start = np.full(n, -1, dtype=np.int64)
    for i in np.flatnonzero(fixed).tolist():
        start[i] = first_of_pin.setdefault(int(pins[i]), i)
    initial = np.where(fixed, start, np.arange(n))
    rows, cols = consensus_links(graph, initial, fixed)
    labels = _union_find(n, rows, cols)
    if len(first_of_pin) > 1:  # one cluster must not hold faces pinned to two persons
        nearest = _nearest_pin(n, rows, cols, start)
        labels = first_face_labels(labels * (n + 1) + nearest + 1)
    out = np.zeros(n, dtype=np.int64)
    next_label = 0
    conflicts = 0
    for lab in range(int(labels.max()) + 1):
        members = np.flatnonzero(labels == lab)
        parts, had = resolve_same_photo(
            embeddings[members], [photo[int(i)] for i in members], threshold, fixed[members]
        )
        conflicts += had
        for part in range(int(parts.max()) + 1):
            part_members = members[parts == part]
            loose = split_loose_cluster(embeddings[part_members])
            out[part_members] = next_label + loose
            next_label += int(loose.max()) + 1
    return first_face_labels(out), conflicts


def _components(graph: Graph) -> Iterator[tuple[np.ndarray, Graph]]:
    """The connected components: their nodes (ascending) and their subgraph in local indices."""
    from scipy.sparse import csr_matrix  # noqa: PLC0415 - scipy only when the stage runs
    from scipy.sparse.csgraph import connected_components  # noqa: PLC0415

    n = graph.num_nodes
    adjacency = csr_matrix((graph.weights, graph.indices, graph.indptr), shape=(n, n))
    count, comp = connected_components(adjacency, directed=False)
    nodes = np.argsort(comp, kind="stable")  # grouped by component, ascending within one
    node_start = np.concatenate([[0], np.cumsum(np.bincount(comp, minlength=count))])
    local = np.empty(n, dtype=np.int64)
    local[nodes] = np.arange(n) - node_start[comp[nodes]]
    rows = np.repeat(np.arange(n), np.diff(graph.indptr))
    edges = np.argsort(comp[rows], kind="stable")  # grouped by component, in CSR order within one
    edge_start = np.concatenate([[0], np.cumsum(np.bincount(comp[rows], minlength=count))])
    for k in range(count):
        members = nodes[node_start[k] : node_start[k + 1]]
        mine = edges[edge_start[k] : edge_start[k + 1]]
        indptr = np.zeros(len(members) + 1, dtype=np.int64)
        np.add.at(indptr, local[rows[mine]] + 1, 1)
        yield members, Graph(np.cumsum(indptr), local[graph.indices[mine]], graph.weights[mine])


def _merge_pinned(labels: np.ndarray, pins: np.ndarray) -> np.ndarray:
    """Clusters holding faces pinned to the same person made one."""
    labels = labels.copy()
    target: dict[int, int] = {}
    for i in np.flatnonzero(pins != FREE).tolist():
        target.setdefault(int(pins[i]), int(labels[i]))
    remap = {int(labels[i]): target[int(pins[i])] for i in np.flatnonzero(pins != FREE).tolist()}
    if remap:
        labels = np.array([remap.get(v, v) for v in labels.tolist()], dtype=np.int64)
    return labels


def partition_faces(
    embeddings: np.ndarray,
    photo: Sequence[str],
    threshold: float,
    pinned: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """Cluster label per face (int64, shape (n,)) and the number of clusters split for holding two faces
    of one photo; see the module docstring. ``pinned`` holds, per face, the person a user assigned it to
    (any int >= 0, equal values for the same person) or :data:`FREE`."""
    x = np.asarray(embeddings, dtype=np.float32)
    n = len(x)
    pins = np.full(n, FREE, dtype=np.int64) if pinned is None else np.asarray(pinned, dtype=np.int64)
    if pins.shape != (n,):
        raise ValueError(f"pinned must have shape ({n},); got {pins.shape}")
    labels = np.arange(n, dtype=np.int64)
    conflicts = 0
    if n == 0:
        return labels, 0
    for members, sub in _components(threshold_graph(x, threshold)):
        if len(members) == 1:
            continue
        local, had = _partition_component(
            sub, x[members], [photo[i] for i in members], threshold, pins[members]
        )
        conflicts += had
        _, first = np.unique(local, return_index=True)
        labels[members] = members[first][local]
    return first_face_labels(_merge_pinned(labels, pins)), conflicts
