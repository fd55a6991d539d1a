"""Opening the service catalog (``DATA/service.sqlite``) and the folders of a data directory."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from eventlens.catalog.db import create_engine
from eventlens.errors import CatalogError, InputError
from eventlens.service.tables import metadata

#: event, gallery, person, user and photo ids: what may become part of a folder name or a URL path
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$"
_ID = re.compile(ID_PATTERN)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def check_id(kind: str, value: str) -> str:
    if not _ID.match(value):
        raise InputError(
            f"{kind} {value!r} is not a valid id: 1-128 characters of letters, digits and _ . : @ -, "
            "starting with a letter or digit"
        )
    return value


@dataclass(frozen=True)
class DataDir:
    """The folders of ``eventlens serve --data DIR``."""

    root: Path

    @property
    def service_db(self) -> Path:
        return self.root / "service.sqlite"

    def event_dir(self, event_id: str) -> Path:
        """The event's output folder, as the batch job's ``--out`` (its catalog under ``.eventlens``)."""
        return self.root / "events" / check_id("event_id", event_id)

    def downloads(self, event_id: str) -> Path:
        """Where the event's photos are downloaded to (named by their SHA-256); ingested from there."""
        return self.event_dir(event_id) / ".eventlens" / "downloads"

    def selfies(self, event_id: str) -> Path:
        return self.event_dir(event_id) / ".eventlens" / "selfies"

    def uploads(self, event_id: str) -> Path:
        """ZIPs uploaded through the web UI for the event (a collection job's source); deleted with it."""
        return self.root / "uploads" / check_id("event_id", event_id)


def open_service_db(data: DataDir) -> sa.Engine:
    data.root.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{data.service_db.resolve()}"
    engine = create_engine(url)
    try:
        metadata.create_all(engine)
    except sa.exc.DatabaseError as exc:
        raise CatalogError(f"cannot open the service catalog {data.service_db}: {exc.orig}") from exc
    return engine
