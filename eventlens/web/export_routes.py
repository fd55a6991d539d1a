"""The export as a download: ``GET /events/{event_id}/export`` (choose persons; originals or best only) and
``GET /events/{event_id}/export.zip``, the ZIP streamed as it is made (:mod:`eventlens.export.zip_stream`),
with the paths of ``eventlens export --out DIR``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from eventlens.catalog import queries
from eventlens.errors import InputError
from eventlens.export.zip_stream import ZipChoice, check_persons, export_zip
from eventlens.service.routes import service_of
from eventlens.web.auth import WebUser, viewer
from eventlens.web.event_access import event_engine
from eventlens.web.templating import render

router = APIRouter(tags=["web"], include_in_schema=False)


@router.get("/events/{event_id}/export", response_class=HTMLResponse)
def export_page(request: Request, event_id: str, user: Annotated[WebUser, viewer]) -> Response:
    with event_engine(request, event_id).connect() as conn:
        persons = [p for p in queries.list_persons(conn).items if not p.hidden and p.photo_count]
    return render(request, "export.html", persons=persons)


@router.get("/events/{event_id}/export.zip")
def export_zip_download(
    request: Request,
    event_id: str,
    user: Annotated[WebUser, viewer],
    person: Annotated[list[str] | None, Query(max_length=40)] = None,
    photos: Annotated[str, Query(pattern="^(originals|best)$")] = "originals",
) -> Response:
    engine = event_engine(request, event_id)
    with engine.connect() as conn:
        labels = [p.label for p in queries.list_persons(conn).items]
    try:
        choice = ZipChoice(check_persons(person, labels) if person else None, best_only=photos == "best")
    except InputError as exc:
        raise HTTPException(400, str(exc)) from None
    work_dir = service_of(request).data.event_dir(event_id) / ".eventlens"
    chunks = export_zip(engine, work_dir, service_of(request).settings, choice)
    first = next(chunks, b"")  # the layout is built here: its errors become an error page, not a cut ZIP

    def stream() -> Iterator[bytes]:
        try:
            yield first
            yield from chunks
        finally:
            chunks.close()

    name = f"{event_id}.zip" if person is None else f"{event_id}-{'-'.join(sorted(person))[:80]}.zip"
    return StreamingResponse(
        stream(),
        media_type="application/zip",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )
