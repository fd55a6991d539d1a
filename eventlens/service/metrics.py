"""Prometheus metrics of one service process (``GET /metrics``), in a registry of their own.

Jobs by state are read from the catalog at scrape time, so they are right after a restart; the counters
count what this process did since it started.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

JOB_STATES = ("queued", "running", "done", "failed")


class _JobsCollector(Collector):
    def __init__(self, count_jobs: Callable[[], dict[str, int]]) -> None:
        self._count_jobs = count_jobs

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily("eventlens_jobs", "Jobs in the catalog, by state.", labels=["state"])
        counts = self._count_jobs()
        for state in JOB_STATES:
            family.add_metric([state], counts.get(state, 0))
        yield family


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.photos_analysed = Counter(
            "eventlens_photos_analysed", "Event photos analysed.", registry=self.registry
        )
        self.faces_found = Counter(
            "eventlens_faces_found", "Faces found in event photos.", registry=self.registry
        )
        self.download_failures = Counter(
            "eventlens_download_failures",
            "Downloads that failed, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.callback_attempts = Counter(
            "eventlens_callback_attempts", "Callback deliveries attempted.", registry=self.registry
        )
        self.callback_failures = Counter(
            "eventlens_callback_failures", "Callback deliveries that failed.", registry=self.registry
        )
        self.request_latency = Histogram(
            "eventlens_request_duration_seconds",
            "Time to answer a request, by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.gallery_searches = Counter(
            "eventlens_gallery_searches", "Gallery searches answered.", registry=self.registry
        )
        self.thumbnails_made = Counter(
            "eventlens_thumbnails_made",
            "Thumbnails made for the web UI (a cached one is never made again).",
            registry=self.registry,
        )

    def count_jobs_with(self, count_jobs: Callable[[], dict[str, int]]) -> None:
        self.registry.register(_JobsCollector(count_jobs))
