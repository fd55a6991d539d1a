"""The FastAPI application of ``eventlens serve``: one data folder, one analysis pool, one job runner,
one callback deliverer. Routes (:mod:`eventlens.service.routes`) are thin over
:mod:`eventlens.service.events`; only the runner runs the pipeline. The web UI (:mod:`eventlens.web`) is
added at ``/``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from eventlens.analysis.pool import AnalysisPool
from eventlens.backends.registry import create_embedder
from eventlens.errors import EventlensError, InputError, LockedError, NotFoundError
from eventlens.service.callbacks import Deliverer
from eventlens.service.db import DataDir, open_service_db
from eventlens.service.errors import Busy, Forbidden
from eventlens.service.events import delete_event
from eventlens.service.galleries import Galleries
from eventlens.service.metrics import ServiceMetrics
from eventlens.service.runner import JobRunner
from eventlens.service.signing import callback_secret
from eventlens.service.tables import events, jobs
from eventlens.settings import Settings

log = logging.getLogger(__name__)
_RETENTION_CHECK_S = 3600.0


@dataclass
class Service:
    """What the routes need, made once per app."""

    data: DataDir
    settings: Settings
    engine: sa.Engine
    metrics: ServiceMetrics
    pool: AnalysisPool | None = None
    runner: JobRunner | None = None
    deliverer: Deliverer | None = None
    galleries: Galleries | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def count_jobs(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {
                r.status: int(r.n)
                for r in conn.execute(
                    sa.select(jobs.c.status, sa.func.count().label("n")).group_by(jobs.c.status)
                )
            }

    def purge_event(self, event_id: str) -> dict[str, int]:
        assert self.runner is not None
        self.runner.stop_event(event_id)
        try:
            return delete_event(self.engine, self.data, event_id)
        finally:
            self.runner.release_event(event_id)

    def purge_expired(self) -> list[str]:
        """Delete events unchanged for ``event_retention_days``; returns their ids."""
        days = self.settings.event_retention_days
        if days <= 0:
            return []
        with self.engine.connect() as conn:
            old = (
                conn.execute(
                    sa.select(events.c.event_id).where(events.c.updated_at_s < time.time() - days * 86400)
                )
                .scalars()
                .all()
            )
        for event_id in old:
            log.info("event %s is older than %s days: purged", event_id, days)
            self.purge_event(event_id)
        return list(old)

    def _retention_loop(self) -> None:
        while not self._stop.wait(_RETENTION_CHECK_S if self.settings.event_retention_days > 0 else 1e9):
            try:
                self.purge_expired()
            except Exception:
                log.exception("purging expired events failed")

    def start(self) -> None:
        self.pool = AnalysisPool(self.settings, self.settings.effective_workers)
        self.runner = JobRunner(self.engine, self.data, self.settings, self.metrics, self.pool)
        self.runner.start()
        embed_model = create_embedder(self.settings.embedder, self.settings).info.key
        self.galleries = Galleries(self.engine, self.data, self.settings, embed_model, self.pool.map)
        self.deliverer = Deliverer(
            self.engine, self.settings, callback_secret(self.settings, self.data.root), self.metrics
        )
        self.deliverer.start()
        self.purge_expired()
        threading.Thread(target=self._retention_loop, name="eventlens-retention", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        if self.runner is not None:
            self.runner.stop()
        if self.deliverer is not None:
            self.deliverer.stop()
        if self.pool is not None:
            self.pool.close(stop_now=True)
        self.engine.dispose()


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` (413), by Content-Length and while reading; the paths of
    ``larger`` (path -> (bytes, the setting's name)) have their own limit."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, larger: dict[str, tuple[int, str]] | None = None
    ) -> None:
        self.app, self.max_bytes, self.larger = app, max_bytes, larger or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes, setting = self.larger.get(scope.get("path", ""), (self.max_bytes, "max_request_mb"))
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            await _too_large(max_bytes, setting)(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _BodyTooLarge:
            await _too_large(max_bytes, setting)(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


def _too_large(max_bytes: int, setting: str) -> JSONResponse:
    return JSONResponse(
        {"detail": f"request body larger than {max_bytes / 1e6:.0f} MB ({setting})"}, status_code=413
    )


def _error_handlers(app: FastAPI) -> None:
    def status_of(exc: EventlensError) -> int:
        if isinstance(exc, Forbidden):
            return 403
        if isinstance(exc, NotFoundError):
            return 404
        if isinstance(exc, Busy):
            return 429
        if isinstance(exc, LockedError):
            return 409
        if isinstance(exc, InputError):
            return 422
        return 500

    async def handle(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, EventlensError)
        headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, Busy) else None
        return JSONResponse({"detail": str(exc)}, status_code=status_of(exc), headers=headers)

    app.add_exception_handler(EventlensError, handle)


def create_app(data_dir: Path, settings: Settings, start_workers: bool = True) -> FastAPI:
    """The app; with ``start_workers`` (always, except in tests of the HTTP layer alone) its lifespan starts
    the analysis pool, the job runner and the callback deliverer, and stops them on shutdown."""
    from eventlens.service import gallery_routes, routes  # noqa: PLC0415 - they import this module
    from eventlens.web import UPLOAD_PATH, add_web  # noqa: PLC0415 - the web UI imports this module

    data = DataDir(data_dir.resolve())
    service = Service(data, settings, open_service_db(data), ServiceMetrics())
    service.metrics.count_jobs_with(service.count_jobs)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if start_workers:
            service.start()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(
        title="eventlens",
        summary="Find attendees' photos by selfie, and recognise known people, on your own machine.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.service = service
    _error_handlers(app)

    @app.middleware("http")
    async def timed(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route: Any = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        service.metrics.request_latency.labels(request.method, path, str(response.status_code)).observe(
            time.perf_counter() - started
        )
        return response

    app.add_middleware(
        BodyLimit,
        max_bytes=int(settings.max_request_mb * 1e6),
        larger={UPLOAD_PATH: (int(settings.max_upload_mb * 1e6), "max_upload_mb")},
    )
    routes.add_routes(app)
    gallery_routes.add_gallery_routes(app)
    add_web(app)
    return app
