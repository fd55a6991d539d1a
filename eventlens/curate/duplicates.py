"""Near-duplicate groups: bursts and repeated shots that should yield one pick.

Two photos are near-duplicates when their 64-bit perceptual hashes differ in at most ``max_hamming`` bits
and, when both carry an EXIF capture time, they were taken at most ``max_seconds`` apart. Groups are the
connected components of that relation (union-find), so a burst drifting slowly is still one group.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np

#: photos compared against all others at once: the block's (block, n) distance and time matrices bound the
#: memory (20 000 photos: ~0.2 GB at 256, ~0.6 GB at 1024, which was also slower)
_BLOCK = 256


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def near_duplicate_groups(
    phashes: Sequence[int | None],
    taken_at: Sequence[datetime | None],
    max_hamming: int,
    max_seconds: float,
) -> list[int]:
    """A group index per photo (``0..k-1``, numbered in input order); unique photos get their own group."""
    n = len(phashes)
    parent = list(range(n))
    have = np.array([h is not None for h in phashes], dtype=bool)
    hashes = np.array([h if h is not None else 0 for h in phashes], dtype=np.uint64)
    times = np.array([t.timestamp() if t is not None else np.nan for t in taken_at], dtype=np.float64)
    for start in range(0, n, _BLOCK):
        block = slice(start, min(start + _BLOCK, n))
        distance = np.bitwise_count(hashes[block, None] ^ hashes[None, :])
        close = distance <= max_hamming
        dt = np.abs(times[block, None] - times[None, :])
        close &= ~(dt > max_seconds)  # NaN (a time missing) does not separate
        close &= have[block, None] & have[None, :]
        rows, cols = np.nonzero(close)
        for r, c in zip(rows + start, cols, strict=True):
            if r < c:
                a, b = _find(parent, int(r)), _find(parent, int(c))
                if a != b:
                    parent[max(a, b)] = min(a, b)
    roots = [_find(parent, i) for i in range(n)]
    numbering: dict[int, int] = {}
    return [numbering.setdefault(r, len(numbering)) for r in roots]
