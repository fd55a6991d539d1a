"""Photos and thumbnails of a real processed event through the running server: made once and cached
(never regenerated for an unchanged photo), ETag/304, originals as attachments, and no photo byte without
a session or a valid, unexpired signature."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import WebData
from servers import ServiceProcess

from eventlens.catalog import queries
from eventlens.catalog.db import default_url, open_catalog
from eventlens.web.signed_urls import UrlSigner

pytestmark = pytest.mark.real_models


def _photos(web_data: WebData, event_id: str) -> list[queries.PhotoView]:
    engine = open_catalog(default_url(web_data.data.event_dir(event_id)))
    try:
        with engine.connect() as conn:
            return queries.list_photos(conn).items
    finally:
        engine.dispose()


def _thumbs_made(server: ServiceProcess) -> float:
    text = server.client().get("/metrics").text
    found = re.search(r"^eventlens_thumbnails_made_total (\S+)$", text, re.M)
    assert found, "no eventlens_thumbnails_made_total in /metrics"
    return float(found.group(1))


def _thumb_files(web_data: WebData, event_id: str) -> dict[Path, int]:
    root = web_data.data.event_dir(event_id) / ".eventlens" / "thumbs"
    return {p: p.stat().st_mtime_ns for p in root.rglob("*.jpg")}


def test_thumbnails_are_made_once_and_never_again_for_unchanged_photos(
    browser: Any, web_server: ServiceProcess, web_data: WebData, fresh_event: str, login: Any
) -> None:
    shown = {p.sha256 for p in _photos(web_data, fresh_event)}
    shutil.rmtree(web_data.data.event_dir(fresh_event) / ".eventlens" / "thumbs", ignore_errors=True)
    loads: list[set[str]] = []
    for _ in range(2):  # two page loads, each in a new browser context (no browser cache between them)
        context = browser.new_context(base_url=web_server.base)
        page = context.new_page()
        login(page, "viewer")
        served: set[str] = set()
        page.on(
            "response",
            lambda r, served=served: (
                served.add(r.url.split("/")[-1].split(".")[0])
                if "/thumbs/" in r.url and r.status == 200
                else None
            ),
        )
        before = _thumbs_made(web_server)
        page.goto(f"/events/{fresh_event}")
        page.wait_for_load_state("networkidle")
        images = page.locator("ul.thumbs img")
        for i in range(images.count()):
            images.nth(i).scroll_into_view_if_needed()
        page.wait_for_load_state("networkidle")
        loads.append(served)
        made = _thumbs_made(web_server) - before
        if len(loads) == 1:
            files = _thumb_files(web_data, fresh_event)
            assert served == shown, "the first load must show every photo of the event"
            assert made == len(shown), f"{made} thumbnails made for {len(shown)} photos never shown before"
            assert len(files) == len(shown)
        else:
            assert served == loads[0], "the second load must be served the same thumbnails"
            assert made == 0, f"{made} thumbnails were made again for unchanged photos"
            assert _thumb_files(web_data, fresh_event) == files, "a cached thumbnail file was rewritten"
        context.close()


def test_thumbnail_etag_and_caching_headers(web_client: httpx.Client, web_data: WebData, login: Any) -> None:
    login(web_client, "viewer")
    sha = _photos(web_data, web_data.event_id)[0].sha256
    url = f"/events/{web_data.event_id}/thumbs/128/{sha}.jpg"
    first = web_client.get(url)
    assert first.status_code == 200 and first.headers["content-type"] == "image/jpeg"
    assert first.content[:2] == b"\xff\xd8"
    assert first.headers["etag"] == f'"{sha}-128"'
    assert first.headers["cache-control"] == "private, max-age=31536000, immutable"
    again = web_client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and not again.content
    assert web_client.get(f"/events/{web_data.event_id}/thumbs/100/{sha}.jpg").status_code == 404
    assert web_client.get(f"/events/{web_data.event_id}/thumbs/128/{'0' * 64}.jpg").status_code == 404


def test_no_photo_or_thumbnail_without_session_or_signature(
    web_server: ServiceProcess, web_data: WebData
) -> None:
    sha = _photos(web_data, web_data.event_id)[0].sha256
    base = f"/events/{web_data.event_id}"
    with httpx.Client(base_url=web_server.base) as anonymous:
        for path in (f"{base}/thumbs/256/{sha}.jpg", f"{base}/photos/{sha}/original"):
            r = anonymous.get(path)
            assert r.status_code == 401 and not r.content.startswith(b"\xff\xd8"), path


def test_signed_url_works_without_session_until_it_expires_and_not_when_altered(
    web_server: ServiceProcess, web_data: WebData
) -> None:
    photos = _photos(web_data, web_data.event_id)
    sha, other = photos[0].sha256, photos[1].sha256
    signer = UrlSigner.for_data_dir(web_data.root)  # the server's own secret (DATA/web_url_secret)
    path = f"/events/{web_data.event_id}/thumbs/256/{sha}.jpg"
    with httpx.Client(base_url=web_server.base) as anonymous:
        assert anonymous.get(signer.signed_url(path, ttl_s=60)).status_code == 200
        original = f"/events/{web_data.event_id}/photos/{sha}/original"
        assert anonymous.get(signer.signed_url(original, ttl_s=60)).status_code == 200

        soon = signer.signed_until(path, int(time.time()) + 2)
        assert anonymous.get(soon).status_code == 200
        time.sleep(3)
        assert anonymous.get(soon).status_code == 403, "a signed URL must stop working when it expires"

        good = signer.signed_url(path, ttl_s=60)
        exp = re.search(r"exp=(\d+)", good)
        assert exp
        tampered = [
            good.replace(sha, other),  # another photo with this signature
            good.replace("/256/", "/1024/"),  # another size
            good.replace(f"exp={exp.group(1)}", f"exp={int(exp.group(1)) + 86400}"),  # a later expiry
            good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB"),  # a changed signature
            good.split("&sig=")[0],  # no signature
        ]
        for url in tampered:
            assert anonymous.get(url).status_code in (401, 403), url
        wrong_secret = UrlSigner(b"not the server's secret").signed_url(path, ttl_s=60)
        assert anonymous.get(wrong_secret).status_code == 403


def test_page_thumbnail_links_are_signed_and_work_out_of_session(
    web_client: httpx.Client, web_server: ServiceProcess, web_data: WebData, login: Any
) -> None:
    login(web_client, "viewer")
    html = web_client.get(f"/events/{web_data.event_id}").text
    srcs = re.findall(r'<img src="([^"]+)"', html)
    assert srcs, "the event page shows no thumbnails"
    assert all("exp=" in s and "sig=" in s for s in srcs)
    alts = re.findall(r'alt="([^"]+)"', html)
    assert any(" with " in a for a in alts), "alt texts must name the people in the photos"
    with httpx.Client(base_url=web_server.base) as anonymous:
        r = anonymous.get(srcs[0].replace("&amp;", "&"))
        assert r.status_code == 200 and r.content[:2] == b"\xff\xd8"
