"""Thumbnails: made once per photo and size, cached on disk, named by the photo's SHA-256.

One cache layout serves everything that shows photos small (the static ``report.html`` of an export, the web
UI): ``<cache_dir>/<size_px>/<sha[:2]>/<sha>.jpg``. A thumbnail is a JPEG whose longer side is at most
``size_px`` (never upscaled), oriented as displayed, in sRGB-ish RGB without metadata (no EXIF, so no GPS
leaks into a thumbnail). Because photos are keyed by content hash, a thumbnail never goes stale: an unchanged
photo is never decoded again, and :func:`ensure_thumbnail` says whether it made the file.

Decoding uses libjpeg's DCT scaling (``Image.draft``) so a 12 MP JPEG becomes a 320 px thumbnail from a
1/8-size decode.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from eventlens.imaging.decode import decode_pil, probe

#: the sizes callers may ask for (longer side, px); a fixed set keeps the cache bounded and URLs cacheable
THUMBNAIL_SIZES_PX = (128, 256, 512, 1024)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_JPEG_QUALITY = 82


@dataclass(frozen=True)
class Thumbnail:
    path: Path
    made: bool  # False when it was already in the cache


def check_size(size_px: int) -> int:
    if size_px not in THUMBNAIL_SIZES_PX:
        sizes = ", ".join(map(str, THUMBNAIL_SIZES_PX))
        raise ValueError(f"thumbnail size {size_px} px is not one of {sizes}")
    return size_px


def thumbnail_path(cache_dir: Path, sha256: str, size_px: int) -> Path:
    """Where the thumbnail of the photo ``sha256`` at ``size_px`` lives (whether or not it exists yet)."""
    if not _SHA256.match(sha256):
        raise ValueError(f"{sha256!r} is not a SHA-256 hex digest")
    return cache_dir / str(check_size(size_px)) / sha256[:2] / f"{sha256}.jpg"


def render_thumbnail(source: Path, size_px: int, max_megapixels: float) -> bytes:
    """The JPEG bytes of ``source`` reduced so that its longer side is at most ``size_px``."""
    header = probe(source, max_megapixels)
    longer = max(header.width_px, header.height_px, 1)
    im, _scale = decode_pil(source, max_megapixels, min_scale=min(1.0, size_px / longer))
    if max(im.size) > size_px:
        im.thumbnail((size_px, size_px), Image.Resampling.LANCZOS, reducing_gap=2.0)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=_JPEG_QUALITY, optimize=True)
    return buf.getvalue()


def ensure_thumbnail(
    source: Path, cache_dir: Path, sha256: str, size_px: int, max_megapixels: float
) -> Thumbnail:
    """The cached thumbnail of ``source`` (content hash ``sha256``) at ``size_px``, made if missing.

    Written atomically (temporary file, rename), so concurrent callers and a kill never leave half a JPEG.
    Raises :class:`~eventlens.errors.RejectedFile` when ``source`` cannot be decoded.
    """
    target = thumbnail_path(cache_dir, sha256, size_px)
    if target.exists():
        return Thumbnail(target, made=False)
    data = render_thumbnail(source, size_px, max_megapixels)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".jpg")
    try:
        with os.fdopen(fd, "wb") as fp:
            fp.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Thumbnail(target, made=True)
