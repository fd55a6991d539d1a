"""Fixtures of the web UI's tests: a data folder with a REAL processed event, the server, logins.

    web_data      (session) a data folder: event ``groups`` (the 59 photos of ../shared/data/groups, run by
                  the service's own collection job with the real models), users admin / editor / viewer
    web_server    (session) ``eventlens serve`` on that folder (uvicorn subprocess, real models, 1 worker)
    web_client    an httpx client of the server (no session: log in with ``login``)
    page          a Playwright page in a fresh browser context (base URL: the server)
    login         ``login(page_or_client, role) -> csrf_token``: logs in as admin, editor or viewer
    fresh_event   a copy of ``groups`` under a new id, for a test that changes people
    import_root   the server's ``ui_import_roots`` folder (tests put folders of photos there)
    make_client   ``make_client(**settings)``: an in-process TestClient (fake backend, no workers) on an
                  empty data folder with users admin / editor / viewer (password ``PASSWORD``), for fast
                  tests of routes that need no processed event

Everything on 127.0.0.1; the server is stopped at the end of the session.
"""

from __future__ import annotations

import re
import secrets
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from testkit import fake_settings

from eventlens.service import users
from eventlens.service.db import DataDir, now_iso, open_service_db
from eventlens.service.events import submit_collection
from eventlens.service.keys import ApiKey
from eventlens.service.tables import events, jobs
from eventlens.service.users import create_user
from eventlens.settings import load_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))
from servers import ServiceProcess  # noqa: E402 - tests/service/servers.py

EVENT_ID = "groups"
#: the password of every user of ``make_client``'s apps
PASSWORD = "correct-horse-1"
ROLES = ("viewer", "editor", "admin")
PASSWORDS = {"admin": "admin-password-1", "editor": "editor-password-1", "viewer": "viewer-password-1"}
_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]*)"')


@dataclass(frozen=True)
class WebData:
    root: Path
    event_id: str
    import_root: Path

    @property
    def data(self) -> DataDir:
        return DataDir(self.root)

    def engine(self) -> sa.Engine:
        return open_service_db(self.data)


def _run_collection(root: Path, source: Path, event_id: str, settings_overrides: dict[str, Any]) -> None:
    """The service's own collection job, in this process (the app's lifespan starts pool and runner)."""
    from fastapi.testclient import TestClient  # noqa: PLC0415

    from eventlens.service.app import create_app  # noqa: PLC0415

    settings = load_settings(**settings_overrides)
    app = create_app(root, settings)
    with TestClient(app):
        service = app.state.service
        job_id = submit_collection(
            service.engine, event_id, source, ApiKey("web", "fixtures", "admin", ""), settings
        )
        service.runner.wake()
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            with service.engine.connect() as conn:
                job = conn.execute(sa.select(jobs).where(jobs.c.job_id == job_id)).one()
            if job.status in ("done", "failed"):
                break
            time.sleep(0.5)
        assert job.status == "done", f"the fixture's collection job ended {job.status}: {job.error}"


