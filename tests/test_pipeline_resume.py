"""Test-only backends added for one test through ``testkit.add_test_backends``.

Resumability: an analysis interrupted after some photos keeps them, and the next run completes only the
remaining photos with the same final output as an uninterrupted run. Model changes: embeddings of another
model are never compared with the stored ones."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from testkit import EVENT_PHOTOS, SyntheticEvent, add_test_backends, snapshot

from eventlens import pipeline
from eventlens.backends.base import ModelInfo
from eventlens.backends.fake import FakeDetector, FakeEmbedder
from eventlens.catalog.db import default_url, open_catalog
from eventlens.catalog.schema import photos, runs
from eventlens.cli import main
from eventlens.detections import Detections
from eventlens.settings import Settings

INTERRUPT_AFTER = 3
_MODULE = "eventlens_test_interrupting_backend"


class InterruptingDetector(FakeDetector):
    """The fake detector (same model key, so its results count as the fake's), pressing Ctrl-C on the
    (INTERRUPT_AFTER + 1)-th photo."""

    calls = 0

    def detect(self, rgb: np.ndarray) -> Detections:
        type(self).calls += 1
        if type(self).calls > INTERRUPT_AFTER:
            raise KeyboardInterrupt
        return super().detect(rgb)


@pytest.fixture
def interrupting(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Register ``interrupting`` as a detector for this test only."""
    module = types.ModuleType(_MODULE)
    module.InterruptingDetector = InterruptingDetector  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, _MODULE, module)
    add_test_backends(monkeypatch, {"detector.interrupting": f"{_MODULE}:InterruptingDetector"})
    InterruptingDetector.calls = 0
    yield "interrupting"


def _statuses(out: Path) -> dict[str, int]:
    engine = open_catalog(default_url(out))
    try:
        with engine.connect() as conn:
            return dict(
                conn.execute(sa.select(photos.c.status, sa.func.count()).group_by(photos.c.status)).all()
            )
    finally:
        engine.dispose()


def _run_statuses(out: Path) -> list[tuple[str, str]]:
    engine = open_catalog(default_url(out))
    try:
        with engine.connect() as conn:
            return [
                tuple(r) for r in conn.execute(sa.select(runs.c.command, runs.c.status).order_by(runs.c.id))
            ]
    finally:
        engine.dispose()


def test_an_interrupted_analysis_resumes_where_it_stopped(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings], interrupting: str
) -> None:
    reference = tmp_path / "reference"
    pipeline.process(event.root, reference, make_settings())

    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        pipeline.process(event.root, out, make_settings(detector=interrupting))
    statuses = _statuses(out)
    assert statuses["analyzed"] == INTERRUPT_AFTER  # finished photos are kept
    assert statuses.get("rejected", 0) <= 1  # the truncated JPEG sorts first and never reaches the detector
    pending = statuses["pending"]
    assert sum(statuses.values()) == EVENT_PHOTOS + 1 and pending >= 4
    assert _run_statuses(out) == [("process", "interrupted")]
    assert not (out / "summary.csv").exists()  # the interrupted run never reached the export

    summary = pipeline.process(event.root, out, make_settings())
    assert summary.analyze.photos == pending  # only the remaining photos
    assert summary.analyze.stale == 0  # the interrupted run's results are the fake model's
    assert summary.ingest.new_photos == 0
    assert snapshot(out) == snapshot(reference)
    assert _run_statuses(out) == [("process", "interrupted"), ("process", "done")]


def test_ctrl_c_in_the_cli_says_how_to_resume(
    event: SyntheticEvent, tmp_path: Path, interrupting: str, model_cache_dir: Path
) -> None:
    out = tmp_path / "out"
    env = {
        "EVENTLENS_DETECTOR": interrupting,
        "EVENTLENS_LANDMARKER": "fake",
        "EVENTLENS_EMBEDDER": "fake",
        "EVENTLENS_EYE_MODEL": "fake",
        "EVENTLENS_CACHE_DIR": str(model_cache_dir),
    }
    result = CliRunner().invoke(
        main, ["process", str(event.root), "--out", str(out), "--workers", "1"], env=env
    )
    assert result.exit_code == 130
    assert "run the same command again to resume" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    env["EVENTLENS_DETECTOR"] = "fake"
    result = CliRunner().invoke(
        main, ["process", str(event.root), "--out", str(out), "--workers", "1", "--json"], env=env
    )
    assert result.exit_code == 0, result.stderr
    assert _statuses(out) == {"analyzed": EVENT_PHOTOS, "rejected": 1}


class FakeEmbedderV2(FakeEmbedder):
    """The fake embedder under another model version: a different embedding space."""

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__(settings)
        self.info = ModelInfo("fake-embedder", "2")


def test_embeddings_of_another_model_are_never_mixed(
    event: SyntheticEvent,
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = types.ModuleType(_MODULE)
    module.FakeEmbedderV2 = FakeEmbedderV2  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, _MODULE, module)
    add_test_backends(monkeypatch, {"embedder.fake_v2": f"{_MODULE}:FakeEmbedderV2"})

    out = tmp_path / "out"
    pipeline.process(event.root, out, make_settings())
    before = snapshot(out)
    summary = pipeline.process(event.root, out, make_settings(embedder="fake_v2"))
    assert summary.analyze.photos == 0 and summary.analyze.stale == EVENT_PHOTOS
    assert summary.cluster.faces_clustered == 0 and summary.cluster.faces_other_model == 10
    assert snapshot(out) == before  # nothing compared across models, nothing changed

    summary = pipeline.process(event.root, out, make_settings(embedder="fake_v2"), reanalyze=True)
    assert summary.analyze.photos == EVENT_PHOTOS and summary.analyze.stale == 0
    assert summary.cluster.faces_clustered == 10 and summary.cluster.faces_other_model == 0
    assert summary.cluster.persons == 3
