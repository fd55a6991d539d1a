"""Per-photo work of the export (face crops, report thumbnails) run in parallel.

On ``executor`` when the caller has one (the analysis worker processes of ``eventlens process``), else on
threads: Pillow decodes and resizes outside the GIL, so threads use every core for this work too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TypeVar

J = TypeVar("J")
R = TypeVar("R")


def map_jobs(fn: Callable[[J], R], jobs: Sequence[J], executor: Executor | None, threads: int) -> list[R]:
    """``[fn(job) for job in jobs]``, in parallel: on ``executor`` (``fn`` and the jobs must pickle) or on
    ``threads`` threads."""
    if not jobs:
        return []
    if executor is not None:
        return list(executor.map(fn, jobs, chunksize=4))
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(jobs)))) as pool:
        return list(pool.map(fn, jobs))