@pytest.fixture(scope="session")
def web_data(shared_data: Path, model_cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> WebData:
    root = tmp_path_factory.mktemp("web") / "data"
    _run_collection(root, shared_data / "groups", EVENT_ID, {"cache_dir": model_cache_dir, "workers": 2})
    engine = open_service_db(DataDir(root))
    try:
        for role, password in PASSWORDS.items():
            create_user(engine, role, password, role)
    finally:
        engine.dispose()
    import_root = root.parent / "imports"
    import_root.mkdir()
    return WebData(root, EVENT_ID, import_root)


@pytest.fixture(scope="session")
def web_server(web_data: WebData, model_cache_dir: Path) -> Iterator[ServiceProcess]:
    env = {
        "EVENTLENS_CACHE_DIR": str(model_cache_dir),
        "EVENTLENS_WORKERS": "1",
        "EVENTLENS_UI_IMPORT_ROOTS": f'["{web_data.import_root}"]',
        "EVENTLENS_MAX_UPLOAD_MB": "50",
    }
    proc = ServiceProcess(web_data.root, env).start(ready_timeout_s=180)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def web_client(web_server: ServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=web_server.base, timeout=60, follow_redirects=False) as client:
        yield client


@pytest.fixture
def page(browser: Any, web_server: ServiceProcess) -> Iterator[Any]:
    context = browser.new_context(base_url=web_server.base)
    try:
        yield context.new_page()
    finally:
        context.close()


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found and found.group(1), "the page has no CSRF token (not logged in?)"
    return found.group(1)


def login_client(client: httpx.Client, role: str) -> str:
    r = client.post("/login", data={"username": role, "password": PASSWORDS[role], "next": "/"})
    assert r.status_code == 303, f"login as {role} failed: {r.status_code} {r.text[:300]}"
    return csrf_of(client.get("/").text)


def login_page(page: Any, role: str) -> str:
    page.goto("/login")
    page.get_by_label("User name").fill(role)
    page.get_by_label("Password", exact=True).fill(PASSWORDS[role])
    page.get_by_role("button", name="Log in", exact=True).click()
    page.wait_for_url(re.compile(r".*/$"))
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert token, f"no CSRF token after logging in as {role}"
    return str(token)


@pytest.fixture
def login() -> Callable[[Any, str], str]:
    """``login(page_or_client, role)``: log in as ``admin``, ``editor`` or ``viewer``; returns the CSRF
    token of the new session."""

    def do(target: Any, role: str) -> str:
        if isinstance(target, httpx.Client):
            return login_client(target, role)
        return login_page(target, role)

    return do


@pytest.fixture
def fresh_event(web_data: WebData) -> Iterator[str]:
    """A copy of the ``groups`` event (folder, event row, its done job) under a new id; deleted after."""
    event_id = f"groups-{secrets.token_hex(4)}"
    data = web_data.data
    shutil.copytree(data.event_dir(web_data.event_id), data.event_dir(event_id), symlinks=True)
    engine = web_data.engine()
    try:
        with engine.begin() as conn:
            row = conn.execute(sa.select(events).where(events.c.event_id == web_data.event_id)).one()
            now = now_iso()
            conn.execute(
                events.insert().values(
                    event_id=event_id,
                    owner_key_id=row.owner_key_id,
                    created_at=now,
                    updated_at=now,
                    updated_at_s=time.time(),
                )
            )
            job = conn.execute(
                sa.select(jobs).where(jobs.c.event_id == web_data.event_id).order_by(jobs.c.created_at_s)
            ).all()[-1]
            values = dict(job._mapping)
            values.update(job_id=f"job_{secrets.token_hex(8)}", event_id=event_id)
            conn.execute(jobs.insert().values(**values))
        yield event_id
    finally:
        with engine.begin() as conn:
            conn.execute(jobs.delete().where(jobs.c.event_id == event_id))
            conn.execute(events.delete().where(events.c.event_id == event_id))
        engine.dispose()
        shutil.rmtree(data.event_dir(event_id), ignore_errors=True)


Client = Callable[..., Any]


@pytest.fixture
def make_client(tmp_path: Path, model_cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    """``make_client(**settings)``: a TestClient of an app on a new data folder with one user per role.
    Passwords are hashed with argon2id at its lowest cost here (the tests check logic, not hash cost)."""
    from fastapi.testclient import TestClient  # noqa: PLC0415

    from eventlens.service.app import create_app  # noqa: PLC0415

    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    opened: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        root = tmp_path / f"data{len(opened)}"
        app = create_app(root, fake_settings(model_cache_dir, **overrides), start_workers=False)
        for role in ROLES:
            create_user(app.state.service.engine, role, PASSWORD, role)
        client = TestClient(app, follow_redirects=False)
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()


def client_login(client: Any, role: str, password: str = PASSWORD) -> str:
    """Log an in-process client in (``make_client``); returns the CSRF token."""
    r = client.post("/login", data={"username": role, "password": password, "next": "/"})
    assert r.status_code == 303, f"login as {role} failed: {r.status_code}"
    return csrf_of(client.get("/").text)
