"""Alt text of a photo in a page: its file name and the people in it (names, else labels), so that a
screen reader says who is in each thumbnail."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath

import sqlalchemy as sa

from eventlens.catalog import queries


def people_names(conn: sa.Connection) -> dict[str, str]:
    """Person label -> what to call them (their name, else the label)."""
    return {p.label: p.name or p.label for p in queries.list_persons(conn).items}


def photo_alts(conn: sa.Connection, photos: Sequence[queries.PhotoView]) -> dict[str, str]:
    """sha256 -> "Photo <file name> with <people>" for each photo."""
    names = people_names(conn)
    people: dict[str, list[str]] = {p.sha256: [] for p in photos}
    for face in queries.faces_of_photos(conn, list(people)):
        if face.person_label is not None:
            people[face.photo_sha256].append(names.get(face.person_label, face.person_label))
    out = {}
    for p in photos:
        who = sorted(set(people[p.sha256]))
        name = PurePosixPath(p.display_path).name
        out[p.sha256] = f"Photo {name} with {', '.join(who)}" if who else f"Photo {name}, nobody recognised"
    return out
