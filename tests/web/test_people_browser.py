"""The people pages in headless Chromium on the REAL processed ``groups`` event (webcore's fixtures): log in,
rename, merge, split, "not this person", undo, re-cluster with the library and see every correction kept,
answer a merge suggestion yes and one no; screenshots of the grid and a person; axe finds no serious
violation; a viewer sees no edit controls and gets a 403 on a POST."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from browser import screenshot, serious_axe_violations

from eventlens import pipeline
from eventlens.catalog.db import default_url, open_catalog
from eventlens.catalog.schema import faces, person_not_person, persons
from eventlens.settings import load_settings
from eventlens.summaries import RunSummary


def _state(event_dir: Path) -> dict[str, tuple[str | None, str | None, bool, frozenset[int]]]:
    """Per person label: name, category, hidden, its face ids."""
    engine = open_catalog(default_url(event_dir))
    try:
        with engine.connect() as conn:
            people = conn.execute(sa.select(persons)).all()
            owned: dict[int, set[int]] = {}
            for face_id, person_id in conn.execute(sa.select(faces.c.id, faces.c.person_id)):
                if person_id is not None:
                    owned.setdefault(person_id, set()).add(face_id)
        return {
            p.label: (p.name, p.category, bool(p.hidden), frozenset(owned.get(p.id, set()))) for p in people
        }
    finally:
        engine.dispose()


def _shot(page: Any, name: str) -> None:
    """A screenshot once every face window's thumbnail has loaded (lazy ones too)."""
    page.evaluate("document.querySelectorAll('img[loading=lazy]').forEach(i => { i.loading = 'eager'; })")
    page.wait_for_function("Array.from(document.images).every(i => i.complete)", timeout=120_000)
    assert page.evaluate("Array.from(document.images).every(i => i.naturalWidth > 0)"), "a thumbnail failed"
    screenshot(page, name)


def _face_tiles(page: Any) -> Any:
    return page.locator("#faces li.tile")


def test_people_corrections_in_the_browser_survive_a_re_cluster(
    page: Any,
    login: Callable[[Any, str], str],
    fresh_event: str,
    web_data: Any,
    model_cache_dir: Path,
) -> None:
    event_dir = web_data.data.event_dir(fresh_event)
    base = f"/events/{fresh_event}"
    login(page, "editor")
    page.goto(f"{base}/people")
    grid = page.locator("#people-grid li.tile")
    assert grid.count() >= 3, "the groups event should have at least three persons"
    first_img = grid.first.locator("img")
    assert re.match(r"Face of \S+", first_img.get_attribute("alt") or "")
    _shot(page, "people-grid")
    assert serious_axe_violations(page) == []
    labels = [grid.nth(i).get_attribute("data-label") for i in range(grid.count())]
    a, b, c = labels[0], labels[1], labels[2]

    # rename
    page.goto(f"{base}/people/{a}")
    page.get_by_label("Name").fill("Guest of honour")
    page.get_by_role("button", name="Rename").click()
    page.get_by_role("heading", level=1, name="Guest of honour").wait_for()
    _shot(page, "person")
    assert serious_axe_violations(page) == []

    # merge b and c from the grid: select both, merge into the first selected
    page.goto(f"{base}/people?sort=label")
    page.locator(f'li[data-label="{b}"] input[name="persons"]').check()
    page.locator(f'li[data-label="{c}"] input[name="persons"]').check()
    page.get_by_role("button", name="Merge selected").click()
    page.locator(".notice", has_text="merged into").wait_for()
    merged = _state(event_dir)
    assert c not in merged and len(merged[b][3]) >= 2

    # split: the first face of the merged person to a new person
    page.goto(f"{base}/people/{b}")
    tiles = _face_tiles(page)
    split_face = tiles.first.get_attribute("data-face")
    tiles.first.locator('input[name="faces"]').check()
    page.get_by_label("Move selected faces to").select_option("new")
    page.get_by_role("button", name="Move selected").click()
    page.locator(".notice", has_text="(new)").wait_for()
    assert page.locator(f'li[data-face="{split_face}"]').count() == 0
    (split_label,) = set(_state(event_dir)) - set(merged)

    # not this person, then undo it from the list of recent corrections
    page.goto(f"{base}/people/{a}")
    before = _face_tiles(page).count()
    wrong = _face_tiles(page).last.get_attribute("data-face")
    _face_tiles(page).last.get_by_role("button", name=re.compile("^Not ")).click()
    page.locator(".notice", has_text="is not").wait_for()
    assert _face_tiles(page).count() == before - 1
    page.goto(f"{base}/people/history")
    page.get_by_role("button", name="Undo the last correction").click()
    page.locator(".notice", has_text="undid").wait_for()
    page.goto(f"{base}/people/{a}")
    assert page.locator(f'li[data-face="{wrong}"]').count() == 1
    # and "not this person" for good on that face
    page.locator(f'li[data-face="{wrong}"]').get_by_role("button", name=re.compile("^Not ")).click()
    page.locator(".notice", has_text="is not").wait_for()

    kept = _state(event_dir)
    settings = load_settings(cache_dir=model_cache_dir)
    event = pipeline.Event.open(event_dir, settings, create=False)
    try:
        pipeline.run_cluster(event, RunSummary())
    finally:
        event.close()
    after = _state(event_dir)
    assert after[a][0] == "Guest of honour"
    assert c not in after and after[b][3] == kept[b][3]  # merged and split faces where they were put
    assert after[split_label][3] == kept[split_label][3]
    page.goto(f"{base}/people/{a}")
    assert page.locator(f'li[data-face="{wrong}"]').count() == 0  # the cannot-link held
    page.get_by_role("heading", level=1, name="Guest of honour").wait_for()


