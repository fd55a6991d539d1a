"""Captions from a vision-language model, end to end against a local stand-in of the chat-completions API.

The stand-in (``ChatServer``, a real HTTP server on 127.0.0.1) checks every request the way a real server
would read it: the model, one text part and the photos as JPEG data URLs (decoded: each is no larger than
``captions.image_max_px``), and a JSON schema asked for. It can answer 429 and 500 first, report large
token counts, or answer with text that is not the JSON asked for.
"""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image
from testkit import SyntheticEvent, read_metadata

from eventlens import pipeline
from eventlens.cli import main
from eventlens.deliver.llm_captions import caption_persons, check_endpoint
from eventlens.errors import InputError
from eventlens.export.layout import load_for_captions
from eventlens.settings import Settings

IMAGE_MAX_PX = 64


@dataclass
class ChatServer:
    """Scripted answers: ``failures`` (status codes) come first, then valid answers (or ``invalid``)."""

    failures: list[int] = field(default_factory=list)
    invalid: bool = False
    prompt_tokens_per_image: int = 100
    requests: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    url: str = ""

    def answer(self, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        self.requests.append({"body": body, "headers": headers})
        if self.failures:
            status = self.failures.pop(0)
            return status, {"Retry-After": "0"}, b'{"error": "busy"}'
        images = self._check(body)
        content = (
            "Sorry, I cannot do JSON."
            if self.invalid
            else json.dumps(
                {"caption": f"Someone in {len(images)} photos.", "tags": ["Party ", "party", "smiling"]}
            )
        )
        answer = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": self.prompt_tokens_per_image * len(images), "completion_tokens": 20},
        }
        return 200, {}, json.dumps(answer).encode()

    def _check(self, body: dict[str, Any]) -> list[Image.Image]:
        if body.get("model") != "test-vlm":
            self.problems.append(f"model {body.get('model')!r}")
        if body.get("response_format", {}).get("type") != "json_schema":
            self.problems.append("no json_schema response_format")
        (message,) = body["messages"]
        parts = message["content"]
        if parts[0]["type"] != "text":
            self.problems.append("the first part is not the prompt")
        images = []
        for text_part, part in zip(parts[1::2], parts[2::2], strict=True):
            if not text_part["text"].startswith(f"Photo {len(images) + 1}: the person's face is at ("):
                self.problems.append(f"no face box before photo {len(images) + 1}")
            url = part["image_url"]["url"]
            prefix = "data:image/jpeg;base64,"
            if not url.startswith(prefix):
                self.problems.append("an image is not a JPEG data URL")
                continue
            im = Image.open(io.BytesIO(base64.b64decode(url[len(prefix) :])))
            im.load()
            if max(im.size) > IMAGE_MAX_PX:
                self.problems.append(f"an image of {im.size} was not downscaled")
            images.append(im)
        return images


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    state = ChatServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            if self.path != "/v1/chat/completions":
                state.problems.append(f"path {self.path}")
            status, headers, data = state.answer(body, dict(self.headers))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}/v1/chat/completions"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def processed(event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]) -> Path:
    out = tmp_path / "out"
    pipeline.process(event.root, out, make_settings())
    return out


def _settings(make_settings: Callable[..., Settings], server: ChatServer, **captions: Any) -> Settings:
    values = {
        "endpoint_url": server.url,
        "model": "test-vlm",
        "image_max_px": IMAGE_MAX_PX,
        "max_photos_per_person": 2,
        **captions,
    }
    return make_settings(captions=values)


def _run(out: Path, settings: Settings) -> Any:
    event = pipeline.Event.open(out, settings, create=False)
    try:
        persons, cache_dir = load_for_captions(event.engine, out, settings)
        return persons, caption_persons(persons, cache_dir, settings)
    finally:
        event.close()


