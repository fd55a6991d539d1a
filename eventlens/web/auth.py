"""Access to the web UI: login and logout pages, and the dependencies every route declares.

    viewer = Depends(require_role("viewer"))     # -> WebUser; editor and admin likewise
    @router.post("/...", dependencies=[Depends(csrf_checked)])
    def change(user: Annotated[WebUser, editor], ...) -> ...

Without a session a page (GET) redirects to ``/login?next=...`` (303) and anything else answers 401; a
role too low answers 403. ``csrf_checked`` wants the session's CSRF token in the form field ``csrf_token``
or the header ``X-CSRF-Token`` (htmx sends it from ``<body hx-headers>``), 403 otherwise. Users, sessions
and their lifetimes are :mod:`eventlens.service.users`; the login rate limit is
:mod:`eventlens.web.login_limits`.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from eventlens.service.keys import verify_key
from eventlens.service.routes import service_of
from eventlens.service.users import (
    Session,
    end_session,
    role_allows,
    session_of,
    start_key_session,
    start_user_session,
    verify_password,
)

COOKIE = "eventlens_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"

router = APIRouter(tags=["web"], include_in_schema=False)


@dataclass(frozen=True)
class WebUser:
    username: str  # the user name, or "key <name>" for a session made with an API key
    role: str  # viewer | editor | admin
    session_id: str
    csrf_token: str = ""
    key_id: str | None = None  # the API key a key session was made with


def _user(session: Session) -> WebUser:
    return WebUser(session.display_name, session.role, session.session_id, session.csrf_token, session.key_id)


def current_user(request: Request) -> WebUser | None:
    """The request's logged-in user, or None (looked up once per request)."""
    if hasattr(request.state, "web_user"):
        cached: WebUser | None = request.state.web_user
        return cached
    token = request.cookies.get(COOKIE, "")
    session = session_of(service_of(request).engine, token) if token else None
    user = _user(session) if session is not None else None
    request.state.web_user = user
    return user


def _local_next(target: str | None) -> str:
    """``target`` when it is a path of this site; else ``/`` (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login_needed(request: Request) -> HTTPException:
    if request.method in ("GET", "HEAD") and "HX-Request" not in request.headers:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return HTTPException(303, "log in first", {"Location": f"/login?next={quote(here, safe='')}"})
    return HTTPException(401, "log in first: the session is missing or has ended", {"HX-Redirect": "/login"})


def require_role(role: str) -> Callable[[Request], WebUser]:
    """A dependency: the logged-in user when their role is at least ``role``."""

    def check(request: Request) -> WebUser:
        user = current_user(request)
        if user is None:
            raise _login_needed(request)
        if not role_allows(user.role, role):
            raise HTTPException(403, f"this needs the role {role!r}; {user.username} is {user.role!r}")
        return user

    return check


viewer: Any = Depends(require_role("viewer"))
editor: Any = Depends(require_role("editor"))
admin: Any = Depends(require_role("admin"))


async def csrf_checked(request: Request) -> None:
    """403 unless the request carries the session's CSRF token (header, or form field)."""
    user = current_user(request)
    if user is None:
        raise _login_needed(request)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), user.csrf_token.encode()):
        raise HTTPException(
            403, "the form is stale or was not sent by this site (CSRF token missing or wrong)"
        )


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _set_cookie(request: Request, response: Response, token: str, max_age_s: float) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(max_age_s),
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> Response:  # noqa: A002 - the query's name
    from eventlens.web.templating import render  # noqa: PLC0415 - templating imports this module

    if current_user(request) is not None:
        return RedirectResponse(_local_next(next), status_code=303)
    return render(request, "login.html", next=_local_next(next), error=None)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    api_key: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",  # noqa: A002
) -> Response:
    """Log in with a user name and password, or with an API key. Rate-limited per name and address."""
    from eventlens.web.templating import render  # noqa: PLC0415

    service = service_of(request)
    limiter = request.app.state.web.limiter
    client = client_address(request)
    name = username.strip() if not api_key else f"key:{api_key.split('_')[1] if '_' in api_key else ''}"
    wait_s = limiter.retry_after_s(name, client)
    if wait_s:
        return render(
            request,
            "login.html",
            status_code=429,
            headers={"Retry-After": str(wait_s)},
            next=_local_next(next),
            error=f"Too many failed logins: try again in {wait_s} s.",
        )
    ttl_s = service.settings.web_session_ttl_s
    token: str | None = None
    if api_key:
        key = verify_key(service.engine, api_key.strip())
        if key is not None:
            token, _ = start_key_session(service.engine, key, ttl_s)
    elif username and password:
        user = verify_password(service.engine, username.strip(), password)
        if user is not None:
            token, _ = start_user_session(service.engine, user, ttl_s)
    if token is None:
        limiter.failed(name, client)
        return render(
            request,
            "login.html",
            status_code=401,
            next=_local_next(next),
            error="Wrong user name or password, or an unknown or revoked API key.",
        )
    limiter.succeeded(name)
    response = RedirectResponse(_local_next(next), status_code=303)
    _set_cookie(request, response, token, ttl_s)
    return response


@router.post("/logout", dependencies=[Depends(csrf_checked)])
def logout(request: Request, user: Annotated[WebUser, viewer]) -> Response:
    end_session(service_of(request).engine, user.session_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
    return response
