"""What the people pages show, built from the read model (:mod:`eventlens.catalog.queries`) and the merge
suggestions (:mod:`eventlens.cluster.suggestions`): plain dataclasses for the templates, no HTTP here.

A face is shown as a window onto its photo's thumbnail (:mod:`eventlens.web.face_crops`), with alt text
naming its person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from eventlens.catalog import queries
from eventlens.catalog.queries import FaceView, PersonView
from eventlens.cluster.suggestions import Suggestion, merge_suggestions
from eventlens.web.face_crops import FaceWindow, face_window

#: side of a face window on the pages, px
FACE_PX = 112
#: persons per page of the grid, faces per page of a person or of the unassigned faces
PEOPLE_PER_PAGE = 60
FACES_PER_PAGE = 120
#: faces of each person shown with a merge suggestion
STRIP_FACES = 6


@dataclass(frozen=True, slots=True)
class FaceTile:
    face: FaceView
    ref: str  # PHOTO_SHA256:FACE, what the corrections take
    alt: str
    window: FaceWindow | None  # None: the photo's size is unknown (no crop can be placed)


@dataclass(frozen=True, slots=True)
class PersonTile:
    person: PersonView
    face: FaceTile | None  # the representative face

    @property
    def title(self) -> str:
        return self.person.name or self.person.label


def person_title(person: PersonView) -> str:
    return person.name or person.label


def face_ref(face: FaceView) -> str:
    return f"{face.photo_sha256}:{face.face_index}"


def face_tiles(
    conn: sa.Connection, faces: Sequence[FaceView], titles: dict[int, str], window_px: int = FACE_PX
) -> list[FaceTile]:
    """Tiles of ``faces``; ``titles`` names each person id (a face without one is "unassigned")."""
    sizes = queries.photo_sizes(conn, [f.photo_sha256 for f in faces])
    tiles = []
    for f in faces:
        name = titles.get(f.person_id, f.person_label) if f.person_id is not None else None
        alt = f"Face of {name}" if name else f"Unassigned face in photo {f.photo_sha256[:8]}"
        size = sizes.get(f.photo_sha256)
        window = face_window(f.box, *size, window_px) if size else None
        tiles.append(FaceTile(f, face_ref(f), alt, window))
    return tiles


def people_grid(
    conn: sa.Connection,
    *,
    sort: str = "photos",
    category: str | None = None,
    hidden: bool | None = None,
    after: str | None = None,
    limit: int = PEOPLE_PER_PAGE,
) -> tuple[list[PersonTile], str | None]:
    """One page of the people grid and the cursor of the next."""
    page = queries.people_page(conn, sort=sort, category=category, hidden=hidden, limit=limit, after=after)
    return person_tiles(conn, page.items), page.next_cursor


def person_tiles(conn: sa.Connection, people: Sequence[PersonView]) -> list[PersonTile]:
    reps = queries.faces_by_ids(conn, [p.representative_face_id for p in people if p.representative_face_id])
    titles = {p.id: person_title(p) for p in people}
    tiles = {t.face.id: t for t in face_tiles(conn, list(reps.values()), titles)}
    return [
        PersonTile(p, tiles.get(p.representative_face_id) if p.representative_face_id else None)
        for p in people
    ]


def all_people(conn: sa.Connection) -> list[PersonView]:
    """Every person by label: the choices of a "move to" or "merge with" list."""
    return queries.list_persons(conn).items


@dataclass(frozen=True, slots=True)
class SuggestionCard:
    suggestion: Suggestion
    left: PersonTile
    right: PersonTile
    left_faces: list[FaceTile]
    right_faces: list[FaceTile]


def suggestion_cards(
    conn: sa.Connection, embed_model: str, max_distance: float, limit: int
) -> list[SuggestionCard]:
    """The first ``limit`` merge suggestions, each with a strip of faces of both persons."""
    cards = []
    for s in merge_suggestions(conn, embed_model, max_distance, limit):
        left, right = queries.person(conn, s.label), queries.person(conn, s.other_label)
        titles = {left.id: person_title(left), right.id: person_title(right)}
        strips = [
            face_tiles(conn, queries.faces_of_person(conn, p.label, limit=STRIP_FACES).items, titles)
            for p in (left, right)
        ]
        tiles = person_tiles(conn, [left, right])
        cards.append(SuggestionCard(s, tiles[0], tiles[1], strips[0], strips[1]))
    return cards
