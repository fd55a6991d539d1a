"""The events pages: the service's events with counts and status, a new event from an uploaded ZIP or an
allow-listed folder of the server (``ui_import_roots``), and a live progress bar.

    GET  /                              the events, newest change first; the new-event forms (editors)
    POST /events/upload                 multipart: event_id, photos (a .zip)     -> 303 /events/{id}
    POST /events/import                 form: event_id, folder (allow-listed)    -> 303 /events/{id}
    GET  /events/{event_id}             one event: counts, its latest job
    GET  /events/{event_id}/progress    the job's progress bar (an htmx fragment, polled while it runs)
    POST /events/{event_id}/delete      delete the event, its files and uploads (admin)

A new event is a collection job (:func:`eventlens.service.events.submit_collection`) that the service's
job runner runs like any other: its state lives in the catalog, so the page shows it after a reload or a
restart of the server.
"""

from __future__ import annotations

import secrets
import shutil
import zipfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from eventlens.catalog.paging import Page
from eventlens.catalog.queries import CatalogCounts, PhotoView, catalog_counts, list_photos
from eventlens.errors import EventlensError, InputError
from eventlens.service.app import Service
from eventlens.service.db import check_id
from eventlens.service.errors import Busy, Forbidden
from eventlens.service.events import submit_collection
from eventlens.service.keys import ApiKey
from eventlens.service.routes import service_of
from eventlens.web.auth import WebUser, admin, csrf_checked, editor, viewer
from eventlens.web.event_access import EventInfo, event_engine, event_info, list_events
from eventlens.web.photo_alt import photo_alts
from eventlens.web.templating import render

router = APIRouter(tags=["web"], include_in_schema=False)
#: the owner of events made in the web UI (the API's events belong to an API key)
WEB_OWNER = "web"
PHOTOS_PER_PAGE = 60


def _counts(request: Request, info: EventInfo) -> CatalogCounts | None:
    if not info.has_catalog:
        return None
    with event_engine(request, info.event_id).connect() as conn:
        return catalog_counts(conn)


def import_folders(service: Service) -> list[Path]:
    """The folders the UI offers: each allow-listed root and its subfolders."""
    out: list[Path] = []
    for root in service.settings.ui_import_roots:
        root = root.expanduser().resolve()
        if root.is_dir():
            out.append(root)
            out += sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    return out


def _allowed_folder(service: Service, folder: str) -> Path:
    path = Path(folder).expanduser().resolve()
    roots = [r.expanduser().resolve() for r in service.settings.ui_import_roots]
    if not any(path == r or path.is_relative_to(r) for r in roots):
        raise Forbidden(f"{folder} is not inside a folder of the setting ui_import_roots")
    if not path.is_dir():
        raise InputError(f"{folder} is not a folder")
    return path


def _owner(user: WebUser) -> ApiKey:
    """Who a job of the web UI is submitted as: the user's API key for a key session, else the UI."""
    scope = "admin" if user.role == "admin" else "write"
    return ApiKey(user.key_id or WEB_OWNER, user.username, scope, "")  # type: ignore[arg-type]


def _events_page(request: Request, status_code: int = 200, **context: Any) -> HTMLResponse:
    service = service_of(request)
    listed = [(info, _counts(request, info)) for info in list_events(request)]
    context.setdefault("error", None)
    context.setdefault("form", {})
    return render(
        request,
        "events.html",
        status_code=status_code,
        events=listed,
        import_folders=import_folders(service),
        max_upload_mb=service.settings.max_upload_mb,
        **context,
    )


def _refused(request: Request, exc: EventlensError, form: dict[str, str]) -> HTMLResponse:
    status = 403 if isinstance(exc, Forbidden) else 429 if isinstance(exc, Busy) else 422
    return _events_page(request, status_code=status, error=str(exc), form=form)


def _queued(request: Request, event_id: str, source: Path, user: WebUser) -> Response:
    service = service_of(request)
    submit_collection(service.engine, event_id, source, _owner(user), service.settings)
    if service.runner is not None:
        service.runner.wake()
    return RedirectResponse(f"/events/{event_id}", status_code=303)


@router.get("/", response_class=HTMLResponse)
def events_page(request: Request, user: Annotated[WebUser, viewer]) -> Response:
    return _events_page(request)


@router.post("/events/upload", dependencies=[Depends(csrf_checked)])
async def upload(request: Request, user: Annotated[WebUser, editor]) -> Response:
    """A new event (or more photos for one) from an uploaded ZIP. The form is read after the session and
    the CSRF token were checked (no Form parameters: FastAPI would read the upload before them)."""
    form = await request.form()
    event_id = str(form.get("event_id") or "").strip()
    photos = form.get("photos")
    try:
        check_id("event_id", event_id)
        if not isinstance(photos, UploadFile) or not photos.filename:
            raise InputError("choose a .zip file of photos to upload")
        folder = service_of(request).data.uploads(event_id)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"upload-{secrets.token_hex(6)}.zip"
        with target.open("wb") as out:
            await photos.seek(0)
            shutil.copyfileobj(photos.file, out, 1 << 20)
        if not zipfile.is_zipfile(target):
            target.unlink()
            raise InputError(f"{photos.filename} is not a ZIP file")
        return _queued(request, event_id, target, user)
    except EventlensError as exc:
        return _refused(request, exc, {"event_id": event_id})


@router.post("/events/import", dependencies=[Depends(csrf_checked)])
def import_folder(
    request: Request,
    user: Annotated[WebUser, editor],
    event_id: Annotated[str, Form(max_length=128)],
    folder: Annotated[str, Form(max_length=4096)],
) -> Response:
    """A new event (or the new photos of one) from a folder inside ``ui_import_roots``."""
    try:
        check_id("event_id", event_id.strip())
        return _queued(request, event_id.strip(), _allowed_folder(service_of(request), folder), user)
    except EventlensError as exc:
        return _refused(request, exc, {"event_id": event_id, "folder": folder})


@router.get("/events/{event_id}", response_class=HTMLResponse)
def event_page(
    request: Request,
    event_id: str,
    user: Annotated[WebUser, viewer],
    after: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """The event: counts, its latest job, and its photos (a page of thumbnails)."""
    info = event_info(request, event_id)
    photos: Page[PhotoView] | None = None
    alts: dict[str, str] = {}
    if info.has_catalog:
        with event_engine(request, event_id).connect() as conn:
            try:
                photos = list_photos(conn, limit=PHOTOS_PER_PAGE, after=after)
            except InputError:
                raise HTTPException(404, "this page of photos does not exist (a stale link?)") from None
            alts = photo_alts(conn, photos.items)
    return render(request, "event.html", event=info, counts=_counts(request, info), photos=photos, alts=alts)


@router.get("/events/{event_id}/progress", response_class=HTMLResponse)
def progress(request: Request, event_id: str, user: Annotated[WebUser, viewer], was: str = "") -> Response:
    """The progress fragment; when a job seen running has ended, htmx reloads the page (new counts)."""
    info = event_info(request, event_id)
    headers = {"HX-Refresh": "true"} if was == "active" and not (info.job and info.job.active) else None
    return render(request, "_progress.html", headers=headers, event=info)


@router.post("/events/{event_id}/delete", dependencies=[Depends(csrf_checked)])
def delete(request: Request, event_id: str, user: Annotated[WebUser, admin]) -> Response:
    """Delete the event: its catalog, photos copied in, thumbnails, uploads, jobs and results."""
    info = event_info(request, event_id)
    request.app.state.web.catalogs.forget(info.event_id)
    service_of(request).purge_event(info.event_id)
    return RedirectResponse("/", status_code=303)
