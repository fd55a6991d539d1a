"""Readers of ``OUT/report.html`` for the tests: its images and links as parsed HTML, and its check in
headless Chromium (every image loaded, no failed request, no script run, nothing serious for axe).

Importable from tests as ``import report_page`` (``tests/`` is on ``sys.path``, as for ``testkit``).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

_VOID = {"img", "meta", "br", "hr", "input", "link", "source", "wbr"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    article: str | None  # id of the enclosing <article> (a person) or <section>
    list_class: str | None  # class of the enclosing <ul> ("faces", "photos", "tags")
    href: str | None  # href of the enclosing <a>


class ReportPage(HTMLParser):
    """Every element of the page, with where it is; ``text`` per enclosing article or section id."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.text: dict[str, str] = {}
        self._stack: list[tuple[str, dict[str, str]]] = []

    def _nearest(self, tags: set[str], attr: str) -> str | None:
        for tag, attrs in reversed(self._stack):
            if tag in tags:
                return attrs.get(attr)
        return None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.elements.append(
            Element(
                tag,
                values,
                self._nearest({"article", "section"}, "id"),
                self._nearest({"ul"}, "class"),
                self._nearest({"a"}, "href"),
            )
        )
        if tag not in _VOID:
            self._stack.append((tag, values))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                del self._stack[i:]
                return

    def handle_data(self, data: str) -> None:
        where = self._nearest({"article", "section"}, "id") or ""
        self.text[where] = self.text.get(where, "") + data

    def images(self, article: str | None = None, list_class: str | None = None) -> list[Element]:
        return [
            e
            for e in self.elements
            if e.tag == "img"
            and (article is None or e.article == article)
            and (list_class is None or e.list_class == list_class)
        ]


def read_report(out: Path) -> ReportPage:
    page = ReportPage()
    page.feed((out / "report.html").read_text(encoding="utf-8"))
    page.close()
    return page


def local_links(page: ReportPage) -> list[str]:
    """Every href and src of the page that names a file: not a fragment of the page itself, nor a
    ``data:`` URL (the empty favicon that keeps the browser from asking for /favicon.ico)."""
    found = []
    for e in page.elements:
        for name in ("href", "src"):
            value = e.attrs.get(name)
            if value is not None and not value.startswith(("#", "data:")):
                found.append(value)
    return found


def resolve(out: Path, link: str) -> Path:
    """The file or folder a relative link of the report names; AssertionError for any other link."""
    parts = urlsplit(link)
    assert not parts.scheme and not parts.netloc and not parts.query, f"not a relative link: {link!r}"
    assert not parts.path.startswith("/"), f"absolute path: {link!r}"
    target = (out / unquote(parts.path)).resolve()
    assert target.is_relative_to(out.resolve()), f"{link!r} leaves OUT"
    return target


def tile_centre(style: str, thumb_size: tuple[int, int]) -> tuple[float, float]:
    """Where the centre of a face tile falls in its thumbnail (pixels), from the tile's CSS crop."""
    values = dict(
        (k.strip(), float(v.strip().rstrip("%")) / 100) for k, v in (p.split(":") for p in style.split(";"))
    )
    tw, th = thumb_size
    width_tiles = values["width"]  # the image is this many tiles wide, and width * th / tw tiles high
    fx = (0.5 - values["left"]) / width_tiles
    fy = (0.5 - values["top"]) / (width_tiles * th / tw)
    return fx * tw, fy * th


# --- in the browser ------------------------------------------------------------------------------


@dataclass
class BrowserCheck:
    images: list[dict[str, Any]]  # src, naturalWidth, complete of every <img>
    failed: list[str]  # requests that failed or answered >= 400
    dialogs: list[str]  # alert/confirm/prompt a script opened (there must be none)
    console_errors: list[str]
    serious_axe: list[dict[str, Any]]
    screenshot: Path | None
    text: str


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def serving(folder: Path) -> Iterator[str]:
    """``folder`` over HTTP on 127.0.0.1 (a free port) while the block runs; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def check_in_browser(browser: Any, out: Path, screenshot_name: str | None = None) -> BrowserCheck:
    """Open ``out/report.html`` (served from 127.0.0.1) in Chromium and record what went wrong."""
    from browser import screenshot, serious_axe_violations  # noqa: PLC0415 - tests/browser.py

    failed: list[str] = []
    dialogs: list[str] = []
    console_errors: list[str] = []
    with serving(out) as base:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}"))
            page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.url}: HTTP {r.status}"))
            page.on("console", lambda m: m.type == "error" and console_errors.append(m.text))

            def on_dialog(dialog: Any) -> None:
                dialogs.append(dialog.message)
                dialog.dismiss()

            page.on("dialog", on_dialog)
            page.goto(base + "report.html", wait_until="load")
            images = page.evaluate(
                "() => Array.from(document.images).map(i => ({src: i.getAttribute('src'),"
                " naturalWidth: i.naturalWidth, complete: i.complete}))"
            )
            axe = serious_axe_violations(page)
            shot = screenshot(page, screenshot_name) if screenshot_name else None
            text = page.inner_text("body")
        finally:
            page.close()
    return BrowserCheck(images, failed, dialogs, console_errors, axe, shot, text)
