"""The web UI, served by ``eventlens serve`` at ``/`` beside the REST API: server-rendered pages (Jinja2)
with a little htmx, over the same catalog, keys and job runner as the API.

:func:`add_web` (called by :func:`eventlens.service.app.create_app`) mounts ``/static`` and includes the
``router`` of every module named in :data:`ROUTERS`. Every route depends on :mod:`eventlens.web.auth`
(a session and a role; a CSRF token for every change); pages read through :mod:`eventlens.catalog.queries`
and change persons only through :mod:`eventlens.curate.corrections`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the package is imported by `eventlens users`: nothing heavy at import time
    from fastapi import FastAPI, Request

    from eventlens.web.event_access import EventCatalogs
    from eventlens.web.login_limits import LoginLimiter
    from eventlens.web.signed_urls import UrlSigner

#: modules of eventlens.web with a ``router``, included in this order
ROUTERS: tuple[str, ...] = (
    "auth",
    "events_routes",
    "photos_routes",
    "people_routes",
    "search_routes",
    "best_routes",
    "photo_view_routes",
    "export_routes",
)
#: the one route that takes large bodies (ZIP uploads, ``max_upload_mb``)
UPLOAD_PATH = "/events/upload"
STATIC_DIR = Path(__file__).with_name("static")
#: headers of every web page: no framing (clickjacking), no referrer carrying a signed URL elsewhere
_PAGE_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


@dataclass
class WebState:
    signer: UrlSigner
    limiter: LoginLimiter
    catalogs: EventCatalogs


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "") and "HX-Request" not in request.headers


def add_web(app: FastAPI) -> None:
    from fastapi.exceptions import HTTPException  # noqa: PLC0415
    from fastapi.responses import JSONResponse, Response  # noqa: PLC0415
    from fastapi.staticfiles import StaticFiles  # noqa: PLC0415
    from starlette.exceptions import HTTPException as StarletteHTTPException  # noqa: PLC0415

    from eventlens.web.event_access import EventCatalogs  # noqa: PLC0415
    from eventlens.web.login_limits import LoginLimiter  # noqa: PLC0415
    from eventlens.web.signed_urls import UrlSigner  # noqa: PLC0415

    service = app.state.service
    settings = service.settings
    app.state.web = WebState(
        UrlSigner.for_data_dir(service.data.root),
        LoginLimiter(
            settings.login_max_failures, settings.login_max_failures_per_client, settings.login_window_s
        ),
        EventCatalogs(),
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for name in ROUTERS:
        app.include_router(importlib.import_module(f"eventlens.web.{name}").router)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers or {})
        if exc.status_code in (301, 302, 303, 307, 308) or not _wants_html(request):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)
        from eventlens.web.templating import render  # noqa: PLC0415 - templating imports the routes' deps

        return render(request, "error.html", status_code=exc.status_code, headers=headers, message=exc.detail)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(HTTPException, http_error)

    @app.middleware("http")
    async def page_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response: Response = await call_next(request)
        if response.headers.get("content-type", "").startswith("text/html"):
            for name, value in _PAGE_HEADERS.items():
                response.headers.setdefault(name, value)
        return response
