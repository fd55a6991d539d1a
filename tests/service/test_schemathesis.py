"""Schemathesis against the service's own OpenAPI schema: no request it can make gets a 5xx.

The schema is the app's (``create_app(...).openapi()``, the same one ``/openapi.json`` serves); the
requests go to a real ``eventlens serve`` on loopback (fake face backend), with an admin API key, so that
every route is reached past authentication. Each operation gets a bounded number of generated cases
(``MAX_EXAMPLES``: values within the schema and, as schemathesis does by default, values outside it).
Jobs the generated requests queue run in the background; their URLs point nowhere reachable (refused as
private or failing to resolve), which is fine: only the HTTP answers are judged here.
"""

from __future__ import annotations

import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from servers import ServiceProcess, service_env

from eventlens.service.app import create_app
from eventlens.settings import load_settings

MAX_EXAMPLES = 10
#: status codes of every answer, by operation (read by the last test)
ANSWERS: dict[str, Counter[int]] = defaultdict(Counter)


def _schema() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            Path(tmp), load_settings(detector="fake", landmarker="fake", embedder="fake"), start_workers=False
        )
        return app.openapi()


schema = schemathesis.openapi.from_dict(_schema())


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path) -> Iterator[ServiceProcess]:
    data = tmp_path_factory.mktemp("schemathesis") / "data"
    proc = ServiceProcess(data, service_env(model_cache_dir, EVENTLENS_MAX_QUEUED_JOBS="1000"))
    proc.key = proc.create_key(scope="admin", name="schemathesis")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case, api: ServiceProcess) -> None:
    response = case.call(base_url=api.base, headers={"Authorization": f"Bearer {api.key}"}, timeout=30)
    ANSWERS[f"{case.method} {case.path}"][response.status_code] += 1
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}\n"
        f"{case.as_curl_command()}"
    )


def test_every_operation_was_called_and_some_succeeded() -> None:
    """The run above reached every operation of the schema, and not only with refusals."""
    if not ANSWERS:
        pytest.fail("run with test_no_server_errors (it records the answers this test reads)")
    operations = {f"{m.upper()} {p}" for p, item in _schema()["paths"].items() for m in item}
    assert operations <= set(ANSWERS), f"never called: {sorted(operations - set(ANSWERS))}"
    # operations on an id answer 404 for generated ids; those without one, and POSTs, must also succeed
    succeeded = {op for op, codes in ANSWERS.items() if any(200 <= c < 300 for c in codes)}
    for op in ("GET /health", "GET /ready", "GET /metrics", "GET /galleries"):
        assert op in succeeded, f"{op} never succeeded: {dict(ANSWERS[op])}"
    assert any(op.startswith("POST") for op in succeeded), f"no POST succeeded: {dict(ANSWERS)}"
