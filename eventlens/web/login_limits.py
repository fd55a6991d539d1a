"""Login rate limits: failed logins counted per user name and per client address in a sliding window.

Kept in memory (``eventlens serve`` is one process): a restart forgets them, which costs an attacker a
restart per window. Behind a reverse proxy every client has the proxy's address unless uvicorn is told to
trust its ``X-Forwarded-For`` (``--proxy-headers``, ``--forwarded-allow-ips``).
"""

from __future__ import annotations

import threading
import time
from collections import deque


class LoginLimiter:
    def __init__(self, max_per_name: int, max_per_client: int, window_s: float) -> None:
        self._max = {"name": max_per_name, "client": max_per_client}
        self._window_s = window_s
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self._window_s:
            times.popleft()
        return times

    def retry_after_s(self, username: str, client: str, now_s: float | None = None) -> int:
        """Seconds until a login of ``username`` from ``client`` may be tried again; 0 when it may now."""
        now = time.monotonic() if now_s is None else now_s
        wait = 0.0
        with self._lock:
            for kind, value in (("name", username.lower()), ("client", client)):
                times = self._recent((kind, value), now)
                if len(times) >= self._max[kind]:
                    wait = max(wait, times[len(times) - self._max[kind]] + self._window_s - now)
        return int(wait) + 1 if wait > 0 else 0

    def failed(self, username: str, client: str, now_s: float | None = None) -> None:
        now = time.monotonic() if now_s is None else now_s
        with self._lock:
            if len(self._failures) > 100_000:
                self._failures.clear()
            for key in (("name", username.lower()), ("client", client)):
                self._recent(key, now).append(now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(("name", username.lower()), None)
