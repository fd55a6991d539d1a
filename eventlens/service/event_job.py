"""One event job, step by step: download the event's new photos, ingest and analyse them in the event's
own catalog (the batch job's stages, on the shared analysis pool), embed the users' selfies, match, and
queue the signed callback. Every step keeps what it finished: a job stopped at any point (shutdown,
``kill -9``) resumes with the photos and selfies still to do.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from eventlens.analysis.pool import AnalysisPool, PhotoTask
from eventlens.analysis.stage import analyze
from eventlens.backends.registry import create_embedder
from eventlens.catalog.arrays import from_blob, to_blob
from eventlens.catalog.embeddings import analysed_face_embeddings
from eventlens.catalog.queries import face_counts, photo_states
from eventlens.ingest.ingest import ingest
from eventlens.match.selfies import largest_face, match_users
from eventlens.pipeline import Event, run_analyze, run_cluster, run_export, run_ingest, run_labels
from eventlens.progress import Bar, Progress
from eventlens.service.db import DataDir, now_iso
from eventlens.service.download import Downloaded, DownloadError, DownloadLimits, download_all
from eventlens.service.events import event_matches, job_errors
from eventlens.service.metrics import ServiceMetrics
from eventlens.service.schemas import CallbackBody, JobStatus
from eventlens.service.tables import deliveries, event_photos, event_users, jobs, matches, selfies
from eventlens.settings import Settings
from eventlens.summaries import RunSummary

log = logging.getLogger(__name__)
_PROGRESS_EVERY_S = 1.0


class JobStopped(Exception):
    """The job was asked to stop (shutdown, or its event is being deleted); it resumes later."""


@dataclass
class JobContext:
    engine: sa.Engine  # the service catalog
    data: DataDir
    settings: Settings
    metrics: ServiceMetrics
    pool: AnalysisPool
    job_id: str
    event_id: str
    should_stop: Callable[[], bool]

    def check(self) -> None:
        if self.should_stop():
            raise JobStopped(self.job_id)

    def set(self, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(jobs.update().where(jobs.c.job_id == self.job_id).values(**values))


class _JobBar:
    def __init__(self, ctx: JobContext, base: int, on_advance: Callable[[], None]) -> None:
        self._ctx, self._done, self._on_advance = ctx, base, on_advance
        self._written_at = 0.0

    def __enter__(self) -> _JobBar:
        self._ctx.set(photos_done=self._done)
        return self

    def __exit__(self, *exc: object) -> None:
        self._ctx.set(photos_done=self._done)

    def advance(self, n: int = 1) -> None:
        self._done += n
        self._on_advance()
        now = time.monotonic()
        if now - self._written_at >= _PROGRESS_EVERY_S:
            self._ctx.set(photos_done=self._done)
            self._written_at = now
        self._ctx.check()  # stops between two photos; the finished ones are kept

    def note(self, text: str) -> None:
        return None


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def advance(self, n: int = 1) -> None:
        return None

    def note(self, text: str) -> None:
        return None


class _JobProgress:
    """Analysis progress written to the job row: photos done out of the event's photos."""

    def __init__(self, ctx: JobContext, photos_total: int) -> None:
        self._ctx, self._total = ctx, photos_total

    def bar(self, total: int | None, label: str, unit: str = "photo") -> Bar:
        if label != "analyze" or total is None:
            return _NoBar()
        return _JobBar(self._ctx, max(0, self._total - total), self._ctx.metrics.photos_analysed.inc)

    def status(self, label: str, text: str) -> None:
        return None


def result_photos(summary: RunSummary) -> int:
    return summary.analyze.photos if summary.analyze is not None else 0


def _step(ctx: JobContext, step: str) -> None:
    ctx.check()
    ctx.set(step=step)


def _download_photos(ctx: JobContext) -> None:
    with ctx.engine.connect() as conn:
        todo = conn.execute(
            sa.select(event_photos.c.photo_id, event_photos.c.url).where(
                event_photos.c.event_id == ctx.event_id, event_photos.c.status == "pending"
            )
        ).all()
    dest = ctx.data.downloads(ctx.event_id)
    dest.mkdir(parents=True, exist_ok=True)
    _fetch(ctx, [(r.photo_id, r.url) for r in todo], dest, _record_photo)


