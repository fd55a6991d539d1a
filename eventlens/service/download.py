"""Downloading untrusted URLs (event photos, selfies): the one place the service fetches the web.

Every URL, and every redirect target, is checked before anything connects to it:

* ``http``/``https`` only, no credentials (``user:pass@``), at most :data:`MAX_URL_LENGTH` characters;
* its host name is resolved once and every address is checked: private, loopback, link-local, multicast,
  reserved, unspecified and shared (100.64/10) addresses are refused, also behind IPv4-mapped, NAT64 and
  6to4 IPv6 addresses (:func:`is_public_address`), unless ``allow_private`` is set;
* the connection goes to the address that was checked (no second DNS lookup, so no DNS-rebinding window):
  the request names the IP literally, sends the real ``Host`` header and, for https, httpx's documented
  ``sni_hostname`` request extension, so TLS sends and verifies the real host name;
* at most ``max_redirects`` redirects, handled here (never by httpx), a loop reported as such.

The body is streamed into a temporary file in the destination folder and hashed on the way; it is refused
as soon as its first bytes are not an image (:func:`sniff_image_format`, headers are never trusted), as
soon as it exceeds ``max_bytes`` (or when its Content-Length already does), and when the total deadline
passes. A finished download is renamed to ``<sha256>.<ext>``; a failed one leaves no file behind.

Why not a custom httpcore network backend that resolves and checks inside ``connect_tcp``: httpx's
``HTTPTransport`` takes no network backend, so it would mean replacing its private ``_pool`` or
re-implementing the transport and its exception mapping; requesting the checked IP with ``Host`` and
``sni_hostname`` is httpx's documented way to connect to an explicit address (docs/advanced/extensions.md).
Its one catch, a pooled TLS connection verified for one name being reused for another name on the same
IP, is closed by sending ``Connection: close`` on https requests (each is verified for its own name).
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import socket
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from http import HTTPStatus
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NoReturn, TypeVar, get_args

import httpx

from eventlens.addresses import IPAddress, embedded_ipv4, is_public_address
from eventlens.addresses import address_kind as _address_kind
from eventlens.errors import InputError

if TYPE_CHECKING:
    from eventlens.settings import Settings

K = TypeVar("K")

#: why a download failed: a short stable key for metrics and API errors
Reason = Literal[
    "bad_url",
    "private_address",
    "dns_failed",
    "connection_failed",
    "timeout",
    "http_status",
    "too_many_redirects",
    "redirect_loop",
    "too_large",
    "not_an_image",
    "empty",
]
REASONS: tuple[Reason, ...] = get_args(Reason)

#: longest URL accepted (characters); presigned object-store URLs reach ~2,000
MAX_URL_LENGTH = 4096
USER_AGENT = "eventlens (photo download)"
_SNIFF_BYTES = 64  # enough for every signature and the first brands of an ISO-BMFF ftyp box
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_HOST_NAME = re.compile(r"^[a-z0-9_.-]{1,253}$")  # raw (IDNA-encoded, lower-cased) host names
_SHOWN_URL_CHARS = 160
_CREDENTIALS = re.compile(r"//[^/?#]*@")


@dataclass(frozen=True)
class DownloadLimits:
    """Bounds of one download (:meth:`from_settings` reads the ``download_*`` settings)."""

    max_bytes: int = 50_000_000  # 50 MB as every `_mb` of eventlens (10^6 bytes): download_max_mb
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 15.0
    total_timeout_s: float = 60.0
    max_redirects: int = 5
    allow_private: bool = False
    #: networks allowed although private (e.g. a photo store on the LAN; loopback in tests)
    allow_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    def allows(self, address: IPAddress) -> bool:
        if self.allow_private or is_public_address(address):
            return True
        inner = embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else None
        return any(address in net or (inner is not None and inner in net) for net in self.allow_networks)

    def __post_init__(self) -> None:
        if self.max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        if min(self.connect_timeout_s, self.read_timeout_s, self.total_timeout_s) <= 0:
            raise ValueError("timeouts must be positive")
        if self.max_redirects < 0:
            raise ValueError("max_redirects must not be negative")

    @classmethod
    def from_settings(cls, settings: Settings) -> DownloadLimits:
        return cls(
            max_bytes=int(settings.download_max_mb * 1e6),
            connect_timeout_s=settings.download_connect_timeout_s,
            read_timeout_s=settings.download_read_timeout_s,
            total_timeout_s=settings.download_total_timeout_s,
            max_redirects=settings.download_max_redirects,
            allow_private=settings.download_allow_private,
            allow_networks=tuple(
                ipaddress.ip_network(n, strict=False) for n in settings.download_allow_networks
            ),
        )


class DownloadError(InputError):
    """A URL could not be downloaded as an image.

    ``reason`` is one of :data:`REASONS`; ``str(exc)`` is one line naming the URL (its query hidden) and
    the problem; ``url`` is the URL as given.
    """

    def __init__(self, reason: Reason, message: str, url: str = "") -> None:
        super().__init__(message)
        self.reason: Reason = reason
        self.url = url


@dataclass(frozen=True)
class Downloaded:
    """A downloaded image: ``path`` is ``<dest_dir>/<sha256>.<ext>``."""

    path: Path
    sha256: str
    size_bytes: int
    image_format: str  # Pillow's format name (JPEG, PNG, WEBP, HEIF, AVIF, GIF, TIFF, BMP) or JXL
    final_url: str  # after redirects


# --- addresses ---------------------------------------------------------------------------------------

# --- content -----------------------------------------------------------------------------------------

#: format -> file extension of the saved download
EXTENSIONS = {
    "JPEG": "jpg",
    "PNG": "png",
    "WEBP": "webp",
    "HEIF": "heic",
    "AVIF": "avif",
    "GIF": "gif",
    "TIFF": "tif",
    "BMP": "bmp",
    "JXL": "jxl",
}
_SIGNATURES: list[tuple[bytes, str]] = [
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),  # BigTIFF
    (b"MM\x00+", "TIFF"),
    (b"\xff\x0a", "JXL"),  # bare JPEG XL codestream
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JXL"),  # JPEG XL container
]
# ISO-BMFF brands of still images (HEIF: ISO/IEC 23008-12; AVIF: AV1 image file format)
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"mif2", b"msf1"}
)
# what a refused body looks like, for the message (as eventlens.imaging.decode names unsupported files)
_NOT_IMAGES: list[tuple[bytes, str]] = [
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"<!doctype html", "an HTML page"),
    (b"<html", "an HTML page"),
    (b"<?xml", "an XML document"),
    (b"<svg", "an SVG drawing (not a photo)"),
    (b"{", "JSON or text"),
    (b"[", "JSON or text"),
]


def _ftyp_brands(head: bytes) -> list[bytes]:
    """Major and compatible brands of a leading ISO-BMFF ``ftyp`` box (those within ``head``)."""
    if head[4:8] != b"ftyp" or len(head) < 12:
        return []
    box_end = min(int.from_bytes(head[:4], "big"), len(head))
    return [head[8:12]] + [head[i : i + 4] for i in range(16, box_end - 3, 4)]


def sniff_image_format(head: bytes) -> str | None:
    """The image format the first bytes of a file announce (a key of :data:`EXTENSIONS`), or None."""
    for magic, name in _SIGNATURES:
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:2] == b"BM" and len(head) >= 14 and head[6:10] == b"\x00\x00\x00\x00":  # reserved fields
        return "BMP"
    brands = set(_ftyp_brands(head))
    if brands & _AVIF_BRANDS:
        return "AVIF"
    if brands & _HEIF_BRANDS:
        return "HEIF"
    return None


def _describe_non_image(head: bytes) -> str:
    lowered = head.lstrip().lower()
    for magic, name in _NOT_IMAGES:
        if lowered.startswith(magic):
            return name
    if head[4:8] == b"ftyp":
        return f"an ISO media file of brand {head[8:12].decode('latin-1')!r} (a video?)"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "unrecognised binary data"
    return "text"


# --- URLs and names ----------------------------------------------------------------------------------


def _shown(url: httpx.URL | str) -> str:
    """A URL for messages: no credentials, the query (often a signature) replaced by ``?…``, shortened."""
    if isinstance(url, str):
        try:
            parsed: httpx.URL | None = httpx.URL(url)
        except httpx.InvalidURL:
            parsed = None
        if parsed is not None and parsed.scheme and parsed.raw_host:
            return _shown(parsed)
        text = _CREDENTIALS.sub("//…@", url)
        return repr(text if len(text) <= _SHOWN_URL_CHARS else text[: _SHOWN_URL_CHARS - 1] + "…")
    shown = f"{url.scheme}://{url.netloc.decode('ascii')}{url.raw_path.split(b'?')[0].decode('ascii')}"
    if url.query:
        shown += "?…"
    return shown if len(shown) <= _SHOWN_URL_CHARS else shown[: _SHOWN_URL_CHARS - 1] + "…"


def _checked_url(raw: str | httpx.URL, where: str, original: str) -> httpx.URL:
    """``raw`` parsed, when it is an http(s) URL eventlens may fetch; else DownloadError ``bad_url``."""
    text = str(raw)
    if len(text) > MAX_URL_LENGTH:
        raise DownloadError("bad_url", f"{where}: URL longer than {MAX_URL_LENGTH} characters", original)
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        raise DownloadError("bad_url", f"{where}: URL contains spaces or control characters", original)
    try:
        url = raw if isinstance(raw, httpx.URL) else httpx.URL(raw)
    except httpx.InvalidURL as exc:
        raise DownloadError("bad_url", f"{where}: not a valid URL ({exc})", original) from None
    if url.scheme not in ("http", "https"):
        scheme = f"scheme {url.scheme!r}" if url.scheme else "no scheme"
        raise DownloadError("bad_url", f"{where}: not an http(s) URL ({scheme})", original)
    if url.userinfo:
        raise DownloadError(
            "bad_url", f"{where}: URL carries credentials (user:password@), which are refused", original
        )
    host = url.raw_host.decode("ascii", "replace")
    if not host:
        raise DownloadError("bad_url", f"{where}: URL has no host name", original)
    if _ip_literal(host) is None and not _HOST_NAME.match(host):
        raise DownloadError("bad_url", f"{where}: invalid host name {host!r}", original)
    return url.copy_with(fragment=None)


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


_resolver: ThreadPoolExecutor | None = None
_resolver_lock = threading.Lock()


def _resolver_pool() -> ThreadPoolExecutor:
    """Threads for ``getaddrinfo``, which has no timeout of its own (created on first use)."""
    global _resolver
    with _resolver_lock:
        if _resolver is None:
            _resolver = ThreadPoolExecutor(max_workers=32, thread_name_prefix="eventlens-dns")
        return _resolver


def _lookup(host: str, port: int) -> list[IPAddress]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    addresses: list[IPAddress] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])  # drop an IPv6 scope id
            if address not in addresses:
                addresses.append(address)
    return addresses


def _past_deadline(limits: DownloadLimits, where: str, original: str) -> DownloadError:
    return DownloadError(
        "timeout",
        f"{where}: took longer than {limits.total_timeout_s:g} s (setting download_total_timeout_s)",
        original,
    )


def _remaining_s(deadline: float, limits: DownloadLimits, where: str, original: str) -> float:
    """Seconds left before ``deadline``; DownloadError ``timeout`` when none are."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _past_deadline(limits, where, original)
    return remaining


