"""Search, best photos, photo view, near-duplicates and the ZIP export on the real processed ``groups``
event, through the running server: httpx for the data, headless Chromium for the pages (screenshots,
axe-core, alt text)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from browser import screenshot, serious_axe_violations
from conftest import EVENT_ID, WebData
from servers import ServiceProcess

from eventlens.catalog import queries
from eventlens.catalog.db import default_url, open_catalog
from eventlens.catalog.search import PhotoQuery, search_photos
from eventlens.curate.facts import event_curation
from eventlens.export.layout import export
from eventlens.settings import load_settings

pytestmark = pytest.mark.real_models


@pytest.fixture(scope="module")
def catalog(web_data: WebData) -> Iterator[sa.Engine]:
    engine = open_catalog(default_url(web_data.data.event_dir(EVENT_ID)))
    yield engine
    engine.dispose()


def _shas_on(html: str) -> list[str]:
    import re  # noqa: PLC0415

    return re.findall(r'data-sha256="([0-9a-f]{64})"', html)


def test_combined_search_filters_agree_with_the_library(
    web_client: httpx.Client, login: Any, catalog: sa.Engine
) -> None:
    login(web_client, "viewer")
    with catalog.connect() as conn:
        people = [p for p in queries.list_persons(conn).items if p.photo_count >= 2]
        facts = event_curation(conn, load_settings(cache_dir=Path("/nonexistent"))).facts
        assert people, "the groups event has persons"
        who = people[0]
        q = PhotoQuery(person=who.label, min_people=2, eyes_open=True)
        expected = [h.sha256 for h in search_photos(conn, q, facts, limit=None).items]
        everyone = [h.sha256 for h in search_photos(conn, PhotoQuery(), None, limit=None).items]
    r = web_client.get(
        f"/events/{EVENT_ID}/search", params={"person": who.label, "min_people": "2", "eyes_open": "true"}
    )
    assert r.status_code == 200
    assert _shas_on(r.text) == expected[:48]
    assert len(expected) < len(everyone), "the combined filters narrow the result"
    # paging: every page after the first continues where it stopped, nothing twice
    seen: list[str] = []
    url: str | None = f"/events/{EVENT_ID}/search"
    while url is not None:
        page = web_client.get(url)
        seen += _shas_on(page.text)
        nxt = [part for part in page.text.split('"') if "after=" in part and part.startswith("/events/")]
        url = nxt[0].replace("&amp;", "&") if nxt else None
    assert seen == everyone
    bad = web_client.get(f"/events/{EVENT_ID}/search", params={"min_people": "3", "max_people": "1"})
    assert bad.status_code == 400 and "max_people" in bad.text


def _folder(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in out.rglob("*")
        if p.is_file() and p.relative_to(out).parts[0] != ".eventlens"
    }


def test_zip_export_has_the_layout_of_the_folder_export(
    web_client: httpx.Client, login: Any, catalog: sa.Engine, web_data: WebData, tmp_path: Path
) -> None:
    login(web_client, "viewer")
    with web_client.stream("GET", f"/events/{EVENT_ID}/export.zip") as r:
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/zip"
        assert "attachment" in r.headers["content-disposition"]
        data = b"".join(r.iter_bytes())
    export(catalog, tmp_path / "out", load_settings(cache_dir=tmp_path / "cache"))
    expected = _folder(tmp_path / "out")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        got = {n: zf.read(n) for n in zf.namelist()}
    assert sorted(got) == sorted(expected)
    assert got == expected
    persons = [n.split("/")[0] for n in got if n.endswith("/metadata.json") and n.startswith("person_")]
    assert persons, "the ZIP holds person folders"
    meta = json.loads(got[f"{persons[0]}/metadata.json"])
    assert {f"{persons[0]}/{e['file']}" for e in meta["photos"]} <= set(got)

    chosen = web_client.get(f"/events/{EVENT_ID}/export.zip", params={"person": persons[0], "photos": "best"})
    with zipfile.ZipFile(io.BytesIO(chosen.content)) as zf:
        names = set(zf.namelist())
    assert {n.split("/")[0] for n in names if "/" in n} <= {persons[0], "output_clusters"}
    assert any(n.startswith(f"{persons[0]}/best/") for n in names)
    assert not any(n.startswith(f"{persons[0]}/") and n.count("/") == 1 and n.endswith(".jpg") for n in names)
    assert (
        web_client.get(f"/events/{EVENT_ID}/export.zip", params={"person": "person_999"}).status_code == 400
    )
    assert not list((web_data.data.event_dir(EVENT_ID) / ".eventlens").glob("zip-export-*"))


def test_export_needs_a_session(web_server: ServiceProcess) -> None:
    with httpx.Client(base_url=web_server.base, follow_redirects=False) as anonymous:
        r = anonymous.get(f"/events/{EVENT_ID}/export.zip")
    assert r.status_code in (303, 401), r.status_code


def _images_have_alt(page: Any) -> None:
    images = page.locator("main img")
    assert images.count() > 0
    for i in range(images.count()):
        alt = images.nth(i).get_attribute("alt")
        assert alt and alt.startswith("Photo "), f"image {i} has alt {alt!r}"


def test_search_page_in_a_browser(page: Any, login: Any, catalog: sa.Engine) -> None:
    login(page, "viewer")
    with catalog.connect() as conn:
        named = [p for p in queries.list_persons(conn).items if p.photo_count >= 2][0]
    page.goto(f"/events/{EVENT_ID}/search")
    page.get_by_label("Person (name or label)").fill(named.label)
    page.get_by_label("At least (faces)").fill("2")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(f"**/search?*person={named.label}*")
    results = page.get_by_test_id("results").locator("li")
    assert results.count() > 0
    _images_have_alt(page)
    assert not serious_axe_violations(page), "the search page has serious accessibility violations"
    screenshot(page, "search")
    results.first.get_by_role("link").click()
    page.wait_for_url(f"**/events/{EVENT_ID}/photos/*")
    assert page.get_by_test_id("faces").is_visible()


def test_photo_view_draws_each_face_and_links_its_person(page: Any, login: Any, catalog: sa.Engine) -> None:
    with catalog.connect() as conn:
        faces = queries.faces_of_photos(conn)
    by_photo: dict[str, list[queries.FaceView]] = {}
    for f in faces:
        by_photo.setdefault(f.photo_sha256, []).append(f)
    sha, own = max(by_photo.items(), key=lambda item: sum(1 for f in item[1] if f.person_label))
    login(page, "viewer")
    page.goto(f"/events/{EVENT_ID}/photos/{sha}")
    boxes = page.get_by_test_id("face-boxes").locator("rect")
    assert boxes.count() == len(own)
    first = own[0]
    box = page.get_by_test_id("face-boxes").locator(f'rect[data-face="{first.face_index}"]')
    assert float(box.get_attribute("x") or "nan") == pytest.approx(first.x1)
    assert float(box.get_attribute("width") or "nan") == pytest.approx(first.x2 - first.x1)
    rows = page.get_by_test_id("faces").locator("tbody tr")
    assert rows.count() == len(own)
    labelled = next(f for f in own if f.person_label)
    link = page.get_by_test_id("faces").locator(f'tr[data-face="{labelled.face_index}"] a')
    assert link.get_attribute("href") == f"/events/{EVENT_ID}/people/{labelled.person_label}"
    assert page.get_by_test_id("explanation").inner_text().strip()
    _images_have_alt(page)
    assert not serious_axe_violations(page), "the photo page has serious accessibility violations"
    screenshot(page, "photo")


def test_best_photos_are_ranked_with_their_explanations(page: Any, login: Any, catalog: sa.Engine) -> None:
    with catalog.connect() as conn:
        ranked = event_curation(conn, load_settings(cache_dir=Path("/nonexistent"))).curation.ranked
    login(page, "viewer")
    page.goto(f"/events/{EVENT_ID}/best")
    items = page.get_by_test_id("ranked").locator("li")
    assert items.count() == min(48, len(ranked))
    shown = [items.nth(i).get_attribute("data-sha256") for i in range(items.count())]
    assert shown == [s.sha256 for s in ranked[: len(shown)]]
    explanation = items.first.get_by_test_id("explanation").inner_text()
    assert explanation == ranked[0].results_string
    scores = [float(items.nth(i).locator(".score").inner_text()) for i in range(items.count())]
    qualified = [s for s, r in zip(scores, ranked, strict=False) if not r.disqualified]
    assert qualified == sorted(qualified, reverse=True)
    _images_have_alt(page)
    assert not serious_axe_violations(page), "the best photos page has serious accessibility violations"
    screenshot(page, "best")
    page.get_by_role("link", name="Near-duplicate groups").click()
    page.wait_for_url("**/duplicates")
    groups = {s.duplicate_group for s in ranked}
    multi = [g for g in groups if sum(1 for s in ranked if s.duplicate_group == g) > 1]
    assert page.get_by_test_id("duplicate-group").count() == min(len(multi), 30)
    assert not serious_axe_violations(page), "the duplicates page has serious accessibility violations"
    screenshot(page, "duplicates")


def test_export_page_downloads_the_chosen_zip(page: Any, login: Any) -> None:
    login(page, "viewer")
    page.goto(f"/events/{EVENT_ID}/export")
    page.get_by_label("Best photos only").check()
    assert not serious_axe_violations(page), "the export page has serious accessibility violations"
    with page.expect_download() as info:
        page.get_by_role("button", name="Download ZIP").click()
    path = info.value.path()
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    assert "summary.csv" in names and any(n.startswith("best/") for n in names)
    assert not any(n.startswith("unassigned/") for n in names)
