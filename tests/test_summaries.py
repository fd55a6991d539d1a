"""Run summaries (:mod:`eventlens.summaries`): the keys of ``eventlens process --json`` are pinned (users'
scripts read them), the catalog's ``runs.summary_json`` holds what was printed, and derived figures are
computed and rounded as the JSON always showed them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from testkit import SyntheticEvent

from eventlens.catalog.db import default_url, open_catalog
from eventlens.catalog.schema import runs
from eventlens.cli import main
from eventlens.summaries import AnalyzeSummary, EnhanceSummary, IngestSummary, LabelsSummary, RunSummary

#: the keys `eventlens process --json` printed before the summaries were models, in their order
PROCESS_KEYS = ["run_id", "stage_s", "ingest", "analyze", "cluster", "export", "wall_s"]
STAGE_KEYS = ["ingest", "analyze", "cluster", "export"]
SUB_KEYS = {
    "ingest": [
        "source",
        "files",
        "new_photos",
        "unchanged",
        "duplicates",
        "rejected",
        "missing",
        "skipped_system_files",
        "reasons",
    ],
    "analyze": ["photos", "faces", "rejected", "stale", "workers", "wall_s", "timings_ms", "photos_per_s"],
    "cluster": [
        "faces_clustered",
        "faces_skipped_small",
        "faces_other_model",
        "conflicts_split",
        "cannot_links_split",
        "persons",
        "new_persons",
        "removed_persons",
        "assigned_faces",
        "unassigned_faces",
    ],
    "export": [
        "persons",
        "photos",
        "faces",
        "unassigned_faces",
        "photos_without_faces",
        "rejected",
        "links",
        "copies",
        "crops",
        "best",
        "report_html",  # added with OUT/report.html (new keys go at the end)
        "report_thumbnails",
    ],
}


@pytest.fixture
def fake_env(model_cache_dir: Path) -> dict[str, str]:
    return {
        "EVENTLENS_DETECTOR": "fake",
        "EVENTLENS_LANDMARKER": "fake",
        "EVENTLENS_EMBEDDER": "fake",
        "EVENTLENS_EYE_MODEL": "fake",
        "EVENTLENS_CACHE_DIR": str(model_cache_dir),
    }


def _json(args: list[str], env: dict[str, str]) -> dict[str, object]:
    result: Result = CliRunner().invoke(main, [*args, "--workers", "1", "--json"], env=env)
    assert result.exit_code == 0, f"exit {result.exit_code}\nstderr: {result.stderr}\n{result.exception!r}"
    printed: dict[str, object] = json.loads(result.stdout)
    return printed


def _stored(out: Path) -> list[str | None]:
    engine = open_catalog(default_url(out))
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.select(runs.c.summary_json).order_by(runs.c.id)).scalars())
    finally:
        engine.dispose()


def test_process_json_keys_are_pinned(
    event: SyntheticEvent, tmp_path: Path, fake_env: dict[str, str]
) -> None:
    summary = _json(["process", str(event.root), "--out", str(tmp_path / "out")], fake_env)
    assert list(summary) == PROCESS_KEYS
    for stage, keys in SUB_KEYS.items():
        part = summary[stage]
        assert isinstance(part, dict) and list(part) == keys, (stage, part)
    stage_s = summary["stage_s"]
    assert isinstance(stage_s, dict) and list(stage_s) == STAGE_KEYS
    assert all(isinstance(seconds, float) for seconds in stage_s.values())
    assert isinstance(summary["run_id"], int) and isinstance(summary["wall_s"], float)
    ingest = summary["ingest"]
    assert isinstance(ingest, dict) and ingest["reasons"] and ingest["source"] == str(event.root.resolve())


def test_the_catalog_stores_what_was_printed(
    event: SyntheticEvent, tmp_path: Path, fake_env: dict[str, str]
) -> None:
    out = tmp_path / "out"
    printed = _json(["process", str(event.root), "--out", str(out)], fake_env)
    (stored,) = _stored(out)
    assert stored is not None and json.loads(stored) == printed
    # read back, the stored summary is the same model (computed fields are derived again, not read)
    model = RunSummary.model_validate_json(stored)
    assert model.analyze is not None and model.analyze.photos_per_s == printed["analyze"]["photos_per_s"]  # type: ignore[index]
    assert json.loads(json.dumps(model.model_dump(mode="json"))) == printed


def test_a_stage_that_did_not_run_is_left_out(
    event: SyntheticEvent, tmp_path: Path, fake_env: dict[str, str]
) -> None:
    out = tmp_path / "out"
    assert list(_json(["ingest", str(event.root), "--out", str(out)], fake_env)) == [
        "run_id",
        "stage_s",
        "ingest",
    ]
    _json(["analyze", "--out", str(out)], fake_env)
    assert list(_json(["cluster", "--out", str(out)], fake_env)) == ["run_id", "stage_s", "cluster"]
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"person_001": {"name": "Ann"}, "person_099": {"name": "Nobody"}}))
    scored = _json(["score", "--labels", str(labels), "--out", str(out)], fake_env)
    assert list(scored) == ["run_id", "stage_s", "labels", "export"]
    assert scored["labels"] == {
        "file": str(labels),
        "updated": 1,
        "changed": 1,
        "unknown_persons": ["person_099"],
    }
    # `label import` prints the labels summary alone, as it did
    again = _json(["label", "import", str(labels), "--out", str(out)], fake_env)
    assert list(again) == ["file", "updated", "changed", "unknown_persons"]


def test_derived_figures_are_computed_and_rounded() -> None:
    analyze = AnalyzeSummary(photos=7, wall_s=3.0, timings_ms={"detect": 12.345, "embed": 0.06})
    assert analyze.photos_per_s == 2.333
    dumped = analyze.model_dump(mode="json")
    assert dumped["timings_ms"] == {"detect": 12.3, "embed": 0.1}
    assert dumped["photos_per_s"] == 2.333
    assert AnalyzeSummary().photos_per_s == 0.0  # nothing analysed: no division by zero
    enhance = EnhanceSummary(photos=5, wall_s=3.0, cpu_s=1.23456)
    assert enhance.model_dump(mode="json")["photos_per_s"] == 1.67
    assert enhance.model_dump(mode="json")["cpu_s"] == 1.23
    assert enhance.cpu_s == 1.23456  # rounded in the JSON only, summed exactly


def test_counters_are_plain_attributes() -> None:
    summary = RunSummary(run_id=3)
    summary.ingest = IngestSummary(source="/photos")
    summary.ingest.files += 2
    summary.ingest.reasons["not an image"] = 1
    summary.labels = LabelsSummary(file="labels.json", unknown_persons=["person_009"])
    summary.stage_s["ingest"] = 0.5
    assert summary.model_dump(mode="json") == {
        "run_id": 3,
        "stage_s": {"ingest": 0.5},
        "ingest": {
            "source": "/photos",
            "files": 2,
            "new_photos": 0,
            "unchanged": 0,
            "duplicates": 0,
            "rejected": 0,
            "missing": 0,
            "skipped_system_files": 0,
            "reasons": {"not an image": 1},
        },
        "labels": {"file": "labels.json", "updated": 0, "changed": 0, "unknown_persons": ["person_009"]},
    }
    assert RunSummary().model_dump(mode="json") == {"run_id": None}


def test_the_job_schema_names_every_stage_and_derived_figure() -> None:
    """The JSON schema the service will publish for a job's summary (serialisation side)."""
    schema = RunSummary.model_json_schema(mode="serialization")
    assert set(schema["properties"]) == {*PROCESS_KEYS, "labels", "enhance", "warnings"}
    defs = schema["$defs"]
    assert "photos_per_s" in defs["AnalyzeSummary"]["properties"]
    assert "photos_per_s" in defs["EnhanceSummary"]["properties"]
    for stage, keys in SUB_KEYS.items():
        assert list(defs[f"{stage.capitalize()}Summary"]["properties"]) == keys