def test_one_call_per_person_with_retries_then_cached(
    processed: Path,
    chat_server: ChatServer,
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EVENTLENS_LLM_API_KEY", "sk-test-123")
    chat_server.failures = [429, 500]
    settings = _settings(make_settings, chat_server)
    persons, report = _run(processed, settings)
    assert [p.label for p in persons] == ["person_001", "person_002", "person_003"]
    assert {p.label: p.status for p in report.persons} == dict.fromkeys(
        ["person_001", "person_002", "person_003"], "called"
    )
    assert chat_server.problems == []
    assert report.calls == len(chat_server.requests) == 3 + 2  # one per person, and the two retried answers
    assert all(r["headers"].get("Authorization") == "Bearer sk-test-123" for r in chat_server.requests)
    sent = [(len(r["body"]["messages"][0]["content"]) - 1) // 2 for r in chat_server.requests[2:]]
    assert sent == [min(2, len(p.photos)) for p in persons]
    assert report.input_tokens == 100 * sum(sent) and report.output_tokens == 60
    assert report.persons[0].caption is not None and report.persons[0].caption.tags == ["party", "smiling"]

    again_persons, again = _run(processed, settings)
    assert again.calls == 0 and again.cache_hits == 3 and len(chat_server.requests) == 5
    assert [p.status for p in again.persons] == ["cached"] * 3


def test_cli_writes_the_answers_into_metadata_beside_the_offline_tags(
    processed: Path, chat_server: ChatServer, model_cache_dir: Path
) -> None:
    env = {
        "EVENTLENS_DETECTOR": "fake",
        "EVENTLENS_LANDMARKER": "fake",
        "EVENTLENS_EMBEDDER": "fake",
        "EVENTLENS_EYE_MODEL": "fake",
        "EVENTLENS_WORKERS": "1",
        "EVENTLENS_CACHE_DIR": str(model_cache_dir),
        "EVENTLENS_CAPTIONS__ENDPOINT_URL": chat_server.url,
        "EVENTLENS_CAPTIONS__MODEL": "test-vlm",
        "EVENTLENS_CAPTIONS__IMAGE_MAX_PX": str(IMAGE_MAX_PX),
    }
    result = CliRunner().invoke(main, ["captions", "--out", str(processed), "--llm", "--json"], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["llm"]["calls"] == 3 and chat_server.problems == []
    meta = read_metadata(processed / "person_001")
    assert meta["llm_caption"].startswith("Someone in ") and meta["llm_tags"] == ["party", "smiling"]
    assert meta["caption"].startswith("person_001 appears in 4 photos") and meta["tags"]
    assert report["persons"]["person_001"]["llm_caption"] == meta["llm_caption"]
    # a plain export keeps them (from the cache), with no call
    rerun = CliRunner().invoke(main, ["export", "--out", str(processed), "-q"], env=env)
    assert rerun.exit_code == 0, rerun.output
    assert read_metadata(processed / "person_001")["llm_caption"] == meta["llm_caption"]
    assert len(chat_server.requests) == 3


def test_spend_cap_stops_calls(
    processed: Path, chat_server: ChatServer, make_settings: Callable[..., Settings]
) -> None:
    # each answer reports 2,000 input tokens per image at 1 USD per 1,000: the first call spends >= 2 USD
    chat_server.prompt_tokens_per_image = 2000
    settings = _settings(
        make_settings, chat_server, usd_per_1k_input_tokens=1.0, max_spend_usd=3.0, input_tokens_per_image=400
    )
    _persons, report = _run(processed, settings)
    assert [p.status for p in report.persons] == ["called", "skipped_spend_cap", "skipped_spend_cap"]
    assert len(chat_server.requests) == 1 and report.cost_usd >= 2.0
    assert report.as_dict()["estimated_cost_usd"] == report.cost_usd


def test_an_answer_that_is_not_the_schema_is_reported_per_person(
    processed: Path, chat_server: ChatServer, make_settings: Callable[..., Settings]
) -> None:
    chat_server.invalid = True
    settings = _settings(make_settings, chat_server)
    _persons, report = _run(processed, settings)
    assert [p.status for p in report.persons] == ["invalid_answer"] * 3
    assert all("schema" in (p.detail or "") or "JSON" in (p.detail or "") for p in report.persons)
    assert not list((processed / ".eventlens" / "llm-cache").glob("*.json"))


def test_a_server_that_keeps_failing_is_reported_not_raised(
    processed: Path, chat_server: ChatServer, make_settings: Callable[..., Settings]
) -> None:
    chat_server.failures = [503] * 20
    settings = _settings(make_settings, chat_server, max_retries=1)
    _persons, report = _run(processed, settings)
    assert [p.status for p in report.persons] == ["failed"] * 3
    assert "HTTP 503" in (report.persons[0].detail or "") and len(chat_server.requests) == 6


def test_photos_stay_on_this_machine_unless_allowed(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    c = settings.captions
    remote = "https://vlm.example.com/v1/chat/completions"
    with pytest.raises(InputError, match="captions.allow_remote"):
        check_endpoint(remote, c, settings, resolve=lambda host: ["93.184.216.34"])
    with pytest.raises(InputError, match="captions.allow_remote"):
        check_endpoint("http://10.1.2.3:8080/v1/chat/completions", c, settings)
    assert str(
        check_endpoint("http://localhost:8080/v1", c, settings, resolve=lambda h: ["127.0.0.1", "::1"])
    )
    allowed = make_settings(captions={"allow_remote": True})
    assert (
        check_endpoint(remote, allowed.captions, allowed, resolve=lambda host: ["93.184.216.34"]).host
        == "vlm.example.com"
    )
    with pytest.raises(InputError, match="download_allow_networks"):
        check_endpoint("http://10.1.2.3:8080/v1", allowed.captions, allowed)
    lan = make_settings(captions={"allow_remote": True}, download_allow_networks=["10.0.0.0/8"])
    assert check_endpoint("http://10.1.2.3:8080/v1", lan.captions, lan).port == 8080
    with pytest.raises(InputError, match="http"):
        check_endpoint("file:///etc/passwd", c, settings)
