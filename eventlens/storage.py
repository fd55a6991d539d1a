"""Where eventlens keeps bytes it had to copy (photos extracted from a ZIP), addressed by content hash.

Photos from a folder are read where they are and never modified; only one whose path is not UTF-8 text is
copied here (see :mod:`eventlens.ingest.ingest`). :class:`LocalStore` is the
only implementation today; an S3-compatible store implements the same three methods.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import IO, Protocol

from eventlens.errors import RejectedFile

_CHUNK_BYTES = 1 << 20


class PhotoStore(Protocol):
    def put_stream(self, stream: IO[bytes], suffix: str, max_bytes: int) -> tuple[str, Path]: ...

    def local_path(self, sha256: str, suffix: str) -> Path: ...

    def discard(self, path: Path) -> None: ...


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as fp:
        while chunk := fp.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


class LocalStore:
    """Content-addressed files under ``root/ab/<sha256><suffix>``; writes are atomic (temp + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def local_path(self, sha256: str, suffix: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}{suffix.lower()}"

    def put_stream(self, stream: IO[bytes], suffix: str, max_bytes: int) -> tuple[str, Path]:
        """Copy ``stream`` into the store, hashing as it goes; refuse more than ``max_bytes``."""
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        written = 0
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(_CHUNK_BYTES):
                    written += len(chunk)
                    if written > max_bytes:
                        raise RejectedFile(f"member expands beyond its declared size ({max_bytes:,} bytes)")
                    digest.update(chunk)
                    out.write(chunk)
            sha = digest.hexdigest()
            final = self.local_path(sha, suffix)
            final.parent.mkdir(parents=True, exist_ok=True)
            if final.exists():
                tmp.unlink()
            else:
                os.replace(tmp, final)
            return sha, final
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def discard(self, path: Path) -> None:
        """Remove a stored file that turned out not to be a usable photo."""
        if path.is_relative_to(self.root):
            path.unlink(missing_ok=True)
