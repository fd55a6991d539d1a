"""Opening the catalog: one engine per process, SQLite tuned per connection, migrations applied."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from eventlens.catalog.migrations import migrate
from eventlens.errors import CatalogError

SQLITE_BUSY_TIMEOUT_MS = 10_000


def default_url(out_dir: Path) -> str:
    return f"sqlite:///{(out_dir / '.eventlens' / 'catalog.sqlite').resolve()}"


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def open_catalog(url: str) -> sa.Engine:
    """Create the engine for ``url``, creating the SQLite file's folder, and bring the schema up to date."""
    engine = create_engine(url)
    try:
        migrate(engine)
    except sa.exc.DatabaseError as exc:  # also "file is not a database", not only OperationalError
        raise CatalogError(f"cannot open catalog {url}: {exc.orig}") from exc
    return engine


def create_engine(url: str) -> sa.Engine:
    """The engine for ``url``, creating the SQLite file's folder and tuning each SQLite connection (WAL,
    foreign keys, a busy timeout), without touching the schema."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise CatalogError(f"invalid catalog URL {url!r}: {exc}") from exc
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # e.g. --out names a file
            raise CatalogError(f"cannot create the catalog folder {folder}: {exc.strerror or exc}") from exc
    engine = sa.create_engine(parsed)
    if parsed.get_backend_name() == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine
