"""Downloads of untrusted URLs (eventlens.service.download) against a real HTTP server on 127.0.0.1.

The server (stdlib ``ThreadingHTTPServer`` in a thread) serves photos, 60 MB bodies generated on the fly,
redirect chains and loops, errors and slow answers. Requests are observed twice: by the server (what
arrived, with which ``Host``) and by an httpx request hook (what the client was about to send, before
connecting). Addresses of made-up host names come from a patched ``socket.getaddrinfo``.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import io
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, features
from testkit import MISSING_DATA, SHARED_DATA

from eventlens.service import download as dl
from eventlens.service.download import (
    DownloadError,
    DownloadLimits,
    download_all,
    download_image,
    is_public_address,
    make_client,
    sniff_image_format,
)
from eventlens.settings import load_settings

MB = 1_000_000
HUGE_BYTES = 60 * MB
LOCAL = DownloadLimits(allow_private=True)  # the test server is on loopback


def _jpeg(color: tuple[int, int, int] = (200, 120, 40), size_px: int = 32) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size_px, size_px), color).save(out, "JPEG", quality=90)
    return out.getvalue()


SMALL_JPEG = _jpeg()


# --- the local server --------------------------------------------------------------------------------


@dataclass
class ServerState:
    """What the server saw; reset before every test."""

    files: dict[str, bytes]
    base: str = ""
    hosts: list[tuple[str, str]] = field(default_factory=list)  # (path, Host header)
    sent_bytes: dict[str, int] = field(default_factory=dict)
    finished: dict[str, threading.Event] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.hosts.clear()
            self.sent_bytes.clear()
            self.finished.clear()
            self.max_in_flight = 0

    def done(self, path: str) -> threading.Event:
        with self.lock:
            return self.finished.setdefault(path, threading.Event())


def _make_handler(state: ServerState) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            pass

        def _head(self, status: int, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()

        def _body(self, data: bytes) -> None:
            self._head(200, {"Content-Type": "image/jpeg", "Content-Length": str(len(data))})
            self.wfile.write(data)

        def _stream(self, name: str, first: bytes, total: int, content_length: bool) -> None:
            """``total`` bytes, ``first`` then filler, in 1 MiB chunks, never held whole in memory."""
            headers = {"Content-Type": "image/jpeg"}
            if content_length:
                headers["Content-Length"] = str(total)
            else:
                headers["Connection"] = "close"  # body delimited by closing the connection
                self.close_connection = True
            self._head(200, headers)
            filler = b"\x00" * (1 << 20)
            sent = 0
            try:
                self.wfile.write(first)
                sent = len(first)
                while sent < total:
                    chunk = filler[: total - sent]
                    self.wfile.write(chunk)
                    sent += len(chunk)
            except OSError:
                pass  # the client hung up, as it should
            finally:
                with state.lock:
                    state.sent_bytes[name] = sent
                state.done(name).set()

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            parts = urlsplit(self.path)
            path, query = parts.path, parse_qs(parts.query)
            with state.lock:
                state.hosts.append((path, self.headers.get("Host", "")))
            with contextlib.suppress(OSError):  # the client went away (refused bodies, timeouts)
                self._route(path, query)

        def _route(self, path: str, query: dict[str, list[str]]) -> None:
            if path in state.files:
                self._body(state.files[path])
            elif path == "/huge-text":
                self._stream("huge-text", b"<html><body>" + b"x" * 100, HUGE_BYTES, content_length=False)
            elif path == "/huge-jpeg":
                with_length = query.get("length") == ["1"]
                self._stream(f"huge-jpeg-{with_length}", SMALL_JPEG[:200], HUGE_BYTES, with_length)
            elif path.startswith("/chain/"):
                left = int(path.rsplit("/", 1)[1])
                if left == 0:
                    self._body(SMALL_JPEG)
                else:
                    self._head(302, {"Location": f"/chain/{left - 1}", "Content-Length": "0"})
            elif path in ("/loop/a", "/loop/b"):
                other = "/loop/b" if path == "/loop/a" else "/loop/a"
                self._head(301, {"Location": f"{state.base}{other}", "Content-Length": "0"})
            elif path == "/redirect":
                self._head(302, {"Location": query["to"][0], "Content-Length": "0"})
            elif path == "/missing":
                self._head(404, {"Content-Length": "0"})
            elif path == "/slow":
                time.sleep(1.0)
                self._body(SMALL_JPEG)
            elif path == "/drip":  # a valid JPEG head, then one byte every 50 ms for 20 s
                self._head(200, {"Content-Length": str(100 + 400)})
                self.wfile.write(SMALL_JPEG[:100])
                for _ in range(400):
                    time.sleep(0.05)
                    self.wfile.write(b"\x00")
                    self.wfile.flush()
            elif path == "/empty":
                self._head(200, {"Content-Length": "0"})
            elif path == "/gzip":
                self._head(200, {"Content-Encoding": "gzip", "Content-Length": str(len(SMALL_JPEG))})
                self.wfile.write(SMALL_JPEG)
            elif path == "/gate":
                with state.lock:
                    state.in_flight += 1
                    state.max_in_flight = max(state.max_in_flight, state.in_flight)
                time.sleep(0.1)
                with state.lock:
                    state.in_flight -= 1
                self._body(SMALL_JPEG)
            else:
                self._head(404, {"Content-Length": "0"})

    return Handler


def _serve(state: ServerState, context: ssl.SSLContext | None = None) -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(state))
    server.daemon_threads = True
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def _server() -> Iterator[ServerState]:
    state = ServerState(files={"/small.jpg": SMALL_JPEG, "/page.html": b"<!DOCTYPE html><html>hi</html>"})
    for port in _serve(state):
        state.base = f"http://127.0.0.1:{port}"
        yield state


@pytest.fixture
def server(_server: ServerState) -> ServerState:
    _server.reset()
    return _server


@pytest.fixture
def real_jpeg(server: ServerState) -> bytes:
    """A real photo of ../shared/data/groups, served at /photo.jpg."""
    photos = sorted((SHARED_DATA / "groups").glob("*.jpg"))
    if not photos:
        pytest.skip(MISSING_DATA)
    data = photos[0].read_bytes()
    server.files["/photo.jpg"] = data
    return data


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "downloads"


class Sent:
    """Requests the client was about to send (an httpx request hook runs before connecting)."""

    def __init__(self, client: httpx.Client) -> None:
        self.requests: list[httpx.Request] = []
        client.event_hooks = {"request": [self.requests.append], "response": []}


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Made-up host names -> the addresses ``socket.getaddrinfo`` returns for them; ``lookups`` lists
    every name looked up (IP literals included, which the socket layer passes through)."""
    names: dict[str, list[str]] = {"lookups": []}
    real = socket.getaddrinfo

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        names["lookups"].append(str(host))
        if host in names:
            if not names[host]:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return [
                (
                    socket.AF_INET6 if ":" in ip else socket.AF_INET,
                    socket.SOCK_STREAM,
                    socket.IPPROTO_TCP,
                    "",
                    (ip, int(port), 0, 0) if ":" in ip else (ip, int(port)),
                )
                for ip in names[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return names


def fetch(url: str, dest: Path, limits: DownloadLimits = LOCAL) -> tuple[dl.Downloaded, Sent]:
    with make_client(limits) as client:
        sent = Sent(client)
        return download_image(client, url, dest, limits), sent


def refused(url: str, dest: Path, reason: str, limits: DownloadLimits = LOCAL) -> tuple[DownloadError, Sent]:
    """Download ``url`` expecting DownloadError ``reason``; no file may be left in ``dest``."""
    with make_client(limits) as client:
        sent = Sent(client)
        with pytest.raises(DownloadError) as info:
            download_image(client, url, dest, limits)
    assert info.value.reason == reason, str(info.value)
    assert info.value.url == url
    assert "\n" not in str(info.value)
    leftovers = list(dest.iterdir()) if dest.exists() else []
    assert leftovers == [], f"files left behind: {leftovers}"
    return info.value, sent


# --- successful downloads ----------------------------------------------------------------------------


def test_real_photo_is_saved_under_its_sha256(server: ServerState, real_jpeg: bytes, dest: Path) -> None:
    got, _ = fetch(f"{server.base}/photo.jpg", dest)
    sha256 = hashlib.sha256(real_jpeg).hexdigest()
    assert (got.sha256, got.size_bytes, got.image_format) == (sha256, len(real_jpeg), "JPEG")
    assert got.path == dest / f"{sha256}.jpg"
    assert got.path.read_bytes() == real_jpeg
    assert got.final_url == f"{server.base}/photo.jpg"
    with Image.open(got.path) as im:
        assert im.format == "JPEG"


def test_second_download_of_the_same_content_returns_the_existing_file(
    server: ServerState, dest: Path
) -> None:
    first, _ = fetch(f"{server.base}/small.jpg", dest)
    mtime_ns = first.path.stat().st_mtime_ns
    second, _ = fetch(f"{server.base}/chain/1", dest)  # same bytes, other URL
    assert second.path == first.path and second.sha256 == first.sha256
    assert first.path.stat().st_mtime_ns == mtime_ns
    assert [p.name for p in dest.iterdir()] == [first.path.name]  # no temporary file left


def test_size_limit_is_inclusive(server: ServerState, dest: Path) -> None:
    exact = DownloadLimits(max_bytes=len(SMALL_JPEG), allow_private=True)
    assert fetch(f"{server.base}/small.jpg", dest, exact)[0].size_bytes == len(SMALL_JPEG)
    shutil.rmtree(dest)
    one_less = DownloadLimits(max_bytes=len(SMALL_JPEG) - 1, allow_private=True)
    error, _ = refused(f"{server.base}/small.jpg", dest, "too_large", one_less)
    assert "declares" in str(error)  # its Content-Length already says so


# --- what the body is --------------------------------------------------------------------------------


def test_non_image_is_refused_from_its_first_bytes(server: ServerState, dest: Path) -> None:
    error, _ = refused(f"{server.base}/huge-text", dest, "not_an_image")
    assert "HTML page" in str(error)
    assert server.done("huge-text").wait(10), "the server never noticed the client hung up"
    assert server.sent_bytes["huge-text"] < HUGE_BYTES // 4  # socket buffers only, not the 60 MB


def test_large_jpeg_is_refused_before_its_body_when_content_length_says_so(
    server: ServerState, dest: Path
) -> None:
    error, _ = refused(
        f"{server.base}/huge-jpeg?length=1", dest, "too_large", DownloadLimits(allow_private=True)
    )
    assert "declares 60.0 MB" in str(error) and "download_max_mb" in str(error)
    assert server.done("huge-jpeg-True").wait(10)
    assert server.sent_bytes["huge-jpeg-True"] < HUGE_BYTES // 4


def test_large_jpeg_without_content_length_is_cut_while_streaming(server: ServerState, dest: Path) -> None:
    error, _ = refused(f"{server.base}/huge-jpeg", dest, "too_large", DownloadLimits(allow_private=True))
    assert "larger than the limit of 50 MB" in str(error)
    assert server.done("huge-jpeg-False").wait(10)
    assert server.sent_bytes["huge-jpeg-False"] < HUGE_BYTES  # the client stopped reading at 50 MB


def test_empty_body_html_and_compressed_bodies_are_refused(server: ServerState, dest: Path) -> None:
    refused(f"{server.base}/empty", dest, "empty")
    assert "HTML page" in str(refused(f"{server.base}/page.html", dest, "not_an_image")[0])
    assert "gzip-encoded" in str(refused(f"{server.base}/gzip", dest, "not_an_image")[0])


def _encoded(fmt: str, **params: Any) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 12), (10, 200, 30)).save(out, fmt, **params)
    return out.getvalue()


