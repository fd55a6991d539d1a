"""Events of the service: what ``POST /process-event`` records (a job and what the event was asked for),
the state of jobs, the matches, and purging an event. Routes call these; only the job runner
(:mod:`eventlens.service.runner`) runs the pipeline.
"""

from __future__ import annotations

import json
import secrets
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from eventlens.errors import InputError, NotFoundError
from eventlens.match.selfies import bucket
from eventlens.service.db import DataDir, check_id, now_iso
from eventlens.service.errors import Busy, Forbidden
from eventlens.service.keys import ApiKey
from eventlens.service.schemas import (
    CallbackState,
    ErrorItem,
    JobOut,
    MatchOut,
    ProcessEventIn,
    Progress,
)
from eventlens.service.tables import deliveries, event_photos, event_users, events, jobs, matches, selfies
from eventlens.settings import Settings

_RETRY_AFTER_S = 30


def _check_limits(request: ProcessEventIn, settings: Settings) -> None:
    if len(request.photos) > settings.max_photos_per_request:
        raise InputError(
            f"photos: {len(request.photos)} photos; one request may name at most "
            f"{settings.max_photos_per_request} (post the rest in another request for the same event_id)"
        )
    if len(request.users) > settings.max_users_per_request:
        raise InputError(f"users: {len(request.users)} users; at most {settings.max_users_per_request}")
    for field, ids in (
        ("photos", [p.photo_id for p in request.photos]),
        ("users", [u.user_id for u in request.users]),
    ):
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise InputError(f"{field}: the id {dup!r} is given twice")
    for u in request.users:
        if len(u.urls()) > settings.max_selfies_per_user:
            raise InputError(
                f"users: user {u.user_id!r} gives {len(u.urls())} selfies; "
                f"at most {settings.max_selfies_per_user}"
            )


def owned_event(conn: sa.Connection, event_id: str, key: ApiKey, write: bool) -> sa.Row[Any]:
    """The event's row; NotFoundError if unknown, Forbidden if ``write`` and another key owns it."""
    row = conn.execute(sa.select(events).where(events.c.event_id == event_id)).first()
    if row is None:
        raise NotFoundError(f"no event {event_id!r}")
    if write and row.owner_key_id != key.key_id and key.scope != "admin":
        raise Forbidden(f"event {event_id!r} belongs to another API key")
    return row


def submit_event(engine: sa.Engine, request: ProcessEventIn, key: ApiKey, settings: Settings) -> str:
    """Record the event's photos and users (new ones added, changed URLs re-fetched) and queue a job;
    returns its id. Work done for unchanged photos and selfies is kept."""
    _check_limits(request, settings)
    now, now_s = now_iso(), time.time()
    job_id = f"job_{secrets.token_hex(8)}"
    with engine.begin() as conn:
        _check_queue(conn, settings)
        _touch_event(conn, request.event_id, key, now, now_s)
        _record_photos(conn, request)
        _record_users(conn, request)
        total = conn.execute(
            sa.select(sa.func.count()).where(event_photos.c.event_id == request.event_id)
        ).scalar_one()
        conn.execute(
            jobs.insert().values(
                job_id=job_id,
                event_id=request.event_id,
                owner_key_id=key.key_id,
                status="queued",
                callback_url=str(request.callback_url) if request.callback_url else None,
                created_at=now,
                created_at_s=now_s,
                photos_total=total,
            )
        )
    return job_id


def submit_collection(engine: sa.Engine, event_id: str, source: Path, key: ApiKey, settings: Settings) -> str:
    """Queue a collection job: the batch job's whole pipeline (ingest ``source``, a folder or a .zip on
    this machine, analyse, cluster into persons, export) into the event's folder; returns the job id.
    The caller checks that ``source`` is allowed (the web UI: an allow-list of folders)."""
    check_id("event_id", event_id)
    if not source.exists():
        raise InputError(f"{source} does not exist")
    now, now_s = now_iso(), time.time()
    job_id = f"job_{secrets.token_hex(8)}"
    with engine.begin() as conn:
        _check_queue(conn, settings)
        _touch_event(conn, event_id, key, now, now_s)
        conn.execute(
            jobs.insert().values(
                job_id=job_id,
                event_id=event_id,
                owner_key_id=key.key_id,
                kind="collection",
                source=str(source.resolve()),
                status="queued",
                created_at=now,
                created_at_s=now_s,
            )
        )
    return job_id


