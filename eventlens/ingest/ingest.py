"""The ingest stage: register the photos of a folder or ZIP in the catalog.

For every file: hash (SHA-256), read the header (format, size as displayed, EXIF orientation and capture
time), refuse what cannot be a usable photo with a one-line reason, and record the path. Exact duplicates
become one photo with several paths. A file whose size and modification time are unchanged since the
last ingest is not read again, so re-running is cheap; files that vanished are marked ``missing``.
Originals are only ever opened for reading; ZIP members are extracted into the content-addressed store.

File names whatever their bytes: ``photo_paths.rel_path`` is what humans see, in the catalog and every
output file: the name as UTF-8 text, with each byte that is not UTF-8 shown as a ``\\xNN`` escape
(``latin1_\\xe9t\\xe9.png``; see :func:`eventlens.ingest.sources.display_text`). That form reverses to
the real bytes unless the name also holds such an escape literally; two names that would show alike are
told apart by rejecting the second (``name collides ...``). ``photos.local_path`` must open the file
exactly, and SQLite cannot store a path that is not UTF-8: such a file is therefore read once into the
content-addressed store, as a ZIP member is, and ``local_path`` names that copy. The original is still
only read; a re-run copies it again only if the copy is gone.

Protecting the output: a source ingested before into this catalog that now holds no files, or lacks more
than ``max_shrink_fraction`` of the photos it held (an unmounted card, a wrong folder), is refused with
:class:`InputError` before anything is written (only the attempt stays in ``runs``, as a failed run),
unless ``allow_shrink`` accepts it.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import sqlalchemy as sa

from eventlens.catalog.schema import photo_paths, photos, sources
from eventlens.errors import InputError, RejectedFile
from eventlens.imaging.decode import ImageHeader, probe
from eventlens.ingest.sources import Candidate, display_text, iter_folder, iter_zip
from eventlens.progress import SILENT, Progress
from eventlens.settings import Settings
from eventlens.storage import LocalStore, sha256_file
from eventlens.summaries import IngestSummary

_COMMIT_EVERY = 200
_SIDECAR_SUFFIXES = {".xmp": "XMP sidecar", ".aae": "Apple edit sidecar", ".thm": "video thumbnail"}


def _source_kind(path: Path) -> str:
    if not path.exists():
        raise InputError(f"{path} does not exist")
    if path.is_dir():
        return "folder"
    if zipfile.is_zipfile(path):
        return "zip"
    raise InputError(f"{path} is neither a folder nor a ZIP archive")


def _upsert_source(conn: sa.Connection, kind: str, uri: str, run_id: int | None) -> int:
    row = conn.execute(sa.select(sources.c.id).where(sources.c.uri == uri)).first()
    if row:
        return int(row.id)
    key = conn.execute(sources.insert().values(kind=kind, uri=uri, added_run=run_id)).inserted_primary_key
    assert key is not None  # an INSERT always has one
    return int(key[0])


def _reason_key(reason: str) -> str:
    """A reason without details (``skipped: permission denied (...)``: ``skipped: permission denied``)."""
    head, _, rest = reason.partition(":")
    if head == "skipped" and rest:
        return f"skipped: {_reason_key(rest.strip())}"
    return head.split("(")[0].strip()


class _Ingester:
    def __init__(
        self, conn: sa.Connection, source_id: int, settings: Settings, store: LocalStore, run_id: int | None
    ):
        self.conn = conn
        self.source_id = source_id
        self.settings = settings
        self.store = store
        self.run_id = run_id
        self.max_file_bytes = int(settings.max_file_mb * 1e6)
        self.known = {
            r.rel_path: r
            for r in conn.execute(sa.select(photo_paths).where(photo_paths.c.source_id == source_id))
        }

    def unchanged(self, c: Candidate) -> bool:
        prev = self.known.get(c.rel_path)
        return (
            c.path is not None
            and prev is not None
            and prev.status in ("ok", "rejected")
            and prev.size_bytes == c.size_bytes
            and prev.mtime_ns == c.mtime_ns
            and (prev.status == "rejected" or prev.sha256 is not None)
            and (prev.status == "rejected" or _is_text(str(c.path)) or self._copy_exists(prev.sha256))
        )

    def _copy_exists(self, sha: str) -> bool:
        """Whether the store still holds the copy of a file read into it (see the module docstring)."""
        row = self.conn.execute(sa.select(photos.c.local_path).where(photos.c.sha256 == sha)).first()
        return row is not None and Path(row.local_path).exists()

    def _record_path(self, c: Candidate, sha: str | None, status: str, reason: str | None) -> None:
        values = dict(sha256=sha, size_bytes=c.size_bytes, mtime_ns=c.mtime_ns, status=status, reason=reason)
        if c.rel_path in self.known:
            self.conn.execute(
                photo_paths.update()
                .where(photo_paths.c.source_id == self.source_id, photo_paths.c.rel_path == c.rel_path)
                .values(**values)
            )
        else:
            self.conn.execute(
                photo_paths.insert().values(source_id=self.source_id, rel_path=c.rel_path, **values)
            )

    def reject(self, c: Candidate, reason: str, summary: IngestSummary) -> None:
        self._record_path(c, None, "rejected", reason)
        summary.rejected += 1
        key = _reason_key(reason)
        summary.reasons[key] = summary.reasons.get(key, 0) + 1

    def read(self, c: Candidate, archive: zipfile.ZipFile | None) -> tuple[str, Path, ImageHeader]:
        """Hash and probe one candidate; a ZIP member is first extracted into the store."""
        _precheck(c, self.max_file_bytes)
        if archive is None:
            assert c.path is not None
            local = c.path.resolve()
            if _is_text(str(local)):
                return sha256_file(local), local, probe(local, self.settings.max_image_megapixels)
            with open(local, "rb") as original:  # a path SQLite cannot store: read from a copy
                sha, stored = self.store.put_stream(original, Path(c.rel_path).suffix, c.size_bytes)
            return _probe_stored(self, sha, stored)
        return _read_zip_member(self, c, archive)

    def add_photo(
        self, c: Candidate, sha: str, local: Path, header: ImageHeader, summary: IngestSummary
    ) -> None:
        existing = self.conn.execute(sa.select(photos.c.local_path).where(photos.c.sha256 == sha)).first()
        if existing is None:
            self.conn.execute(
                photos.insert().values(
                    sha256=sha,
                    size_bytes=c.size_bytes,
                    format=header.format,
                    width_px=header.width_px,
                    height_px=header.height_px,
                    orientation=header.orientation,
                    taken_at=header.taken_at,
                    local_path=str(local),
                    status="pending",
                    added_run=self.run_id,
                )
            )
            summary.new_photos += 1
        else:
            duplicate_of = self.conn.execute(
                sa.select(photo_paths.c.rel_path).where(
                    photo_paths.c.sha256 == sha,
                    photo_paths.c.status == "ok",
                    sa.not_(
                        sa.and_(
                            photo_paths.c.source_id == self.source_id, photo_paths.c.rel_path == c.rel_path
                        )
                    ),
                )
            ).first()
            prev = self.known.get(c.rel_path)
            if prev is not None and prev.status == "ok" and prev.sha256 == sha:
                summary.unchanged += 1  # the same bytes at the same path: a ZIP read again, or a touched file
            elif duplicate_of is not None:
                summary.duplicates += 1
            else:
                summary.new_photos += 1
            if not Path(existing.local_path).exists():
                self.conn.execute(photos.update().where(photos.c.sha256 == sha).values(local_path=str(local)))
        self._record_path(c, sha, "ok", None)


def ingest(
    engine: sa.Engine,
    source: Path,
    settings: Settings,
    store: LocalStore,
    run_id: int | None = None,
    progress: Progress = SILENT,
    exclude: Path | None = None,
    allow_shrink: bool = False,
) -> IngestSummary:
    """Register every file of ``source`` (a folder or a .zip) in the catalog; see the module docstring.

    Raises :class:`InputError`, changing nothing, when ``source`` shrank (unless ``allow_shrink``).
    """
    kind = _source_kind(source)
    root = source.resolve()
    uri = display_text(str(root))
    summary = IngestSummary(source=uri)
    archive: zipfile.ZipFile | None = None
    if kind == "folder":
        candidates, summary.skipped_system_files = iter_folder(source, exclude)
    else:
        try:
            archive = zipfile.ZipFile(source)
        except (zipfile.BadZipFile, OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read ZIP {uri}: {exc}") from exc
        candidates, summary.skipped_system_files = iter_zip(
            archive,
            int(settings.max_file_mb * 1e6),
            settings.max_zip_ratio,
            int(settings.max_zip_uncompressed_mb * 1e6),
        )
    summary.files = len(candidates)
    try:
        if not allow_shrink:
            with engine.connect() as conn:
                _refuse_a_shrunk_source(conn, uri, candidates, settings.max_shrink_fraction)
        with engine.begin() as conn:
            source_id = _upsert_source(conn, kind, uri, run_id)
        seen: set[str] = set()
        with progress.bar(len(candidates), "ingest") as bar:
            for start in range(0, len(candidates), _COMMIT_EVERY):
                with engine.begin() as conn:
                    worker = _Ingester(conn, source_id, settings, store, run_id)
                    for c in candidates[start : start + _COMMIT_EVERY]:
                        seen.add(c.rel_path)
                        _ingest_one(worker, c, archive, summary)
                        bar.advance()
        with engine.begin() as conn:
            summary.missing = _mark_missing(conn, source_id, seen)
            if kind == "folder":
                _relocate_vanished(conn, source_id, root)
    finally:
        if archive is not None:
            archive.close()
    return summary


def _refuse_a_shrunk_source(
    conn: sa.Connection, uri: str, candidates: list[Candidate], max_fraction: float
) -> None:
    """Raise :class:`InputError` when a known source now holds no files, or lacks more than
    ``max_fraction`` of the photos it held (see the module docstring)."""
    row = conn.execute(sa.select(sources.c.id).where(sources.c.uri == uri)).first()
    if row is None:
        return
    held = conn.execute(
        sa.select(photo_paths.c.rel_path, photo_paths.c.status).where(
            photo_paths.c.source_id == row.id, photo_paths.c.status != "missing"
        )
    ).all()
    accept = "nothing was changed; run again with --allow-shrink to accept that they are gone"
    if held and not candidates:
        raise InputError(
            f"{uri} holds no files now, but {len(held)} were ingested from it before "
            f"(is the card or drive mounted?); {accept}"
        )
    photos_held = [r.rel_path for r in held if r.status == "ok"]
    names = {c.rel_path for c in candidates}
    gone = sum(1 for rel in photos_held if rel not in names)
    if photos_held and gone / len(photos_held) > max_fraction:
        raise InputError(
            f"{gone} of the {len(photos_held)} photos ingested from {uri} before are gone, more than "
            f"{max_fraction:.0%} (setting max_shrink_fraction); {accept}"
        )


def _ingest_one(
    worker: _Ingester, c: Candidate, archive: zipfile.ZipFile | None, summary: IngestSummary
) -> None:
    if c.problem:
        worker.reject(c, c.problem, summary)
        return
    if worker.unchanged(c):
        summary.unchanged += 1
        prev = worker.known[c.rel_path]
        if prev.status == "rejected":
            summary.rejected += 1
            key = _reason_key(prev.reason or "")
            summary.reasons[key] = summary.reasons.get(key, 0) + 1
        return
    try:
        sha, local, header = worker.read(c, archive)
    except RejectedFile as exc:
        worker.reject(c, exc.reason, summary)
        return
    except OSError as exc:
        worker.reject(c, f"cannot read file: {exc.strerror or exc}", summary)
        return
    worker.add_photo(c, sha, local, header, summary)


def _read_zip_member(
    worker: _Ingester, c: Candidate, archive: zipfile.ZipFile
) -> tuple[str, Path, ImageHeader]:
    assert c.zip_member is not None
    try:
        with archive.open(c.zip_member) as member:
            sha, stored = worker.store.put_stream(member, Path(c.rel_path).suffix, c.size_bytes)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise RejectedFile(f"damaged ZIP member: {exc}") from None
    return _probe_stored(worker, sha, stored)


def _probe_stored(worker: _Ingester, sha: str, stored: Path) -> tuple[str, Path, ImageHeader]:
    """Probe a copy in the store; a copy that is no photo (and no other photo's) is removed again."""
    try:
        header = probe(stored, worker.settings.max_image_megapixels)
    except RejectedFile:
        in_use = worker.conn.execute(sa.select(photos.c.sha256).where(photos.c.sha256 == sha)).first()
        if in_use is None:
            worker.store.discard(stored)
        raise
    return sha, stored, header


def _is_text(path: str) -> bool:
    """Whether ``path`` can be stored as text (it holds no byte that is not UTF-8)."""
    return display_text(path) == path


def _precheck(c: Candidate, max_file_bytes: int) -> None:
    """Refusals that need no reading: empty, too large, or a known non-photo sidecar."""
    if c.size_bytes == 0:
        raise RejectedFile("empty file (0 bytes)")
    if c.size_bytes > max_file_bytes:
        raise RejectedFile(f"file of {c.size_bytes / 1e6:,.0f} MB exceeds the limit (setting max_file_mb)")
    kind = _SIDECAR_SUFFIXES.get(Path(c.rel_path).suffix.lower())
    if kind:
        raise RejectedFile(f"{kind} file, not a photo")


def _mark_missing(conn: sa.Connection, source_id: int, seen: set[str]) -> int:
    rows = conn.execute(
        sa.select(photo_paths.c.id, photo_paths.c.rel_path).where(
            photo_paths.c.source_id == source_id, photo_paths.c.status != "missing"
        )
    ).all()
    gone = [r.id for r in rows if r.rel_path not in seen]
    if gone:
        conn.execute(photo_paths.update().where(photo_paths.c.id.in_(gone)).values(status="missing"))
    return len(gone)


def _relocate_vanished(conn: sa.Connection, source_id: int, root: Path) -> None:
    """Point photos whose recorded file vanished at another path of this source holding the same bytes.

    An unchanged duplicate is not read again, so without this a photo whose first-seen file was deleted
    would keep pointing at it and the export would fail to link it.
    """
    rows = conn.execute(
        sa.select(photos.c.sha256, photos.c.local_path, photo_paths.c.rel_path)
        .join(photo_paths, photo_paths.c.sha256 == photos.c.sha256)
        .where(photo_paths.c.source_id == source_id, photo_paths.c.status == "ok")
        .order_by(photo_paths.c.rel_path)
    ).all()
    moved: dict[str, Path] = {}
    for r in rows:
        if r.sha256 not in moved and not Path(r.local_path).exists() and (root / r.rel_path).is_file():
            moved[r.sha256] = root / r.rel_path
    for sha, path in moved.items():
        conn.execute(photos.update().where(photos.c.sha256 == sha).values(local_path=str(path)))
