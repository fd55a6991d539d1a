"""The curation of an event as the web pages and the search need it: scores, face decisions and
near-duplicate groups per photo, computed from the catalog and kept while the catalog is unchanged.

:class:`CurationCache` recomputes :func:`eventlens.curate.stage.compute_curation` only when the catalog's
fingerprint (newest run, its end, newest correction, photo and face counts) changed, so that paging
through search results or best photos costs one scoring per change, not one per request.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass

import sqlalchemy as sa

from eventlens.catalog import queries
from eventlens.catalog.schema import corrections, faces, photos, runs
from eventlens.catalog.search import PhotoFacts
from eventlens.curate.scoring import PhotoScore
from eventlens.curate.stage import Curation, compute_curation
from eventlens.settings import Settings


@dataclass(frozen=True)
class EventCuration:
    curation: Curation
    facts: dict[str, PhotoFacts]  # by photo sha256
    scores: dict[str, PhotoScore]  # by photo sha256
    ranks: dict[str, int]  # by photo sha256, 1 = best

    def duplicate_groups(self) -> list[list[PhotoScore]]:
        """Groups of two or more near-duplicates, each best first, groups in the order of their best photo."""
        members: dict[int, list[PhotoScore]] = defaultdict(list)
        for s in self.curation.ranked:
            members[s.duplicate_group].append(s)
        return [group for group in members.values() if len(group) > 1]


def event_curation(conn: sa.Connection, settings: Settings) -> EventCuration:
    """Score every photo of the catalog as the export does."""
    shown = {p.sha256: p.display_path for p in queries.photos_on_disk(conn)}
    curation = compute_curation(conn, shown, settings.curation, settings.eye_model)
    by_photo: dict[str, list[int]] = defaultdict(list)
    for f in queries.faces_of_photos(conn, None):
        by_photo[f.photo_sha256].append(f.id)
    facts = {}
    for s in curation.ranked:
        decisions = [curation.decisions.get(face_id) for face_id in by_photo.get(s.sha256, [])]
        facts[s.sha256] = PhotoFacts(
            score=s.final_score,
            eyes_open=all(d is None or d.eyes_open is not False for d in decisions),
            smiling=bool(decisions) and all(d is not None and d.smile for d in decisions),
            faces=len(decisions),
        )
    scores = {s.sha256: s for s in curation.ranked}
    ranks = {s.sha256: i for i, s in enumerate(curation.ranked, start=1)}
    return EventCuration(curation, facts, scores, ranks)


def catalog_fingerprint(conn: sa.Connection) -> tuple[object, ...]:
    """Changes whenever a run or a correction may have changed what the curation computes."""
    row = conn.execute(
        sa.select(
            sa.select(sa.func.max(runs.c.id)).scalar_subquery(),
            sa.select(sa.func.max(runs.c.finished_at)).scalar_subquery(),
            sa.select(sa.func.max(corrections.c.id)).scalar_subquery(),
            sa.select(sa.func.count())
            .select_from(corrections)
            .where(corrections.c.undone_by.is_not(None))
            .scalar_subquery(),
            sa.select(sa.func.count()).select_from(photos).scalar_subquery(),
            sa.select(sa.func.count()).select_from(faces).scalar_subquery(),
        )
    ).one()
    return tuple(row)


class CurationCache:
    """The newest :class:`EventCuration` per catalog, recomputed when its fingerprint changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, tuple[tuple[object, ...], EventCuration]] = {}

    def get(self, engine: sa.Engine, settings: Settings) -> EventCuration:
        key = str(engine.url)
        with engine.connect() as conn:
            fingerprint = catalog_fingerprint(conn)
            with self._lock:
                held = self._held.get(key)
                if held is not None and held[0] == fingerprint:
                    return held[1]
            computed = event_curation(conn, settings)
        with self._lock:
            self._held[key] = (fingerprint, computed)
        return computed
