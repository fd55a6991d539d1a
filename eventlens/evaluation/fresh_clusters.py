"""Clustering face embeddings from scratch, with the rules of the cluster stage but without a catalog.

The cluster stage (:mod:`eventlens.cluster.stage`) links faces closer than ``threshold`` (Euclidean
embedding distance), runs Chinese Whispers, and leaves clusters of fewer than ``min_faces`` faces
unassigned. On a first run (no persons yet, nothing assigned by hand) its result is exactly
:func:`cluster_embeddings`; the quality harness uses this to sweep thresholds without re-analysing photos.
"""

from __future__ import annotations

import numpy as np

from eventlens.cluster.chinese_whispers import chinese_whispers, threshold_graph

#: label of a face that belongs to no person
UNASSIGNED = -1


def drop_small_clusters(labels: np.ndarray, min_faces: int) -> np.ndarray:
    """``labels`` with every cluster of fewer than ``min_faces`` members set to :data:`UNASSIGNED`."""
    labels = np.asarray(labels, dtype=np.int64)
    if not len(labels):
        return labels.copy()
    values, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    return np.where(counts[inverse] >= min_faces, labels, UNASSIGNED)


def whispers_labels(embeddings: np.ndarray, threshold: float) -> np.ndarray:
    """Chinese Whispers labels (int64, shape (n,)) of a fresh run over ``embeddings (n, d)``.

    ``threshold`` is the Euclidean embedding distance below which two faces are linked. Small clusters
    are kept; apply :func:`drop_small_clusters` for the stage's ``min_faces`` rule.
    """
    return chinese_whispers(threshold_graph(embeddings, threshold))


def cluster_embeddings(embeddings: np.ndarray, threshold: float, min_faces: int) -> np.ndarray:
    """Cluster labels (int64, shape (n,)) as a first run of the cluster stage gives them.

    Faces whose cluster has fewer than ``min_faces`` members get :data:`UNASSIGNED`. Labels are cluster
    ids, not person numbers: equal labels mean the same person.
    """
    return drop_small_clusters(whispers_labels(embeddings, threshold), min_faces)
