"""Access to the web UI, in process (fake backend, no workers): every state-changing route refuses a
request without a session, without the CSRF token, and from a viewer; logins are rate-limited; sessions
end on logout, expiry, user deletion, password change and key revocation; the cookie's flags."""

from __future__ import annotations

import importlib
import re
import time
from typing import Any

import pytest
from conftest import PASSWORD, Client
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from eventlens.service.keys import create_key, revoke_key
from eventlens.service.users import delete_user, set_password
from eventlens.web import ROUTERS
from eventlens.web.auth import COOKIE, csrf_checked

_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]*)"')
#: routes anyone may post to (logging in), and routes every logged-in role may use
_PUBLIC = {("POST", "/login")}
_ANY_ROLE = {("POST", "/logout")}


def _web_routes() -> list[APIRoute]:
    found = []
    for name in ROUTERS:
        module = importlib.import_module(f"eventlens.web.{name}")
        found += [r for r in module.router.routes if isinstance(r, APIRoute)]
    return found


def _changing() -> list[tuple[str, str]]:
    return sorted(
        (method, route.path)
        for route in _web_routes()
        for method in route.methods
        if method in {"POST", "PUT", "PATCH", "DELETE"} and (method, route.path) not in _PUBLIC
    )


def _fill(path: str) -> str:
    """A concrete URL for a route path (placeholders get plausible values)."""
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: "1" if m.group(1).endswith("_px") else "groups", path)


