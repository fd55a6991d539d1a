"""``cluster_labels.json``: who matters, in one small file the organiser edits.

Two forms are accepted, and may be mixed::

    {"person_001": "main", "person_004": "important"}
    {"person_001": {"name": "Ana", "category": "main"}, "person_002": {"name": "Ben"}}

Categories are ``main``, ``important`` and ``other``; a person without a label is ``other``. Labels are
stored in the catalog (``persons.name`` / ``persons.category``); export writes the extended form.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from eventlens.catalog.schema import persons
from eventlens.errors import InputError

CATEGORIES = ("main", "important", "other")
LABELS_FILE = "cluster_labels.json"


@dataclass(frozen=True)
class Label:
    name: str | None
    category: str | None


@dataclass
class LabelImport:
    updated: int = 0
    unknown_persons: list[str] = field(default_factory=list)


def parse_labels(text: str, source: str = LABELS_FILE) -> dict[str, Label]:
    """Parse a labels document; raise :class:`InputError` naming the person and the problem."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{source} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InputError(f'{source} must be a JSON object like {{"person_001": "main"}}')
    labels: dict[str, Label] = {}
    for person, value in data.items():
        name: str | None
        category: str | None
        if isinstance(value, str):
            name, category = None, value
        elif isinstance(value, dict):
            unknown = set(value) - {"name", "category"}
            if unknown:
                raise InputError(
                    f"{source}: {person} has unknown keys {sorted(unknown)} (use name, category)"
                )
            name, category = value.get("name"), value.get("category")
            if name is not None and not isinstance(name, str):
                raise InputError(f"{source}: the name of {person} must be a string")
        else:
            raise InputError(f"{source}: {person} must map to a category or to {{name, category}}")
        if category is not None and category not in CATEGORIES:
            raise InputError(
                f"{source}: {person} has category {category!r}; use one of {', '.join(CATEGORIES)}"
            )
        labels[person] = Label(name.strip() if isinstance(name, str) and name.strip() else None, category)
    return labels


def import_labels(engine: sa.Engine, labels: dict[str, Label], merge: bool = False) -> LabelImport:
    """Write names and categories into the catalog.

    By default the file is the whole truth: persons it does not mention lose their name and category.
    With ``merge``, only the persons it mentions change. Persons unknown to the catalog are reported.
    """
    result = LabelImport()
    with engine.begin() as conn:
        known = {r.label for r in conn.execute(sa.select(persons.c.label))}
        if not merge:
            conn.execute(
                persons.update().where(persons.c.label.not_in(list(labels))).values(name=None, category=None)
            )
        for person, label in sorted(labels.items()):
            if person not in known:
                result.unknown_persons.append(person)
                continue
            values: dict[str, str | None] = {"category": label.category}
            if label.name is not None:
                values["name"] = label.name
            conn.execute(persons.update().where(persons.c.label == person).values(**values))
            result.updated += 1
    return result


def export_labels(engine: sa.Engine) -> dict[str, dict[str, str | None]]:
    """Every person's label in the extended form (category ``other`` when none was given)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(persons.c.label, persons.c.name, persons.c.category).order_by(persons.c.label)
        )
        return {r.label: {"name": r.name, "category": r.category or "other"} for r in rows}


def labels_json(engine: sa.Engine) -> str:
    """Every person's label, extended form, as the text of a ``cluster_labels.json``."""
    return json.dumps(export_labels(engine), indent=2, ensure_ascii=False) + "\n"


def write_labels_file(engine: sa.Engine, path: Path) -> None:
    """Write every person's label (extended form) to ``path``, atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(labels_json(engine), encoding="utf-8")
    tmp.replace(path)


def read_labels_file(path: Path) -> dict[str, Label]:
    try:
        return parse_labels(path.read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
