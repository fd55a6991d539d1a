"""The people pages: the grid, a person, the unassigned faces, merge suggestions, recent corrections.

Pages read through :mod:`eventlens.web.people_views` (over the read model); every change goes through the
corrections write path (:mod:`eventlens.curate.corrections`, :mod:`eventlens.cluster.suggestions`), as the
CLI's ``eventlens person ...`` does, recorded as ``web:<user>`` and undoable. Each form is a plain POST
answered by a 303 redirect to the page it came from (htmx swaps only the page's ``#people-content`` from the
same response); a correction that makes no sense comes back as a notice on that page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from eventlens.catalog import queries
from eventlens.catalog.queries import PERSON_SORTS
from eventlens.cluster import refit, suggestions
from eventlens.curate import corrections
from eventlens.curate.corrections import CATEGORIES
from eventlens.errors import InputError, NotFoundError
from eventlens.pipeline import embed_model_key
from eventlens.settings import Settings
from eventlens.web import people_views as views
from eventlens.web.auth import WebUser, csrf_checked, require_role
from eventlens.web.event_access import event_engine, event_target
from eventlens.web.templating import render

router = APIRouter(prefix="/events/{event_id}", tags=["web: people"])

Viewer = Annotated[WebUser, Depends(require_role("viewer"))]
Editor = Annotated[WebUser, Depends(require_role("editor"))]
Checked = Depends(csrf_checked)
#: the page a form came from (field ``next``), where its 303 goes back to
Next = Annotated[str | None, Form()]
#: suggestions shown per page
SUGGESTIONS_SHOWN = 10
#: recent corrections listed for undo
HISTORY_SHOWN = 30


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.service.settings
    return settings


def _can_edit(user: WebUser) -> bool:
    return user.role in ("editor", "admin")


def _actor(user: WebUser) -> str:
    return f"web:{user.username}"


def _back(event_id: str, next_url: str | None, fallback: str, notice: str | None = None) -> RedirectResponse:
    """A 303 to ``next_url`` when it is a page of this event (never elsewhere), else to ``fallback``."""
    base = f"/events/{event_id}/"
    url = next_url if next_url and next_url.startswith(base) and "//" not in next_url else fallback
    if notice:
        url += ("&" if "?" in url else "?") + urlencode({"notice": notice})
    return RedirectResponse(url, status_code=303)


def _people_url(event_id: str) -> str:
    return f"/events/{event_id}/people"


def _person_url(event_id: str, label: str) -> str:
    return f"/events/{event_id}/people/{label}"


# --- pages -------------------------------------------------------------------------------------------


@router.get("/people", response_class=HTMLResponse)
def people_page(
    request: Request,
    event_id: str,
    user: Viewer,
    sort: Annotated[str, Query()] = "photos",
    category: Annotated[str, Query()] = "",
    hidden: Annotated[str, Query()] = "",
    after: Annotated[str | None, Query()] = None,
    notice: Annotated[str | None, Query()] = None,
) -> HTMLResponse:
    if sort not in PERSON_SORTS:
        raise InputError(f"sort {sort!r} is unknown; use one of {', '.join(PERSON_SORTS)}")
    if category and category not in CATEGORIES:
        raise InputError(f"category {category!r} is unknown; use one of {', '.join(CATEGORIES)}")
    shown = {"": None, "yes": True, "no": False}
    if hidden not in shown:
        raise InputError("hidden must be yes, no or empty")
    with event_engine(request, event_id).connect() as conn:
        tiles, next_cursor = views.people_grid(
            conn, sort=sort, category=category or None, hidden=shown[hidden], after=after
        )
    filters = {"sort": sort, "category": category, "hidden": hidden}
    return render(
        request,
        "people.html",
        event_id=event_id,
        tiles=tiles,
        next_url=f"?{urlencode({**filters, 'after': next_cursor})}" if next_cursor else None,
        filters=filters,
        sorts=PERSON_SORTS,
        categories=CATEGORIES,
        can_edit=_can_edit(user),
        notice=notice,
        here=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
    )


@router.get("/people/history", response_class=HTMLResponse)
def history_page(
    request: Request, event_id: str, user: Viewer, notice: Annotated[str | None, Query()] = None
) -> HTMLResponse:
    recent = corrections.history(event_target(request, event_id), HISTORY_SHOWN)
    return render(
        request,
        "people_history.html",
        event_id=event_id,
        recent=recent,
        can_edit=_can_edit(user),
        notice=notice,
    )


@router.get("/people/{label}", response_class=HTMLResponse)
def person_page(
    request: Request,
    event_id: str,
    label: str,
    user: Viewer,
    after: Annotated[str | None, Query()] = None,
    notice: Annotated[str | None, Query()] = None,
) -> HTMLResponse:
    with event_engine(request, event_id).connect() as conn:
        person = queries.person(conn, label)
        page = queries.faces_of_person(conn, label, limit=views.FACES_PER_PAGE, after=after)
        tiles = views.face_tiles(conn, page.items, {person.id: views.person_title(person)})
        others = [p for p in views.all_people(conn) if p.id != person.id]
    return render(
        request,
        "person.html",
        event_id=event_id,
        person=person,
        title=views.person_title(person),
        tiles=tiles,
        next_url=f"?{urlencode({'after': page.next_cursor})}" if page.next_cursor else None,
        others=others,
        categories=CATEGORIES,
        can_edit=_can_edit(user),
        notice=notice,
        here=_person_url(event_id, label),
    )


@router.get("/unassigned", response_class=HTMLResponse)
def unassigned_page(
    request: Request,
    event_id: str,
    user: Viewer,
    after: Annotated[str | None, Query()] = None,
    notice: Annotated[str | None, Query()] = None,
) -> HTMLResponse:
    with event_engine(request, event_id).connect() as conn:
        page = queries.unassigned_faces(conn, limit=views.FACES_PER_PAGE, after=after)
        tiles = views.face_tiles(conn, page.items, {})
        people = views.all_people(conn)
    return render(
        request,
        "faces_unassigned.html",
        event_id=event_id,
        tiles=tiles,
        next_url=f"?{urlencode({'after': page.next_cursor})}" if page.next_cursor else None,
        others=people,
        can_edit=_can_edit(user),
        notice=notice,
        here=f"/events/{event_id}/unassigned",
    )


@router.get("/suggestions", response_class=HTMLResponse)
def suggestions_page(
    request: Request, event_id: str, user: Viewer, notice: Annotated[str | None, Query()] = None
) -> HTMLResponse:
    settings = _settings(request)
    key = embed_model_key(settings)
    target = event_target(request, event_id)
    with event_engine(request, event_id).connect() as conn:
        cards = views.suggestion_cards(conn, key, settings.suggestions_max_distance, SUGGESTIONS_SHOWN)
    report = refit.fit(target, settings, key)
    return render(
        request,
        "suggestions.html",
        event_id=event_id,
        cards=cards,
        report=report,
        can_edit=_can_edit(user),
        notice=notice,
        here=f"/events/{event_id}/suggestions",
    )


# --- corrections -------------------------------------------------------------------------------------


def _corrected(
    event_id: str, next_url: str | None, fallback: str, do: Callable[[], corrections.Correction]
) -> RedirectResponse:
    """Run the correction ``do()``; a 303 back with its summary, or with the reason it was refused."""
    try:
        done = do()
    except (InputError, NotFoundError) as exc:
        return _back(event_id, next_url, fallback, f"Not changed: {exc}")
    return _back(event_id, next_url, fallback, done.summary)


@router.post("/people/merge", dependencies=[Checked])
def merge_people(
    request: Request,
    event_id: str,
    user: Editor,
    persons: Annotated[list[str], Form()],
    into: Annotated[str | None, Form()] = None,
    next: Next = None,
) -> Response:
    """Merge the selected persons into ``into`` (default: the first selected)."""
    target = event_target(request, event_id)
    chosen = into or (persons[0] if persons else "")
    others = [p for p in persons if p != chosen]

    def do() -> corrections.Correction:
        if not others:
            raise InputError("select at least two persons to merge")
        return corrections.merge(target, chosen, others, by=_actor(user))

    return _corrected(event_id, next, _person_url(event_id, chosen) if others else _people_url(event_id), do)


@router.post("/people/move", dependencies=[Checked])
def move_faces(
    request: Request,
    event_id: str,
    user: Editor,
    faces: Annotated[list[str], Form()],
    to: Annotated[str, Form()],
    next: Next = None,
) -> Response:
    """Move the selected faces to person ``to``, or to a new person (``to=new``: a split)."""
    target = event_target(request, event_id)
    return _corrected(
        event_id,
        next,
        _people_url(event_id),
        lambda: corrections.move_faces(target, faces, to, by=_actor(user)),
    )


@router.post("/people/undo", dependencies=[Checked])
def undo(
    request: Request,
    event_id: str,
    user: Editor,
    correction_id: Annotated[int | None, Form()] = None,
    next: Next = None,
) -> Response:
    target = event_target(request, event_id)
    return _corrected(
        event_id,
        next,
        f"/events/{event_id}/people/history",
        lambda: corrections.undo(target, correction_id=correction_id, by=_actor(user)),
    )


@router.post("/people/suggestions/answer", dependencies=[Checked])
def answer_suggestion(
    request: Request,
    event_id: str,
    user: Editor,
    person: Annotated[str, Form()],
    other: Annotated[str, Form()],
    same: Annotated[str, Form()],
    next: Next = None,
) -> Response:
    """Answer "is this the same person?": ``same=yes`` merges, ``same=no`` records that they are two."""
    if same not in ("yes", "no"):
        raise InputError("same must be yes or no")
    target = event_target(request, event_id)
    key = embed_model_key(_settings(request))
    return _corrected(
        event_id,
        next,
        f"/events/{event_id}/suggestions",
        lambda: suggestions.answer(target, key, person, other, same == "yes", by=_actor(user)),
    )


@router.post("/people/refit", dependencies=[Checked])
def apply_refit(
    request: Request,
    event_id: str,
    user: Editor,
    next: Next = None,
) -> Response:
    """Store the threshold re-fitted to the answers (the next re-cluster uses it)."""
    settings = _settings(request)
    report = refit.apply(event_target(request, event_id), settings, embed_model_key(settings))
    return _back(event_id, next, f"/events/{event_id}/suggestions", report.line())


def _for_person(
    request: Request,
    event_id: str,
    label: str,
    user: WebUser,
    next_url: str | None,
    change: Callable[[corrections.Target, str], corrections.Correction],
) -> RedirectResponse:
    """``change(target, actor)`` of one person's page, answered by a 303 back to it."""
    target = event_target(request, event_id)
    fallback = _person_url(event_id, label)
    return _corrected(event_id, next_url, fallback, lambda: change(target, _actor(user)))


