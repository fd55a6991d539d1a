"""Chinese Whispers graph clustering over face embeddings, deterministic and incremental.

Two faces are linked when the Euclidean distance of their embeddings is below ``threshold`` (the rule of
dlib's ``chinese_whispers_clustering``). Every node starts with a label; in each pass, nodes are visited in
a seeded random order and take the label with the largest total edge weight among their neighbours (ties
keep the current label, then prefer the smallest). ``initial`` labels and ``fixed`` nodes (which never
change label) let a caller pin faces assigned by hand; the cluster stage runs it per connected component
from local labels (:mod:`eventlens.cluster.partition`), never from an earlier run's persons.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_BLOCK_ROWS = 2048
#: candidate pairs decided on their exact distance per chunk
_PAIR_CHUNK = 32768
#: a float32 matrix product's distances are off by far less than this (about 1e-6) near any useful threshold
_CANDIDATE_MARGIN = 1e-3


@dataclass(frozen=True)
class Graph:
    """Undirected graph in CSR form: neighbours of node i are ``indices[indptr[i]:indptr[i+1]]``."""

    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray

    @property
    def num_nodes(self) -> int:
        return len(self.indptr) - 1

    def neighbours(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        s, e = self.indptr[i], self.indptr[i + 1]
        return self.indices[s:e], self.weights[s:e]


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between rows of ``a (n, d)`` and ``b (m, d)``; shape ``(n, m)``."""
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    distance: np.ndarray = np.sqrt(np.maximum(sq, 0.0))
    return distance


def _exact_distances(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Euclidean distances of the pairs ``(rows[k], cols[k])`` in float64, each summed over the dimensions
    in a fixed order with element-wise operations only: the value of a pair depends on its two rows alone,
    never on the other faces, their number or their positions (as a blocked matrix product's or a SIMD
    reduction's rounding may), and ``d(i, j) == d(j, i)`` exactly."""
    out = np.empty(len(rows), dtype=np.float64)
    for start in range(0, len(rows), _PAIR_CHUNK):
        r, c = rows[start : start + _PAIR_CHUNK], cols[start : start + _PAIR_CHUNK]
        diff = np.ascontiguousarray((x[r].astype(np.float64) - x[c].astype(np.float64)).T)
        total = np.zeros(len(r), dtype=np.float64)
        for column in diff:
            total += column * column
        out[start : start + _PAIR_CHUNK] = np.sqrt(total)
    return out


def threshold_graph(embeddings: np.ndarray, threshold: float, weighted: bool = False) -> Graph:
    """Link pairs closer than ``threshold``. Weights are 1, or ``1 - distance / threshold`` if ``weighted``.

    Distances come from a blocked matrix product (memory ``_BLOCK_ROWS * n`` floats), whose rounding may
    depend on the number and positions of the faces; pairs within :data:`_CANDIDATE_MARGIN` of the
    threshold (and every pair when ``weighted``) are decided on their exact distance, so the graph of a
    subset of faces is exactly the subgraph of the whole one (what keeps clustering local).
    """
    x = np.asarray(embeddings, dtype=np.float32)
    n = len(x)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    near: list[np.ndarray] = []
    for start in range(0, n, _BLOCK_ROWS):
        d = pairwise_distances(x[start : start + _BLOCK_ROWS], x)
        r, c = np.nonzero(d < threshold + _CANDIDATE_MARGIN)
        keep = r + start != c
        r, c = r[keep], c[keep]
        rows.append(r + start)
        cols.append(c)
        near.append(d[r, c] > threshold - _CANDIDATE_MARGIN)
    r = np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, dtype=np.int64)
    c = np.concatenate(cols).astype(np.int64) if cols else np.zeros(0, dtype=np.int64)
    check = np.ones(len(r), dtype=bool) if weighted else np.concatenate(near) if near else np.zeros(0, bool)
    exact = np.zeros(len(r), dtype=np.float64)
    exact[check] = _exact_distances(x, r[check], c[check])
    close = ~check | (exact < threshold)
    r, c, exact = r[close], c[close], exact[close]
    w = (1.0 - exact / threshold if weighted else np.ones(len(r))).astype(np.float32)
    order = np.lexsort((c, r))
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.add.at(indptr, r + 1, 1)
    return Graph(np.cumsum(indptr), c[order], w[order])


#: nodes with more neighbours than this sum their labels' weights with numpy (faster from ~30 on)
_WIDE_DEGREE = 32


def chinese_whispers(
    graph: Graph,
    initial: np.ndarray | None = None,
    fixed: np.ndarray | None = None,
    max_passes: int = 100,
    seed: int = 0,
) -> np.ndarray:
    """Labels (int64, shape (n,)) after Chinese Whispers; deterministic for the same inputs and seed.

    ``initial`` gives each node's starting label (default: its own index); ``fixed`` is a boolean mask of
    nodes whose label never changes. Stops after a pass without changes or ``max_passes``.
    """
    n = graph.num_nodes
    labels = np.arange(n, dtype=np.int64) if initial is None else np.array(initial, dtype=np.int64)
    if labels.shape != (n,):
        raise ValueError(f"initial labels must have shape ({n},); got {labels.shape}")
    frozen = np.zeros(n, dtype=bool) if fixed is None else np.asarray(fixed, dtype=bool)
    movable = np.flatnonzero(~frozen & (np.diff(graph.indptr) > 0))
    rng = np.random.default_rng(seed)
    # Plain Python lists: most nodes have few neighbours, where per-node numpy calls cost more than the
    # work. Nodes with many (crowd events: hundreds) sum their neighbours' weights per label with one
    # bincount instead, in the same order and in float64 like the loop, so the labels are the same.
    current = labels.tolist()
    indptr = graph.indptr.tolist()
    indices = graph.indices.tolist()
    weights = graph.weights.tolist()
    degree = np.diff(graph.indptr)
    wide = set(np.flatnonzero(degree > _WIDE_DEGREE).tolist())
    labels_now = labels.copy()  # current as an array, for the wide nodes
    neighbours_of = {i: graph.indices[indptr[i] : indptr[i + 1]] for i in wide}
    weights_of = {i: graph.weights[indptr[i] : indptr[i + 1]].astype(np.float64) for i in wide}
    for _ in range(max_passes):
        changed = 0
        for i in rng.permutation(movable).tolist():
            mine = current[i]
            if i in wide:
                totals_by_label = np.bincount(labels_now[neighbours_of[i]], weights=weights_of[i])
                best = float(totals_by_label.max())
                if best > 1e-9:  # else an absent label's 0 could pass for a tie: take the loop below
                    if mine < len(totals_by_label) and totals_by_label[mine] >= best - 1e-9:
                        continue  # ties keep the current label (an absent label sums to 0 < best)
                    new = int(np.flatnonzero(totals_by_label >= best - 1e-9)[0])
                    current[i] = new
                    labels_now[i] = new
                    changed += 1
                    continue
            totals: dict[int, float] = {}
            for k in range(indptr[i], indptr[i + 1]):
                lab = current[indices[k]]
                totals[lab] = totals.get(lab, 0.0) + weights[k]
            best = max(totals.values())
            if totals.get(mine, -1.0) >= best - 1e-9:
                continue  # ties keep the current label
            new = min(lab for lab, total in totals.items() if total >= best - 1e-9)
            current[i] = new
            labels_now[i] = new
            changed += 1
        if changed == 0:
            break
    return np.array(current, dtype=np.int64)