def _record_photo(
    conn: sa.Connection, ctx: JobContext, photo_id: str, result: Downloaded | DownloadError
) -> None:
    where = sa.and_(event_photos.c.event_id == ctx.event_id, event_photos.c.photo_id == photo_id)
    if isinstance(result, DownloadError):
        ctx.metrics.download_failures.labels(result.reason).inc()
        conn.execute(
            event_photos.update()
            .where(where)
            .values(status="failed", error_reason=result.reason, error=str(result))
        )
    else:
        conn.execute(
            event_photos.update()
            .where(where)
            .values(status="downloaded", sha256=result.sha256, error_reason=None, error=None)
        )


def _fetch(
    ctx: JobContext,
    items: list[tuple[Any, str]],
    dest: Path,
    record: Callable[[sa.Connection, JobContext, Any, Downloaded | DownloadError], None],
) -> None:
    """Download ``items`` with bounded concurrency, recording each result in small transactions."""
    if not items:
        return
    limits = DownloadLimits.from_settings(ctx.settings)
    batch: list[tuple[Any, Downloaded | DownloadError]] = []
    last = time.monotonic()

    def flush() -> None:
        with ctx.engine.begin() as conn:
            for key, result in batch:
                record(conn, ctx, key, result)
        batch.clear()

    try:
        for key, result in download_all(items, dest, limits, ctx.settings.download_concurrency):
            batch.append((key, result))
            if len(batch) >= 32 or time.monotonic() - last >= 1.0:
                flush()
                last = time.monotonic()
                ctx.check()
    finally:
        if batch:
            flush()


def _analyse(ctx: JobContext, photos_total: int) -> RunSummary:
    """Ingest the downloads folder into the event's catalog and analyse what is new there."""
    event = Event.open(ctx.data.event_dir(ctx.event_id), ctx.settings, command="serve")
    try:
        with event.run("serve") as summary:
            progress: Progress = _JobProgress(ctx, photos_total)
            summary.ingest = ingest(
                event.engine,
                ctx.data.downloads(ctx.event_id),
                ctx.settings,
                event.store,
                summary.run_id,
                allow_shrink=True,
            )
            result = analyze(event.engine, ctx.settings, progress, pool=ctx.pool)
            summary.analyze = result
            ctx.metrics.faces_found.inc(result.faces)
        return summary
    finally:
        event.close()


def _embed_selfies(ctx: JobContext) -> None:
    with ctx.engine.connect() as conn:
        todo = conn.execute(
            sa.select(selfies.c.user_id, selfies.c.url).where(
                selfies.c.event_id == ctx.event_id, selfies.c.status == "pending"
            )
        ).all()
    if not todo:
        return
    dest = ctx.data.selfies(ctx.event_id)
    dest.mkdir(parents=True, exist_ok=True)
    fetched: list[tuple[tuple[str, str], Downloaded | DownloadError]] = []
    _fetch(
        ctx,
        [((r.user_id, r.url), r.url) for r in todo],
        dest,
        lambda _c, _x, key, res: fetched.append((key, res)),
    )
    tasks: dict[str, PhotoTask] = {}
    with ctx.engine.begin() as conn:
        for (user_id, url), result in fetched:
            where = sa.and_(
                selfies.c.event_id == ctx.event_id, selfies.c.user_id == user_id, selfies.c.url == url
            )
            if isinstance(result, DownloadError):
                ctx.metrics.download_failures.labels(result.reason).inc()
                conn.execute(
                    selfies.update()
                    .where(where)
                    .values(status="failed", error_reason=result.reason, error=str(result))
                )
            else:
                conn.execute(selfies.update().where(where).values(sha256=result.sha256))
                tasks[result.sha256] = PhotoTask(result.sha256, result.path)
    embed_model = create_embedder(ctx.settings.embedder, ctx.settings).info.key
    outcome: dict[str, dict[str, Any]] = {}
    for analysis in ctx.pool.map(list(tasks.values())):
        if analysis.rejected_reason:
            outcome[analysis.sha256] = {
                "status": "failed",
                "error_reason": "rejected",
                "error": analysis.rejected_reason,
            }
            continue
        boxes = np.array([f.xyxy for f in analysis.faces], dtype=np.float32).reshape(-1, 4)
        i = largest_face(boxes)
        if i is None:
            outcome[analysis.sha256] = {
                "status": "failed",
                "error_reason": "no_face",
                "error": "no face found in the selfie",
            }
        elif analysis.faces[i].embedding is None:
            outcome[analysis.sha256] = {
                "status": "failed",
                "error_reason": "face_too_small",
                "error": f"the selfie's face is smaller than {ctx.settings.cluster_min_face_px} px",
            }
        else:
            outcome[analysis.sha256] = {
                "status": "done",
                "embedding": to_blob(analysis.faces[i].embedding),
                "embed_model": embed_model,
                "error_reason": None,
                "error": None,
            }
    with ctx.engine.begin() as conn:
        for sha, values in outcome.items():
            conn.execute(
                selfies.update()
                .where(
                    selfies.c.event_id == ctx.event_id, selfies.c.sha256 == sha, selfies.c.status == "pending"
                )
                .values(**values)
            )


