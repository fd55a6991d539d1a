"""Headless Chromium for browser tests: Debian's ``/usr/bin/chromium`` driven by Playwright.

No browser is ever downloaded: ``.ci/run`` installs Debian's ``chromium`` when it is missing, and these
helpers launch it with the flags that keep it off the (closed) network. A test that needs a browser takes the
``browser`` fixture of ``tests/conftest.py``; without Chromium or Playwright it is skipped with the reason.
Screenshots go under ``SCREENSHOTS`` (git-ignored) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = os.environ.get("EVENTLENS_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: where browser tests save screenshots of the main pages (see .gitignore)
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-screenshots"


def missing_browser() -> str | None:
    """Why no browser test can run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401, PLC0415 - optional dev dependency
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does it)"
    return None


@contextmanager
def launch_chromium() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - optional dev dependency

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as ``SCREENSHOTS/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def serious_axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations of impact serious or critical on the current page."""
    from axe_playwright_python.sync_playwright import Axe  # noqa: PLC0415 - optional dev dependency

    results = Axe().run(page)
    violations: list[dict[str, Any]] = results.response.get("violations", [])
    return [v for v in violations if v.get("impact") in {"serious", "critical"}]