def _login(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    return client.post("/login", data={"username": username, "password": password, "next": "/"})


def _logged_in(client: TestClient, role: str) -> str:
    assert _login(client, role).status_code == 303
    page = client.get("/")
    assert page.status_code == 200
    found = _CSRF.search(page.text)
    assert found and found.group(1)
    return found.group(1)


def test_every_state_changing_route_declares_a_role_and_csrf() -> None:
    routes = [r for r in _web_routes() if r.methods & {"POST", "PUT", "PATCH", "DELETE"}]
    assert routes, "no state-changing web routes found"
    for route in routes:
        if any((m, route.path) in _PUBLIC for m in route.methods):
            continue
        calls = {d.call for d in route.dependant.dependencies}
        assert csrf_checked in calls, f"{route.path} does not depend on csrf_checked"
        roles = [d.call for d in route.dependant.dependencies if getattr(d.call, "__name__", "") == "check"]
        assert roles, f"{route.path} declares no role (viewer, editor, admin)"


@pytest.mark.parametrize(("method", "path"), _changing())
def test_state_changing_route_refuses_without_session_csrf_or_role(
    make_client: Client, method: str, path: str
) -> None:
    client = make_client()
    url = _fill(path)
    anonymous = client.request(method, url, data={"x": "1"})
    assert anonymous.status_code in (303, 401), f"{method} {path} without a session: {anonymous.status_code}"
    assert "eventlens_session" not in anonymous.headers.get("set-cookie", "")

    token = _logged_in(client, "admin")
    no_csrf = client.request(method, url, data={"x": "1"})
    assert no_csrf.status_code == 403, f"{method} {path} without CSRF token: {no_csrf.status_code}"
    wrong = client.request(method, url, data={"csrf_token": token[:-2] + "xx"})
    assert wrong.status_code == 403, f"{method} {path} with a wrong CSRF token: {wrong.status_code}"

    if (method, path) not in _ANY_ROLE:
        viewer = make_client()
        viewer_token = _logged_in(viewer, "viewer")
        refused = viewer.request(method, url, data={"csrf_token": viewer_token})
        assert refused.status_code == 403, f"{method} {path} as a viewer: {refused.status_code}"
        header = viewer.request(method, url, headers={"X-CSRF-Token": viewer_token})
        assert header.status_code == 403, f"{method} {path} as a viewer (header token): {header.status_code}"


def test_pages_redirect_to_login_and_back(make_client: Client) -> None:
    client = make_client()
    r = client.get("/events/groups?x=1")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Fevents%2Fgroups%3Fx%3D1"
    r = client.post("/login", data={"username": "viewer", "password": PASSWORD, "next": "/events/groups?x=1"})
    assert r.status_code == 303 and r.headers["location"] == "/events/groups?x=1"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example"])
def test_login_never_redirects_off_site(make_client: Client, target: str) -> None:
    client = make_client()
    r = client.post("/login", data={"username": "viewer", "password": PASSWORD, "next": target})
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_htmx_request_without_session_gets_401_not_a_redirect(make_client: Client) -> None:
    r = make_client().get("/events/groups/progress", headers={"HX-Request": "true"})
    assert r.status_code == 401 and r.headers["hx-redirect"] == "/login"


def test_api_routes_do_not_accept_a_session_cookie(make_client: Client) -> None:
    client = make_client()
    _logged_in(client, "admin")
    assert client.post("/process-event", json={"event_id": "e", "photos": [], "users": []}).status_code == 401
    assert client.delete("/events/groups").status_code == 401


def test_cookie_flags_over_http_and_https(make_client: Client) -> None:
    client = make_client()
    cookie = _login(client, "viewer").headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite", "path", "max-age"} <= flags
    assert "samesite=lax" in cookie.lower()
    assert "secure" not in flags, "plain http must not set Secure (the browser would drop the cookie)"

    tls = make_client()
    tls.base_url = tls.base_url.copy_with(scheme="https")
    cookie = _login(tls, "viewer").headers["set-cookie"]
    assert "secure" in {part.strip().lower() for part in cookie.split(";")}


def test_the_cookie_holds_a_token_the_catalog_never_stores(make_client: Client) -> None:
    client = make_client()
    _login(client, "viewer")
    token = client.cookies[COOKIE]
    engine = client.app.state.service.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT * FROM web_sessions").all()
    assert len(rows) == 1
    assert token not in {str(v) for v in rows[0]}, "the session token must be stored only hashed"


def test_wrong_password_and_unknown_user_look_alike(make_client: Client) -> None:
    client = make_client()
    wrong = _login(client, "viewer", "not-the-password")
    unknown = _login(client, "nobody", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert COOKIE not in client.cookies
    assert re.sub(r"\s+", " ", wrong.text) == re.sub(r"\s+", " ", unknown.text).replace("nobody", "viewer")


def test_login_is_rate_limited_per_user_name(make_client: Client) -> None:
    client = make_client(login_max_failures=3, login_window_s=60)
    for _ in range(3):
        assert _login(client, "editor", "wrong-password").status_code == 401
    refused = _login(client, "editor")
    assert refused.status_code == 429, "the right password must not get through a locked user name"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "Too many failed logins" in refused.text
    assert _login(client, "viewer").status_code == 303, "another user name is not locked"


def test_login_is_rate_limited_per_client_address(make_client: Client) -> None:
    client = make_client(login_max_failures=100, login_max_failures_per_client=4, login_window_s=60)
    for i in range(4):
        assert _login(client, f"user{i}", "wrong-password").status_code == 401
    refused = _login(client, "admin")
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1


def test_rate_limit_ends_with_its_window(make_client: Client) -> None:
    client = make_client(login_max_failures=2, login_window_s=3)
    for _ in range(2):
        _login(client, "editor", "wrong-password")
    assert _login(client, "editor").status_code == 429
    time.sleep(3.1)
    assert _login(client, "editor").status_code == 303


def test_logout_ends_the_session_for_a_copied_cookie(make_client: Client) -> None:
    client = make_client()
    token = _logged_in(client, "editor")
    copied = client.cookies[COOKIE]
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    other = make_client()
    other.app = client.app
    other.cookies.set(COOKIE, copied)
    assert other.get("/").status_code == 303, "a cookie copied before logout must not work after it"


def test_session_expires(make_client: Client) -> None:
    client = make_client(web_session_ttl_s=1)
    _logged_in(client, "viewer")
    time.sleep(1.2)
    assert client.get("/").status_code == 303


@pytest.mark.parametrize("how", ["delete", "password"])
def test_deleting_a_user_or_changing_the_password_ends_their_sessions(make_client: Client, how: str) -> None:
    client = make_client()
    _logged_in(client, "editor")
    engine = client.app.state.service.engine  # type: ignore[attr-defined]
    if how == "delete":
        assert delete_user(engine, "editor") == 1
    else:
        assert set_password(engine, "editor", "another-password-1") == 1
    assert client.get("/").status_code == 303


def test_a_changed_role_applies_at_once(make_client: Client) -> None:
    client = make_client()
    token = _logged_in(client, "editor")
    engine = client.app.state.service.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE users SET role = 'viewer' WHERE username = 'editor'")
    r = client.post("/events/import", data={"csrf_token": token, "event_id": "e", "folder": "/"})
    assert r.status_code == 403


@pytest.mark.parametrize(("scope", "role"), [("read", "viewer"), ("write", "editor"), ("admin", "admin")])
def test_api_key_login_maps_scope_to_role_and_dies_with_the_key(
    make_client: Client, scope: str, role: str
) -> None:
    client = make_client()
    engine = client.app.state.service.engine  # type: ignore[attr-defined]
    key, record = create_key(engine, "organiser", scope)
    r = client.post("/login", data={"api_key": key, "next": "/"})
    assert r.status_code == 303
    page = client.get("/")
    assert page.status_code == 200 and f"key organiser ({role})" in page.text
    revoke_key(engine, record.key_id)
    assert client.get("/").status_code == 303, "a session made with a revoked key must end"
    assert client.post("/login", data={"api_key": key, "next": "/"}).status_code == 401


def test_pages_forbid_framing(make_client: Client) -> None:
    r = make_client().get("/login")
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "same-origin"
