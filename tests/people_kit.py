"""A catalog of synthetic faces written through the schema (no photos, no models): persons whose faces'
embeddings are chosen by the test, for merge suggestions and the threshold re-fit."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from eventlens.catalog.arrays import to_blob
from eventlens.catalog.db import open_catalog
from eventlens.catalog.schema import faces, persons, photo_paths, photos, sources

EMBED_MODEL = "synthetic-embedder"


@dataclass(frozen=True)
class FaceSpec:
    photo: str  # a photo name; faces with the same name share a photo
    person: str | None  # label, or None for unassigned
    embedding: np.ndarray


def sha(photo: str) -> str:
    return hashlib.sha256(photo.encode()).hexdigest()


def build_catalog(out_dir: Path, specs: Sequence[FaceSpec]) -> sa.Engine:
    """A migrated catalog in ``out_dir/.eventlens`` holding these faces (photos analysed and present)."""
    engine = open_catalog(f"sqlite:///{out_dir / '.eventlens' / 'catalog.sqlite'}")
    with engine.begin() as conn:
        source = conn.execute(sources.insert().values(kind="folder", uri=str(out_dir))).inserted_primary_key
        assert source is not None
        person_ids: dict[str, int] = {}
        for label in sorted({s.person for s in specs if s.person is not None}):
            key = conn.execute(persons.insert().values(label=label)).inserted_primary_key
            assert key is not None
            person_ids[label] = int(key[0])
        index: dict[str, int] = {}
        for spec in specs:
            digest = sha(spec.photo)
            if spec.photo not in index:
                index[spec.photo] = 0
                conn.execute(
                    photos.insert().values(
                        sha256=digest,
                        size_bytes=1,
                        format="JPEG",
                        width_px=1000,
                        height_px=800,
                        local_path=str(out_dir / spec.photo),
                        status="analyzed",
                    )
                )
                conn.execute(
                    photo_paths.insert().values(
                        source_id=source[0], rel_path=spec.photo, sha256=digest, status="ok"
                    )
                )
            i = index[spec.photo]
            index[spec.photo] += 1
            conn.execute(
                faces.insert().values(
                    photo_sha256=digest,
                    face_index=i,
                    x1=100.0 * i,
                    y1=100.0,
                    x2=100.0 * i + 90,
                    y2=190.0,
                    det_score=0.99,
                    detect_model="synthetic",
                    embedding=to_blob(spec.embedding),
                    embed_model=EMBED_MODEL,
                    person_id=None if spec.person is None else person_ids[spec.person],
                    assigned_by=None if spec.person is None else "cluster",
                )
            )
    return engine


def unit(rng: np.random.Generator, dim: int = 128) -> np.ndarray:
    v = rng.normal(size=dim)
    return (v / np.linalg.norm(v)).astype(np.float32)


def around(centre: np.ndarray, spread: float, rng: np.random.Generator) -> np.ndarray:
    """A point at distance about ``spread`` from ``centre`` (random direction)."""
    return (centre + unit(rng, len(centre)) * spread).astype(np.float32)
