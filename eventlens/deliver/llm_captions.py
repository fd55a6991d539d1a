"""Captions and tags per person from a vision-language model, once per person, cached and capped.

The model is reached over an OpenAI-compatible chat-completions API (llama.cpp's server, vLLM, Ollama's
``/v1``, or a hosted one): one request per person carries up to ``captions.max_photos_per_person`` of their
best photos, downscaled to ``captions.image_max_px`` (JPEG, base64 data URLs), and asks for JSON in the schema
of :class:`LlmCaption` (``response_format: json_schema``); the answer is validated, and an answer that does
not fit is reported for that person, not used.

- **Where photos go.** The endpoint must be on this machine (loopback) unless ``captions.allow_remote`` is
  set; a private-network endpoint also needs ``download_allow_networks`` (the rule of every outbound URL,
  :mod:`eventlens.addresses`). Checked before the first call.
- **Cost.** A request's input is estimated (prompt characters / 4 + ``input_tokens_per_image`` per photo,
  plus ``max_output_tokens``) and priced with the ``usd_per_1k_*`` settings; the real usage the server
  reports is what is added up. No call is made whose estimate would take the spend past
  ``captions.max_spend_usd``: the remaining persons are reported as ``skipped_spend_cap``.
- **Cache.** Every valid answer is kept in ``OUT/.eventlens/llm-cache/`` under the SHA-256 of (model,
  prompt, image size, the photos' hashes): a re-run with the same photos costs nothing.
- **Failures.** 429 and 5xx answers and lost connections are retried ``captions.max_retries`` times with
  exponential backoff (``Retry-After`` honoured, at most 30 s); other errors end that person's call.
"""

from __future__ import annotations

import base64
import hashlib
import io
import ipaddress
import json
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from eventlens.addresses import address_kind, embedded_ipv4, is_public_address
from eventlens.errors import InputError
from eventlens.imaging.decode import decode_pil, probe
from eventlens.settings import CaptionSettings, Settings

PROMPT_VERSION = 1
PROMPT = (
    "These photos show one person at an event (the same person in every photo; other people may be "
    "visible too: the person is the one whose face is in the box given before each photo, as fractions "
    "x1, y1, x2, y2 of the photo's width and height). Write a short, warm caption (one sentence, at most "
    "30 words) about what this person is doing and the mood, and up to 8 short lower-case tags (scene, "
    "activity, mood, clothing colours). Do not guess names, age, ethnicity or other sensitive traits. "
    'Answer only with JSON: {"caption": "...", "tags": ["..."]}.'
)
MAX_RETRY_AFTER_S = 30.0
#: under OUT/.eventlens
CACHE_DIR = "llm-cache"
MAX_RESPONSE_BYTES = 1_000_000


class LlmCaption(BaseModel):
    """What the model must answer."""

    model_config = ConfigDict(extra="forbid")

    caption: str = Field(min_length=1, max_length=400)
    tags: list[str] = Field(max_length=12)

    def cleaned(self) -> LlmCaption:
        tags = []
        for t in self.tags:
            t = " ".join(t.split()).lower()[:40]
            if t and t not in tags:
                tags.append(t)
        return LlmCaption(caption=" ".join(self.caption.split()), tags=tags)


RESPONSE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {"name": "person_caption", "strict": True, "schema": LlmCaption.model_json_schema()},
}


@dataclass
class PersonResult:
    label: str
    status: str  # called | cached | invalid_answer | failed | skipped_spend_cap | no_photos
    caption: LlmCaption | None = None
    detail: str | None = None


@dataclass
class CaptionReport:
    persons: list[PersonResult] = field(default_factory=list)
    calls: int = 0  # HTTP requests sent, retries included
    cache_hits: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "cache_hits": self.cache_hits,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "estimated_cost_usd": round(self.cost_usd, 6),
            "persons": {
                p.label: {"status": p.status, **({"detail": p.detail} if p.detail else {})}
                for p in self.persons
            },
        }


@dataclass(frozen=True)
class PersonPhoto:
    sha256: str
    path: Path  # where the bytes can be read
    face_box: tuple[float, float, float, float]  # the person's face, x1, y1, x2, y2 as fractions of the frame


