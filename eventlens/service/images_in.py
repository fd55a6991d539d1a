"""Images that enter the service in a request: by URL (downloaded as every untrusted URL is) or uploaded
(multipart), stored content-addressed as ``<sha256>.<ext>`` in a folder, with a size limit."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from eventlens.service.download import DownloadError, DownloadLimits, download_all
from eventlens.service.galleries import Image
from eventlens.service.schemas import ErrorItem
from eventlens.settings import Settings

_CHUNK = 1 << 16
_SUFFIXES = {
    ".jpg",
    ".jpeg",
    ".png",
    ".webp",
    ".heic",
    ".heif",
    ".avif",
    ".gif",
    ".tif",
    ".tiff",
    ".bmp",
    ".jxl",
}


def from_urls(urls: Sequence[str], dest: Path, settings: Settings) -> list[Image]:
    dest.mkdir(parents=True, exist_ok=True)
    limits = DownloadLimits.from_settings(settings)
    out: dict[str, Image] = {}
    for url, result in download_all([(u, u) for u in urls], dest, limits, settings.download_concurrency):
        if isinstance(result, DownloadError):
            out[url] = Image(url, error=ErrorItem(reason=result.reason, message=str(result)))
        else:
            out[url] = Image(url, sha256=result.sha256, path=result.path)
    return [out[u] for u in urls]


def from_upload(stream: IO[bytes], filename: str, dest: Path, max_bytes: int) -> Image:
    """Store an uploaded file; larger than ``max_bytes`` is an error item (nothing kept)."""
    dest.mkdir(parents=True, exist_ok=True)
    suffix = Path(filename or "").suffix.lower()
    suffix = suffix if suffix in _SUFFIXES else ".img"
    digest = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(dir=dest, prefix=".upload-")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    tmp.unlink()
                    return Image(
                        filename,
                        error=ErrorItem(
                            reason="too_large", message=f"{filename}: larger than {max_bytes:,} bytes"
                        ),
                    )
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            tmp.unlink()
            return Image(filename, error=ErrorItem(reason="empty", message=f"{filename}: empty file"))
        sha = digest.hexdigest()
        final = dest / f"{sha}{suffix}"
        if final.exists():
            tmp.unlink()
        else:
            os.replace(tmp, final)
        return Image(filename, sha256=sha, path=final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
