"""Photo bytes for the web UI: thumbnails (made once per photo and size, cached on disk) and originals.

    GET /events/{event_id}/thumbs/{size_px}/{sha256}.jpg     a JPEG, ETag and immutable caching
    GET /events/{event_id}/photos/{sha256}/original          the file as uploaded, as an attachment

Both need a session (any role) or a signed, unexpired URL (``thumb_url`` / ``original_url`` in templates,
:mod:`eventlens.web.signed_urls`): 401 without either, 403 for a signature that is wrong or expired.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, Response
from starlette.concurrency import run_in_threadpool

from eventlens.catalog import queries
from eventlens.errors import NotFoundError, RejectedFile
from eventlens.imaging.thumbnails import THUMBNAIL_SIZES_PX, ensure_thumbnail
from eventlens.service.routes import service_of
from eventlens.web.auth import current_user
from eventlens.web.event_access import event_engine

router = APIRouter(tags=["web"], include_in_schema=False)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
#: catalog ``photos.format`` (Pillow's names) -> media type
MEDIA_TYPES = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "TIFF": "image/tiff",
    "BMP": "image/bmp",
    "HEIF": "image/heif",
    "HEIC": "image/heic",
    "AVIF": "image/avif",
    "JXL": "image/jxl",
}
_IMMUTABLE = "private, max-age=31536000, immutable"


def photo_access(request: Request) -> None:
    """A session of any role, or a valid signature of this very path."""
    exp, sig = request.query_params.get("exp"), request.query_params.get("sig")
    if exp is not None or sig is not None:
        if request.app.state.web.signer.verify(request.url.path, exp, sig):
            return
        if current_user(request) is None:
            raise HTTPException(403, "this photo link has expired or was altered: open the page again")
    if current_user(request) is None:
        raise HTTPException(401, "log in, or use a signed link from a page of the web UI")


def _check_sha(sha256: str) -> str:
    if not _SHA256.match(sha256):
        raise HTTPException(404, f"{sha256!r} is not a photo's SHA-256")
    return sha256


def _photo(request: Request, event_id: str, sha256: str) -> queries.PhotoView:
    engine = event_engine(request, event_id)
    try:
        with engine.connect() as conn:
            return queries.photo(conn, sha256)
    except NotFoundError:
        raise HTTPException(404, f"no photo {sha256} in event {event_id!r}") from None


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII ``filename`` and the exact name as RFC 5987 ``filename*``."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename) or "photo"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.get("/events/{event_id}/thumbs/{size_px}/{sha256}.jpg", dependencies=[Depends(photo_access)])
async def thumbnail(request: Request, event_id: str, size_px: int, sha256: str) -> Response:
    if size_px not in THUMBNAIL_SIZES_PX:
        sizes = ", ".join(map(str, THUMBNAIL_SIZES_PX))
        raise HTTPException(404, f"no thumbnail size {size_px} px (sizes: {sizes})")
    _check_sha(sha256)
    etag = f'"{sha256}-{size_px}"'
    headers = {"ETag": etag, "Cache-Control": _IMMUTABLE}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    service = service_of(request)
    photo = await run_in_threadpool(_photo, request, event_id, sha256)
    cache_dir = service.data.event_dir(event_id) / ".eventlens" / "thumbs"
    try:
        thumb = await run_in_threadpool(
            ensure_thumbnail,
            Path(photo.local_path),
            cache_dir,
            sha256,
            size_px,
            service.settings.max_image_megapixels,
        )
    except (RejectedFile, OSError) as exc:
        raise HTTPException(404, f"photo {sha256} cannot be shown: {exc}") from None
    if thumb.made:
        service.metrics.thumbnails_made.inc()
    return FileResponse(thumb.path, media_type="image/jpeg", headers=headers)


@router.get("/events/{event_id}/photos/{sha256}/original", dependencies=[Depends(photo_access)])
def original(request: Request, event_id: str, sha256: Annotated[str, Depends(_check_sha)]) -> Response:
    photo = _photo(request, event_id, sha256)
    path = Path(photo.local_path)
    if not path.is_file():
        raise HTTPException(404, f"the file of photo {sha256} is no longer at {photo.display_path}")
    return FileResponse(
        path,
        media_type=MEDIA_TYPES.get((photo.format or "").upper(), "application/octet-stream"),
        headers={
            "Content-Disposition": content_disposition(Path(photo.display_path).name),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
        },
    )
