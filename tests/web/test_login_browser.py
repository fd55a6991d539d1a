"""Logging in through a real browser: the login page, the events list it leads to, logging out."""

from __future__ import annotations

from typing import Any

import pytest
from browser import screenshot, serious_axe_violations
from conftest import EVENT_ID, WebData

pytestmark = pytest.mark.real_models


def test_login_shows_the_events_and_logout_ends_the_session(page: Any, login: Any, web_data: WebData) -> None:
    page.goto("/")
    assert "/login" in page.url, "the events page must send a visitor without a session to the login"
    assert not serious_axe_violations(page), "the login page has serious accessibility violations"
    screenshot(page, "login")

    login(page, "editor")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=EVENT_ID))
    assert row.get_by_text("done").is_visible()
    photos = int(row.get_by_role("cell").nth(1).inner_text())
    assert photos == 59, f"the groups event shows {photos} photos, expected the 59 of ../shared/data/groups"
    assert page.get_by_role("button", name="Upload and process").is_visible(), "an editor can add events"
    assert not serious_axe_violations(page), "the events page has serious accessibility violations"
    screenshot(page, "events")

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login")
    page.goto("/")
    assert "/login" in page.url, "after logout the session must be gone"


_CONTROLS = "a[href], button, input:not([type=hidden]), select, textarea, summary"
_MARK = """() => {
  const all = [...document.querySelectorAll(arguments_selector)].filter(e => e.checkVisibility());
  all.forEach((e, i) => e.dataset.kbd = String(i));
  return all.length;
}"""


def _keyboard_reaches_every_control(page: Any) -> None:
    count = page.evaluate(_MARK.replace("arguments_selector", repr(_CONTROLS)))
    assert count > 0
    reached: set[str] = set()
    if page.evaluate("() => document.activeElement === document.body"):  # no autofocus on this page
        page.keyboard.press("Tab")
        first = page.evaluate("() => document.activeElement.className")
        assert first == "skip-link", "the first Tab must reach the skip link"
    for _ in range(count * 2 + 5):
        mark = page.evaluate("() => document.activeElement && document.activeElement.dataset.kbd")
        if mark is not None:
            reached.add(mark)
        page.keyboard.press("Tab")
    missing = set(map(str, range(count))) - reached
    labels = [page.locator(f'[data-kbd="{m}"]').evaluate("e => e.outerHTML.slice(0, 80)") for m in missing]
    assert not missing, f"controls not reachable by keyboard: {labels}"


def test_every_control_is_reachable_by_keyboard(page: Any, login: Any, web_data: WebData) -> None:
    page.goto("/login")
    _keyboard_reaches_every_control(page)
    login(page, "admin")
    _keyboard_reaches_every_control(page)
    page.goto(f"/events/{EVENT_ID}")
    _keyboard_reaches_every_control(page)
    assert not serious_axe_violations(page), "the event page has serious accessibility violations"
    screenshot(page, "event-groups")
