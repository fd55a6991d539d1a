"""The job runner: ``job_slots`` threads take queued jobs (oldest first, one job per event at a time) and
run them on one shared analysis pool. Each job keeps at most two photos per worker in flight, so jobs
running at once take turns on the workers photo by photo: a large event does not hold up a small one.

Jobs live in the catalog. At start, jobs left ``running`` by a process that died are queued again; the
work they finished (downloads, analysed photos, embedded selfies) is kept and not done again.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from eventlens.analysis.pool import AnalysisPool
from eventlens.errors import EventlensError
from eventlens.service.db import DataDir, now_iso
from eventlens.service.event_job import (
    JobContext,
    JobStopped,
    queue_callback,
    run_collection_job,
    run_event_job,
)
from eventlens.service.metrics import ServiceMetrics
from eventlens.service.tables import jobs
from eventlens.settings import Settings

log = logging.getLogger(__name__)
_IDLE_WAIT_S = 1.0


@dataclass(frozen=True)
class _Claimed:
    job_id: str
    event_id: str
    kind: str
    source: str | None


class JobRunner:
    def __init__(
        self,
        engine: sa.Engine,
        data: DataDir,
        settings: Settings,
        metrics: ServiceMetrics,
        pool: AnalysisPool,
    ) -> None:
        self._engine, self._data, self._settings = engine, data, settings
        self._metrics, self._pool = metrics, pool
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._running: dict[str, str] = {}  # job_id -> event_id
        self._stopping_events: set[str] = set()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        with self._engine.begin() as conn:
            resumed = conn.execute(
                jobs.update().where(jobs.c.status == "running").values(status="queued", step=None)
            ).rowcount
        if resumed:
            log.info("resuming %d unfinished jobs", resumed)
        for i in range(self._settings.job_slots):
            thread = threading.Thread(target=self._slot, name=f"eventlens-job-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop taking jobs; running jobs stop after their current photo and resume at the next start."""
        self._stop.set()
        self.wake()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def stop_event(self, event_id: str, timeout_s: float = 120.0) -> None:
        """Stop the event's running job (its event is about to be deleted) and take none of its jobs."""
        with self._wake:
            self._stopping_events.add(event_id)
            deadline = time.monotonic() + timeout_s
            while event_id in self._running.values():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise EventlensError(f"the job of event {event_id!r} did not stop in {timeout_s:.0f} s")
                self._wake.wait(left)

    def release_event(self, event_id: str) -> None:
        with self._wake:
            self._stopping_events.discard(event_id)

    def _claim(self) -> _Claimed | None:
        with self._wake:
            busy = set(self._running.values()) | self._stopping_events
            with self._engine.begin() as conn:
                query = sa.select(jobs.c.job_id, jobs.c.event_id, jobs.c.kind, jobs.c.source).where(
                    jobs.c.status == "queued"
                )
                if busy:
                    query = query.where(jobs.c.event_id.not_in(busy))
                row = conn.execute(query.order_by(jobs.c.created_at_s, jobs.c.job_id).limit(1)).first()
                if row is None:
                    return None
                conn.execute(
                    jobs.update()
                    .where(jobs.c.job_id == row.job_id)
                    .values(status="running", started_at=now_iso(), attempts=jobs.c.attempts + 1)
                )
            self._running[row.job_id] = row.event_id
            return _Claimed(row.job_id, row.event_id, row.kind, row.source)

    def _slot(self) -> None:
        while not self._stop.is_set():
            claimed = self._claim()
            if claimed is None:
                with self._wake:
                    self._wake.wait(_IDLE_WAIT_S)
                continue
            try:
                self._run(claimed)
            finally:
                with self._wake:
                    self._running.pop(claimed.job_id, None)
                    self._wake.notify_all()

    def _should_stop(self, event_id: str) -> bool:
        return self._stop.is_set() or event_id in self._stopping_events

    def _run(self, job: _Claimed) -> None:
        job_id, event_id = job.job_id, job.event_id
        ctx = JobContext(
            self._engine,
            self._data,
            self._settings,
            self._metrics,
            self._pool,
            job_id,
            event_id,
            lambda: self._should_stop(event_id),
        )
        started = time.perf_counter()
        try:
            if job.kind == "collection":
                run_collection_job(ctx, Path(job.source or ""))
            else:
                run_event_job(ctx)
            log.info("job %s (event %s) done in %.1f s", job_id, event_id, time.perf_counter() - started)
        except JobStopped:
            if event_id not in self._stopping_events:
                ctx.set(status="queued", step=None)  # resumes at the next start
        except Exception as exc:  # a job that fails never takes the service down
            log.exception("job %s (event %s) failed", job_id, event_id)
            message = (
                str(exc)
                if isinstance(exc, EventlensError)
                else f"internal error: {type(exc).__name__}: {exc}"
            )
            ctx.set(status="failed", step=None, finished_at=now_iso(), error=message)
            try:
                if job.kind == "match":
                    queue_callback(ctx, "failed")
            except Exception:
                log.exception("could not queue the callback of failed job %s", job_id)
