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
import signal
import threading
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from eventlens.analysis import lifeline
from eventlens.analysis.photo import Models, PhotoAnalysis, analyze_photo
from eventlens.backends.registry import (
    check_model_files,
    create_detector,
    create_embedder,
    create_eye_model,
    create_landmarker,
)
from eventlens.errors import EventlensError, ModelError
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
_worker_error: EventlensError | None = None


def _init_worker(settings: Settings, parent_pid: int) -> None:
    """Worker start: die with the parent, leave Ctrl-C to the parent, load the models once.

    A model that fails to load is kept as the worker's error and raised by every call, so the parent
    reports it as one line instead of each worker printing an initializer traceback."""
    global _worker_models, _worker_settings, _worker_error
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the workers
    lifeline.die_with_parent(parent_pid)
    _worker_settings = settings
    try:
        _worker_models = build_models(settings, load=True)
    except EventlensError as exc:
        _worker_error = exc
    except Exception as exc:  # noqa: BLE001 - any load failure becomes one ModelError line in the parent
        _worker_error = ModelError(f"the models failed to load in a worker: {type(exc).__name__}: {exc}")


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
    _ready()
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
    if _worker_error is not None:
        raise _worker_error
    return _worker_models is not None


#: a photo retried alone is resubmitted this often when other threads' restarts replaced its pool
_RETRY_ROUNDS = 3


class _PoolBroke(Exception):
    """A worker died; ``in_flight`` are the tasks whose results were lost with it."""

    def __init__(self, in_flight: list[PhotoTask]) -> None:
        super().__init__(f"{len(in_flight)} photos in flight")
        self.in_flight = in_flight


