"""Worker processes that never outlive the run, and never re-run the user's script.

:func:`die_with_parent` runs in each worker at start. On Linux it asks the kernel for ``SIGKILL`` when
the parent dies (``prctl(PR_SET_PDEATHSIG)``), so even a ``kill -9`` of the main process leaves no
worker behind (each holds ~360 MB of models); the kernel sends it when the *thread* that started the
worker ends, so :class:`~eventlens.analysis.pool.AnalysisPool` spawns its workers from a thread of its
own that lives as long as the pool (any thread may then use it, and replace a broken pool). Elsewhere,
or if ``prctl`` is unavailable, a daemon thread checks once a second whether the parent is still the one
that started the worker.

:func:`unguarded_main_hidden` is held while workers are spawned. ``spawn`` re-imports the main module
in each worker so that objects defined there can be unpickled; for a plain script without an
``if __name__ == "__main__":`` guard, that re-import would run the script (and its ``process()`` call)
again in every worker. Such a script's path is hidden from multiprocessing while workers start, so the
workers import only eventlens.
"""

from __future__ import annotations

import ast
import ctypes
import functools
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
WATCH_INTERVAL_S = 1.0


def die_with_parent(parent_pid: int) -> None:
    """End this process when ``parent_pid`` (the process that started it) ends."""
    if sys.platform.startswith("linux") and _set_parent_death_signal(signal.SIGKILL):
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)
        return
    threading.Thread(
        target=_watch_parent, args=(parent_pid,), name="eventlens-parent-watch", daemon=True
    ).start()


def _set_parent_death_signal(signum: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        ok: bool = libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (OSError, AttributeError) as exc:
        log.debug("prctl is unavailable (%s); watching the parent instead", exc)
        return False
    if not ok:
        log.debug("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    return ok


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(WATCH_INTERVAL_S)
    os._exit(1)


@functools.cache
def has_main_guard(path: str) -> bool:
    """Whether the script at ``path`` has a top-level ``if __name__ == "__main__":`` block."""
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return True  # not a readable script: leave multiprocessing's behaviour alone
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare) and len(node.test.ops) == 1:
            sides = [node.test.left, *node.test.comparators]
            names = {s.id for s in sides if isinstance(s, ast.Name)}
            constants = {s.value for s in sides if isinstance(s, ast.Constant)}
            if isinstance(node.test.ops[0], ast.Eq) and names == {"__name__"} and constants == {"__main__"}:
                return True
    return False


@contextmanager
def unguarded_main_hidden() -> Iterator[None]:
    """While held, processes spawned by multiprocessing do not re-import an unguarded main script."""
    main = sys.modules.get("__main__")
    spec_name = getattr(getattr(main, "__spec__", None), "name", None)
    path = getattr(main, "__file__", None)
    if main is None or spec_name is not None or not isinstance(path, str) or has_main_guard(path):
        yield  # `python -m ...`, an interactive session, or a guarded script: re-importing is safe
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path
