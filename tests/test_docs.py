"""Documentation must not fall behind the code: every setting is a row of the table in docs/settings.md.

(In the manner of sqlite-utils' and datasette's documentation tests.) This fails until docs/settings.md
exists.
"""

from __future__ import annotations

import re

from testkit import REPO

from eventlens.settings import Settings

SETTINGS_DOC = REPO / "docs" / "settings.md"
_SEPARATOR = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


def table_names(markdown: str) -> list[str]:
    """The first cell of every body row of every table (header and separator rows skipped)."""
    lines = [line.strip() for line in markdown.splitlines()]
    names = []
    for i, line in enumerate(lines):
        if not line.startswith("|") or _SEPARATOR.match(line):
            continue
        is_header = i + 1 < len(lines) and bool(_SEPARATOR.match(lines[i + 1]))
        if is_header:
            continue
        first = line.strip("|").split("|")[0].strip().strip("`").strip()
        if first:
            names.append(first)
    return names


def test_table_parser() -> None:
    doc = "# x\n\n| name | default |\n|---|---|\n| `workers` | 0 |\n| min_faces | 2 |\n\ntext | not a row\n"
    assert table_names(doc) == ["workers", "min_faces"]


def test_every_setting_is_documented() -> None:
    assert SETTINGS_DOC.is_file(), f"{SETTINGS_DOC.relative_to(REPO)} is missing"
    documented = table_names(SETTINGS_DOC.read_text(encoding="utf-8"))
    # nested settings may be documented per key (curation.smile_min_score): they count for their field
    top_level = {re.split(r"\.|__", name)[0] for name in documented}
    missing = sorted(set(Settings.model_fields) - top_level)
    assert not missing, f"settings missing from the table of docs/settings.md: {', '.join(missing)}"
    stale = sorted(top_level - set(Settings.model_fields))
    assert not stale, f"docs/settings.md documents settings that do not exist: {', '.join(stale)}"