@pytest.mark.parametrize(
    ("pillow_format", "expected"),
    [
        ("JPEG", "JPEG"),
        ("PNG", "PNG"),
        ("WEBP", "WEBP"),
        ("GIF", "GIF"),
        ("TIFF", "TIFF"),
        ("BMP", "BMP"),
        ("AVIF", "AVIF"),
        ("HEIF", "HEIF"),
    ],
)
def test_sniffing_knows_what_pillow_writes(pillow_format: str, expected: str) -> None:
    if pillow_format == "HEIF":
        pillow_heif = pytest.importorskip("pillow_heif")
        pillow_heif.register_heif_opener()
    if pillow_format == "AVIF" and not features.check("avif"):
        pytest.skip("this Pillow has no AVIF support")
    data = _encoded(pillow_format)
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == pillow_format
    assert sniff_image_format(data[:64]) == expected
    assert sniff_image_format(data[:64]) in dl.EXTENSIONS


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"<!DOCTYPE html><html><head>",
        b"%PDF-1.7\n",
        b"PK\x03\x04\x14\x00\x00\x00",
        b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41",  # an MP4 video
        b"BMW is a car, not a bitmap",
        b'{"error": "not found"}',
        bytes(range(64)),
    ],
)
def test_sniffing_refuses_what_is_not_an_image(head: bytes) -> None:
    assert sniff_image_format(head) is None


