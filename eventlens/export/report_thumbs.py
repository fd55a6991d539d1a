"""The thumbnails ``report.html`` shows: which size each image needs, made once, in parallel.

They live in the shared thumbnail cache ``OUT/.eventlens/thumbs`` (:mod:`eventlens.imaging.thumbnails`:
one file per photo and size, named by the photo's SHA-256), so a re-export, or the web UI, makes only the
thumbnails of new photos. Only missing thumbnails are sent to the workers; a photo that cannot be decoded
any more (its file changed since it was analysed) gets no thumbnail and the report shows its name instead.
"""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

from eventlens.errors import RejectedFile
from eventlens.export.parallel import map_jobs
from eventlens.imaging.thumbnails import THUMBNAIL_SIZES_PX, ensure_thumbnail, thumbnail_path

log = logging.getLogger(__name__)

#: under OUT/.eventlens
THUMBS_DIR = "thumbs"
#: size of the best-photo thumbnails (longer side, px)
PHOTO_THUMB_PX = 256
#: a face tile is drawn this many CSS px wide; its thumbnail is the smallest that gives it as many pixels
FACE_TILE_PX = 80
#: sizes face tiles may be cut from (the smallest, 128, rarely has enough pixels for a face)
FACE_THUMB_SIZES_PX = tuple(s for s in THUMBNAIL_SIZES_PX if s >= PHOTO_THUMB_PX)


def face_thumb_px(region_px: float, longer_side_px: int) -> int:
    """The thumbnail size to cut a face tile from: the smallest in which the tile's region (``region_px``
    of the photo, whose longer side is ``longer_side_px``) spans :data:`FACE_TILE_PX` pixels, or which
    holds the photo at full size; else the largest."""
    for size in FACE_THUMB_SIZES_PX:
        if longer_side_px <= size or region_px * size / longer_side_px >= FACE_TILE_PX:
            return size
    return FACE_THUMB_SIZES_PX[-1]


@dataclass(frozen=True)
class ThumbnailJob:
    """One missing thumbnail (picklable, so worker processes can make it)."""

    source: Path
    cache_dir: Path
    sha256: str
    size_px: int
    max_megapixels: float


def make_thumbnail(job: ThumbnailJob) -> str | None:
    """Make the thumbnail of ``job``; ``None`` when made (or already there), else why it could not be."""
    try:
        ensure_thumbnail(job.source, job.cache_dir, job.sha256, job.size_px, job.max_megapixels)
    except RejectedFile as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class ThumbnailsReady:
    available: frozenset[tuple[str, int]]  # (sha256, size_px) present in the cache
    made: int


def ensure_thumbnails(
    wanted: dict[tuple[str, int], Path],
    cache_dir: Path,
    max_megapixels: float,
    executor: Executor | None,
    threads: int,
) -> ThumbnailsReady:
    """Make the missing thumbnails of ``wanted`` ((sha256, size_px) -> the photo's file) in parallel,
    on ``executor`` or ``threads`` threads (see :func:`eventlens.export.parallel.map_jobs`)."""
    missing = [
        ThumbnailJob(source, cache_dir, sha, size, max_megapixels)
        for (sha, size), source in sorted(wanted.items())
        if not thumbnail_path(cache_dir, sha, size).is_file()
    ]
    errors = map_jobs(make_thumbnail, missing, executor, threads)
    failed = set()
    for job, error in zip(missing, errors, strict=True):
        if error is not None:
            log.warning("no thumbnail of %s for report.html: %s", job.source, error)
            failed.add((job.sha256, job.size_px))
    return ThumbnailsReady(frozenset(set(wanted) - failed), len(missing) - len(failed))
