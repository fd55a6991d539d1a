"""Clustering face embeddings from scratch, with the rules of the cluster stage but without a catalog.

The cluster stage (:mod:`eventlens.cluster.stage`) partitions faces with
:func:`~eventlens.cluster.partition.partition_faces` (consensus Chinese Whispers over faces closer than
``threshold``, no person twice in one photo) and leaves clusters of fewer than ``min_faces`` faces
unassigned. The partition ignores the persons of earlier runs, so whenever nothing is assigned by hand it
is exactly that of :func:`cluster_embeddings`; the quality harness uses this to sweep thresholds without
analysing photos again.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from eventlens.cluster.partition import partition_faces

#: label of a face that belongs to no person
UNASSIGNED = -1


def drop_small_clusters(labels: np.ndarray, min_faces: int) -> np.ndarray:
    """``labels`` with every cluster of fewer than ``min_faces`` members set to :data:`UNASSIGNED`."""
    labels = np.asarray(labels, dtype=np.int64)
    if not len(labels):
        return labels.copy()
    _values, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    return np.where(counts[inverse] >= min_faces, labels, UNASSIGNED)


def whispers_labels(
    embeddings: np.ndarray, threshold: float, photo: Sequence[str] | None = None
) -> np.ndarray:
    """Cluster labels (int64, shape (n,)) of a fresh Chinese Whispers run over ``embeddings (n, d)``.

    ``threshold`` is the Euclidean embedding distance below which two faces are linked. With ``photo``
    (the photo of each face), clusters holding two faces of one photo are split as the stage splits them.
    Small clusters are kept; apply :func:`drop_small_clusters` for the stage's ``min_faces`` rule.
    """
    photos = list(photo) if photo is not None else [str(i) for i in range(len(embeddings))]
    labels, _ = partition_faces(embeddings, photos, threshold)
    return labels


def cluster_embeddings(
    embeddings: np.ndarray, threshold: float, min_faces: int, photo: Sequence[str] | None = None
) -> np.ndarray:
    """Cluster labels (int64, shape (n,)) as a first run of the cluster stage gives them.

    ``photo`` gives each face's photo (any hashable id as text); the stage always passes it. Faces whose
    cluster has fewer than ``min_faces`` members get :data:`UNASSIGNED`. Labels are cluster ids, not
    person numbers: equal labels mean the same person.
    """
    return drop_small_clusters(whispers_labels(embeddings, threshold, photo), min_faces)