def _user_embeddings(conn: sa.Connection, event_id: str, embed_model: str) -> dict[str, np.ndarray]:
    by_user: dict[str, list[np.ndarray]] = {}
    for r in conn.execute(
        sa.select(selfies.c.user_id, selfies.c.embedding)
        .where(
            selfies.c.event_id == event_id, selfies.c.status == "done", selfies.c.embed_model == embed_model
        )
        .order_by(selfies.c.user_id, selfies.c.url)
    ):
        by_user.setdefault(r.user_id, []).append(from_blob(r.embedding))
    return {u: np.stack(v) for u, v in by_user.items()}


def _match(ctx: JobContext) -> dict[str, int]:
    """Match every user with a selfie against every analysed photo of the event; record photos that
    were rejected or hold no face as errors."""
    embed_model = create_embedder(ctx.settings.embedder, ctx.settings).info.key
    event = Event.open(ctx.data.event_dir(ctx.event_id), ctx.settings, create=False)
    try:
        with event.engine.connect() as econn:
            faces = analysed_face_embeddings(econn, embed_model)
            with ctx.engine.connect() as conn:
                photo_rows = conn.execute(
                    sa.select(event_photos.c.photo_id, event_photos.c.sha256).where(
                        event_photos.c.event_id == ctx.event_id, event_photos.c.status == "downloaded"
                    )
                ).all()
            shas = sorted({r.sha256 for r in photo_rows})
            states = photo_states(econn, shas)
            counts = face_counts(econn)
    finally:
        event.close()
    with ctx.engine.connect() as conn:
        users = _user_embeddings(conn, ctx.event_id, embed_model)
    # the event's persons (clustered just before) reach a user's harder photos: docs/matching.md
    found = match_users(
        users,
        faces.photo_sha256,
        faces.embeddings,
        ctx.settings.match_min_confidence,
        face_clusters=faces.person_ids,
    )
    ids_of: dict[str, list[str]] = {}
    for r in photo_rows:
        ids_of.setdefault(r.sha256, []).append(r.photo_id)
    rows = [
        {
            "event_id": ctx.event_id,
            "user_id": m.user_id,
            "photo_id": pid,
            "confidence": round(float(m.confidence), 4),
            "job_id": ctx.job_id,
        }
        for m in found
        for pid in ids_of.get(m.photo_key, [])
    ]
    with ctx.engine.begin() as conn:
        for r in photo_rows:
            status, reason = states.get(r.sha256, ("pending", None))
            if status == "rejected":
                error: tuple[str | None, str | None] = ("rejected", reason)
            elif status == "analyzed" and counts.get(r.sha256, 0) == 0:
                error = ("no_face", "no face found in the photo")
            else:
                error = (None, None)
            conn.execute(
                event_photos.update()
                .where(event_photos.c.event_id == ctx.event_id, event_photos.c.photo_id == r.photo_id)
                .values(error_reason=error[0], error=error[1])
            )
        conn.execute(matches.delete().where(matches.c.event_id == ctx.event_id))
        if rows:
            conn.execute(matches.insert(), rows)
    return {
        "photos_analysed": sum(1 for s in states.values() if s[0] == "analyzed"),
        "faces": len(faces),
        "faces_detected": sum(counts.values()),
        "users_matched": len({m.user_id for m in found}),
        "matches": len(rows),
    }


