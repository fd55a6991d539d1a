"""``GET /events/{event_id}/photos/{sha256}``: one photo with its face boxes (SVG over the image), each
face's attributes (eyes, smile, expression, pose, as the curation step decides them) and person, the
photo's score with its explanation, and its near-duplicates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from eventlens.attributes.decide import FaceDecisions
from eventlens.catalog import queries
from eventlens.errors import NotFoundError
from eventlens.web.auth import WebUser, viewer
from eventlens.web.curation_access import alt_text, event_curation
from eventlens.web.event_access import event_engine
from eventlens.web.photo_alt import people_names
from eventlens.web.templating import render

router = APIRouter(tags=["web"], include_in_schema=False)
VIEW_SIZE_PX = 1024


@dataclass(frozen=True)
class FaceRow:
    face: queries.FaceView
    number: int  # 1-based, as shown on the box
    person_name: str | None  # name, else label; None when unassigned
    decisions: FaceDecisions | None


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


@router.get("/events/{event_id}/photos/{sha256}", response_class=HTMLResponse)
def photo_page(request: Request, event_id: str, sha256: str, user: Annotated[WebUser, viewer]) -> Response:
    engine = event_engine(request, event_id)
    with engine.connect() as conn:
        try:
            photo = queries.photo(conn, sha256)
        except NotFoundError:
            raise HTTPException(404, f"no photo {sha256} in event {event_id!r}") from None
        face_views = queries.faces_of_photos(conn, [sha256])
        names = people_names(conn)
    cur = event_curation(request, engine)
    faces = [
        FaceRow(
            f,
            i,
            names.get(f.person_label, f.person_label) if f.person_label else None,
            cur.curation.decisions.get(f.id),
        )
        for i, f in enumerate(face_views, start=1)
    ]
    score = cur.scores.get(sha256)
    group = []
    if score is not None:
        group = [
            s
            for s in cur.curation.ranked
            if s.duplicate_group == score.duplicate_group and s.sha256 != sha256
        ]
    labels = [f.person_label for f in face_views if f.person_label]
    return render(
        request,
        "photo.html",
        photo=photo,
        faces=faces,
        score=score,
        rank=cur.ranks.get(sha256),
        total=len(cur.ranks),
        duplicates=group,
        alt=alt_text(photo.display_path, labels, names),
        dup_alts={s.sha256: alt_text(s.photo, s.persons, names) for s in group},
        yes_no=_yes_no,
        view_size_px=VIEW_SIZE_PX,
    )
