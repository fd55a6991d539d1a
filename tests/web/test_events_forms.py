"""The new-event forms in process (fake backend, no workers): what an upload or a folder import queues,
and what they refuse (not a ZIP, too large, a folder outside ``ui_import_roots``)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import sqlalchemy as sa
from conftest import Client, client_login

from eventlens.service.tables import events, jobs


def _jobs(client: object) -> list[sa.Row[object]]:
    engine = client.app.state.service.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return list(conn.execute(sa.select(jobs)).all())


def _zip(names: list[str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name in names:
            z.writestr(name, b"not really a photo, but a ZIP member")
    return buf.getvalue()


def test_upload_queues_a_collection_job_on_the_kept_zip(make_client: Client) -> None:
    client = make_client()
    token = client_login(client, "editor")
    r = client.post(
        "/events/upload",
        data={"csrf_token": token, "event_id": "party"},
        files={"photos": ("party.zip", _zip(["a.jpg"]), "application/zip")},
    )
    assert r.status_code == 303 and r.headers["location"] == "/events/party"
    [job] = _jobs(client)
    assert (job.event_id, job.kind, job.status) == ("party", "collection", "queued")
    data = client.app.state.service.data  # type: ignore[attr-defined]
    assert Path(job.source).parent == data.uploads("party")
    assert zipfile.is_zipfile(job.source)
    page = client.get("/events/party")
    assert page.status_code == 200 and "queued" in page.text
    assert 'hx-trigger="every 1s"' in page.text, "a queued job's progress must be polled"
    engine = client.app.state.service.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        assert conn.execute(sa.select(events.c.owner_key_id)).scalar_one() == "web"


def test_upload_refuses_a_file_that_is_not_a_zip(make_client: Client) -> None:
    client = make_client()
    token = client_login(client, "editor")
    r = client.post(
        "/events/upload",
        data={"csrf_token": token, "event_id": "party"},
        files={"photos": ("photos.zip", b"\xff\xd8 a JPEG, not a ZIP", "application/zip")},
    )
    assert r.status_code == 422 and "is not a ZIP file" in r.text
    assert not _jobs(client)
    data = client.app.state.service.data  # type: ignore[attr-defined]
    assert not list(data.uploads("party").glob("*")), "a refused upload must not be kept"


def test_upload_refuses_a_bad_event_name(make_client: Client) -> None:
    client = make_client()
    token = client_login(client, "editor")
    r = client.post(
        "/events/upload",
        data={"csrf_token": token, "event_id": "../etc"},
        files={"photos": ("p.zip", _zip(["a.jpg"]), "application/zip")},
    )
    assert r.status_code == 422 and "is not a valid id" in r.text
    assert not _jobs(client)


def test_upload_larger_than_max_upload_mb_is_refused_before_reading(make_client: Client) -> None:
    client = make_client(max_upload_mb=0.01, max_request_mb=1)
    token = client_login(client, "editor")
    r = client.post(
        "/events/upload",
        data={"csrf_token": token, "event_id": "party"},
        files={"photos": ("big.zip", b"\0" * 20_000, "application/zip")},
    )
    assert r.status_code == 413 and "max_upload_mb" in r.text
    assert not _jobs(client)


def test_upload_limit_is_larger_than_the_request_limit(make_client: Client) -> None:
    client = make_client(max_upload_mb=1, max_request_mb=0.01)
    token = client_login(client, "editor")
    body = _zip([f"{i}.jpg" for i in range(400)])
    assert 10_000 < len(body) < 1_000_000
    r = client.post(
        "/events/upload",
        data={"csrf_token": token, "event_id": "party"},
        files={"photos": ("p.zip", body, "application/zip")},
    )
    assert r.status_code == 303
    assert client.post("/login", data={"username": "x" * 20_000}).status_code == 413


def test_import_takes_only_folders_inside_the_allow_list(make_client: Client, tmp_path: Path) -> None:
    root = tmp_path / "allowed"
    (root / "wedding").mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    (root / "escape").symlink_to(tmp_path / "secret")
    client = make_client(ui_import_roots=[root])
    token = client_login(client, "editor")
    page = client.get("/")
    assert str(root / "wedding") in page.text, "the form offers the allow-listed folders"

    for folder in (tmp_path / "secret", root / ".." / "secret", root / "escape", Path("/")):
        r = client.post("/events/import", data={"csrf_token": token, "event_id": "w", "folder": str(folder)})
        assert r.status_code == 403 and "ui_import_roots" in r.text, folder
    r = client.post(
        "/events/import", data={"csrf_token": token, "event_id": "w", "folder": str(root / "nope")}
    )
    assert r.status_code == 422
    assert not _jobs(client)

    r = client.post(
        "/events/import", data={"csrf_token": token, "event_id": "w", "folder": str(root / "wedding")}
    )
    assert r.status_code == 303
    [job] = _jobs(client)
    assert job.source == str((root / "wedding").resolve())


def test_no_import_form_without_roots_and_none_for_viewers(make_client: Client, tmp_path: Path) -> None:
    client = make_client()
    client_login(client, "editor")
    html = client.get("/").text
    assert 'action="/events/upload"' in html and 'action="/events/import"' not in html
    viewer = make_client(ui_import_roots=[tmp_path])
    client_login(viewer, "viewer")
    html = viewer.get("/").text
    assert 'action="/events/upload"' not in html and 'action="/events/import"' not in html


def test_progress_fragment_asks_for_a_reload_when_the_job_ends(make_client: Client) -> None:
    client = make_client()
    token = client_login(client, "editor")
    client.post(
        "/events/upload",
        data={"csrf_token": token, "event_id": "party"},
        files={"photos": ("p.zip", _zip(["a.jpg"]), "application/zip")},
    )
    running = client.get("/events/party/progress?was=active", headers={"HX-Request": "true"})
    assert running.status_code == 200 and "hx-refresh" not in running.headers
    engine = client.app.state.service.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(jobs.update().values(status="done"))
    ended = client.get("/events/party/progress?was=active", headers={"HX-Request": "true"})
    assert ended.headers["hx-refresh"] == "true"
    assert 'hx-trigger="every 1s"' not in ended.text, "a finished job is not polled any more"
