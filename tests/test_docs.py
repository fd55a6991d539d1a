"""Documentation must not fall behind the code: every setting is a row of the table in docs/settings.md.

(In the manner of sqlite-utils' and datasette's documentation tests.) Only tables whose first header cell is
``setting`` are read; nested settings (``curation``) are documented key by key as ``curation.<key>``.
"""

from __future__ import annotations

import re

from pydantic import BaseModel
from testkit import REPO

from eventlens.settings import Settings

SETTINGS_DOC = REPO / "docs" / "settings.md"
_SEPARATOR = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


def table_rows(markdown: str, header: str = "setting") -> list[str]:
    """The first cell of every body row of the tables whose first header cell is ``header``."""
    lines = [line.strip() for line in markdown.splitlines()]
    names: list[str] = []
    in_table = False
    for i, line in enumerate(lines):
        if not line.startswith("|"):
            in_table = False
            continue
        if _SEPARATOR.match(line):
            continue
        first = line.strip("|").split("|")[0].strip().strip("`").strip()
        if i + 1 < len(lines) and _SEPARATOR.match(lines[i + 1]):  # a header row starts a table
            in_table = first.lower() == header
            continue
        if in_table and first:
            names.append(first)
    return names


def _nested_models() -> dict[str, type[BaseModel]]:
    """Settings fields that are themselves models (documented key by key as ``field.key``)."""
    return {
        name: field.annotation
        for name, field in Settings.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
    }


def test_table_parser() -> None:
    doc = (
        "# x\n\n| setting | default |\n|---|---|\n| `workers` | 0 |\n| min_faces | 2 |\n\n"
        "| field | meaning |\n| --- | --- |\n| presence | reward |\n\ntext | not a row\n"
    )
    assert table_rows(doc) == ["workers", "min_faces"]
    assert table_rows(doc, "field") == ["presence"]


def test_every_setting_is_documented() -> None:
    assert SETTINGS_DOC.is_file(), f"{SETTINGS_DOC.relative_to(REPO)} is missing"
    documented = table_rows(SETTINGS_DOC.read_text(encoding="utf-8"))
    top_level = {name.split(".")[0] for name in documented}
    missing = sorted(set(Settings.model_fields) - top_level)
    assert not missing, f"settings missing from the table of docs/settings.md: {', '.join(missing)}"
    stale = sorted(top_level - set(Settings.model_fields))
    assert not stale, f"docs/settings.md documents settings that do not exist: {', '.join(stale)}"
    for name, model in _nested_models().items():
        keys = {d.split(".", 1)[1] for d in documented if d.startswith(f"{name}.")}
        missing = sorted(set(model.model_fields) - keys)
        assert not missing, f"docs/settings.md lacks rows {', '.join(f'{name}.{k}' for k in missing)}"
        stale = sorted(keys - set(model.model_fields))
        assert not stale, (
            f"docs/settings.md documents {', '.join(f'{name}.{k}' for k in stale)}, which do not exist"
        )
