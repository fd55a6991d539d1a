"""Server-rendered pages: Jinja2 templates (``eventlens/web/templates``, autoescaped) and :func:`render`.

Every page gets ``user`` (the :class:`~eventlens.web.auth.WebUser`, or None), ``csrf_token``, ``event``
(the :class:`~eventlens.web.event_access.EventInfo` when the route has an ``event_id``) and ``nav`` (the
links of the navigation bar). Templates have the globals ``thumb_url(event_id, sha256, size_px)`` and
``original_url(event_id, sha256)``: signed, expiring links (:mod:`eventlens.web.signed_urls`) that work in
an ``<img>`` with or without the session cookie. Macros that call them are imported ``with context``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context

from eventlens.web.auth import current_user
from eventlens.web.event_access import event_info

TEMPLATES_DIR = Path(__file__).with_name("templates")
templates = Jinja2Templates(directory=TEMPLATES_DIR)


@dataclass(frozen=True)
class NavLink:
    label: str
    url: str
    current: bool


def nav_links(request: Request, event_id: str | None) -> list[NavLink]:
    path = request.url.path
    links = [("Events", "/")]
    if event_id is not None:
        base = f"/events/{event_id}"
        links += [
            ("Overview", base),
            ("People", f"{base}/people"),
            ("Unassigned", f"{base}/unassigned"),
            ("Suggestions", f"{base}/suggestions"),
            ("Best photos", f"{base}/best"),
            ("Search", f"{base}/search"),
            ("Export", f"{base}/export"),
        ]
    return [NavLink(label, url, current=path == url) for label, url in links]


def _signed(request: Request, path: str) -> str:
    web = request.app.state.web
    return str(web.signer.signed_url(path, request.app.state.service.settings.signed_url_ttl_s))


@pass_context
def thumb_url(ctx: Context, event_id: str, sha256: str, size_px: int = 256) -> str:
    return _signed(ctx["request"], f"/events/{event_id}/thumbs/{size_px}/{sha256}.jpg")


@pass_context
def original_url(ctx: Context, event_id: str, sha256: str) -> str:
    return _signed(ctx["request"], f"/events/{event_id}/photos/{sha256}/original")


templates.env.globals["thumb_url"] = thumb_url
templates.env.globals["original_url"] = original_url


def render(
    request: Request,
    template_name: str,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    user = current_user(request)
    event_id = request.path_params.get("event_id")
    event = context.pop("event", None)
    if event is None and isinstance(event_id, str):
        try:
            event = event_info(request, event_id)
        except HTTPException:
            event_id = None  # an error page about an unknown event
    full = {
        "user": user,
        "csrf_token": user.csrf_token if user is not None else "",
        "event": event,
        "nav": nav_links(request, event.event_id if event is not None else None),
        **context,
    }
    return templates.TemplateResponse(request, template_name, full, status_code=status_code, headers=headers)