def _check_queue(conn: sa.Connection, settings: Settings) -> None:
    queued = conn.execute(sa.select(sa.func.count()).where(jobs.c.status == "queued")).scalar_one()
    if queued >= settings.max_queued_jobs:
        raise Busy(f"{queued} jobs are queued (max_queued_jobs); try again later", _RETRY_AFTER_S)


def _touch_event(conn: sa.Connection, event_id: str, key: ApiKey, now: str, now_s: float) -> None:
    """Create the event (owned by ``key``) or mark it changed (Forbidden if another key owns it)."""
    existing = conn.execute(sa.select(events).where(events.c.event_id == event_id)).first()
    if existing is None:
        conn.execute(
            events.insert().values(
                event_id=event_id, owner_key_id=key.key_id, created_at=now, updated_at=now, updated_at_s=now_s
            )
        )
    else:
        owned_event(conn, event_id, key, write=True)
        conn.execute(
            events.update().where(events.c.event_id == event_id).values(updated_at=now, updated_at_s=now_s)
        )


def _record_photos(conn: sa.Connection, request: ProcessEventIn) -> None:
    known = {
        r.photo_id: r.url
        for r in conn.execute(
            sa.select(event_photos.c.photo_id, event_photos.c.url).where(
                event_photos.c.event_id == request.event_id
            )
        )
    }
    new = [p for p in request.photos if p.photo_id not in known]
    changed = [p for p in request.photos if p.photo_id in known and known[p.photo_id] != str(p.url)]
    if new:
        conn.execute(
            event_photos.insert(),
            [
                {"event_id": request.event_id, "photo_id": p.photo_id, "url": str(p.url), "status": "pending"}
                for p in new
            ],
        )
    for p in changed:
        conn.execute(
            event_photos.update()
            .where(event_photos.c.event_id == request.event_id, event_photos.c.photo_id == p.photo_id)
            .values(url=str(p.url), status="pending", sha256=None, error_reason=None, error=None)
        )


def _record_users(conn: sa.Connection, request: ProcessEventIn) -> None:
    for u in request.users:
        urls = u.urls()
        where = sa.and_(event_users.c.event_id == request.event_id, event_users.c.user_id == u.user_id)
        if conn.execute(sa.select(event_users.c.user_id).where(where)).first() is None:
            conn.execute(
                event_users.insert().values(
                    event_id=request.event_id, user_id=u.user_id, image_urls_json=json.dumps(urls)
                )
            )
        else:
            conn.execute(event_users.update().where(where).values(image_urls_json=json.dumps(urls)))
        # selfies no longer given are forgotten; new ones are fetched
        conn.execute(
            selfies.delete().where(
                selfies.c.event_id == request.event_id,
                selfies.c.user_id == u.user_id,
                selfies.c.url.not_in(urls),
            )
        )
        have = {
            r.url
            for r in conn.execute(
                sa.select(selfies.c.url).where(
                    selfies.c.event_id == request.event_id, selfies.c.user_id == u.user_id
                )
            )
        }
        for url in urls:
            if url not in have:
                conn.execute(
                    selfies.insert().values(
                        event_id=request.event_id, user_id=u.user_id, url=url, status="pending"
                    )
                )