def test_sniffing_reads_jpeg_xl_and_compatible_heif_brands() -> None:
    assert sniff_image_format(b"\xff\x0a\xfa\x7f") == "JXL"
    assert sniff_image_format(b"\x00\x00\x00\x0cJXL \r\n\x87\n\x00\x00\x00\x14ftypjxl ") == "JXL"
    # major brand mif1, compatible heic (iPhone photos)
    assert sniff_image_format(b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heic") == "HEIF"
    assert sniff_image_format(b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf") == "AVIF"


# --- redirects ---------------------------------------------------------------------------------------


def test_five_redirects_are_followed(server: ServerState, dest: Path) -> None:
    got, sent = fetch(f"{server.base}/chain/5", dest)
    assert got.final_url == f"{server.base}/chain/0"
    assert len(sent.requests) == 6


def test_six_redirects_are_too_many(server: ServerState, dest: Path) -> None:
    error, sent = refused(f"{server.base}/chain/6", dest, "too_many_redirects")
    assert "more than 5 redirects" in str(error)
    assert len(sent.requests) == 6  # the sixth Location is never requested


def test_redirect_loop_is_reported_as_such(server: ServerState, dest: Path) -> None:
    error, sent = refused(f"{server.base}/loop/a", dest, "redirect_loop")
    assert "/loop/a" in str(error)
    assert len(sent.requests) == 2


@pytest.mark.parametrize(
    "target", ["http://10.0.0.1/photo.jpg", "http://169.254.169.254/latest/meta-data/", "http://[::1]/x"]
)
def test_redirect_to_a_private_address_is_refused_before_connecting(
    server: ServerState, dest: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    # the test server is on loopback: let 127.0.0.1 pass as public so that the redirect is checked
    # with allow_private off
    real = dl.is_public_address
    monkeypatch.setattr(dl, "is_public_address", lambda a: a == ipaddress.ip_address("127.0.0.1") or real(a))
    strict = DownloadLimits()
    error, sent = refused(f"{server.base}/redirect?to={target}", dest, "private_address", strict)
    assert [r.url.host for r in sent.requests] == ["127.0.0.1"]  # only the first hop was requested
    assert "redirect 1 from" in str(error) and "download_allow_private" in str(error)


def test_redirect_to_a_name_of_a_private_address_is_refused(
    server: ServerState, dest: Path, monkeypatch: pytest.MonkeyPatch, resolver: dict[str, list[str]]
) -> None:
    real = dl.is_public_address
    monkeypatch.setattr(dl, "is_public_address", lambda a: a == ipaddress.ip_address("127.0.0.1") or real(a))
    resolver["metadata.internal"] = ["10.1.2.3"]
    error, sent = refused(
        f"{server.base}/redirect?to=http://metadata.internal/", dest, "private_address", DownloadLimits()
    )
    assert "metadata.internal resolves to 10.1.2.3" in str(error)
    assert len(sent.requests) == 1


def test_redirect_to_another_scheme_is_refused(server: ServerState, dest: Path) -> None:
    error, sent = refused(f"{server.base}/redirect?to=file:///etc/passwd", dest, "bad_url")
    assert "scheme 'file'" in str(error)
    assert len(sent.requests) == 1


# --- errors of the server ----------------------------------------------------------------------------


def test_http_error_status(server: ServerState, dest: Path) -> None:
    error, _ = refused(f"{server.base}/missing", dest, "http_status")
    assert "HTTP 404 Not Found" in str(error)


def test_slow_server_times_out_on_read(server: ServerState, dest: Path) -> None:
    limits = DownloadLimits(read_timeout_s=0.3, allow_private=True)
    error, _ = refused(f"{server.base}/slow", dest, "timeout", limits)
    assert "download_read_timeout_s" in str(error)


def test_trickling_server_hits_the_total_deadline(server: ServerState, dest: Path) -> None:
    # every read succeeds within the read timeout; without the deadline the 20 s body would be saved
    limits = DownloadLimits(read_timeout_s=1.0, total_timeout_s=0.5, allow_private=True)
    error, _ = refused(f"{server.base}/drip", dest, "timeout", limits)
    assert "took longer than 0.5 s (setting download_total_timeout_s)" in str(error)


def test_closed_port_is_a_connection_failure(dest: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    refused(f"http://127.0.0.1:{port}/x.jpg", dest, "connection_failed")


def test_unresolvable_name(dest: Path, resolver: dict[str, list[str]]) -> None:
    resolver["photos.invalid"] = []
    error, sent = refused("http://photos.invalid/a.jpg", dest, "dns_failed")
    assert "photos.invalid" in str(error) and not sent.requests


# --- URLs and addresses refused before any connection ------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/a.jpg",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "example.com/a.jpg",
        "",
        "http://user:secret@example.com/a.jpg",
        "https://:token@example.com/a.jpg",
        "http:///a.jpg",
        "http://exa mple.com/a.jpg",
        "http://example.com/a.jpg\r\nX-Injected: 1",
        "http://example.com/" + "a" * dl.MAX_URL_LENGTH,
    ],
)
def test_bad_urls_are_refused_without_lookup_or_connection(
    url: str, dest: Path, resolver: dict[str, list[str]]
) -> None:
    error, sent = refused(url, dest, "bad_url", DownloadLimits())
    assert not sent.requests and resolver["lookups"] == []
    assert "secret" not in str(error) and "token" not in str(error)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "[::1]",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "0.0.0.0",
        "100.64.0.1",
        "224.0.0.1",
        "[::ffff:127.0.0.1]",
        "[::ffff:10.0.0.1]",
        "[::ffff:169.254.169.254]",
        "[fe80::1]",
        "[fc00::1]",
        "[::]",
        "2130706433",  # 127.0.0.1 as one decimal number
        "127.1",
    ],
)
def test_private_addresses_are_refused_without_connection(host: str, dest: Path) -> None:
    error, sent = refused(f"http://{host}:8080/photo.jpg", dest, "private_address", DownloadLimits())
    assert not sent.requests
    assert "download_allow_private" in str(error)


