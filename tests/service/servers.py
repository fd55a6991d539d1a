"""Real servers on 127.0.0.1 for the service's tests: a photo server, a callback receiver, and
``eventlens serve`` itself (uvicorn, in a subprocess, killed and restarted by the tests)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

Handler = Callable[[BaseHTTPRequestHandler], None]
#: the eventlens command with the test backends (detector ``slow``) of tests/plugins
DRIVER = Path(__file__).resolve().parents[1] / "process_driver.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    def __init__(self, handler_cls: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_cls)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class PhotoServer:
    """Serves ``files`` (path -> bytes) and ``routes`` (path -> handler) over HTTP; counts requests."""

    files: dict[str, bytes] = field(default_factory=dict)
    routes: dict[str, Handler] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    _server: _Server | None = None

    def start(self) -> PhotoServer:
        owner = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                owner.hits[self.path] = owner.hits.get(self.path, 0) + 1
                if self.path in owner.routes:
                    owner.routes[self.path](self)
                    return
                body = owner.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = _Server(H)
        return self

    def url(self, path: str) -> str:
        assert self._server is not None
        return self._server.url(path)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class CallbackReceiver:
    """Records POSTs; answers ``fail_first`` of them with HTTP 500."""

    fail_first: int = 0
    received: list[Received] = field(default_factory=list)
    attempts: int = 0
    _server: _Server | None = None
    _event: threading.Event = field(default_factory=threading.Event)

    def start(self) -> CallbackReceiver:
        owner = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                owner.attempts += 1
                if owner.attempts <= owner.fail_first:
                    self.send_error(500)
                    return
                owner.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                owner._event.set()
                self.send_response(204)
                self.end_headers()

        self._server = _Server(H)
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.url("/photo-results")

    def wait(self, timeout_s: float) -> Received:
        if not self._event.wait(timeout_s):
            raise AssertionError(f"no callback within {timeout_s} s ({self.attempts} attempts)")
        return self.received[-1]

    def close(self) -> None:
        if self._server is not None:
            self._server.close()


@dataclass
class ServiceProcess:
    """``eventlens serve`` in a subprocess on a free loopback port."""

    data_dir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    key: str = ""
    log_path: Path | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTLENS_")}
        env.update(self.env)
        return env

    def create_key(self, scope: str = "write", name: str = "tests") -> str:
        out = subprocess.run(
            [
                sys.executable,
                str(DRIVER),
                "keys",
                "create",
                "--name",
                name,
                "--scope",
                scope,
                "--data",
                str(self.data_dir),
            ],
            env=self._env(),
            capture_output=True,
            check=True,
            timeout=60,
        )
        return out.stdout.decode().strip()

    def start(self, ready_timeout_s: float = 120.0) -> ServiceProcess:
        if not self.key:
            self.key = self.create_key()
        self.log_path = self.data_dir.parent / f"serve-{self.port}.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child writes it
        self.proc = subprocess.Popen(
            [sys.executable, str(DRIVER), "serve", "--port", str(self.port), "--data", str(self.data_dir)],
            env=self._env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"eventlens serve exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if self.client().get("/ready").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"eventlens serve not ready in {ready_timeout_s} s:\n{self.log()}")

    def log(self) -> str:
        return (
            self.log_path.read_text(errors="replace")[-4000:]
            if self.log_path and self.log_path.exists()
            else ""
        )

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key or self.key}"}
        return httpx.Client(base_url=self.base, headers=headers, timeout=30, trust_env=False)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()

    def wait_job(self, job_id: str, timeout_s: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        with self.client() as c:
            while time.monotonic() < deadline:
                job = c.get(f"/jobs/{job_id}").json()
                if job["status"] in ("done", "failed"):
                    return dict(job)
                time.sleep(0.2)
        raise AssertionError(f"job {job_id} not finished in {timeout_s} s: {job}\n{self.log()}")


def served(servers: list[Any]) -> Iterator[None]:
    try:
        yield
    finally:
        for s in servers:
            s.close()


SECRET = "test-callback-secret"


def service_env(model_cache_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        "EVENTLENS_DETECTOR": "fake",
        "EVENTLENS_LANDMARKER": "fake",
        "EVENTLENS_EMBEDDER": "fake",
        "EVENTLENS_EYE_MODEL": "fake",
        "EVENTLENS_WORKERS": "1",
        "EVENTLENS_CACHE_DIR": str(model_cache_dir),
        "EVENTLENS_CALLBACK_SECRET": SECRET,
        # the test servers listen on loopback; every other private address stays refused
        "EVENTLENS_DOWNLOAD_ALLOW_NETWORKS": '["127.0.0.0/8"]',
        "EVENTLENS_CALLBACK_BACKOFF_S": "0.2",
    }
    env.update(extra)
    return env
