"""Clustering quality on a labelled folder ``<root>/<label>/<file>`` (the folder name is the label).

The real stages run into a work folder (:func:`run_stages`: ingest, analyze, a fresh cluster run), then
the catalog is read back. Each labelled photo is one item: its labelled face is the largest, most central
detected face (:func:`labelled_face_index`), and the item's predicted cluster is that face's person. A
photo without a detected face, or one that could not be read, is an unclustered singleton of its label,
so it lowers recall. All faces are clustered, as in real use; only labelled faces are scored.

:func:`sweep` re-clusters the catalog's embeddings for a grid of ``cluster_max_distance`` x ``min_faces``
without analysing again (:mod:`eventlens.evaluation.fresh_clusters`).

Boxes are ``x1, y1, x2, y2`` in original pixels as displayed (EXIF orientation applied).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from eventlens.analysis.pool import build_models
from eventlens.catalog import queries
from eventlens.catalog.schema import faces, persons, photo_paths, sources
from eventlens.cluster.stage import load_clusterable_faces
from eventlens.evaluation.fresh_clusters import UNASSIGNED, drop_small_clusters, whispers_labels
from eventlens.evaluation.metrics import ClusteringScores, score_clustering
from eventlens.pipeline import Event, run_analyze, run_cluster, run_ingest
from eventlens.progress import SILENT, Progress
from eventlens.settings import Settings
from eventlens.summaries import ClusterSummary, RunSummary

#: default sweep grid: Euclidean embedding-distance thresholds 0.45, 0.46, ..., 0.62
DEFAULT_SWEEP_THRESHOLDS: tuple[float, ...] = tuple(round(0.45 + 0.01 * i, 2) for i in range(18))
#: default sweep grid: the stage's ``min_faces``
DEFAULT_SWEEP_MIN_FACES: tuple[int, ...] = (1, 2, 3)

Box = tuple[float, float, float, float]


# --- which face is the labelled one ---------------------------------------------------------------


def centrality_weight(xyxy: Box, width_px: int, height_px: int) -> float:
    """1 for a box centred in the image, falling linearly to 0 at half the image size from the centre.

    The distance is measured per axis in image fractions: ``hypot(cx / width - 0.5, cy / height - 0.5)``;
    the weight is ``1 - min(1, 2 * distance)``.
    """
    x1, y1, x2, y2 = xyxy
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    distance = math.hypot(cx / width_px - 0.5, cy / height_px - 0.5)
    return 1.0 - min(1.0, 2.0 * distance)


def labelled_face_score(xyxy: Box, width_px: int, height_px: int) -> float:
    """Box area (square original pixels) times :func:`centrality_weight`: larger means "the" face."""
    x1, y1, x2, y2 = xyxy
    area = max(x2 - x1, 0.0) * max(y2 - y1, 0.0)
    return area * centrality_weight(xyxy, width_px, height_px)


def labelled_face_index(boxes_xyxy: Sequence[Box], width_px: int, height_px: int) -> int | None:
    """Index of the largest, most central box in a ``width_px`` x ``height_px`` photo; ``None`` if no box.

    Ties (e.g. all boxes in the corners, scoring 0) go to the larger box, then to the first.
    """
    best: int | None = None
    best_key = (-1.0, -1.0)
    for i, box in enumerate(boxes_xyxy):
        area = max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)
        key = (labelled_face_score(box, width_px, height_px), area)
        if key > best_key:
            best, best_key = i, key
    return best


# --- running the pipeline -------------------------------------------------------------------------


def _reset_persons(engine: sa.Engine) -> None:
    """Forget every person of the work catalog so the next cluster run starts fresh."""
    with engine.begin() as conn:
        conn.execute(faces.update().values(person_id=None, assigned_by=None))
        conn.execute(persons.delete())


def run_stages(event: Event, root: Path, progress: Progress = SILENT) -> RunSummary:
    """Ingest ``root``, analyse what is new (or was analysed with other settings), and cluster afresh.

    Returns the run summary of :mod:`eventlens.pipeline` (``stage_s``, ``analyze.photos_per_s``, ...).
    Persons of an earlier evaluation in the same work folder are dropped first: the scores are those of
    a first run at the current settings, not of an incremental one.
    """
    with event.run("eval") as summary:
        run_ingest(event, root, summary, progress)
        run_analyze(event, summary, progress, reanalyze=True)
        _reset_persons(event.engine)
        run_cluster(event, summary)
    return summary


# --- reading the catalog back ---------------------------------------------------------------------


@dataclass(frozen=True)
class LabelledPhoto:
    """One scored item: a labelled photo and the face that carries its label (if any was found)."""

    key: str  # the photo's sha256, or ``path:<rel_path>`` for a file the ingest rejected
    label: str
    readable: bool  # False when ingest or analysis rejected the file
    face_id: int | None  # the labelled face


@dataclass
class LabelledCatalog:
    """What the evaluation needs from the work catalog."""

    photos: list[LabelledPhoto]
    person_of_face: dict[int, int | None]  # every face of a labelled photo -> person id
    cluster_face_ids: np.ndarray  # faces the cluster stage clusters, in its order (int64, (n,))
    embeddings: np.ndarray  # their embeddings, float32 (n, d)
    cluster_photos: list[str] = field(default_factory=list)  # their photos' sha256
    faces: int = 0  # faces detected in labelled photos
    duplicate_paths: int = 0  # extra paths of photos with identical bytes (one item per photo)
    label_conflicts: int = 0  # photos whose identical copies sit under different labels (not scored)
    unlabelled_paths: int = 0  # files directly in the root, without a label folder (not scored)


def label_of(rel_path: str) -> str | None:
    """The label of a path relative to the labelled root: its first folder, or ``None`` at the top."""
    parts = rel_path.split("/")
    return parts[0] if len(parts) > 1 else None


def _source_id(conn: sa.Connection, root: Path) -> int | None:
    row = conn.execute(sa.select(sources.c.id).where(sources.c.uri == str(root.resolve()))).first()
    return None if row is None else int(row.id)


def _photo_labels(
    conn: sa.Connection, source_id: int, out: LabelledCatalog
) -> tuple[dict[str, str], list[str]]:
    """Label of every readable photo (by sha256) and the rel paths the ingest rejected (labelled ones)."""
    rows = conn.execute(
        sa.select(photo_paths.c.rel_path, photo_paths.c.sha256, photo_paths.c.status)
        .where(photo_paths.c.source_id == source_id, photo_paths.c.status.in_(("ok", "rejected")))
        .order_by(photo_paths.c.rel_path)
    ).all()
    labels: dict[str, set[str]] = {}
    rejected: list[str] = []
    paths = 0
    for r in rows:
        label = label_of(r.rel_path)
        if label is None:
            out.unlabelled_paths += 1
        elif r.status == "ok" and r.sha256 is not None:
            labels.setdefault(r.sha256, set()).add(label)
            paths += 1
        else:
            rejected.append(r.rel_path)
    out.duplicate_paths = paths - len(labels)
    unique = {sha: next(iter(ls)) for sha, ls in labels.items() if len(ls) == 1}
    out.label_conflicts = len(labels) - len(unique)
    return unique, rejected


def _labelled_photos(
    conn: sa.Connection, labels: dict[str, str], out: LabelledCatalog
) -> list[LabelledPhoto]:
    """One item per labelled photo, with its labelled face chosen among all its detected faces."""
    info = {p.sha256: p for p in queries.list_photos(conn, status=None).items if p.sha256 in labels}
    boxes: dict[str, list[tuple[int, Box]]] = {}
    for f in sorted(queries.faces_of_photos(conn, labels), key=lambda face: face.id):
        boxes.setdefault(f.photo_sha256, []).append((f.id, f.box))
        out.person_of_face[f.id] = f.person_id
        out.faces += 1
    items = []
    for sha, label in sorted(labels.items(), key=lambda kv: (kv[1], kv[0])):
        photo = info.get(sha)
        readable = photo is not None and photo.status == "analyzed"
        found = boxes.get(sha, []) if readable else []
        index = None
        if found:
            assert photo is not None  # found only when readable
            assert photo.width_px is not None and photo.height_px is not None  # analysed: has a size
            index = labelled_face_index([b for _, b in found], photo.width_px, photo.height_px)
        items.append(LabelledPhoto(sha, label, readable, None if index is None else found[index][0]))
    return items


def load_labelled(engine: sa.Engine, root: Path, settings: Settings) -> LabelledCatalog:
    """Read the labelled items of ``root`` and the faces the cluster stage would cluster from the catalog."""
    embed_model = build_models(settings).embedder.info.key
    out = LabelledCatalog([], {}, np.zeros(0, np.int64), np.zeros((0, 128), np.float32))
    with engine.connect() as conn:
        source_id = _source_id(conn, root)
        if source_id is None:
            return out
        labels, rejected = _photo_labels(conn, source_id, out)
        out.photos = _labelled_photos(conn, labels, out)
        out.photos += [LabelledPhoto(f"path:{p}", str(label_of(p)), False, None) for p in rejected]
        min_px = settings.cluster_min_face_px
        clusterable = load_clusterable_faces(conn, embed_model, min_px, ClusterSummary())
    out.cluster_face_ids = clusterable.ids
    out.embeddings = clusterable.embeddings
    out.cluster_photos = list(clusterable.photo)
    return out


# --- scoring ----------------------------------------------------------------------------------------


def score_persons(data: LabelledCatalog) -> ClusteringScores:
    """Scores of the persons the cluster stage assigned (unassigned faces and faceless photos: singletons)."""
    predicted = [None if p.face_id is None else data.person_of_face.get(p.face_id) for p in data.photos]
    return score_clustering(predicted, [p.label for p in data.photos])


def score_labels(data: LabelledCatalog, cluster_labels: np.ndarray) -> ClusteringScores:
    """Scores of ``cluster_labels``, one per face of ``data.cluster_face_ids`` (may be :data:`UNASSIGNED`)."""
    position = {int(f): i for i, f in enumerate(data.cluster_face_ids)}
    predicted: list[Hashable | None] = []
    for p in data.photos:
        i = position.get(p.face_id) if p.face_id is not None else None
        lab = UNASSIGNED if i is None else int(cluster_labels[i])
        predicted.append(None if lab == UNASSIGNED else lab)
    return score_clustering(predicted, [p.label for p in data.photos])


@dataclass(frozen=True)
class SweepRow:
    threshold: float  # Euclidean embedding distance
    min_faces: int
    scores: ClusteringScores

    def as_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "min_faces": self.min_faces, **self.scores.as_dict()}


def sweep(
    data: LabelledCatalog,
    thresholds: Sequence[float] = DEFAULT_SWEEP_THRESHOLDS,
    min_faces_values: Sequence[int] = DEFAULT_SWEEP_MIN_FACES,
) -> list[SweepRow]:
    """Scores of a fresh clustering of the catalog's embeddings for every threshold x ``min_faces``.

    Chinese Whispers (and the split of same-photo conflicts) runs once per threshold; ``min_faces`` only
    drops small clusters afterwards.
    """
    rows = []
    for threshold in thresholds:
        labels = whispers_labels(data.embeddings, threshold, data.cluster_photos)
        for min_faces in min_faces_values:
            scores = score_labels(data, drop_small_clusters(labels, min_faces))
            rows.append(SweepRow(float(threshold), int(min_faces), scores))
    return rows


# --- the whole evaluation -----------------------------------------------------------------------------


@dataclass
class IdentityReport:
    """Clustering quality on one labelled folder at the given settings (and, optionally, a sweep)."""

    root: str
    settings: dict[str, Any]
    scores: ClusteringScores
    photos: int
    labels: int
    photos_without_face: int
    unreadable_photos: int
    faces: int
    duplicate_paths: int
    label_conflicts: int
    run: dict[str, Any]
    sweep: list[SweepRow] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "settings": self.settings,
            "scores": self.scores.as_dict(),
            "photos": self.photos,
            "labels": self.labels,
            "photos_without_face": self.photos_without_face,
            "unreadable_photos": self.unreadable_photos,
            "faces": self.faces,
            "duplicate_paths": self.duplicate_paths,
            "label_conflicts": self.label_conflicts,
            "run": self.run,
            "sweep": [row.as_dict() for row in self.sweep],
        }


def _report(root: Path, settings: Settings, data: LabelledCatalog, run: RunSummary) -> IdentityReport:
    if not data.photos:
        raise ValueError(f"no labelled photos under {root} (expected <root>/<label>/<file>)")
    return IdentityReport(
        root=str(root.resolve()),
        settings={
            "cluster_max_distance": settings.cluster_max_distance,
            "min_faces": settings.min_faces,
            "min_face_px": settings.min_face_px,
            "min_det_score": settings.min_det_score,
            "cluster_min_face_px": settings.cluster_min_face_px,
        },
        scores=score_persons(data),
        photos=len(data.photos),
        labels=len({p.label for p in data.photos}),
        photos_without_face=sum(p.readable and p.face_id is None for p in data.photos),
        unreadable_photos=sum(not p.readable for p in data.photos),
        faces=data.faces,
        duplicate_paths=data.duplicate_paths,
        label_conflicts=data.label_conflicts,
        run=run.model_dump(mode="json", include={"stage_s", "analyze", "cluster"}),
    )


def evaluate_identities(
    root: Path,
    work_dir: Path,
    settings: Settings,
    sweep_grid: tuple[Sequence[float], Sequence[int]] | None = None,
    progress: Progress = SILENT,
) -> IdentityReport:
    """Run the pipeline on the labelled folder ``root`` into ``work_dir`` and score its clustering.

    ``work_dir`` holds the evaluation's own catalog (``settings.catalog_url`` is ignored); reusing it skips
    analysing photos again. ``sweep_grid`` (thresholds, min_faces values) adds a re-clustering sweep.
    """
    event = Event.open(work_dir, settings.model_copy(update={"catalog_url": None}))
    try:
        run = run_stages(event, root, progress)
        data = load_labelled(event.engine, root, settings)
    finally:
        event.close()
    report = _report(root, settings, data, run)
    if sweep_grid is not None:
        report.sweep = sweep(data, *sweep_grid)
    return report
