"""The ranked photos with the explanation of each score, and the near-duplicate groups side by side
(:mod:`eventlens.curate.stage`, :mod:`eventlens.curate.duplicates`, as ``photo_scores.csv`` has them).

    GET /events/{event_id}/best          ranked, best first (the export's best/ marked), pages of 48
    GET /events/{event_id}/duplicates    groups of near-duplicates, the pick of each first
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from eventlens.web.auth import WebUser, viewer
from eventlens.web.curation_access import alt_text, event_curation
from eventlens.web.event_access import event_engine
from eventlens.web.photo_alt import people_names
from eventlens.web.templating import render

router = APIRouter(tags=["web"], include_in_schema=False)
PHOTOS_PER_PAGE = 48
GROUPS_PER_PAGE = 30


@router.get("/events/{event_id}/best", response_class=HTMLResponse)
def best_page(
    request: Request,
    event_id: str,
    user: Annotated[WebUser, viewer],
    start: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    engine = event_engine(request, event_id)
    cur = event_curation(request, engine)
    with engine.connect() as conn:
        names = people_names(conn)
    shown = cur.curation.ranked[start : start + PHOTOS_PER_PAGE]
    best = set(cur.curation.best)
    return render(
        request,
        "best.html",
        rows=[(start + i + 1, s, s.sha256 in best) for i, s in enumerate(shown)],
        alts={s.sha256: alt_text(s.photo, s.persons, names) for s in shown},
        names=names,
        total=len(cur.curation.ranked),
        best_count=len(best),
        start=start,
        next_start=start + PHOTOS_PER_PAGE if start + PHOTOS_PER_PAGE < len(cur.curation.ranked) else None,
        prev_start=max(start - PHOTOS_PER_PAGE, 0) if start > 0 else None,
    )


@router.get("/events/{event_id}/duplicates", response_class=HTMLResponse)
def duplicates_page(
    request: Request,
    event_id: str,
    user: Annotated[WebUser, viewer],
    start: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    engine = event_engine(request, event_id)
    cur = event_curation(request, engine)
    with engine.connect() as conn:
        names = people_names(conn)
    groups = cur.duplicate_groups()
    shown = [sorted(g, key=lambda s: not s.duplicate_pick) for g in groups[start : start + GROUPS_PER_PAGE]]
    return render(
        request,
        "duplicates.html",
        groups=shown,
        ranks=cur.ranks,
        alts={s.sha256: alt_text(s.photo, s.persons, names) for g in shown for s in g},
        total=len(groups),
        start=start,
        next_start=start + GROUPS_PER_PAGE if start + GROUPS_PER_PAGE < len(groups) else None,
    )