def _checked_addresses(
    url: httpx.URL, limits: DownloadLimits, deadline: float, where: str, original: str
) -> list[IPAddress]:
    """The addresses of ``url``'s host, each checked; DownloadError when one is not public."""
    host = url.raw_host.decode("ascii")
    literal = _ip_literal(host)
    if literal is not None:
        addresses = [literal]
    else:
        wait_s = min(limits.connect_timeout_s, _remaining_s(deadline, limits, where, original))
        future = _resolver_pool().submit(_lookup, host, url.port or (443 if url.scheme == "https" else 80))
        try:
            addresses = future.result(timeout=wait_s)
        except FutureTimeout:
            raise DownloadError(
                "timeout",
                f"{where}: resolving {host} took longer than {wait_s:.3g} s "
                "(setting download_connect_timeout_s)",
                original,
            ) from None
        except (OSError, UnicodeError) as exc:
            problem = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise DownloadError(
                "dns_failed", f"{where}: the host name {host} could not be resolved ({problem})", original
            ) from None
        if not addresses:
            raise DownloadError("dns_failed", f"{where}: {host} has no IPv4 or IPv6 address", original)
    if not limits.allow_private:
        for address in addresses:
            if not limits.allows(address):
                kind = _address_kind(address)
                named = f"{host} resolves to {address}, {kind}" if literal is None else f"{address} is {kind}"
                raise DownloadError(
                    "private_address",
                    f"{where}: refused: {named} (settings download_allow_private, download_allow_networks)",
                    original,
                )
    return addresses