def test_a_name_resolving_to_a_private_address_is_refused(dest: Path, resolver: dict[str, list[str]]) -> None:
    resolver["photos.example"] = ["10.0.0.5"]
    error, sent = refused("http://photos.example/a.jpg", dest, "private_address", DownloadLimits())
    assert "photos.example resolves to 10.0.0.5, a private address" in str(error)
    assert not sent.requests
    resolver["mixed.example"] = ["93.184.215.14", "127.0.0.1"]  # one bad address is enough
    refused("http://mixed.example/a.jpg", dest, "private_address", DownloadLimits())
    assert not sent.requests


def test_the_connection_goes_to_the_checked_address(
    server: ServerState, dest: Path, resolver: dict[str, list[str]]
) -> None:
    port = int(server.base.rsplit(":", 1)[1])
    resolver["photos.example"] = ["127.0.0.1"]
    got, sent = fetch(f"http://photos.example:{port}/small.jpg?sig=abc", dest)
    assert got.final_url == f"http://photos.example:{port}/small.jpg?sig=abc"
    assert server.hosts == [("/small.jpg", f"photos.example:{port}")]
    assert [(r.url.host, r.headers["host"]) for r in sent.requests] == [
        ("127.0.0.1", f"photos.example:{port}")
    ]
    assert resolver["lookups"].count("photos.example") == 1  # resolved once, never again by httpx


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, ssl.SSLContext]]:
    """An https server on 127.0.0.1 whose self-signed certificate names only photos.example."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: the TLS test is skipped")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        + ["-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=photos.example"]
        + ["-addext", "subjectAltName=DNS:photos.example"],
        check=True,
        capture_output=True,
    )
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))
    state = ServerState(files={"/small.jpg": SMALL_JPEG})
    for port in _serve(state, server_context):
        yield port, client_context


def test_https_to_the_checked_address_verifies_the_real_host_name(
    tls_server: tuple[int, ssl.SSLContext], dest: Path, resolver: dict[str, list[str]]
) -> None:
    port, context = tls_server
    resolver["photos.example"] = ["127.0.0.1"]
    resolver["other.example"] = ["127.0.0.1"]
    # one client for both: a pooled connection verified for photos.example must not serve other.example
    with httpx.Client(verify=context, trust_env=False, follow_redirects=False) as client:
        got = download_image(client, f"https://photos.example:{port}/small.jpg", dest, LOCAL)
        assert got.image_format == "JPEG"
        with pytest.raises(DownloadError) as info:  # same address, but the certificate names another host
            download_image(client, f"https://other.example:{port}/small.jpg", dest, LOCAL)
    assert info.value.reason == "connection_failed"
    assert "certificate" in str(info.value).lower()


# --- many downloads ----------------------------------------------------------------------------------


def test_download_all_bounds_concurrency_and_reports_every_item(server: ServerState, dest: Path) -> None:
    items = [(i, f"{server.base}/gate") for i in range(8)]
    items += [(100, f"{server.base}/missing"), (101, "ftp://x/y"), (102, f"{server.base}/page.html")]
    results = dict(download_all(items, dest, LOCAL, concurrency=3))
    assert sorted(results) == sorted(key for key, _ in items)
    for i in range(8):
        result = results[i]
        assert isinstance(result, dl.Downloaded), result
        assert result.sha256 == hashlib.sha256(SMALL_JPEG).hexdigest()
    reasons = {key: r.reason for key, r in results.items() if isinstance(r, DownloadError)}
    assert reasons == {100: "http_status", 101: "bad_url", 102: "not_an_image"}
    assert 1 <= server.max_in_flight <= 3
    assert [p.suffix for p in dest.iterdir()] == [".jpg"]


def test_download_all_of_nothing_and_bad_concurrency(dest: Path) -> None:
    assert list(download_all([], dest, LOCAL, concurrency=4)) == []
    with pytest.raises(ValueError, match="concurrency"):
        list(download_all([("a", "http://x/")], dest, LOCAL, concurrency=0))


# --- settings ----------------------------------------------------------------------------------------


def test_limits_from_settings_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = DownloadLimits.from_settings(load_settings())
    assert defaults == DownloadLimits()
    monkeypatch.setenv("EVENTLENS_DOWNLOAD_ALLOW_PRIVATE", "true")
    monkeypatch.setenv("EVENTLENS_DOWNLOAD_MAX_MB", "1.5")
    monkeypatch.setenv("EVENTLENS_DOWNLOAD_MAX_REDIRECTS", "2")
    limits = DownloadLimits.from_settings(load_settings())
    assert (limits.allow_private, limits.max_bytes, limits.max_redirects) == (True, 1_500_000, 2)


# --- the address classifier --------------------------------------------------------------------------

_PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.215.14", "2606:4700::1111", "2001:4860:4860::8888", "::ffff:8.8.8.8"]
_PUBLIC += ["64:ff9b::808:808"]  # NAT64 of 8.8.8.8
_NOT_PUBLIC = ["0.0.0.0", "0.1.2.3", "10.0.0.1", "100.64.0.1", "100.127.255.254", "127.0.0.1", "127.255.0.1"]
_NOT_PUBLIC += ["169.254.169.254", "172.16.0.1", "172.31.255.255", "192.168.0.1", "192.0.2.1", "198.18.0.1"]
_NOT_PUBLIC += ["224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "::", "::1", "fe80::1"]
_NOT_PUBLIC += ["fc00::1", "fd12:3456::1", "fec0::1", "ff02::1", "ff0e::1", "2001:db8::1", "::ffff:127.0.0.1"]
_NOT_PUBLIC += [
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "64:ff9b::7f00:1",
    "2002:7f00:1::1",
    "::127.0.0.1",
]


@pytest.mark.parametrize(
    ("address", "public"), [(a, True) for a in _PUBLIC] + [(a, False) for a in _NOT_PUBLIC]
)
def test_known_addresses(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


def _embeddings(v4: ipaddress.IPv4Address) -> list[ipaddress.IPv6Address]:
    """IPv6 addresses that lead to ``v4``: IPv4-mapped, NAT64 and 6to4."""
    n = int(v4)
    return [
        ipaddress.IPv6Address((0xFFFF << 32) | n),
        ipaddress.IPv6Address((0x64FF9B << 96) | n),
        ipaddress.IPv6Address((0x2002 << 112) | (n << 80) | 1),
    ]


@given(st.ip_addresses(v=4))
def test_ipv4_is_public_exactly_when_global_and_not_multicast(address: ipaddress.IPv4Address) -> None:
    assert is_public_address(address) == (address.is_global and not address.is_multicast)
    for wrapped in _embeddings(address):
        assert is_public_address(wrapped) == is_public_address(address), wrapped


@given(st.ip_addresses(v=6))
def test_ipv6_public_means_global_unicast(address: ipaddress.IPv6Address) -> None:
    inner = dl.embedded_ipv4(address)
    if inner is not None:
        assert is_public_address(address) == is_public_address(inner)
        return
    special = address.is_multicast or address.is_reserved or address.is_site_local or address.is_private
    assert is_public_address(address) == (address.is_global and not special)
    if is_public_address(address):
        assert not (address.is_loopback or address.is_link_local or address.is_unspecified)


def test_messages_hide_queries_and_name_the_problem(dest: Path) -> None:
    error, _ = refused(
        "http://10.0.0.1/a.jpg?X-Amz-Signature=secret", dest, "private_address", DownloadLimits()
    )
    assert str(error).startswith("http://10.0.0.1/a.jpg?…: refused: 10.0.0.1 is a private address")
    assert "secret" not in str(error)


def test_limits_are_validated() -> None:
    for bad in ({"max_bytes": 0}, {"read_timeout_s": 0.0}, {"max_redirects": -1}):
        with pytest.raises(ValueError):
            DownloadLimits(**bad)  # type: ignore[arg-type]
