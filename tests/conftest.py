"""Fixtures shared by the whole suite; helpers live in ``tests/testkit.py``.

Two levels of tests (see ../shared/STYLE.md): most tests run the pipeline on small synthetic photos
analysed by the deterministic fake backend, in seconds; a few, marked ``real_models``, run the real
detector, landmarker and embedder on photos from ``../shared/data`` (skipped when that folder is absent).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings
from testkit import MISSING_DATA, SHARED_DATA, SyntheticEvent, build_event, fake_settings

from eventlens.settings import Settings

# no per-example deadline: a loaded CI machine must not turn a slow example into a failure
hypothesis_settings.register_profile("eventlens", deadline=None)
hypothesis_settings.load_profile("eventlens")


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No EVENTLENS_* variable and no ./eventlens.yaml of the developer leaks into the tests."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("EVENTLENS_"):
                mp.delenv(name)
        mp.chdir(tmp_path_factory.mktemp("cwd"))
        yield


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout."""
    if not SHARED_DATA.is_dir():
        pytest.skip(MISSING_DATA)
    return SHARED_DATA


@pytest.fixture(scope="session")
def edge_dir(shared_data: Path) -> Path:
    path = shared_data / "edge"
    if not path.is_dir():
        pytest.skip(f"{path} is absent: real-photo tests skipped")
    return path


@pytest.fixture(scope="session")
def model_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache of converted model weights for the session (never written to the developer's ~/.cache).

    Model files installed by ``eventlens models install`` (``make test`` runs it) are linked in read-only,
    so real-model tests use them; without them those tests fail with the install hint.
    """
    cache = tmp_path_factory.mktemp("model-cache")
    installed = Path(Settings.model_fields["cache_dir"].default) / "models"
    if installed.is_dir():
        (cache / "models").mkdir()
        for item in installed.iterdir():
            (cache / "models" / item.name).symlink_to(item)
    return cache


@pytest.fixture
def make_settings(model_cache_dir: Path) -> Callable[..., Settings]:
    """``make_settings(**overrides)``: fake-backend settings, one worker, the session's model cache."""

    def make(**overrides: Any) -> Settings:
        return fake_settings(model_cache_dir, **overrides)

    return make


@pytest.fixture
def event(tmp_path: Path) -> SyntheticEvent:
    """A fresh copy of the standard synthetic event (see :func:`testkit.build_event`)."""
    return build_event(tmp_path / "photos")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium under Playwright (``tests/browser.py``), one per session.

    Skipped with the reason when Chromium or Playwright is missing, except where
    ``EVENTLENS_REQUIRE_BROWSER=1`` (``.ci/run`` sets it, after installing Chromium): there a missing
    browser fails the tests.
    """
    from browser import launch_chromium, missing_browser  # noqa: PLC0415 - tests/browser.py

    why = missing_browser()
    if why is not None:
        if os.environ.get("EVENTLENS_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests are required here but cannot run: {why}")
        pytest.skip(why)
    with launch_chromium() as chromium:
        yield chromium
