"""An exact in-memory nearest-neighbour index of face embeddings (brute force, float32, Euclidean).

A gallery of known people holds one row per enrolled face. A search computes the squared distance of
each query to every row at once, ``|q|² + |x|² - 2 q·x`` (one float32 matrix product; the row norms are
kept), clipped at 0, finds the ``k``-th smallest per query (``partition``), and recomputes directly as
``|q - x|`` (float64) the distances of the rows within the expansion's rounding error of it (the ``k``
nearest, and any near-tie the float32 sums may have misplaced). The result is the exact ``k`` nearest
with exact distances, even among near-duplicates, where the expansion loses its digits. With 10,000
rows of 128 dimensions a query takes about 0.25 ms (``benchmarks/bench_vector_index.py``; BENCHMARKS.md,
"Selfie matching (issue 10)"): exact search stays the right choice far beyond one gallery's size.

Rows live in one contiguous array that doubles when full; :meth:`EmbeddingIndex.remove` moves the last
row into the freed slot, so removal is O(1) per id and search never skips holes.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Generic, TypeVar

import numpy as np

IdT = TypeVar("IdT", bound=Hashable)

_INITIAL_ROWS = 64
#: bound of the float32 expansion's error on a squared distance, relative to |q|² + |x|² (128 terms of
#: rounding 2^-24 each, with a margin)
_ROUNDING = 2e-5


class EmbeddingIndex(Generic[IdT]):
    """Vectors of dimension ``dim`` under unique ids; exact k-nearest search by Euclidean distance."""

    def __init__(self, dim: int = 128) -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1; got {dim}")
        self.dim = dim
        self._vectors = np.zeros((_INITIAL_ROWS, dim), dtype=np.float32)
        self._norms2 = np.zeros(_INITIAL_ROWS, dtype=np.float32)
        self._ids: list[IdT] = []
        self._row: dict[IdT, int] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, item: object) -> bool:
        return item in self._row

    @property
    def ids(self) -> list[IdT]:
        """The ids, in the index's current row order (a copy)."""
        return list(self._ids)

    def _checked(self, vectors: np.ndarray, what: str) -> np.ndarray:
        v = np.asarray(vectors, dtype=np.float32)
        if v.ndim == 1 and v.shape[0] == self.dim:
            v = v[None, :]
        if v.ndim != 2 or v.shape[1] != self.dim:
            raise ValueError(f"{what} must have shape (n, {self.dim}); got {np.shape(vectors)}")
        if not np.isfinite(v).all():
            raise ValueError(f"{what} must be finite")
        return v

    def add(self, ids: Sequence[IdT], vectors: np.ndarray) -> None:
        """Add one vector per id (``vectors`` (n, dim)). An id already in the index, or given twice, is an
        error (``ValueError``), and nothing is added then: remove it first to replace it."""
        v = self._checked(vectors, "vectors")
        if len(ids) != len(v):
            raise ValueError(f"{len(ids)} ids for {len(v)} vectors")
        new = list(ids)
        duplicates = sorted({repr(i) for i in new if i in self._row})
        if len(set(new)) != len(new):
            duplicates.append("(an id given twice)")
        if duplicates:
            raise ValueError(f"ids already in the index: {', '.join(duplicates[:5])}")
        start, end = len(self._ids), len(self._ids) + len(new)
        if end > len(self._vectors):
            capacity = max(end, 2 * len(self._vectors))
            grown = np.zeros((capacity, self.dim), dtype=np.float32)
            grown[:start] = self._vectors[:start]
            norms = np.zeros(capacity, dtype=np.float32)
            norms[:start] = self._norms2[:start]
            self._vectors, self._norms2 = grown, norms
        self._vectors[start:end] = v
        self._norms2[start:end] = np.einsum("ij,ij->i", v, v)
        for offset, i in enumerate(new):
            self._row[i] = start + offset
        self._ids.extend(new)

    def remove(self, ids: Iterable[IdT]) -> int:
        """Remove these ids (ids not in the index are ignored); returns how many were removed."""
        removed = 0
        for i in ids:
            row = self._row.pop(i, None)
            if row is None:
                continue
            last = len(self._ids) - 1
            if row != last:
                moved = self._ids[last]
                self._vectors[row] = self._vectors[last]
                self._norms2[row] = self._norms2[last]
                self._ids[row] = moved
                self._row[moved] = row
            self._ids.pop()
            removed += 1
        return removed

    def search(self, queries: np.ndarray, k: int) -> list[list[tuple[IdT, float]]]:
        """The ``k`` nearest ids of each query (``queries`` (m, dim), or one (dim,) vector) with their
        Euclidean distances, nearest first (ties: by row). Fewer than ``k`` when the index is smaller."""
        if k < 1:
            raise ValueError(f"k must be >= 1; got {k}")
        q = self._checked(queries, "queries")
        n = len(self._ids)
        if n == 0:
            return [[] for _ in range(len(q))]
        x = self._vectors[:n]
        x_norms2 = self._norms2[:n]
        q_norms2 = np.einsum("ij,ij->i", q, q)
        d2 = x_norms2[None, :] - 2.0 * (q @ x.T)
        d2 += q_norms2[:, None]
        np.maximum(d2, 0.0, out=d2)
        k = min(k, n)
        kth = np.partition(d2, k - 1, axis=1)[:, k - 1]
        # every row the float32 expansion may have misplaced around the k-th is a candidate
        slack = _ROUNDING * (q_norms2 + float(x_norms2.max()))
        results = []
        for qi in range(len(q)):
            rows = np.flatnonzero(d2[qi] <= kth[qi] + slack[qi])
            exact = np.linalg.norm(x[rows].astype(np.float64) - q[qi].astype(np.float64), axis=1)
            order = np.lexsort((rows, exact))[:k]
            results.append([(self._ids[int(rows[j])], float(exact[j])) for j in order])
        return results
