"""The event's curation (scores, face decisions, near-duplicate groups) for the photo, best and search
pages: computed from the catalog once per catalog change (:class:`eventlens.curate.facts.CurationCache`)."""

from __future__ import annotations

from pathlib import PurePosixPath

import sqlalchemy as sa
from fastapi import Request

from eventlens.curate.facts import CurationCache, EventCuration
from eventlens.service.routes import service_of

_CACHE = CurationCache()


def event_curation(request: Request, engine: sa.Engine) -> EventCuration:
    return _CACHE.get(engine, service_of(request).settings)


def alt_text(display_path: str, labels: tuple[str, ...] | list[str], names: dict[str, str]) -> str:
    """ "Photo <file name> with <people>" (names, else labels), as :mod:`eventlens.web.photo_alt` says it."""
    who = sorted({names.get(label, label) for label in labels})
    name = PurePosixPath(display_path).name
    return f"Photo {name} with {', '.join(who)}" if who else f"Photo {name}, nobody recognised"