# --- fetching ----------------------------------------------------------------------------------------


def _timeout(limits: DownloadLimits, remaining_s: float | None = None) -> httpx.Timeout:
    cap = limits.total_timeout_s if remaining_s is None else remaining_s
    return httpx.Timeout(
        connect=min(limits.connect_timeout_s, cap),
        read=min(limits.read_timeout_s, cap),
        write=min(limits.read_timeout_s, cap),
        pool=cap,
    )


def make_client(limits: DownloadLimits) -> httpx.Client:
    """An httpx client for :func:`download_image`: no redirects followed by httpx, no proxies or netrc
    from the environment, no cookies kept, HTTP/1.1, the timeouts of ``limits``."""
    return httpx.Client(
        follow_redirects=False,
        trust_env=False,
        timeout=_timeout(limits),
        headers={"User-Agent": USER_AGENT},
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),  # accepts and sends none
    )


def _transport_error(
    exc: httpx.HTTPError, limits: DownloadLimits, deadline: float, where: str, original: str
) -> NoReturn:
    if isinstance(exc, httpx.TimeoutException) and time.monotonic() >= deadline - 0.05:
        raise _past_deadline(limits, where, original)  # the wait was cut short by the total deadline
    if isinstance(exc, httpx.ConnectTimeout):
        problem = f"connecting took longer than {limits.connect_timeout_s:g} s"
        raise DownloadError("timeout", f"{where}: {problem} (setting download_connect_timeout_s)", original)
    if isinstance(exc, httpx.PoolTimeout):
        raise DownloadError("timeout", f"{where}: no free connection before the deadline", original)
    if isinstance(exc, httpx.TimeoutException):
        problem = f"the server sent nothing for {limits.read_timeout_s:g} s"
        raise DownloadError("timeout", f"{where}: {problem} (setting download_read_timeout_s)", original)
    detail = str(exc) or type(exc).__name__
    raise DownloadError("connection_failed", f"{where}: connection failed ({detail})", original)


