"""Parsing ``cluster_labels.json`` (:func:`eventlens.curate.labels.parse_labels`): both forms, mixed, and a
clear error naming the person for every mistake. Importing into a catalog is tested end to end in
``tests/test_curation_pipeline.py``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eventlens.curate.labels import CATEGORIES, Label, parse_labels, read_labels_file
from eventlens.errors import InputError


def test_simple_form() -> None:
    labels = parse_labels(json.dumps({"person_001": "main", "person_004": "important"}))
    assert labels == {"person_001": Label(None, "main"), "person_004": Label(None, "important")}


def test_extended_form_and_mixed_forms() -> None:
    text = json.dumps(
        {
            "person_001": {"name": "Ana", "category": "main"},
            "person_002": {"name": "  Ben  "},
            "person_003": "other",
            "person_005": {"name": "   ", "category": "important"},
            "person_006": {},
        }
    )
    assert parse_labels(text) == {
        "person_001": Label("Ana", "main"),
        "person_002": Label("Ben", None),  # trimmed; no category: ``other`` when scored
        "person_003": Label(None, "other"),
        "person_005": Label(None, "important"),  # a blank name is no name
        "person_006": Label(None, None),
    }


def test_non_ascii_names_survive() -> None:
    assert parse_labels('{"person_001": {"name": "Zoë Łukasiewicz"}}')["person_001"].name == "Zoë Łukasiewicz"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"person_001": "bride"}', ["person_001", "'bride'", "main, important, other"]),
        ('{"person_001": {"category": "VIP"}}', ["person_001", "'VIP'"]),
        ('{"person_001": {"category": 3}}', ["person_001", "3"]),
        ('{"person_001": {"name": "Ana", "role": "main"}}', ["person_001", "role", "name, category"]),
        ('{"person_001": {"name": 7}}', ["person_001", "name", "string"]),
        ('{"person_001": ["main"]}', ["person_001", "category"]),
        ('["person_001"]', ["JSON object"]),
        ('{"person_001": "main",}', ["not valid JSON"]),
        ("", ["not valid JSON"]),
    ],
)
def test_mistakes_are_one_clear_line(text: str, words: list[str]) -> None:
    with pytest.raises(InputError) as excinfo:
        parse_labels(text, "labels.json")
    message = str(excinfo.value)
    assert "\n" not in message
    assert message.startswith("labels.json")
    for word in words:
        assert word in message


def test_every_category_is_accepted() -> None:
    assert {parse_labels(json.dumps({"p": c}))["p"].category for c in CATEGORIES} == set(CATEGORIES)


def test_reading_a_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        read_labels_file(tmp_path / "nope.json")
    good = tmp_path / "cluster_labels.json"
    good.write_text('{"person_001": "main"}', encoding="utf-8")
    assert read_labels_file(good) == {"person_001": Label(None, "main")}
