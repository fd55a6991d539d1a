"""The one read of face embeddings outside clustering: for matching selfies and searching galleries.

Kept apart from the read model (:mod:`eventlens.catalog.queries`), whose views never carry biometric data,
so that what reads embeddings is easy to find. Nothing here is ever sent in a response.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa

from eventlens.catalog.arrays import from_blob
from eventlens.catalog.schema import faces, photos


@dataclass(frozen=True)
class FaceEmbeddings:
    face_ids: np.ndarray  # (n,) int64
    photo_sha256: list[str]
    embeddings: np.ndarray  # (n, d) float32
    person_ids: np.ndarray  # (n,) int64: the face's person, -1 for none

    def __len__(self) -> int:
        return len(self.photo_sha256)


def analysed_face_embeddings(conn: sa.Connection, embed_model: str) -> FaceEmbeddings:
    """Every face of an analysed photo that has an embedding of ``embed_model``, in face-id order."""
    rows = conn.execute(
        sa.select(faces.c.id, faces.c.photo_sha256, faces.c.embedding, faces.c.person_id)
        .join(photos, photos.c.sha256 == faces.c.photo_sha256)
        .where(
            photos.c.status == "analyzed",
            faces.c.embedding.is_not(None),
            faces.c.embed_model == embed_model,
        )
        .order_by(faces.c.id)
    ).all()
    vectors = [from_blob(r.embedding) for r in rows]
    return FaceEmbeddings(
        face_ids=np.array([r.id for r in rows], dtype=np.int64),
        photo_sha256=[r.photo_sha256 for r in rows],
        embeddings=np.stack(vectors) if vectors else np.zeros((0, 128), np.float32),
        person_ids=np.array([-1 if r.person_id is None else r.person_id for r in rows], dtype=np.int64),
    )
