"""The export layout (:mod:`eventlens.export.layout`) as a ZIP, produced as a stream of byte chunks.

The layout is first written by :func:`eventlens.export.layout.export` into a private folder next to the
catalog (photos are hard links to the originals when the file system allows, so this costs the CSVs,
the metadata and the face crops, not the photos), then read member by member into :mod:`zipfile`
writing to an unseekable sink: each chunk is handed out as soon as it is made, so neither the ZIP nor a
photo is ever held whole in memory, and the ZIP itself is never written to disk. Members carry data
descriptors and ZIP64 records when needed; JPEGs (already compressed) are STORED, text is DEFLATED.
The folder is removed when the stream ends or is abandoned.

``persons`` limits the ZIP to those person folders (and their face crops); without it every person,
``unassigned/`` and ``best/`` are in. ``best_only`` keeps of each person folder its ``metadata.json``
and its ``best/`` photos. The top-level CSVs (``summary.csv``, ``face_data.csv``, ``photo_scores.csv``,
``rejected.csv``) are always in. Paths are those of ``eventlens export --out DIR``.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import sqlalchemy as sa

from eventlens.curate.stage import BEST_DIR
from eventlens.errors import InputError
from eventlens.export.layout import CLUSTERS_DIR, UNASSIGNED, export
from eventlens.export.safe_files import output_error
from eventlens.settings import Settings

#: bytes read from a member file at a time (the peak a member adds to memory)
READ_CHUNK_BYTES = 1 << 20
_STORED_SUFFIXES = {".jpg", ".jpeg", ".png", ".heic", ".heif", ".webp", ".gif", ".tif", ".tiff", ".zip"}
_WORK = ".eventlens"


@dataclass(frozen=True)
class ZipChoice:
    """Which part of the layout goes into the ZIP (see the module docstring)."""

    persons: tuple[str, ...] | None = None  # person labels; None: all, with unassigned/ and best/
    best_only: bool = False


class _Sink:
    """A write-only, unseekable file for :class:`zipfile.ZipFile`: keeps what was written until taken."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._written = 0

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self._written += len(data)
        return len(data)

    def tell(self) -> int:  # zipfile asks for the offset of each header; seeking stays unsupported
        return self._written

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def _wanted(rel: PurePosixPath, choice: ZipChoice) -> bool:
    top = rel.parts[0]
    if len(rel.parts) == 1:
        return True  # the CSVs
    if top == CLUSTERS_DIR:
        return choice.persons is None or rel.stem in choice.persons
    if top in (BEST_DIR, UNASSIGNED):
        return choice.persons is None and (top == BEST_DIR or not choice.best_only)
    if choice.persons is not None and top not in choice.persons:
        return False
    return not choice.best_only or rel.name == "metadata.json" or rel.parts[1] == BEST_DIR


def layout_members(root: Path, choice: ZipChoice) -> list[tuple[str, Path]]:
    """(path in the ZIP, file) for every file of the export under ``root`` that ``choice`` keeps, sorted."""
    members = []
    for path in root.rglob("*"):
        rel = PurePosixPath(path.relative_to(root).as_posix())
        if rel.parts[0] == _WORK or not path.is_file():
            continue
        if _wanted(rel, choice):
            members.append((rel.as_posix(), path))
    return sorted(members)


def zip_chunks(members: Iterable[tuple[str, Path]]) -> Iterator[bytes]:
    """A ZIP of ``members`` ((name, file) pairs), chunk by chunk (each at most about READ_CHUNK_BYTES)."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", allowZip64=True) as zf:  # type: ignore[call-overload]
        for name, path in members:
            size = path.stat().st_size
            info = zipfile.ZipInfo.from_file(path, name)
            stored = path.suffix.lower() in _STORED_SUFFIXES
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            info.file_size = size
            with path.open("rb") as src, zf.open(info, "w", force_zip64=size >= zipfile.ZIP64_LIMIT) as dst:
                while block := src.read(READ_CHUNK_BYTES):
                    dst.write(block)
                    if chunk := sink.take():
                        yield chunk
            if chunk := sink.take():
                yield chunk
    if chunk := sink.take():  # the central directory
        yield chunk


def check_persons(persons: Sequence[str], known: Iterable[str]) -> tuple[str, ...]:
    """``persons`` as a tuple, or InputError naming the labels the event does not have."""
    unknown = sorted(set(persons) - set(known))
    if unknown:
        raise InputError(
            f"no person {', '.join(unknown)} in this event: give person labels such as person_001 "
            "(see `eventlens person list`)"
        )
    return tuple(persons)


def export_zip(
    engine: sa.Engine, work_dir: Path, settings: Settings, choice: ZipChoice = ZipChoice()
) -> Generator[bytes, None, None]:
    """The export of the catalog behind ``engine`` as ZIP chunks; the layout is built in a private folder
    under ``work_dir`` (on the catalog's file system, for hard links) that is removed afterwards.

    The layout is written before the first chunk is yielded, so errors of the export
    (:class:`~eventlens.errors.OutputError`) are raised by the first ``next()``."""
    work_dir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="zip-export-", dir=work_dir))
    try:
        export(engine, root, settings)
        yield from zip_chunks(layout_members(root, choice))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def write_zip(chunks: Iterable[bytes], zip_file: Path) -> int:
    """Write ``chunks`` to ``zip_file`` (through a temporary file in its folder, renamed at the end, so a
    failed export leaves no partial ZIP); the number of bytes written."""
    zip_file = zip_file.resolve()
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{zip_file.name}.", suffix=".part", dir=zip_file.parent)
    except OSError as exc:
        raise output_error(exc, zip_file.parent) from exc
    tmp = Path(tmp_name)
    written = 0
    try:
        with open(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
                written += len(chunk)
        tmp.replace(zip_file)
    except OSError as exc:
        raise output_error(exc, zip_file.parent) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return written
