"""Running :func:`analyze_photo` over many photos: in this process, or in a pool of worker processes.

Each worker builds its backends and loads their weights once, at start, and runs single-
threaded numeric libraries (``OMP_NUM_THREADS=1``, ``OPENBLAS_NUM_THREADS=1``) so that N workers use N
cores without oversubscription. Workers are started with ``spawn`` so none inherits open database
connections or threads. At most ``2 * workers`` photos are in flight, bounding memory.

With ``huge_pages`` (the default) workers also start with ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1``:
glibc's malloc then asks the kernel for transparent huge pages (2 MB) for its heap, where the kernel's
``transparent_hugepage`` mode is ``madvise`` or ``always`` (elsewhere it changes nothing). dlib's 68-point
model is ~120,000 small heap blocks (~65 MB) that every face walks in random order; with 4 KB pages
almost every step is a TLB miss. Measured on 60 photos of the 1000-photo event: 68 landmarks 1.37
instead of 1.9 ms per face (BENCHMARKS.md section 6).
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventlens.analysis.photo import Models, PhotoAnalysis, analyze_photo
from eventlens.backends.registry import create_detector, create_embedder, create_eye_model, create_landmarker
from eventlens.errors import ModelError
from eventlens.settings import Settings

log = logging.getLogger(__name__)
_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_TUNABLES = "GLIBC_TUNABLES"
HUGE_PAGES_TUNABLE = "glibc.malloc.hugetlb=1"


@dataclass(frozen=True)
class PhotoTask:
    sha256: str
    path: Path


@contextmanager
def worker_environment(huge_pages: bool = True) -> Iterator[None]:
    """Processes started inside run OpenMP/OpenBLAS/MKL with one thread each (N processes use N cores)
    and, with ``huge_pages``, glibc's malloc on transparent huge pages (see the module's docstring)."""
    saved = {k: os.environ.get(k) for k in (*_THREAD_ENV, _TUNABLES)}
    os.environ.update({k: "1" for k in _THREAD_ENV})
    tunables = os.environ.get(_TUNABLES, "")
    if huge_pages and "glibc.malloc.hugetlb" not in tunables:
        os.environ[_TUNABLES] = f"{tunables}:{HUGE_PAGES_TUNABLE}" if tunables else HUGE_PAGES_TUNABLE
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def build_models(settings: Settings, load: bool = False) -> Models:
    """The three backends named by ``settings``; with ``load``, their weights are loaded now."""
    models = Models(
        detector=create_detector(settings.detector, settings),
        landmarker=create_landmarker(settings.landmarker, settings),
        embedder=create_embedder(settings.embedder, settings),
        eyes=create_eye_model(settings.eye_model, settings),
    )
    if load:
        for backend in models.all():
            backend.load()
    return models


_worker_models: Models | None = None
_worker_settings: Settings | None = None


def _init_worker(settings_values: dict[str, Any]) -> None:
    global _worker_models, _worker_settings
    _worker_settings = Settings(**settings_values)
    _worker_models = build_models(_worker_settings, load=True)


def _run(models: Models, settings: Settings, task: PhotoTask) -> PhotoAnalysis:
    return analyze_photo(
        task.sha256,
        task.path,
        models,
        min_face_px=settings.min_face_px,
        min_det_score=settings.min_det_score,
        max_megapixels=settings.max_image_megapixels,
        embed_min_face_px=settings.cluster_min_face_px,
        measure=settings.measure_faces,
    )


def _run_in_worker(task: PhotoTask) -> PhotoAnalysis:
    assert _worker_models is not None and _worker_settings is not None, "worker not initialised"
    return _guarded(_worker_models, _worker_settings, task)


def _guarded(models: Models, settings: Settings, task: PhotoTask) -> PhotoAnalysis:
    """The per-photo boundary: an unexpected failure on one photo rejects that photo, not the run.

    Expected problems (damaged files) are already turned into reasons by ``analyze_photo``; anything that
    reaches this point is logged with its traceback, and the photo stays visible in ``rejected.csv``.
    """
    try:
        return _run(models, settings, task)
    except ModelError:
        raise  # a missing or broken model fails the run: every photo would fail the same way
    except Exception as exc:  # noqa: BLE001 - see docstring
        log.exception("analysis of %s failed", task.path)
        return PhotoAnalysis(task.sha256, rejected_reason=f"analysis failed: {type(exc).__name__}: {exc}")


def _ready() -> bool:
    return _worker_models is not None


class AnalysisPool:
    """Worker processes with the models loaded, started ahead of use (e.g. while ingest hashes files).

    Use as a context manager; :meth:`map` analyses tasks. Workers are spawned (not forked) and run their
    numeric libraries single-threaded.
    """

    def __init__(self, settings: Settings, workers: int) -> None:
        self._settings = settings
        self._workers = workers
        self._env = worker_environment(settings.huge_pages)
        self._env.__enter__()
        # Worker processes start on submit and read the thread variables when numpy/OpenMP load, so they
        # stay set for the pool's whole life; this process's own libraries are already initialised.
        self._pool = cf.ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(settings.model_dump(),),
        )
        self._warm = [self._pool.submit(_ready) for _ in range(workers)]  # spawns and loads models now

    def __enter__(self) -> AnalysisPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._env.__exit__(None, None, None)

    @property
    def executor(self) -> cf.Executor:
        """The worker processes, for other per-photo work of the run (e.g. face crops at export)."""
        return self._pool

    def map(self, tasks: Iterable[PhotoTask]) -> Iterator[PhotoAnalysis]:
        """One result per task, in completion order; at most two tasks per worker in flight."""
        for future in self._warm:
            future.result()  # a worker that failed to start (e.g. a missing model) fails here, loudly
        yield from _bounded_map(self._pool, tasks, max_in_flight=2 * self._workers)


def analyze_many(
    tasks: Iterable[PhotoTask],
    settings: Settings,
    workers: int,
    models: Models | None = None,
    pool: AnalysisPool | None = None,
) -> Iterator[PhotoAnalysis]:
    """Yield one :class:`PhotoAnalysis` per task, in completion order: in this process when ``workers``
    is 1, else in ``pool`` (or a pool of ``workers`` processes made for the call)."""
    if pool is not None:
        yield from pool.map(tasks)
        return
    if workers <= 1:
        local = models or build_models(settings)
        for backend in local.all():
            backend.load()
        for task in tasks:
            yield _guarded(local, settings, task)
        return
    with AnalysisPool(settings, workers) as own:
        yield from own.map(tasks)


def _bounded_map(
    pool: cf.Executor, tasks: Iterable[PhotoTask], max_in_flight: int
) -> Iterator[PhotoAnalysis]:
    pending: set[cf.Future[PhotoAnalysis]] = set()
    it = iter(tasks)
    exhausted = False
    while True:
        while not exhausted and len(pending) < max_in_flight:
            try:
                pending.add(pool.submit(_run_in_worker, next(it)))
            except StopIteration:
                exhausted = True
        if not pending:
            return
        done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
        for future in done:
            yield future.result()
