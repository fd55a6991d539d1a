"""The browser test setup itself works: Chromium renders a loopback page and axe-core runs in it."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from browser import screenshot, serious_axe_violations

PAGE = (
    b"<!doctype html><html lang='en'><head><title>probe</title></head>"
    b"<body><main><h1>eventlens</h1>"
    b"<button id='b' onclick=\"this.textContent='clicked'\">Go</button></main></body></html>"
)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args: Any) -> None:
        pass


def test_chromium_clicks_a_loopback_page_and_axe_finds_nothing_serious(browser: Any) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{server.server_port}/")
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        assert page.text_content("#b") == "clicked"
        assert serious_axe_violations(page) == []
        assert screenshot(page, "probe").stat().st_size > 0
        page.close()
    finally:
        server.shutdown()