def job_errors(conn: sa.Connection, event_id: str) -> list[ErrorItem]:
    """What could not be used: photos (download failed, not an image, no face) and users (selfie)."""
    out = [
        ErrorItem(photo_id=r.photo_id, reason=r.error_reason or "failed", message=r.error or "")
        for r in conn.execute(
            sa.select(event_photos.c.photo_id, event_photos.c.error_reason, event_photos.c.error)
            .where(event_photos.c.event_id == event_id, event_photos.c.error_reason.is_not(None))
            .order_by(event_photos.c.photo_id)
        )
    ]
    failed_users: dict[str, list[tuple[str | None, str | None]]] = {}
    done_users: set[str] = set()
    for r in conn.execute(
        sa.select(selfies.c.user_id, selfies.c.status, selfies.c.error_reason, selfies.c.error, selfies.c.url)
        .where(selfies.c.event_id == event_id)
        .order_by(selfies.c.user_id, selfies.c.url)
    ):
        if r.status == "failed":
            failed_users.setdefault(r.user_id, []).append((r.error_reason, r.error))
        elif r.status == "done":
            done_users.add(r.user_id)
    for user_id, failures in failed_users.items():
        for reason, error in failures:
            message = error or ""
            if user_id in done_users:
                message = f"{message} (another selfie of this user was used)"
            out.append(ErrorItem(user_id=user_id, reason=reason or "failed", message=message))
    return out


def job_view(engine: sa.Engine, job_id: str, key: ApiKey) -> JobOut:
    with engine.connect() as conn:
        job = conn.execute(sa.select(jobs).where(jobs.c.job_id == job_id)).first()
        if job is None:
            raise NotFoundError(f"no job {job_id!r}")
        delivery = conn.execute(sa.select(deliveries).where(deliveries.c.job_id == job_id)).first()
        errors = job_errors(conn, job.event_id) if job.status in ("done", "failed") else []
    return JobOut(
        job_id=job.job_id,
        event_id=job.event_id,
        status=job.status,
        step=job.step,
        progress=Progress(photos_done=job.photos_done, photos_total=job.photos_total),
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        counts=json.loads(job.counts_json) if job.counts_json else {},
        errors=errors,
        error=job.error,
        callback=CallbackState(
            state=delivery.state,
            attempts=delivery.attempts,
            last_error=delivery.last_error,
            delivered_at=delivery.delivered_at,
        )
        if delivery is not None
        else None,
    )


def event_matches(
    conn: sa.Connection,
    event_id: str,
    settings: Settings,
    user_id: str | None = None,
    min_confidence: float | None = None,
) -> list[MatchOut]:
    query = sa.select(matches).where(matches.c.event_id == event_id)
    if user_id is not None:
        query = query.where(matches.c.user_id == user_id)
    if min_confidence is not None:
        query = query.where(matches.c.confidence >= min_confidence)
    rows = conn.execute(query.order_by(matches.c.user_id, matches.c.confidence.desc(), matches.c.photo_id))
    return [
        MatchOut(
            event_id=r.event_id,
            photo_id=r.photo_id,
            user_id=r.user_id,
            confidence=r.confidence,
            bucket=bucket(r.confidence, settings),
        )
        for r in rows
    ]


def delete_event(engine: sa.Engine, data: DataDir, event_id: str) -> dict[str, int]:
    """Remove every row and file of the event; returns what was deleted, by kind. The caller stops the
    event's running job first (:meth:`eventlens.service.runner.JobRunner.stop_event`)."""
    deleted: dict[str, int] = {}
    with engine.begin() as conn:
        job_ids: Sequence[str] = (
            conn.execute(sa.select(jobs.c.job_id).where(jobs.c.event_id == event_id)).scalars().all()
        )
        for name, table in (
            ("matches", matches),
            ("selfies", selfies),
            ("users", event_users),
            ("photos", event_photos),
            ("callbacks", deliveries),
            ("jobs", jobs),
            ("events", events),
        ):
            deleted[name] = conn.execute(table.delete().where(table.c.event_id == event_id)).rowcount
    del job_ids
    files = 0
    for folder in (data.event_dir(event_id), data.uploads(event_id)):
        if folder.exists():
            files += sum(1 for p in folder.rglob("*") if p.is_file())
            shutil.rmtree(folder)
    deleted["files"] = files
    return deleted
