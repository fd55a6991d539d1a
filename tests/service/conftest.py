"""Fixtures of the service's tests: a callback receiver and ``eventlens serve`` on loopback with the
fake face backend (tests/testkit.py), so that who is in which photo is known exactly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import CallbackReceiver, ServiceProcess, service_env


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    r = CallbackReceiver().start()
    try:
        yield r
    finally:
        r.close()


@pytest.fixture
def service(tmp_path: Path, model_cache_dir: Path) -> Iterator[ServiceProcess]:
    proc = ServiceProcess(tmp_path / "data", service_env(model_cache_dir))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
