"""Offline tags and captions on a real event: every person of ../shared/data/groups gets them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from testkit import read_csv

from eventlens import pipeline
from eventlens.settings import load_settings

pytestmark = pytest.mark.real_models


def test_every_person_of_the_groups_event_is_tagged_and_captioned(
    groups_event: Path, model_cache_dir: Path
) -> None:
    event = pipeline.Event.open(
        groups_event, load_settings(workers=1, cache_dir=model_cache_dir), create=False
    )
    try:
        with event.run("export") as summary:
            pipeline.run_export(event, summary)
    finally:
        event.close()
    _header, rows = read_csv(groups_event / "summary.csv")
    assert rows, "the groups event has persons"
    for row in rows:
        meta = json.loads((groups_event / row["person"] / "metadata.json").read_text(encoding="utf-8"))
        assert meta["tags"][0] == f"photos:{meta['photo_count']}"
        assert meta["caption"].startswith(
            f"{meta['name'] or meta['person']} appears in {meta['photo_count']} photo"
        )
        assert row["tags"] == ";".join(meta["tags"]) and row["caption"] == meta["caption"]
        for tag in meta["tags"]:
            assert tag.split(":")[0] in {
                "photos",
                "smiling",
                "rarely-smiling",
                "eyes-closed-in-burst",
                "portrait",
                "group-photos",
                "morning",
                "afternoon",
                "evening",
                "night",
                "with",
            }, tag
    # the group photos put people together: someone is tagged with someone
    assert any("with:" in row["tags"] for row in rows)
    _h, scores = read_csv(groups_event / "photo_scores.csv")
    with_faces = [r for r in scores if r["face_expressions"]]
    assert with_faces and all(
        r["background_brightness"] == "" or 0 <= float(r["background_brightness"]) <= 1 for r in scores
    )
