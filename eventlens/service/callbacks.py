"""Delivering callbacks: signed POSTs, retried with exponential backoff until ``callback_max_attempts``.

The schedule lives in the catalog (``deliveries``), so a restarted service keeps retrying; the results stay
retrievable with ``GET /events/{event_id}/matches`` whatever happens to the callback. The receiver's URL is
untrusted like every outbound URL: its address is checked as downloads' are (no private addresses unless
``download_allow_private``), redirects are not followed.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx
import sqlalchemy as sa

from eventlens.service.db import now_iso
from eventlens.service.download import DownloadError, DownloadLimits, make_client, pinned_post
from eventlens.service.metrics import ServiceMetrics
from eventlens.service.signing import signed_headers
from eventlens.service.tables import deliveries
from eventlens.settings import Settings

log = logging.getLogger(__name__)
_POLL_S = 0.5


def retry_delay_s(attempts: int, settings: Settings) -> float:
    """Wait after the ``attempts``-th failed delivery: backoff, doubling, capped."""
    return float(
        min(settings.callback_backoff_s * 2 ** max(0, attempts - 1), settings.callback_max_backoff_s)
    )


class Deliverer:
    def __init__(self, engine: sa.Engine, settings: Settings, secret: bytes, metrics: ServiceMetrics) -> None:
        self._engine, self._settings, self._secret, self._metrics = engine, settings, secret, metrics
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="eventlens-callbacks", daemon=True)
        downloads = DownloadLimits.from_settings(settings)
        self._limits = DownloadLimits(
            connect_timeout_s=min(downloads.connect_timeout_s, settings.callback_timeout_s),
            read_timeout_s=settings.callback_timeout_s,
            total_timeout_s=settings.callback_timeout_s,
            allow_private=downloads.allow_private,
            allow_networks=downloads.allow_networks,
        )
        self._client = make_client(self._limits)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._settings.callback_timeout_s + 5)
        self._client.close()

    def _due(self) -> list[sa.Row[Any]]:
        with self._engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(deliveries.c.job_id, deliveries.c.url, deliveries.c.body, deliveries.c.attempts)
                    .where(deliveries.c.state == "pending", deliveries.c.next_attempt_at_s <= time.time())
                    .order_by(deliveries.c.next_attempt_at_s)
                    .limit(20)
                )
            )

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                due = self._due()
                for row in due:
                    if self._stop.is_set():
                        break
                    self._deliver(row.job_id, row.url, row.body, row.attempts)
            except Exception:  # never let the thread die: the next round tries again
                log.exception("callback delivery round failed")
                due = []
            if not due:
                self._stop.wait(_POLL_S)

    def _send(self, url: str, body: bytes) -> str | None:
        """None when the receiver answered 2xx, else what went wrong."""
        headers = signed_headers(self._secret, int(time.time()), body)
        try:
            status = pinned_post(self._client, url, body, headers, self._limits)
        except DownloadError as exc:
            return str(exc)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if 200 <= status < 300:
            return None
        return f"the receiver answered HTTP {status}"

    def _deliver(self, job_id: str, url: str, body: bytes, attempts: int) -> None:
        self._metrics.callback_attempts.inc()
        error = self._send(url, body)
        attempts += 1
        values: dict[str, object] = {"attempts": attempts}
        if error is None:
            values.update(state="delivered", delivered_at=now_iso(), last_error=None)
        else:
            self._metrics.callback_failures.inc()
            gave_up = attempts >= self._settings.callback_max_attempts
            values.update(
                state="failed" if gave_up else "pending",
                last_error=error,
                next_attempt_at_s=time.time() + retry_delay_s(attempts, self._settings),
            )
            log.warning("callback of job %s failed (attempt %d): %s", job_id, attempts, error)
        with self._engine.begin() as conn:
            conn.execute(deliveries.update().where(deliveries.c.job_id == job_id).values(**values))
