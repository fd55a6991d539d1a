"""The event a web route works on: the service's events (``DATA/events/<event_id>``, the API's).

    event_engine(request, event_id)   the event's catalog, for the read model (eventlens.catalog.queries)
    event_target(request, event_id)   the same, as the Target the corrections write path takes
    event_info(request, event_id)     the event's row and its latest job (status, progress), for pages

An unknown event, or one whose first job has not ended yet (it may be creating the catalog), is a 404 with
a message saying which.
One engine per event is kept open (keyed by the event's creation time, so an event deleted and made again
under the same id never reaches the old catalog's open file).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from fastapi import HTTPException, Request

from eventlens.catalog.db import default_url, open_catalog
from eventlens.curate.corrections import Target
from eventlens.errors import InputError
from eventlens.service.db import DataDir, check_id
from eventlens.service.routes import service_of
from eventlens.service.tables import events, jobs


@dataclass(frozen=True)
class JobInfo:
    job_id: str
    kind: str  # match | collection
    status: str  # queued | running | done | failed
    step: str | None
    photos_done: int
    photos_total: int
    counts: dict[str, int]
    error: str | None
    created_at: str
    finished_at: str | None

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running")

    @property
    def percent(self) -> int:
        if self.status == "done":
            return 100
        return int(100 * self.photos_done / self.photos_total) if self.photos_total else 0


@dataclass(frozen=True)
class EventInfo:
    event_id: str
    created_at: str
    updated_at: str
    job: JobInfo | None  # the latest job
    has_catalog: bool  # a job of the event has ended (or none ever ran) and there is its catalog

    @property
    def status(self) -> str:
        return self.job.status if self.job is not None else "empty"


def _job_info(r: Any) -> JobInfo:
    return JobInfo(
        r.job_id,
        r.kind,
        r.status,
        r.step,
        int(r.photos_done or 0),
        int(r.photos_total or 0),
        json.loads(r.counts_json) if r.counts_json else {},
        r.error,
        r.created_at,
        r.finished_at,
    )


def latest_jobs(conn: sa.Connection, event_ids: list[str] | None = None) -> dict[str, JobInfo]:
    """The newest job of each event (of the given ones)."""
    newest = sa.select(
        jobs,
        sa.func.row_number()
        .over(partition_by=jobs.c.event_id, order_by=(jobs.c.created_at_s.desc(), jobs.c.job_id.desc()))
        .label("rank"),
    )
    if event_ids is not None:
        newest = newest.where(jobs.c.event_id.in_(event_ids))
    sub = newest.subquery()
    return {r.event_id: _job_info(r) for r in conn.execute(sa.select(sub).where(sub.c.rank == 1))}


def _finished(conn: sa.Connection, event_ids: list[str] | None = None) -> set[str]:
    """Events with a job that ended: their catalog is complete (a first job may be creating it)."""
    query = sa.select(jobs.c.event_id).where(jobs.c.status.in_(("done", "failed"))).distinct()
    if event_ids is not None:
        query = query.where(jobs.c.event_id.in_(event_ids))
    return set(conn.execute(query).scalars())


def list_events(request: Request) -> list[EventInfo]:
    service = service_of(request)
    with service.engine.connect() as conn:
        rows = conn.execute(sa.select(events).order_by(events.c.updated_at_s.desc())).all()
        latest = latest_jobs(conn)
        finished = _finished(conn)
    return [_event_info(service.data, r, latest.get(r.event_id), r.event_id in finished) for r in rows]


def _event_info(data: DataDir, row: Any, job: JobInfo | None, finished: bool) -> EventInfo:
    # a running first job may still be creating the catalog; with no job at all nothing is writing it
    ready = finished or job is None
    has_catalog = ready and (data.event_dir(row.event_id) / ".eventlens" / "catalog.sqlite").is_file()
    return EventInfo(row.event_id, row.created_at, row.updated_at, job, has_catalog)


def _not_found(event_id: str) -> HTTPException:
    return HTTPException(404, f"no event {event_id!r} (the events page lists them)")


def event_info(request: Request, event_id: str) -> EventInfo:
    service = service_of(request)
    try:
        check_id("event_id", event_id)
    except InputError:
        raise _not_found(event_id) from None
    with service.engine.connect() as conn:
        row = conn.execute(sa.select(events).where(events.c.event_id == event_id)).first()
        if row is None:
            raise _not_found(event_id)
        job = latest_jobs(conn, [event_id]).get(event_id)
        finished = bool(_finished(conn, [event_id]))
    return _event_info(service.data, row, job, finished)


@dataclass
class EventCatalogs:
    """Open engines of event catalogs, one per event (and creation time)."""

    _engines: dict[str, tuple[str, sa.Engine]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def engine(self, data: DataDir, info: EventInfo) -> sa.Engine:
        with self._lock:
            cached = self._engines.get(info.event_id)
            if cached is not None and cached[0] == info.created_at:
                return cached[1]
            if cached is not None:
                cached[1].dispose()
            engine = open_catalog(default_url(data.event_dir(info.event_id)))
            self._engines[info.event_id] = (info.created_at, engine)
            return engine

    def forget(self, event_id: str) -> None:
        with self._lock:
            cached = self._engines.pop(event_id, None)
        if cached is not None:
            cached[1].dispose()

    def close(self) -> None:
        with self._lock:
            for _, engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


def event_engine(request: Request, event_id: str) -> sa.Engine:
    """The event's catalog (404 for an unknown event or one without photos yet)."""
    info = event_info(request, event_id)
    if not info.has_catalog:
        status = info.job.status if info.job else "no job"
        raise HTTPException(404, f"event {event_id!r} has no photos yet (its job is {status})")
    catalogs: EventCatalogs = request.app.state.web.catalogs
    return catalogs.engine(service_of(request).data, info)


def event_target(request: Request, event_id: str) -> Target:
    """What the corrections write path (:mod:`eventlens.curate.corrections`) takes for this event."""
    return event_engine(request, event_id)
