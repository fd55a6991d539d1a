"""New events through the running server with the real models: a ZIP uploaded in the browser, processed
with a live progress bar that survives a reload; a folder imported from ``ui_import_roots`` whose photo
has a non-latin-1 name, downloaded as an attachment; deleting an event removes its uploaded ZIP."""

from __future__ import annotations

import re
import secrets
import shutil
import time
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa
from browser import screenshot, serious_axe_violations
from conftest import WebData, csrf_of
from playwright.sync_api import expect
from servers import ServiceProcess

from eventlens.service.tables import jobs

pytestmark = pytest.mark.real_models
PEOPLE = ("George_W_Bush", "Ariel_Sharon", "Vladimir_Putin")


def _real_photos(shared_data: Path, n_per_person: int = 1) -> list[Path]:
    out = []
    for person in PEOPLE:
        folder = shared_data / "identities" / person
        if not folder.is_dir():
            pytest.skip(f"{folder} is absent")
        out += sorted(folder.glob("*.jpg"))[:n_per_person]
    return out


def _wait_job(web_data: WebData, event_id: str, timeout_s: float = 300) -> Any:
    engine = web_data.engine()
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                job = conn.execute(sa.select(jobs).where(jobs.c.event_id == event_id)).first()
            if job is not None and job.status in ("done", "failed"):
                return job
            time.sleep(0.5)
        raise AssertionError(f"the job of {event_id} did not end in {timeout_s} s")
    finally:
        engine.dispose()


def test_upload_a_zip_in_the_browser_and_watch_it_complete(
    page: Any, login: Any, web_data: WebData, shared_data: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "photos.zip"
    photos = _real_photos(shared_data, 2)
    with zipfile.ZipFile(archive, "w") as z:
        for p in photos:
            z.write(p, f"party/{p.name}")
    event_id = f"upload-{secrets.token_hex(3)}"
    login(page, "admin")
    page.get_by_label("Event name").first.fill(event_id)
    page.get_by_label(re.compile("Photos \\(a .zip")).set_input_files(str(archive))
    page.get_by_role("button", name="Upload and process").click()
    page.wait_for_url(f"**/events/{event_id}")
    expect(page.get_by_role("progressbar", name=f"Progress of event {event_id}")).to_be_visible()
    screenshot(page, "event-progress")
    page.reload()  # the job lives in the catalog: a reload shows it again
    expect(page.get_by_role("progressbar", name=f"Progress of event {event_id}")).to_be_visible()

    # when the job ends, htmx reloads the page, which then shows the counts
    expect(page.locator(".counts")).to_be_visible(timeout=300_000)
    expect(page.locator(".progress .status")).to_have_text("done")
    counts = dict(
        zip(
            page.locator(".counts dt").all_inner_texts(),
            page.locator(".counts dd").all_inner_texts(),
            strict=True,
        )
    )
    assert int(counts["Photos"]) == len(photos)
    assert int(counts["Faces"]) >= len(photos)
    assert page.locator("ul.thumbs img").count() == len(photos)
    assert not serious_axe_violations(page), "the event page has serious accessibility violations"
    screenshot(page, "event")

    uploads = web_data.data.uploads(event_id)
    assert len(list(uploads.glob("*.zip"))) == 1, "the uploaded ZIP is kept as the job's source"
    page.get_by_role("button", name=re.compile("Delete this event")).click()
    page.wait_for_url(re.compile(r".*/$"))
    assert not page.get_by_role("link", name=event_id).count()
    assert not uploads.exists() and not web_data.data.event_dir(event_id).exists()


def test_import_a_folder_and_download_an_original_with_a_non_latin1_name(
    web_client: httpx.Client, login: Any, web_data: WebData, shared_data: Path, web_server: ServiceProcess
) -> None:
    folder = web_data.import_root / f"kyiv-{secrets.token_hex(3)}"
    folder.mkdir()
    source = _real_photos(shared_data)[0]
    name = "фото 東京 «café».jpg"
    shutil.copy(source, folder / name)
    token = login(web_client, "editor")
    assert str(folder) in web_client.get("/").text, "the import form offers the allow-listed folder"
    event_id = folder.name
    r = web_client.post(
        "/events/import", data={"csrf_token": token, "event_id": event_id, "folder": str(folder)}
    )
    assert r.status_code == 303, r.text[:500]
    job = _wait_job(web_data, event_id)
    assert job.status == "done", job.error

    html = web_client.get(f"/events/{event_id}").text
    [sha] = set(re.findall(r"/thumbs/\d+/([0-9a-f]{64})\.jpg", html))
    r = web_client.get(f"/events/{event_id}/photos/{sha}/original")
    assert r.status_code == 200
    assert r.content == source.read_bytes()
    assert r.headers["content-type"] == "image/jpeg"
    assert r.headers["x-content-type-options"] == "nosniff"
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert f"filename*=UTF-8''{quote(name, safe='')}" in disposition
    fallback = re.search(r'filename="([^"]*)"', disposition)
    assert fallback and fallback.group(1).isascii() and fallback.group(1).endswith(".jpg")

    # the API's DELETE removes the event's files too (and, for uploads, its ZIPs: see the browser test)
    admin_key = web_server.create_key("admin", "web-tests")
    with httpx.Client(base_url=web_server.base, headers={"Authorization": f"Bearer {admin_key}"}) as api:
        assert api.delete(f"/events/{event_id}").status_code == 200
    assert web_client.get(f"/events/{event_id}/photos/{sha}/original").status_code == 404
    assert not web_data.data.event_dir(event_id).exists()
    assert folder.is_dir(), "deleting an imported event must never touch the imported folder"


def test_api_delete_removes_an_uploaded_zip(
    web_client: httpx.Client,
    login: Any,
    web_data: WebData,
    shared_data: Path,
    web_server: ServiceProcess,
    tmp_path: Path,
) -> None:
    archive = tmp_path / "one.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(_real_photos(shared_data)[0], "one.jpg")
    token = login(web_client, "editor")
    event_id = f"api-delete-{secrets.token_hex(3)}"
    r = web_client.post(
        "/events/upload",
        data={"csrf_token": token, "event_id": event_id},
        files={"photos": ("one.zip", archive.read_bytes(), "application/zip")},
    )
    assert r.status_code == 303
    assert _wait_job(web_data, event_id).status == "done"
    assert list(web_data.data.uploads(event_id).glob("*.zip"))
    admin_key = web_server.create_key("admin", "web-tests")
    with httpx.Client(base_url=web_server.base, headers={"Authorization": f"Bearer {admin_key}"}) as api:
        deleted = api.delete(f"/events/{event_id}").json()["deleted"]
    assert deleted["files"] >= 2
    assert not web_data.data.uploads(event_id).exists(), "DELETE must remove the uploaded ZIP"
    assert csrf_of(web_client.get("/").text)