@dataclass(frozen=True)
class PersonPhotos:
    label: str
    photos: tuple[PersonPhoto, ...]  # best first


def check_endpoint(
    url: str, captions: CaptionSettings, settings: Settings, resolve: Callable[[str], list[str]] | None = None
) -> httpx.URL:
    """The endpoint URL if photos may be sent there; InputError naming the setting otherwise."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise InputError(f"captions.endpoint_url {url!r} is not a URL ({exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InputError(f"captions.endpoint_url {url!r}: use an http:// or https:// URL with a host")
    host = parsed.host
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            found = (resolve or _resolve)(host)
        except OSError as exc:
            raise InputError(
                f"captions.endpoint_url: the host {host} could not be resolved ({exc})"
            ) from None
        addresses = [ipaddress.ip_address(a) for a in found]
    if not addresses:
        raise InputError(f"captions.endpoint_url: {host} has no address")
    if all(_is_loopback(a) for a in addresses):
        return parsed
    if not captions.allow_remote:
        raise InputError(
            f"captions.endpoint_url {host} is not on this machine: sending photos to another machine needs "
            "the setting captions.allow_remote"
        )
    networks = [ipaddress.ip_network(n, strict=False) for n in settings.download_allow_networks]
    for a in addresses:
        if is_public_address(a) or settings.download_allow_private or any(a in n for n in networks):
            continue
        raise InputError(
            f"captions.endpoint_url: {host} resolves to {a}, {address_kind(a)} "
            "(settings download_allow_networks, download_allow_private)"
        )
    return parsed


def _is_loopback(a: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    inner = embedded_ipv4(a) if isinstance(a, ipaddress.IPv6Address) else None
    return a.is_loopback or (inner is not None and inner.is_loopback)


def _resolve(host: str) -> list[str]:
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)})


def downscaled_jpeg(path: Path, max_px: int, max_megapixels: float) -> bytes:
    """``path`` as a JPEG whose longer side is at most ``max_px`` (decoded once, reduced in the DCT)."""
    header = probe(path, max_megapixels)
    im, _scale = decode_pil(
        path, max_megapixels, min_scale=min(1.0, max_px / max(header.width_px, header.height_px, 1))
    )
    im.thumbnail((max_px, max_px))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _box_text(photo: PersonPhoto, i: int) -> str:
    x1, y1, x2, y2 = (round(v, 3) for v in photo.face_box)
    return f"Photo {i}: the person's face is at ({x1}, {y1}, {x2}, {y2})."


def cache_key(model: str, image_max_px: int, photos: Sequence[PersonPhoto]) -> str:
    """What an answer depends on: model, prompt, image size, the photos and where the person is in them."""
    texts = [_box_text(p, i) for i, p in enumerate(photos, start=1)]
    text = json.dumps([PROMPT_VERSION, model, PROMPT, image_max_px, [p.sha256 for p in photos], texts])
    return hashlib.sha256(text.encode()).hexdigest()


def _estimate_usd(c: CaptionSettings, n_images: int) -> float:
    tokens_in = len(PROMPT) / 4 + n_images * c.input_tokens_per_image
    return (
        tokens_in / 1000 * c.usd_per_1k_input_tokens + c.max_output_tokens / 1000 * c.usd_per_1k_output_tokens
    )


def _retry_after_s(response: httpx.Response | None, attempt: int) -> float:
    if response is not None:
        value = response.headers.get("Retry-After", "")
        try:
            return min(MAX_RETRY_AFTER_S, max(0.0, float(value)))
        except ValueError:
            pass
    return min(MAX_RETRY_AFTER_S, 0.5 * 2.0**attempt)


class _Client:
    def __init__(self, url: httpx.URL, c: CaptionSettings, report: CaptionReport) -> None:
        headers = {"User-Agent": "eventlens (captions)"}
        key = os.environ.get(c.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self.url = url
        self.c = c
        self.report = report
        self.http = httpx.Client(
            timeout=c.timeout_s, headers=headers, follow_redirects=False, trust_env=False
        )

    def close(self) -> None:
        self.http.close()

    def ask(self, photos: Sequence[PersonPhoto], images: Sequence[bytes]) -> dict[str, Any]:
        content: list[dict[str, Any]] = [{"type": "text", "text": PROMPT}]
        for i, (photo, data) in enumerate(zip(photos, images, strict=True), start=1):
            url = "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
            content.append({"type": "text", "text": _box_text(photo, i)})
            content.append({"type": "image_url", "image_url": {"url": url}})
        body = {
            "model": self.c.model,
            "messages": [{"role": "user", "content": content}],
            "max_tokens": self.c.max_output_tokens,
            "temperature": 0,
            "response_format": RESPONSE_FORMAT,
        }
        last = "no answer"
        for attempt in range(self.c.max_retries + 1):
            response: httpx.Response | None = None
            try:
                self.report.calls += 1
                response = self.http.post(self.url, json=body)
                if response.status_code == 200:
                    if len(response.content) > MAX_RESPONSE_BYTES:
                        raise _CallFailed(f"answer of {len(response.content)} bytes is too large")
                    answer: dict[str, Any] = response.json()
                    return answer
                last = f"HTTP {response.status_code}"
                if response.status_code != 429 and response.status_code < 500:
                    raise _CallFailed(f"{last}: {response.text[:200]}")
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            except json.JSONDecodeError:
                raise _CallFailed("the answer is not JSON") from None
            if attempt < self.c.max_retries:
                time.sleep(_retry_after_s(response, attempt))
        raise _CallFailed(f"gave up after {self.c.max_retries + 1} attempts ({last})")


class _CallFailed(Exception):
    pass


def _parse_answer(answer: Mapping[str, Any]) -> tuple[LlmCaption, int, int]:
    try:
        text = answer["choices"][0]["message"]["content"]
        usage = answer.get("usage") or {}
        parsed = LlmCaption.model_validate_json(text).cleaned()
    except (KeyError, IndexError, TypeError) as exc:
        raise ValueError(f"not a chat-completions answer ({type(exc).__name__}: {exc})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(
            f"the model's JSON does not fit the schema: {first['msg']} at {first['loc']}"
        ) from None
    return parsed, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)


def caption_persons(
    persons: Sequence[PersonPhotos], cache_dir: Path, settings: Settings, only_cached: bool = False
) -> CaptionReport:
    """Caption every person (see the module docstring); ``only_cached`` makes no call at all (the export
    uses it to pick up answers a ``captions --llm`` run got)."""
    c = settings.captions
    report = CaptionReport()
    client: _Client | None = None
    try:
        for person in persons:
            photos = person.photos[: c.max_photos_per_person]
            if not photos:
                report.persons.append(PersonResult(person.label, "no_photos"))
                continue
            key = cache_key(c.model, c.image_max_px, photos)
            cached = cache_dir / f"{key}.json"
            if cached.is_file():
                report.cache_hits += 1
                result = LlmCaption.model_validate_json(cached.read_text(encoding="utf-8"))
                report.persons.append(PersonResult(person.label, "cached", result))
                continue
            if only_cached:
                continue
            if report.cost_usd + _estimate_usd(c, len(photos)) > c.max_spend_usd:
                report.persons.append(
                    PersonResult(person.label, "skipped_spend_cap", detail=f"cap {c.max_spend_usd} USD")
                )
                continue
            if client is None:
                client = _Client(check_endpoint(c.endpoint_url, c, settings), c, report)
            images = [downscaled_jpeg(p.path, c.image_max_px, settings.max_image_megapixels) for p in photos]
            try:
                answer = client.ask(photos, images)
                caption, tokens_in, tokens_out = _parse_answer(answer)
            except _CallFailed as exc:
                report.persons.append(PersonResult(person.label, "failed", detail=str(exc)))
                continue
            except ValueError as exc:
                report.persons.append(PersonResult(person.label, "invalid_answer", detail=str(exc)))
                continue
            report.input_tokens += tokens_in
            report.output_tokens += tokens_out
            report.cost_usd += (
                tokens_in / 1000 * c.usd_per_1k_input_tokens + tokens_out / 1000 * c.usd_per_1k_output_tokens
            )
            cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(".tmp")
            tmp.write_text(caption.model_dump_json(), encoding="utf-8")
            os.replace(tmp, cached)
            report.persons.append(PersonResult(person.label, "called", caption))
    finally:
        if client is not None:
            client.close()
    return report
