"""Galleries of known people: enrol faces once, recognise them in many photos.

A gallery holds people (caller's ids and names) and, per person, the embeddings of the largest face of
each enrolment image. A search analyses an image like any event photo (the same analysis, on the same
pool), finds each face's nearest enrolled faces in the gallery's in-memory index
(:class:`eventlens.match.vector_index.EmbeddingIndex`, built from the catalog on first use and kept in step
with enrolments), and is stored as a recognition record (image hash, time, faces with boxes, matches and
attributes — never an embedding). Search images are not kept; enrolment images are, until their person or
gallery is deleted.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from eventlens.analysis.photo import FaceAnalysis, PhotoAnalysis
from eventlens.analysis.pool import PhotoTask
from eventlens.attributes.decide import decide
from eventlens.backends.registry import create_eye_model
from eventlens.catalog.arrays import from_blob, to_blob
from eventlens.errors import InputError, NotFoundError
from eventlens.match.confidence import confidence_of_distance
from eventlens.match.selfies import bucket, largest_face
from eventlens.match.vector_index import EmbeddingIndex
from eventlens.service.db import DataDir, check_id, now_iso
from eventlens.service.errors import Forbidden
from eventlens.service.keys import ApiKey
from eventlens.service.schemas import (
    Box,
    EnrolOut,
    ErrorItem,
    FaceAttributes,
    GalleryMatch,
    GalleryOut,
    PersonOut,
    RecognisedFace,
    RecognitionOut,
)
from eventlens.service.tables import (
    galleries,
    gallery_faces,
    gallery_people,
    recognition_persons,
    recognitions,
)
from eventlens.settings import Settings

#: analyse images: one result per task (the analysis pool's ``map``, or in-process models for ``watch``)
Analyse = Callable[[Sequence[PhotoTask]], Iterable[PhotoAnalysis]]
#: best matches reported per face
TOP_K = 3


@dataclass(frozen=True)
class Image:
    """An image to analyse: its bytes are at ``path`` (content-addressed), or it failed with ``error``."""

    label: str  # the URL or the upload's file name, for errors
    sha256: str | None = None
    path: Path | None = None
    error: ErrorItem | None = None


@dataclass
class Galleries:
    """Gallery operations over the service catalog, with one in-memory index per gallery."""

    engine: sa.Engine
    data: DataDir
    settings: Settings
    embed_model: str
    analyse: Analyse
    _indexes: dict[str, tuple[EmbeddingIndex[int], dict[int, str]]] = field(default_factory=dict)
    #: the eye model's name as recorded in pipeline keys (what the attribute decisions are calibrated by)
    eye_model: str = field(init=False)

    def __post_init__(self) -> None:
        key = create_eye_model(self.settings.eye_model, self.settings).info.key
        self.eye_model = key.split("@", 1)[0]

    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- folders and ownership --------------------------------------------------------------------

    def images_dir(self, gallery_id: str) -> Path:
        return self.data.root / "galleries" / check_id("gallery_id", gallery_id) / "images"

    def _gallery(self, conn: sa.Connection, gallery_id: str, key: ApiKey, write: bool) -> sa.Row[Any]:
        row = conn.execute(sa.select(galleries).where(galleries.c.gallery_id == gallery_id)).first()
        if row is None:
            raise NotFoundError(f"no gallery {gallery_id!r}")
        if write and row.owner_key_id != key.key_id and key.scope != "admin":
            raise Forbidden(f"gallery {gallery_id!r} belongs to another API key")
        return row

    def _create_gallery(self, conn: sa.Connection, gallery_id: str, key: ApiKey) -> None:
        check_id("gallery_id", gallery_id)
        if (
            conn.execute(
                sa.select(galleries.c.gallery_id).where(galleries.c.gallery_id == gallery_id)
            ).first()
            is None
        ):
            conn.execute(
                galleries.insert().values(
                    gallery_id=gallery_id, owner_key_id=key.key_id, created_at=now_iso()
                )
            )
        else:
            self._gallery(conn, gallery_id, key, write=True)

    # --- the index ----------------------------------------------------------------------------------

    def _index(self, gallery_id: str) -> tuple[EmbeddingIndex[int], dict[int, str]]:
        with self._lock:
            cached = self._indexes.get(gallery_id)
            if cached is not None:
                return cached
            with self.engine.connect() as conn:
                rows = conn.execute(
                    sa.select(gallery_faces.c.id, gallery_faces.c.person_id, gallery_faces.c.embedding).where(
                        gallery_faces.c.gallery_id == gallery_id,
                        gallery_faces.c.embed_model == self.embed_model,
                    )
                ).all()
            index: EmbeddingIndex[int] = EmbeddingIndex()
            if rows:
                index.add([r.id for r in rows], np.stack([from_blob(r.embedding) for r in rows]))
            built = (index, {r.id: r.person_id for r in rows})
            self._indexes[gallery_id] = built
            return built

    def _forget_index(self, gallery_id: str) -> None:
        with self._lock:
            self._indexes.pop(gallery_id, None)

    # --- people -------------------------------------------------------------------------------------

    def enrol(
        self, gallery_id: str, person_id: str, name: str | None, images: Sequence[Image], key: ApiKey
    ) -> EnrolOut:
        """Add ``person_id`` (or more faces of them) to the gallery, creating the gallery if new."""
        check_id("person_id", person_id)
        with self.engine.begin() as conn:
            self._create_gallery(conn, gallery_id, key)
        errors = [im.error for im in images if im.error is not None]
        usable = [im for im in images if im.error is None and im.path is not None and im.sha256 is not None]
        found: list[tuple[str, np.ndarray]] = []
        labels = {im.sha256: im.label for im in usable}
        for analysis in self.analyse([PhotoTask(im.sha256, im.path) for im in usable]):  # type: ignore[arg-type]
            face, problem = _largest_embedded_face(analysis, self.settings)
            if face is None:
                errors.append(
                    ErrorItem(reason=problem[0], message=f"{labels[analysis.sha256]}: {problem[1]}")
                )
                continue
            assert face.embedding is not None
            found.append((analysis.sha256, face.embedding))
        now = now_iso()
        with self.engine.begin() as conn:
            where = sa.and_(
                gallery_people.c.gallery_id == gallery_id, gallery_people.c.person_id == person_id
            )
            person = conn.execute(sa.select(gallery_people).where(where)).first()
            if person is None:
                if not found:
                    raise InputError(
                        "image_urls: no usable face in any image: "
                        + "; ".join(e.message or e.reason for e in errors)
                    )
                conn.execute(
                    gallery_people.insert().values(
                        gallery_id=gallery_id, person_id=person_id, name=name, created_at=now
                    )
                )
            elif name is not None:
                conn.execute(gallery_people.update().where(where).values(name=name))
            known = set(
                conn.execute(
                    sa.select(gallery_faces.c.image_sha256).where(
                        gallery_faces.c.gallery_id == gallery_id, gallery_faces.c.person_id == person_id
                    )
                ).scalars()
            )
            new = [(sha, emb) for sha, emb in found if sha not in known]
            if new:
                conn.execute(
                    gallery_faces.insert(),
                    [
                        {
                            "gallery_id": gallery_id,
                            "person_id": person_id,
                            "image_sha256": sha,
                            "embedding": to_blob(emb),
                            "embed_model": self.embed_model,
                            "created_at": now,
                        }
                        for sha, emb in new
                    ],
                )
        self._forget_index(gallery_id)
        out = self.person(gallery_id, person_id, key)
        return EnrolOut(**out.model_dump(), enrolled=len(new), errors=errors)

    def person(self, gallery_id: str, person_id: str, key: ApiKey) -> PersonOut:
        people = self.people(gallery_id, key, person_id=person_id)
        if not people:
            raise NotFoundError(f"no person {person_id!r} in gallery {gallery_id!r}")
        return people[0]

    def people(self, gallery_id: str, key: ApiKey, person_id: str | None = None) -> list[PersonOut]:
        with self.engine.connect() as conn:
            self._gallery(conn, gallery_id, key, write=False)
            counts = (
                sa.select(gallery_faces.c.person_id, sa.func.count().label("n"))
                .where(gallery_faces.c.gallery_id == gallery_id)
                .group_by(gallery_faces.c.person_id)
                .subquery()
            )
            query = (
                sa.select(gallery_people, sa.func.coalesce(counts.c.n, 0).label("faces"))
                .outerjoin(counts, counts.c.person_id == gallery_people.c.person_id)
                .where(gallery_people.c.gallery_id == gallery_id)
                .order_by(gallery_people.c.person_id)
            )
            if person_id is not None:
                query = query.where(gallery_people.c.person_id == person_id)
            return [
                PersonOut(
                    gallery_id=gallery_id,
                    person_id=r.person_id,
                    name=r.name,
                    faces=r.faces,
                    created_at=r.created_at,
                )
                for r in conn.execute(query)
            ]

    def delete_person(self, gallery_id: str, person_id: str, key: ApiKey) -> dict[str, int]:
        with self.engine.begin() as conn:
            self._gallery(conn, gallery_id, key, write=True)
            where = sa.and_(
                gallery_people.c.gallery_id == gallery_id, gallery_people.c.person_id == person_id
            )
            if conn.execute(sa.select(gallery_people.c.person_id).where(where)).first() is None:
                raise NotFoundError(f"no person {person_id!r} in gallery {gallery_id!r}")
            shas = set(
                conn.execute(
                    sa.select(gallery_faces.c.image_sha256).where(
                        gallery_faces.c.gallery_id == gallery_id, gallery_faces.c.person_id == person_id
                    )
                ).scalars()
            )
            faces = conn.execute(
                gallery_faces.delete().where(
                    gallery_faces.c.gallery_id == gallery_id, gallery_faces.c.person_id == person_id
                )
            ).rowcount
            still_used = set(
                conn.execute(
                    sa.select(gallery_faces.c.image_sha256).where(gallery_faces.c.gallery_id == gallery_id)
                ).scalars()
            )
            conn.execute(gallery_people.delete().where(where))
            conn.execute(
                recognition_persons.delete().where(
                    recognition_persons.c.person_id == person_id,
                    recognition_persons.c.recognition_id.in_(
                        sa.select(recognitions.c.id).where(recognitions.c.gallery_id == gallery_id)
                    ),
                )
            )
        files = 0
        for sha in shas - still_used:
            for path in self.images_dir(gallery_id).glob(f"{sha}.*"):
                path.unlink(missing_ok=True)
                files += 1
        self._forget_index(gallery_id)
        return {"people": 1, "faces": faces, "files": files}

    # --- galleries ----------------------------------------------------------------------------------

    def all_galleries(self, key: ApiKey) -> list[GalleryOut]:
        with self.engine.connect() as conn:
            ids = (
                conn.execute(sa.select(galleries.c.gallery_id).order_by(galleries.c.gallery_id))
                .scalars()
                .all()
            )
        return [self.get(g, key) for g in ids]

    def get(self, gallery_id: str, key: ApiKey) -> GalleryOut:
        with self.engine.connect() as conn:
            row = self._gallery(conn, gallery_id, key, write=False)
            people = conn.execute(
                sa.select(sa.func.count()).where(gallery_people.c.gallery_id == gallery_id)
            ).scalar_one()
            faces = conn.execute(
                sa.select(sa.func.count()).where(gallery_faces.c.gallery_id == gallery_id)
            ).scalar_one()
        return GalleryOut(gallery_id=gallery_id, people=people, faces=faces, created_at=row.created_at)

    def delete(self, gallery_id: str, key: ApiKey) -> dict[str, int]:
        with self.engine.begin() as conn:
            self._gallery(conn, gallery_id, key, write=True)
            rec = sa.select(recognitions.c.id).where(recognitions.c.gallery_id == gallery_id)
            conn.execute(recognition_persons.delete().where(recognition_persons.c.recognition_id.in_(rec)))
            deleted = {
                "recognitions": conn.execute(
                    recognitions.delete().where(recognitions.c.gallery_id == gallery_id)
                ).rowcount,
                "faces": conn.execute(
                    gallery_faces.delete().where(gallery_faces.c.gallery_id == gallery_id)
                ).rowcount,
                "people": conn.execute(
                    gallery_people.delete().where(gallery_people.c.gallery_id == gallery_id)
                ).rowcount,
            }
            conn.execute(galleries.delete().where(galleries.c.gallery_id == gallery_id))
        folder = self.images_dir(gallery_id).parent
        deleted["files"] = sum(1 for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0
        shutil.rmtree(folder, ignore_errors=True)
        self._forget_index(gallery_id)
        return deleted

    # --- search -------------------------------------------------------------------------------------

    def search(
        self, gallery_id: str, image: Image, key: ApiKey, min_confidence: float | None = None
    ) -> RecognitionOut:
        """Every face of ``image`` with its best matches in the gallery and its attributes, stored as a
        recognition record."""
        with self.engine.connect() as conn:
            self._gallery(conn, gallery_id, key, write=False)
        if image.error is not None or image.path is None or image.sha256 is None:
            raise InputError(f"image: {image.error.message if image.error else 'no image'}")
        analysis = next(iter(self.analyse([PhotoTask(image.sha256, image.path)])))
        if analysis.rejected_reason:
            raise InputError(f"image: {analysis.rejected_reason}")
        floor = self.settings.match_min_confidence if min_confidence is None else min_confidence
        index, person_of = self._index(gallery_id)
        names = self._names(gallery_id)
        faces: list[RecognisedFace] = []
        embedded = [f for f in analysis.faces if f.embedding is not None]
        hits = (
            index.search(np.stack([_embedding(f) for f in embedded]), k=TOP_K * 4)
            if embedded and len(index)
            else []
        )
        hit_of = {id(f): h for f, h in zip(embedded, hits, strict=False)}
        for f in analysis.faces:
            matches: list[GalleryMatch] = []
            seen: set[str] = set()
            for face_id, distance in hit_of.get(id(f), []):
                person_id = person_of[face_id]
                confidence = float(confidence_of_distance(distance))
                if person_id in seen or confidence < floor:
                    continue
                seen.add(person_id)
                matches.append(
                    GalleryMatch(
                        person_id=person_id,
                        name=names.get(person_id),
                        confidence=round(confidence, 4),
                        bucket=bucket(confidence, self.settings),
                    )
                )
                if len(matches) == TOP_K:
                    break
            faces.append(
                RecognisedFace(
                    box=_box(f),
                    det_score=round(f.det_score, 4),
                    matches=matches,
                    attributes=_attributes(f, self.settings, self.eye_model),
                )
            )
        now, now_s = now_iso(), time.time()
        payload = json.dumps([face.model_dump(mode="json") for face in faces])
        with self.engine.begin() as conn:
            rec_id = conn.execute(
                recognitions.insert().values(
                    gallery_id=gallery_id,
                    image_sha256=image.sha256,
                    created_at=now,
                    created_at_s=now_s,
                    faces_json=payload,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            persons = {m.person_id for face in faces for m in face.matches}
            if persons:
                conn.execute(
                    recognition_persons.insert(),
                    [{"recognition_id": rec_id, "person_id": p} for p in persons],
                )
        return RecognitionOut(
            recognition_id=rec_id,
            gallery_id=gallery_id,
            image_sha256=image.sha256,
            created_at=now,
            width_px=analysis.width_px,
            height_px=analysis.height_px,
            faces=faces,
        )

    def _names(self, gallery_id: str) -> dict[str, str | None]:
        with self.engine.connect() as conn:
            return {
                r.person_id: r.name
                for r in conn.execute(
                    sa.select(gallery_people.c.person_id, gallery_people.c.name).where(
                        gallery_people.c.gallery_id == gallery_id
                    )
                )
            }

    def recognitions(
        self,
        gallery_id: str,
        key: ApiKey,
        person_id: str | None = None,
        since_s: float | None = None,
        limit: int = 100,
    ) -> list[RecognitionOut]:
        with self.engine.connect() as conn:
            self._gallery(conn, gallery_id, key, write=False)
            query = sa.select(recognitions).where(recognitions.c.gallery_id == gallery_id)
            if person_id is not None:
                query = query.where(
                    recognitions.c.id.in_(
                        sa.select(recognition_persons.c.recognition_id).where(
                            recognition_persons.c.person_id == person_id
                        )
                    )
                )
            if since_s is not None:
                query = query.where(recognitions.c.created_at_s >= since_s)
            rows = conn.execute(query.order_by(recognitions.c.id.desc()).limit(limit)).all()
        return [
            RecognitionOut(
                recognition_id=r.id,
                gallery_id=gallery_id,
                image_sha256=r.image_sha256,
                created_at=r.created_at,
                width_px=0,
                height_px=0,
                faces=[RecognisedFace.model_validate(f) for f in json.loads(r.faces_json)],
            )
            for r in rows
        ]


def _embedding(f: FaceAnalysis) -> np.ndarray:
    assert f.embedding is not None
    return f.embedding


def _box(f: FaceAnalysis) -> Box:
    x1, y1, x2, y2 = (round(float(v), 1) for v in f.xyxy)
    return Box(x1=x1, y1=y1, x2=x2, y2=y2)


def _attributes(f: FaceAnalysis, settings: Settings, eye_model: str) -> FaceAttributes | None:
    if f.measurements is None:
        return None
    m = f.measurements
    d = decide(m.as_dict(), settings.curation, eye_model)
    if d is None:
        return None
    return FaceAttributes(
        eyes_open=d.eyes_open,
        eyes_open_score=None if d.eyes_open_score is None else round(d.eyes_open_score, 3),
        smile=d.smile,
        smile_score=round(d.smile_score, 3),
        mouth_open=d.mouth_open,
        expression=d.expression,
        yaw_deg=round(m.yaw_deg, 1),
        pitch_deg=round(m.pitch_deg, 1),
        roll_deg=round(m.roll_deg, 1),
        looking_away=d.looking_away,
        sharpness=round(m.sharpness, 3),
        brightness=round(m.brightness, 3),
        sharp=d.sharp,
        well_exposed=d.well_exposed,
    )


def _largest_embedded_face(
    analysis: PhotoAnalysis, settings: Settings
) -> tuple[FaceAnalysis | None, tuple[str, str]]:
    """The image's largest face with an embedding, or None and (reason, message)."""
    if analysis.rejected_reason:
        return None, ("rejected", analysis.rejected_reason)
    boxes = np.array([f.xyxy for f in analysis.faces], dtype=np.float32).reshape(-1, 4)
    i = largest_face(boxes)
    if i is None:
        return None, ("no_face", "no face found")
    if analysis.faces[i].embedding is None:
        return None, ("face_too_small", f"the face is smaller than {settings.cluster_min_face_px} px")
    return analysis.faces[i], ("", "")
