"""The analyze stage: every pending photo is analysed once and its faces written to the catalog.

Only the main process writes, in transactions of a few photos, so an interrupted run (Ctrl-C, crash) keeps
everything finished so far and the next run continues with the photos still ``pending``. Photos analysed
with other models or detection settings are left alone unless ``reanalyze`` is set, because their faces
may carry person assignments; the summary counts them as ``stale``.
"""

from __future__ import annotations

import json
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from eventlens.analysis.photo import Models, PhotoAnalysis
from eventlens.analysis.pool import AnalysisPool, PhotoTask, analyze_many, build_models
from eventlens.catalog.arrays import to_blob
from eventlens.catalog.schema import FACE_MEASUREMENT_COLUMNS, faces, photos
from eventlens.detections import box_iou
from eventlens.progress import SILENT, Progress
from eventlens.settings import Settings
from eventlens.summaries import AnalyzeSummary

_COMMIT_EVERY_PHOTOS = 16
#: a re-detected face inherits the person of an old face it overlaps at least this much
CARRY_OVER_IOU = 0.5
_COMMIT_EVERY_S = 2.0


def pipeline_key(models: Models, settings: Settings) -> str:
    """What determines the faces of a photo: the three models and the detection settings."""
    return json.dumps(
        {
            "detector": models.detector.info.key,
            "landmarker": models.landmarker.info.key,
            "embedder": models.embedder.info.key,
            "eyes": models.eyes.info.key,
            "min_face_px": settings.min_face_px,
            "min_det_score": settings.min_det_score,
            "cluster_min_face_px": settings.cluster_min_face_px,
            "measure_faces": settings.measure_faces,
        },
        sort_keys=True,
    )


_UNMEASURED: dict[str, object] = {name: None for name in (*FACE_MEASUREMENT_COLUMNS, "cut_by_edge")}


def _face_rows(result: PhotoAnalysis, models: Models) -> list[dict[str, object]]:
    return [
        {
            "photo_sha256": result.sha256,
            "face_index": i,
            "x1": float(f.xyxy[0]),
            "y1": float(f.xyxy[1]),
            "x2": float(f.xyxy[2]),
            "y2": float(f.xyxy[3]),
            "det_score": f.det_score,
            "detect_model": models.detector.info.key,
            "landmarks5": to_blob(f.landmarks5),
            "landmarks68": to_blob(f.landmarks68),
            "embedding": to_blob(f.embedding),
            "embed_model": models.embedder.info.key if f.embedding is not None else None,
            "person_id": None,
            "assigned_by": None,
            **(f.measurements.as_dict() if f.measurements is not None else _UNMEASURED),
        }
        for i, f in enumerate(result.faces)
    ]


def _quality_values(result: PhotoAnalysis) -> dict[str, object]:
    q = result.quality
    if q is None:
        return {}
    return {
        "sharpness": q.sharpness,
        "brightness": q.exposure.brightness,
        "clipped_high": q.exposure.clipped_high,
        "clipped_low": q.exposure.clipped_low,
        "phash": f"{q.phash:016x}",
    }


def _carry_over_persons(conn: sa.Connection, sha256: str, rows: list[dict[str, object]]) -> None:
    """On re-analysis, give each new face the person of the old face it overlaps (IoU >= 0.5), so that
    person ids and corrections made by hand survive a model or settings change."""
    old = conn.execute(
        sa.select(
            faces.c.x1, faces.c.y1, faces.c.x2, faces.c.y2, faces.c.person_id, faces.c.assigned_by
        ).where(faces.c.photo_sha256 == sha256, faces.c.person_id.is_not(None))
    ).all()
    if not old or not rows:
        return
    new_boxes = np.array([[r["x1"], r["y1"], r["x2"], r["y2"]] for r in rows], dtype=np.float64)
    ious = box_iou(new_boxes, np.array([[o.x1, o.y1, o.x2, o.y2] for o in old], dtype=np.float64))
    for _ in range(min(len(rows), len(old))):
        i, j = np.unravel_index(int(np.argmax(ious)), ious.shape)
        if ious[i, j] < CARRY_OVER_IOU:
            break
        rows[i]["person_id"], rows[i]["assigned_by"] = old[int(j)].person_id, old[int(j)].assigned_by
        ious[i, :] = -1
        ious[:, j] = -1


