"""Real events for the delivery tests: catalogs of the real pipeline on ../shared/data.

A catalog made by the real pipeline beside the shared data (``<shared>/../runs/<name>``, read-only) is
copied into a temporary folder when it is there; otherwise the folder is processed with the real models
(slower). Either way the tests work on their own copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from testkit import SHARED_DATA

from eventlens import pipeline
from eventlens.settings import load_settings

READY_RUNS = SHARED_DATA.resolve().parent.parent / "runs"


def _ready(name: str) -> Path | None:
    run = READY_RUNS / name
    catalog = run / ".eventlens" / "catalog.sqlite"
    return run if catalog.is_file() and (SHARED_DATA / name).is_dir() else None


def real_event(name: str, base: Path, cache_dir: Path) -> Path:
    """An output folder with a real catalog of ``../shared/data/<name>`` (a private copy)."""
    if not (SHARED_DATA / name).is_dir():
        pytest.skip(f"../shared/data/{name} is absent: real-photo tests skipped")
    out = base / name
    ready = _ready(name)
    if ready is not None:
        shutil.copytree(ready, out, symlinks=True)
    else:
        pipeline.process(SHARED_DATA / name, out, load_settings(workers=2, cache_dir=cache_dir))
    return out


@pytest.fixture(scope="session")
def groups_event(tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path) -> Path:
    return real_event("groups", tmp_path_factory.mktemp("deliver-groups"), model_cache_dir)


@pytest.fixture(scope="session")
def identities_event(tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path) -> Path:
    return real_event("identities", tmp_path_factory.mktemp("deliver-identities"), model_cache_dir)
