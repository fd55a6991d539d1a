"""``GET /events/{event_id}/search``: photos by person, category, EXIF dates, number of faces, score, eyes
open and smiling (:mod:`eventlens.catalog.search`), a page of thumbnails linking to the photo view."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from eventlens.catalog import queries
from eventlens.catalog.search import CATEGORIES, PhotoQuery, search_photos
from eventlens.errors import InputError
from eventlens.web.auth import WebUser, viewer
from eventlens.web.curation_access import alt_text, event_curation
from eventlens.web.event_access import event_engine
from eventlens.web.photo_alt import people_names
from eventlens.web.templating import render

router = APIRouter(tags=["web"], include_in_schema=False)
RESULTS_PER_PAGE = 48


def _day(text: str | None, field: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{field} {text!r} is not a date (YYYY-MM-DD)") from None


def _number(text: str | None, field: str, kind: type[int] | type[float]) -> int | float | None:
    if text is None or text.strip() == "":
        return None
    try:
        return kind(text)
    except ValueError:
        raise InputError(f"{field} {text!r} is not a number") from None


@router.get("/events/{event_id}/search", response_class=HTMLResponse)
def search_page(
    request: Request,
    event_id: str,
    user: Annotated[WebUser, viewer],
    person: Annotated[str, Query(max_length=200)] = "",
    category: Annotated[str, Query(max_length=20)] = "",
    taken_from: Annotated[str, Query(max_length=20)] = "",
    taken_to: Annotated[str, Query(max_length=20)] = "",
    min_people: Annotated[str, Query(max_length=6)] = "",
    max_people: Annotated[str, Query(max_length=6)] = "",
    min_score: Annotated[str, Query(max_length=12)] = "",
    eyes_open: bool = False,
    smiling: bool = False,
    after: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    form = {
        "person": person,
        "category": category,
        "taken_from": taken_from,
        "taken_to": taken_to,
        "min_people": min_people,
        "max_people": max_people,
        "min_score": min_score,
        "eyes_open": eyes_open,
        "smiling": smiling,
    }
    engine = event_engine(request, event_id)
    error = None
    page = None
    try:
        q = PhotoQuery(
            person=person.strip() or None,
            category=category or None,
            taken_from=_day(taken_from, "from"),
            taken_to=_day(taken_to, "to"),
            min_people=_number(min_people, "at least", int),  # type: ignore[arg-type]
            max_people=_number(max_people, "at most", int),  # type: ignore[arg-type]
            min_score=_number(min_score, "minimum score", float),
            eyes_open=eyes_open,
            smiling=smiling,
        )
        facts = event_curation(request, engine).facts if q.needs_facts else None
        with engine.connect() as conn:
            page = search_photos(conn, q, facts, limit=RESULTS_PER_PAGE, after=after)
            names = people_names(conn)
            persons = queries.list_persons(conn).items
    except InputError as exc:
        if after is not None and "cursor" in str(exc):
            raise HTTPException(404, "this page of results does not exist (a stale link?)") from None
        error = str(exc)
        with engine.connect() as conn:
            names = people_names(conn)
            persons = queries.list_persons(conn).items
    query_string = urlencode({k: v for k, v in form.items() if v not in ("", False)})
    alts = {h.sha256: alt_text(h.display_path, h.persons, names) for h in page.items} if page else {}
    return render(
        request,
        "search.html",
        form=form,
        error=error,
        page=page,
        alts=alts,
        names=names,
        persons=[p for p in persons if not p.hidden],
        categories=CATEGORIES,
        query_string=query_string,
        status_code=400 if error else 200,
    )
