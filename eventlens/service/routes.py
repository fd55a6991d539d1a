"""HTTP routes: parse, authorise, call :mod:`eventlens.service.events`, answer. Nothing else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from eventlens.service.app import Service
from eventlens.service.events import event_matches, job_view, owned_event, submit_event
from eventlens.service.keys import ApiKey, Scope, verify_key
from eventlens.service.schemas import (
    DeletedOut,
    Id,
    JobAccepted,
    JobOut,
    MatchesOut,
    Problem,
    ProcessEventIn,
)

_bearer = HTTPBearer(auto_error=False, description="An API key made with `eventlens keys create`.")


def service_of(request: Request) -> Service:
    service = request.app.state.service
    assert isinstance(service, Service)
    return service


ServiceDep = Annotated[Service, Depends(service_of)]


def require(scope: Scope) -> Callable[..., ApiKey]:
    def check(
        service: ServiceDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> ApiKey:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(
                401, "send an API key: Authorization: Bearer <key>", {"WWW-Authenticate": "Bearer"}
            )
        key = verify_key(service.engine, credentials.credentials)
        if key is None:
            raise HTTPException(401, "the API key is unknown or revoked", {"WWW-Authenticate": "Bearer"})
        if not key.allows(scope):
            raise HTTPException(403, f"this API key has scope {key.scope!r}; this needs {scope!r}")
        return key

    return check


Reader = Annotated[ApiKey, Depends(require("read"))]
Writer = Annotated[ApiKey, Depends(require("write"))]

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No or an unknown API key."},
    403: {"model": Problem, "description": "The key's scope or owner does not allow this."},
}


def add_routes(app: FastAPI) -> None:
    @app.get("/health", tags=["system"])
    def health() -> dict[str, str]:
        """Liveness: the process answers. No key needed."""
        return {"status": "ok"}

    @app.get("/ready", tags=["system"], responses={**_ERRORS, 503: {"model": Problem}})
    def ready(service: ServiceDep, key: Reader) -> dict[str, str]:
        """Readiness: the catalog answers and the analysis workers have loaded their models."""
        with service.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        if service.pool is None or not service.pool.ready:
            raise HTTPException(503, "the analysis workers are still loading their models")
        return {"status": "ready"}

    @app.get("/metrics", tags=["system"], responses=_ERRORS, response_class=Response)
    def metrics(service: ServiceDep, key: Reader) -> Response:
        """Prometheus metrics (text format)."""
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post(
        "/process-event",
        status_code=202,
        tags=["events"],
        responses={**_ERRORS, 422: {"model": Problem}, 429: {"model": Problem}},
    )
    def process_event(body: ProcessEventIn, service: ServiceDep, key: Writer) -> JobAccepted:
        """Queue the matching of an event's users (selfies) against its photos. Answers at once; the
        results are POSTed, signed, to ``callback_url`` when the job ends, and stay available at
        ``GET /events/{event_id}/matches``. Re-posting an event adds its new photos and users and reuses
        the work done for the others."""
        job_id = submit_event(service.engine, body, key, service.settings)
        if service.runner is not None:
            service.runner.wake()
        return JobAccepted(job_id=job_id, event_id=body.event_id, status="queued")

    @app.get("/jobs/{job_id}", tags=["events"], responses={**_ERRORS, 404: {"model": Problem}})
    def get_job(job_id: str, service: ServiceDep, key: Reader) -> JobOut:
        """A job's state, progress, counts, errors and callback delivery."""
        return job_view(service.engine, job_id, key)

    @app.get("/events/{event_id}/matches", tags=["events"], responses={**_ERRORS, 404: {"model": Problem}})
    def get_matches(
        event_id: Id,
        service: ServiceDep,
        key: Reader,
        user_id: Annotated[Id | None, Query()] = None,
        min_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
    ) -> MatchesOut:
        """The event's matches (one per user and photo), optionally of one user and above a confidence."""
        with service.engine.connect() as conn:
            owned_event(conn, event_id, key, write=False)
            found = event_matches(conn, event_id, service.settings, user_id, min_confidence)
        return MatchesOut(event_id=event_id, matches=found)

    @app.delete("/events/{event_id}", tags=["events"], responses={**_ERRORS, 404: {"model": Problem}})
    def delete(event_id: Id, service: ServiceDep, key: Writer) -> DeletedOut:
        """Delete the event: its photos, faces, embeddings, selfies, results, jobs and files."""
        with service.engine.connect() as conn:
            owned_event(conn, event_id, key, write=True)
        return DeletedOut(event_id=event_id, deleted=service.purge_event(event_id))