def _send(
    client: httpx.Client,
    url: httpx.URL,
    addresses: Sequence[IPAddress],
    limits: DownloadLimits,
    deadline: float,
    where: str,
    original: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
) -> httpx.Response:
    """Send ``method`` to ``url`` at the first of its (checked) ``addresses`` that accepts a connection;
    the response is streamed (the caller reads or closes it)."""
    host = url.raw_host.decode("ascii")
    sent = {
        "Host": url.netloc.decode("ascii"),
        "Accept": "image/*,*/*;q=0.5",
        "Accept-Encoding": "identity",  # compressed bodies could expand beyond max_bytes per chunk
        **(headers or {}),
    }
    extensions: dict[str, str] = {}
    if url.scheme == "https":
        sent["Connection"] = "close"  # a TLS connection verified for this name serves no other name
        if _ip_literal(host) is None:
            extensions["sni_hostname"] = host
    failure: httpx.HTTPError | None = None
    for address in addresses:
        remaining_s = _remaining_s(deadline, limits, where, original)
        request = client.build_request(
            method,
            url.copy_with(host=str(address)),
            headers=sent,
            content=content,
            extensions=extensions,
            timeout=_timeout(limits, remaining_s),
        )
        try:
            return client.send(request, stream=True, follow_redirects=False)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            failure = exc  # try the next address of the host
        except httpx.HTTPError as exc:
            _transport_error(exc, limits, deadline, where, original)
    assert failure is not None
    _transport_error(failure, limits, deadline, where, original)


def pinned_post(
    client: httpx.Client, url: str, body: bytes, headers: dict[str, str], limits: DownloadLimits
) -> int:
    """POST ``body`` to ``url`` (a callback receiver: untrusted like every outbound URL) at an address
    checked as downloads' are, without following redirects; returns the status code (the response body
    is not read). DownloadError when the URL or its address is refused or the connection fails."""
    deadline = time.monotonic() + limits.total_timeout_s
    where = _shown(url)
    checked = _checked_url(url, where, url)
    addresses = _checked_addresses(checked, limits, deadline, where, url)
    response = _send(client, checked, addresses, limits, deadline, where, url, "POST", headers, body)
    response.close()
    return response.status_code


def _save(
    response: httpx.Response,
    dest_dir: Path,
    limits: DownloadLimits,
    deadline: float,
    where: str,
    original: str,
) -> tuple[Path, str, int, str]:
    """Stream the body of ``response`` into ``dest_dir/<sha256>.<ext>``: (path, sha256, size, format)."""
    limit = f"the limit of {limits.max_bytes / 1e6:g} MB (setting download_max_mb)"
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_bytes:
        raise DownloadError(
            "too_large", f"{where}: declares {int(declared) / 1e6:,.1f} MB, more than {limit}", original
        )
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise DownloadError(
            "not_an_image",
            f"{where}: the server sent {encoding}-encoded content although only identity was accepted",
            original,
        )
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest_dir, prefix=".download-", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        size = 0
        head = b""
        image_format: str | None = None
        with os.fdopen(fd, "wb") as out:
            for chunk in response.iter_raw():  # as received (<= 64 KiB); a chunk_size would buffer
                size += len(chunk)
                if size > limits.max_bytes:
                    raise DownloadError("too_large", f"{where}: larger than {limit}", original)
                if image_format is None:
                    head += chunk
                    if len(head) < _SNIFF_BYTES:
                        continue
                    image_format = _sniffed(head, where, original)
                    chunk = head
                out.write(chunk)
                digest.update(chunk)
                _remaining_s(deadline, limits, where, original)
            if image_format is None:  # the whole body is shorter than the sniffed head
                if not head:
                    raise DownloadError("empty", f"{where}: the server sent an empty body", original)
                image_format = _sniffed(head, where, original)
                out.write(head)
                digest.update(head)
        sha256 = digest.hexdigest()
        final = dest_dir / f"{sha256}.{EXTENSIONS[image_format]}"
        if final.exists():
            tmp.unlink()
        else:
            tmp.chmod(0o644)  # as a file written by the service (mkstemp makes it 0600)
            os.replace(tmp, final)
        return final, sha256, size, image_format
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _sniffed(head: bytes, where: str, original: str) -> str:
    image_format = sniff_image_format(head)
    if image_format is None:
        raise DownloadError(
            "not_an_image",
            f"{where}: not an image (its first bytes look like {_describe_non_image(head)}; "
            f"accepted: {', '.join(EXTENSIONS)})",
            original,
        )
    return image_format