def queue_callback(ctx: JobContext, status: JobStatus) -> None:
    """Write the callback (all the event's current matches and errors) for delivery, if one was asked."""
    with ctx.engine.begin() as conn:
        url = conn.execute(sa.select(jobs.c.callback_url).where(jobs.c.job_id == ctx.job_id)).scalar_one()
        if url is None:
            return
        body = CallbackBody(
            event_id=ctx.event_id,
            job_id=ctx.job_id,
            status=status,
            results=event_matches(conn, ctx.event_id, ctx.settings),
            errors=job_errors(conn, ctx.event_id),
        )
        conn.execute(deliveries.delete().where(deliveries.c.job_id == ctx.job_id))
        conn.execute(
            deliveries.insert().values(
                job_id=ctx.job_id,
                event_id=ctx.event_id,
                url=url,
                body=body.model_dump_json().encode(),
                state="pending",
                attempts=0,
                next_attempt_at_s=time.time(),
            )
        )


def run_event_job(ctx: JobContext) -> None:
    with ctx.engine.connect() as conn:
        photos_total = conn.execute(
            sa.select(sa.func.count()).where(event_photos.c.event_id == ctx.event_id)
        ).scalar_one()
        users_total = conn.execute(
            sa.select(sa.func.count()).where(event_users.c.event_id == ctx.event_id)
        ).scalar_one()
    ctx.set(photos_total=photos_total)
    _step(ctx, "downloading")
    _download_photos(ctx)
    _step(ctx, "analysing")
    summary = _analyse(ctx, photos_total)
    _step(ctx, "selfies")
    _embed_selfies(ctx)
    _step(ctx, "clustering")
    _cluster(ctx)
    _step(ctx, "matching")
    counts = _match(ctx)
    counts.update(photos=photos_total, users=users_total, photos_new=result_photos(summary))
    with ctx.engine.connect() as conn:
        counts["errors"] = len(job_errors(conn, ctx.event_id))
    ctx.set(
        status="done",
        step=None,
        finished_at=now_iso(),
        photos_done=photos_total,
        counts_json=json.dumps(counts),
    )
    queue_callback(ctx, "done")


def _cluster(ctx: JobContext) -> None:
    """Group the event's faces into persons, as the batch job does: matching reaches a user's harder
    photos through them, and the web UI shows them."""
    event = Event.open(ctx.data.event_dir(ctx.event_id), ctx.settings, command="serve")
    try:
        with event.run("cluster") as summary:
            run_cluster(event, summary)
    finally:
        event.close()


def run_collection_job(ctx: JobContext, source: Path) -> None:
    """The batch job's pipeline (``eventlens process``) on a folder or ZIP of this machine, into the
    event's folder, on the shared pool."""
    event = Event.open(ctx.data.event_dir(ctx.event_id), ctx.settings, command="serve")
    try:
        with event.run("process") as summary:
            progress = _CollectionProgress(ctx)
            _step(ctx, "ingesting")
            run_ingest(event, source, summary, progress)
            assert summary.ingest is not None
            ctx.set(photos_total=summary.ingest.new_photos + summary.ingest.unchanged)
            _step(ctx, "analysing")
            run_analyze(event, summary, progress, pool=ctx.pool)
            _step(ctx, "clustering")
            run_cluster(event, summary)
            run_labels(event, summary)
            _step(ctx, "exporting")
            run_export(event, summary, ctx.pool)
    finally:
        event.close()
    counts = {
        "photos": result_photos(summary),
        "faces": summary.analyze.faces if summary.analyze else 0,
        "persons": summary.cluster.persons if summary.cluster else 0,
    }
    ctx.set(status="done", step=None, finished_at=now_iso(), counts_json=json.dumps(counts))


class _CollectionProgress:
    """Progress of a collection job: the analysis bar's photos, written to the job row."""

    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx

    def bar(self, total: int | None, label: str, unit: str = "photo") -> Bar:
        if label != "analyze" or total is None:
            return _NoBar()
        with self._ctx.engine.connect() as conn:
            known = conn.execute(
                sa.select(jobs.c.photos_total).where(jobs.c.job_id == self._ctx.job_id)
            ).scalar_one()
        self._ctx.set(photos_total=max(int(known or 0), total))
        return _JobBar(self._ctx, max(0, int(known or 0) - total), self._ctx.metrics.photos_analysed.inc)

    def status(self, label: str, text: str) -> None:
        return None