def _write(conn: sa.Connection, results: list[PhotoAnalysis], models: Models, key: str) -> None:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    for r in results:
        rows = _face_rows(r, models)
        _carry_over_persons(conn, r.sha256, rows)
        conn.execute(faces.delete().where(faces.c.photo_sha256 == r.sha256))
        if r.rejected_reason:
            conn.execute(
                photos.update()
                .where(photos.c.sha256 == r.sha256)
                .values(status="rejected", reject_reason=r.rejected_reason, analyzed_at=now, pipeline_key=key)
            )
            continue
        if rows:
            conn.execute(faces.insert(), rows)
        conn.execute(
            photos.update()
            .where(photos.c.sha256 == r.sha256)
            .values(
                status="analyzed", reject_reason=None, analyzed_at=now, pipeline_key=key, **_quality_values(r)
            )
        )


def _write_timed(
    engine: sa.Engine, batch: list[PhotoAnalysis], models: Models, key: str, summary: AnalyzeSummary
) -> None:
    started = time.perf_counter()
    with engine.begin() as conn:
        _write(conn, batch, models, key)
    summary.timings_ms["write"] = (
        summary.timings_ms.get("write", 0.0) + (time.perf_counter() - started) * 1000
    )


def analyze(
    engine: sa.Engine,
    settings: Settings,
    progress: Progress = SILENT,
    reanalyze: bool = False,
    models: Models | None = None,
    pool: AnalysisPool | None = None,
) -> AnalyzeSummary:
    """Analyse pending photos (and, with ``reanalyze``, photos analysed under another pipeline key)."""
    local_models = models or build_models(settings)
    key = pipeline_key(local_models, settings)
    with engine.connect() as conn:
        todo_filter = photos.c.status == "pending"
        other_key = sa.and_(photos.c.status == "analyzed", photos.c.pipeline_key != key)
        stale = conn.execute(sa.select(sa.func.count()).where(other_key)).scalar() or 0
        if reanalyze:
            todo_filter = sa.or_(todo_filter, other_key)
        rows = conn.execute(
            sa.select(photos.c.sha256, photos.c.local_path)
            .where(todo_filter)
            # largest files first: the slowest photos start early, so no worker idles at the end
            .order_by(photos.c.size_bytes.desc(), photos.c.sha256)
        ).all()
    workers = min(settings.effective_workers, max(1, len(rows)))
    summary = AnalyzeSummary(stale=0 if reanalyze else stale, workers=workers)
    tasks = [PhotoTask(r.sha256, Path(r.local_path)) for r in rows]
    started = time.perf_counter()
    batch: list[PhotoAnalysis] = []
    last_commit = started
    if tasks:
        progress.status("analyze", f"loading models ({workers} worker{'s' if workers > 1 else ''})…")
    with progress.bar(len(tasks), "analyze") as bar:
        try:
            # closing(): on an interrupt the generator (and a pool it made) ends now, not when collected
            with closing(analyze_many(tasks, settings, workers, models=local_models, pool=pool)) as results:
                for result in results:
                    batch.append(result)
                    summary.photos += 1
                    summary.faces += len(result.faces)
                    summary.rejected += result.rejected_reason is not None
                    for name, ms in result.timings_ms.items():
                        summary.timings_ms[name] = summary.timings_ms.get(name, 0.0) + ms
                    bar.advance()
                    bar.note(f"{summary.faces} faces")
                    now = time.perf_counter()
                    if len(batch) >= _COMMIT_EVERY_PHOTOS or now - last_commit >= _COMMIT_EVERY_S:
                        _write_timed(engine, batch, local_models, key, summary)
                        batch, last_commit = [], time.perf_counter()
        finally:
            if batch:
                _write_timed(engine, batch, local_models, key, summary)
    summary.wall_s = time.perf_counter() - started
    return summary