@router.post("/people/{label}/rename", dependencies=[Checked])
def rename(
    request: Request,
    event_id: str,
    label: str,
    user: Editor,
    next: Next = None,
    name: Annotated[str, Form()] = "",
) -> Response:
    return _for_person(
        request, event_id, label, user, next, lambda t, by: corrections.rename(t, label, name, by)
    )


@router.post("/people/{label}/category", dependencies=[Checked])
def set_category(
    request: Request,
    event_id: str,
    label: str,
    user: Editor,
    category: Annotated[str, Form()],
    next: Next = None,
) -> Response:
    return _for_person(
        request, event_id, label, user, next, lambda t, by: corrections.set_category(t, label, category, by)
    )


@router.post("/people/{label}/hide", dependencies=[Checked])
def hide(
    request: Request,
    event_id: str,
    label: str,
    user: Editor,
    next: Next = None,
    hidden: Annotated[str, Form()] = "yes",
) -> Response:
    """``hidden=yes`` hides the person from the export, ``no`` shows it again."""
    return _for_person(
        request, event_id, label, user, next, lambda t, by: corrections.hide(t, label, hidden == "yes", by)
    )


@router.post("/people/{label}/representative", dependencies=[Checked])
def set_representative(
    request: Request, event_id: str, label: str, user: Editor, face: Annotated[str, Form()], next: Next = None
) -> Response:
    return _for_person(
        request, event_id, label, user, next, lambda t, by: corrections.set_representative(t, label, face, by)
    )


@router.post("/people/{label}/not", dependencies=[Checked])
def not_this_person(
    request: Request, event_id: str, label: str, user: Editor, face: Annotated[str, Form()], next: Next = None
) -> Response:
    """ "Not this person": a cannot-link between the face and the person."""
    return _for_person(
        request, event_id, label, user, next, lambda t, by: corrections.not_person(t, face, label, by)
    )