def test_answer_merge_suggestions_yes_and_no(
    page: Any, login: Callable[[Any, str], str], fresh_event: str, web_data: Any
) -> None:
    event_dir = web_data.data.event_dir(fresh_event)
    login(page, "editor")
    page.goto(f"/events/{fresh_event}/suggestions")
    cards = page.locator("section.card")
    assert cards.count() >= 2, "the groups event should give at least two merge suggestions"
    _shot(page, "suggestions")
    assert serious_axe_violations(page) == []
    yes_pair = (cards.first.get_attribute("data-pair") or "").split("/")
    cards.first.get_by_role("button", name="Yes, the same person").click()
    page.locator(".notice", has_text="merged into").wait_for()
    assert yes_pair[1] not in _state(event_dir)
    # "no" by the keyboard shortcut, which answers the first pair left
    no_pair = (page.locator("section.card").first.get_attribute("data-pair") or "").split("/")
    page.keyboard.press("n")
    page.locator(".notice", has_text="is not the same person").wait_for()
    notice = page.locator(".notice").inner_text()
    assert f"{no_pair[0]} is not the same person as {no_pair[1]}" in notice
    page.reload()
    assert page.locator(f'section.card[data-pair="{"/".join(no_pair)}"]').count() == 0
    engine = open_catalog(default_url(event_dir))
    try:
        with engine.connect() as conn:
            ids = dict(conn.execute(sa.select(persons.c.label, persons.c.id)).all())
            pairs = set(
                conn.execute(sa.select(person_not_person.c.person_id, person_not_person.c.other_id)).all()
            )
    finally:
        engine.dispose()
    assert tuple(sorted((ids[no_pair[0]], ids[no_pair[1]]))) in {tuple(p) for p in pairs}
    assert {yes_pair[0], no_pair[0], no_pair[1]} <= set(_state(event_dir))


def test_a_viewer_sees_no_edit_controls_and_gets_403(
    page: Any, login: Callable[[Any, str], str], web_server: Any, web_data: Any
) -> None:
    login(page, "viewer")
    event = web_data.event_id
    page.goto(f"/events/{event}/people")
    assert page.get_by_role("button", name="Merge selected").count() == 0
    label = page.locator("#people-grid li.tile").first.get_attribute("data-label")
    page.goto(f"/events/{event}/people/{label}")
    assert page.get_by_role("button", name="Rename").count() == 0
    assert page.locator('input[name="faces"]').count() == 0
    with httpx.Client(base_url=web_server.base, follow_redirects=False) as client:
        token = login(client, "viewer")
        r = client.post(f"/events/{event}/people/{label}/rename", data={"name": "X", "csrf_token": token})
        assert r.status_code == 403
