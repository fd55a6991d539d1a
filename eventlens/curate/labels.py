"""``cluster_labels.json``: who matters, in one small file the organiser edits.

Two forms are accepted, and may be mixed::

    {"person_001": "main", "person_004": "important"}
    {"person_001": {"name": "Ana", "category": "main"}, "person_002": {"name": "Ben"}}

Categories are ``main``, ``important`` and ``other``; a person without a label is ``other``. The file is
an import/export format: labels live in the catalog (``persons.name`` / ``persons.category``), an import
goes through :mod:`eventlens.curate.corrections` (recorded, undoable) and changes only the persons and
fields it gives, and export writes the extended form from the catalog.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from eventlens.catalog import queries
from eventlens.catalog.schema import catalog_state, persons
from eventlens.curate import corrections
from eventlens.errors import InputError, OutputError

CATEGORIES = corrections.CATEGORIES
LABELS_FILE = "cluster_labels.json"


@dataclass(frozen=True)
class Label:
    name: str | None
    category: str | None


@dataclass
class LabelImport:
    updated: int = 0  # persons of the file that exist (and changed in the file, for an OUT file)
    changed: int = 0  # corrections recorded
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


def import_labels(
    target: sa.Engine | sa.Connection,
    labels: dict[str, Label],
    base: dict[str, Label] | None = None,
    by: str | None = None,
) -> LabelImport:
    """Write the names and categories of the persons ``labels`` names, through
    :mod:`eventlens.curate.corrections` (recorded, undoable), in one transaction.

    Only the persons the file names change, and only what it gives: a person without a name in the file
    keeps the name it has (given with ``eventlens person rename``, say). With ``base`` (the file as
    eventlens last wrote or read it) only entries that differ from ``base`` are applied: the file's
    stale entries never undo a correction made since. Persons unknown to the catalog are reported.
    """
    result = LabelImport()
    with corrections.writing(target) as conn:
        known = {r.label: r for r in conn.execute(sa.select(persons))}
        for person, label in sorted(labels.items()):
            if person not in known:
                result.unknown_persons.append(person)
                continue
            if base is not None and base.get(person) == label:
                continue
            result.updated += 1
            row = known[person]
            if label.name is not None and label.name != row.name:
                corrections.rename(conn, person, label.name, by)
                result.changed += 1
            if label.category is not None and label.category != (row.category or "other"):
                corrections.set_category(conn, person, label.category, by)
                result.changed += 1
    return result


BASE_KEY = "labels_file"


def stored_base(conn: sa.Connection) -> dict[str, Label] | None:
    """The labels of ``OUT/cluster_labels.json`` as eventlens last wrote or imported it (None: never)."""
    text = conn.execute(sa.select(catalog_state.c.value).where(catalog_state.c.key == BASE_KEY)).scalar()
    return None if text is None else parse_labels(text, "the stored labels")


def store_base(conn: sa.Connection, text: str) -> None:
    conn.execute(catalog_state.delete().where(catalog_state.c.key == BASE_KEY))
    conn.execute(catalog_state.insert().values(key=BASE_KEY, value=text))


def import_out_file(engine: sa.Engine, path: Path, by: str | None = None) -> LabelImport:
    """Import ``OUT/cluster_labels.json``: only the entries changed since eventlens last wrote or read it
    (all of them the first time), then remember the file as it is now."""
    labels = read_labels_file(path)
    with corrections.writing(engine) as conn:
        result = import_labels(conn, labels, stored_base(conn), by)
        # a person the catalog does not know yet is left out, so its entry applies once it exists
        seen = {
            person: {"name": label.name, "category": label.category}
            for person, label in labels.items()
            if person not in result.unknown_persons
        }
        store_base(conn, json.dumps(seen, ensure_ascii=False))
    return result


def export_labels(engine: sa.Engine) -> dict[str, dict[str, str | None]]:
    """Every person's label in the extended form (category ``other`` when none was given)."""
    with engine.connect() as conn:
        return {p.label: {"name": p.name, "category": p.category} for p in queries.list_persons(conn).items}


def labels_json(engine: sa.Engine) -> str:
    """Every person's label, extended form, as the text of a ``cluster_labels.json``."""
    return json.dumps(export_labels(engine), indent=2, ensure_ascii=False) + "\n"


def write_labels_file(engine: sa.Engine, path: Path, is_out_file: bool = True) -> None:
    """Write every person's label (extended form) to ``path``, atomically; for ``OUT/cluster_labels.json``
    (``is_out_file``) remember what was written, so that a later import applies only the user's edits."""
    text = labels_json(engine)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    if is_out_file:
        with corrections.writing(engine) as conn:
            store_base(conn, text)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc


def read_labels_file(path: Path) -> dict[str, Label]:
    return parse_labels(_read(path), str(path))
