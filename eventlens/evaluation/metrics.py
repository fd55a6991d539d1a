"""Clustering quality against ground-truth labels: pairwise and BCubed precision, recall and F1.

* Pairwise: over all pairs of items, precision = pairs correctly together / pairs put together,
  recall = pairs correctly together / pairs that belong together. A wrong merge of two large groups is
  punished quadratically, which is what a person browsing folders feels.
* BCubed (Bagga & Baldwin 1998): per item, precision = share of its cluster with its label, recall = share
  of its label in its cluster; averaged over items.

Unclustered items (``None`` or a unique id per item) count as singletons.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PRF:
    precision: float
    recall: float

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else 0.0


@dataclass(frozen=True)
class ClusteringScores:
    pairwise: PRF
    bcubed: PRF
    items: int
    clusters: int
    labels: int

    def as_dict(self) -> dict[str, float | int]:
        return {
            "items": self.items,
            "clusters": self.clusters,
            "labels": self.labels,
            "pairwise_precision": round(self.pairwise.precision, 4),
            "pairwise_recall": round(self.pairwise.recall, 4),
            "pairwise_f1": round(self.pairwise.f1, 4),
            "bcubed_precision": round(self.bcubed.precision, 4),
            "bcubed_recall": round(self.bcubed.recall, 4),
            "bcubed_f1": round(self.bcubed.f1, 4),
        }


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def score_clustering(predicted: Sequence[Hashable | None], truth: Sequence[Hashable]) -> ClusteringScores:
    """Compare a predicted clustering with ground truth; ``None`` predictions are singletons."""
    if len(predicted) != len(truth):
        raise ValueError(f"predicted has {len(predicted)} items, truth has {len(truth)}")
    if not truth:
        raise ValueError("no items to score")
    pred = [("__single__", i) if p is None else ("c", p) for i, p in enumerate(predicted)]
    joint = Counter(zip(pred, truth, strict=True))
    size_pred = Counter(pred)
    size_true = Counter(truth)
    together_ok = sum(_pairs(n) for n in joint.values())
    together_pred = sum(_pairs(n) for n in size_pred.values())
    together_true = sum(_pairs(n) for n in size_true.values())
    pairwise = PRF(
        together_ok / together_pred if together_pred else 1.0,
        together_ok / together_true if together_true else 1.0,
    )
    n = len(truth)
    bcubed = PRF(
        sum(c * c / size_pred[p] for (p, _t), c in joint.items()) / n,
        sum(c * c / size_true[t] for (_p, t), c in joint.items()) / n,
    )
    return ClusteringScores(pairwise, bcubed, n, len(size_pred), len(size_true))