class AnalysisPool:
    """Worker processes with the models loaded, started ahead of use (e.g. while ingest hashes files).

    Use as a context manager; :meth:`map` analyses tasks. Workers are spawned (not forked), run their
    numeric libraries single-threaded, and die with this process (:mod:`eventlens.analysis.lifeline`).
    A worker that dies (e.g. killed by the OOM killer) costs at most its photo: the pool is restarted and
    the photos that were in flight are retried one at a time; a photo that kills a worker again is
    rejected. Leaving the ``with`` block on an exception (Ctrl-C, SIGTERM) stops the workers at once.

    Several threads may :meth:`map` at once (the service's concurrent jobs share one pool). A dead worker
    breaks the pool for all of them; the first to notice replaces it, under a lock, and the others see
    that the pool they used was already replaced (its generation) and go on with the new one.
    """

    def __init__(self, settings: Settings, workers: int) -> None:
        check_model_files(settings)  # one clear line now rather than an error in every worker
        self._settings = settings
        self._workers = workers
        self._lock = threading.Lock()  # guards replacing the pool: _start, _restart, _generation
        self._generation = 0  # how many times the pool was replaced
        self._last_death = "cause unknown"
        self._env = worker_environment(settings.huge_pages)
        self._env.__enter__()
        # Workers are spawned from one thread that lives as long as the pool: the kernel's parent-death
        # signal (lifeline) fires when the *thread* that started a worker ends, so a replacement pool
        # started from a job thread of the service would die with that job.
        self._spawner = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="eventlens-pool")
        # Worker processes start on submit and read the thread variables when numpy/OpenMP load, so they
        # stay set for the pool's whole life; this process's own libraries are already initialised.
        try:
            self._spawn()
        except BaseException:
            self._spawner.shutdown(wait=True)
            self._env.__exit__(None, None, None)
            raise

    def _spawn(self) -> None:
        """:meth:`_start`, on the pool's own thread."""
        self._spawner.submit(self._start).result()

    def _start(self) -> None:
        self._pool = cf.ProcessPoolExecutor(
            max_workers=self._workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self._settings, os.getpid()),
        )
        with lifeline.unguarded_main_hidden():
            # each submit spawns one worker, which loads its models now
            self._warm = [self._pool.submit(_ready) for _ in range(self._workers)]
        # ProcessPoolExecutor has no public API for its processes; their exit codes say how a worker died
        self._processes: list[multiprocessing.process.BaseProcess] = list(self._pool._processes.values())

    def __enter__(self) -> AnalysisPool:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(stop_now=exc_type is not None)

    def close(self, stop_now: bool = False) -> None:
        """Shut the workers down; with ``stop_now`` (an interrupted run) without finishing their photos."""
        if stop_now:
            self._kill_workers()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._spawner.shutdown(wait=True)
        self._env.__exit__(None, None, None)

    def _kill_workers(self) -> None:
        for process in self._processes:
            if process.exitcode is None:
                process.kill()

    @property
    def executor(self) -> cf.Executor:
        """The worker processes, for other per-photo work of the run (e.g. face crops at export)."""
        return self._pool

    @property
    def ready(self) -> bool:
        """Every worker has loaded its models (without waiting)."""
        return all(f.done() and f.exception() is None for f in self._warm)

    @property
    def worker_pids(self) -> list[int]:
        return [p.pid for p in self._processes if p.pid is not None]

    def _wait_ready(self, restart_once: bool = True) -> None:
        """Wait until every worker has loaded its models; a worker that dies meanwhile (e.g. killed by
        the OOM killer) is replaced once, and a second death is a ModelError."""
        with self._lock:
            warm, generation = self._warm, self._generation
        try:
            for future in warm:
                future.result()  # a worker that failed to load its models raises that error here
            return
        except (BrokenProcessPool, cf.CancelledError):
            pass
        with self._lock:
            replaced = generation != self._generation  # by another thread meanwhile: wait for that one
            if not replaced:
                self._pool.shutdown(wait=True, cancel_futures=True)  # joins the processes: exit codes known
                how = self._how_a_worker_died()
                if not restart_once:
                    raise ModelError(
                        f"a worker died while loading the models ({how}); "
                        "try fewer --workers if memory is short"
                    ) from None
                log.warning("a worker died while loading the models (%s); starting the workers again", how)
                self._spawn()
                self._generation += 1
        self._wait_ready(restart_once=restart_once and replaced)

    def _how_a_worker_died(self) -> str:
        codes = [p.exitcode for p in self._processes if p.exitcode not in (None, 0)]
        # a dead worker makes the executor terminate the others (SIGTERM): report the first one's cause
        own = [c for c in codes if c != -signal.SIGTERM] or codes
        if not own:
            return "cause unknown"
        code = own[0]
        assert code is not None
        return f"killed by signal {-code}" if code < 0 else f"exit code {code}"

    def _restart(self, broken: int) -> str:
        """Replace the pool of generation ``broken`` (broken by a dead worker) unless another thread has
        already done so; returns how the dead worker died."""
        with self._lock:
            if broken == self._generation:
                self._pool.shutdown(wait=True, cancel_futures=True)  # joins the processes: exit codes known
                self._last_death = self._how_a_worker_died()
                self._spawn()
                self._generation += 1
        self._wait_ready()
        return self._last_death

    def _current(self) -> tuple[cf.Executor, int]:
        with self._lock:
            return self._pool, self._generation

    def map(self, tasks: Iterable[PhotoTask]) -> Iterator[PhotoAnalysis]:
        """One result per task, in completion order; at most two tasks per worker in flight."""
        self._wait_ready()
        remaining = iter(tasks)
        while True:
            pool, generation = self._current()
            try:
                yield from _bounded_map(pool, remaining, max_in_flight=2 * self._workers)
                return
            except _PoolBroke as broke:
                how = self._restart(generation)
                log.warning(
                    "a worker died (%s); retrying its %d photos in flight one at a time",
                    how,
                    len(broke.in_flight),
                )
                for task in broke.in_flight:
                    yield self._retry_alone(task)

    def _retry_alone(self, task: PhotoTask) -> PhotoAnalysis:
        """``task`` alone on the pool; a photo whose worker dies again is rejected. (With several threads
        mapping, a worker killed by another thread's photo at that moment rejects this one too: rare.)"""
        for _ in range(_RETRY_ROUNDS):
            pool, generation = self._current()
            try:
                return pool.submit(_run_in_worker, task).result()
            except BrokenProcessPool:
                how = self._restart(generation)
                log.warning("%s crashed a worker twice (%s); rejected", task.path, how)
                return PhotoAnalysis(task.sha256, rejected_reason=f"analysis crashed the worker ({how})")
            except (RuntimeError, cf.CancelledError):  # replaced by another thread: the photo never ran
                self._wait_ready()
        return PhotoAnalysis(task.sha256, rejected_reason="analysis failed: the worker pool kept restarting")


def analyze_many(
    tasks: Iterable[PhotoTask],
    settings: Settings,
    workers: int,
    models: Models | None = None,
    pool: AnalysisPool | None = None,
) -> Generator[PhotoAnalysis]:
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
    pool: cf.Executor, tasks: Iterator[PhotoTask], max_in_flight: int
) -> Iterator[PhotoAnalysis]:
    """Results of ``tasks`` in completion order; raises :class:`_PoolBroke` with the tasks whose results
    were lost when a worker died or another thread replaced the pool (results that arrived before are
    yielded first)."""
    pending: dict[cf.Future[PhotoAnalysis], PhotoTask] = {}
    while True:
        while len(pending) < max_in_flight:
            task = next(tasks, None)
            if task is None:
                break
            try:
                pending[pool.submit(_run_in_worker, task)] = task
            except RuntimeError:  # BrokenProcessPool, or shut down by another thread replacing it
                raise _PoolBroke([*pending.values(), task]) from None
        if not pending:
            return
        done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
        lost = []
        for future in done:
            task = pending.pop(future)
            try:
                result = future.result()
            except (BrokenProcessPool, cf.CancelledError):  # a worker died / another thread's restart
                lost.append(task)
                continue
            yield result
        if lost:
            raise _PoolBroke([*lost, *pending.values()])