def download_image(client: httpx.Client, url: str, dest_dir: Path, limits: DownloadLimits) -> Downloaded:
    """Download the image at ``url`` into ``dest_dir/<sha256>.<ext>``; DownloadError when it cannot be.

    When that file exists already it is kept and returned (the new copy is discarded). ``client`` should
    come from :func:`make_client` (it may be shared by threads). Failures writing ``dest_dir`` itself
    (disk full, permissions) are not DownloadErrors: they are the service's problem, not the URL's.
    """
    deadline = time.monotonic() + limits.total_timeout_s
    where = _shown(url)
    current = _checked_url(url, where, url)
    first = where = _shown(current)
    visited = {str(current)}
    for hop in range(limits.max_redirects + 1):
        addresses = _checked_addresses(current, limits, deadline, where, url)
        response = _send(client, current, addresses, limits, deadline, where, url)
        try:
            status = response.status_code
            if status in _REDIRECT_STATUSES:
                location = response.headers.get("location")
                if not location:
                    raise DownloadError(
                        "http_status", f"{where}: HTTP {status} redirect without a Location header", url
                    )
                try:
                    joined: str | httpx.URL = current.join(location)
                except httpx.InvalidURL:
                    joined = location
                target = _checked_url(joined, f"{where}: redirect to {_shown(location)}", url)
                if str(target) in visited:
                    raise DownloadError(
                        "redirect_loop", f"{where}: redirect loop back to {_shown(target)}", url
                    )
                if hop == limits.max_redirects:
                    raise DownloadError(
                        "too_many_redirects",
                        f"{first}: more than {limits.max_redirects} redirects "
                        "(setting download_max_redirects)",
                        url,
                    )
                visited.add(str(target))
                current = target
                where = f"{_shown(current)} (redirect {hop + 1} from {first})"
                continue
            if not 200 <= status < 300:
                try:
                    phrase = f" {HTTPStatus(status).phrase}"
                except ValueError:
                    phrase = ""
                raise DownloadError("http_status", f"{where}: the server answered HTTP {status}{phrase}", url)
            path, sha256, size, image_format = _save(response, dest_dir, limits, deadline, where, url)
            return Downloaded(path, sha256, size, image_format, str(current))
        except httpx.HTTPError as exc:
            _transport_error(exc, limits, deadline, where, url)
        finally:
            response.close()
    raise AssertionError("unreachable: the last hop returns or raises")


def _download_or_error(
    client: httpx.Client, url: str, dest_dir: Path, limits: DownloadLimits
) -> Downloaded | DownloadError:
    try:
        return download_image(client, url, dest_dir, limits)
    except DownloadError as exc:
        return exc


def download_all(
    items: Sequence[tuple[K, str]], dest_dir: Path, limits: DownloadLimits, concurrency: int
) -> Iterator[tuple[K, Downloaded | DownloadError]]:
    """Download many URLs, at most ``concurrency`` at a time, yielding ``(key, result)`` as each ends.

    A failed URL yields its DownloadError and never stops the others. Closing the iterator early cancels
    the downloads not yet started and waits for the running ones.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    if not items:
        return
    with (
        make_client(limits) as client,
        ThreadPoolExecutor(
            max_workers=min(concurrency, len(items)), thread_name_prefix="eventlens-download"
        ) as pool,
    ):
        futures: dict[Future[Downloaded | DownloadError], K] = {
            pool.submit(_download_or_error, client, url, dest_dir, limits): key for key, url in items
        }
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            for future in futures:
                future.cancel()
