"""The content-addressed store for bytes extracted from ZIPs."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from eventlens.errors import RejectedFile
from eventlens.storage import LocalStore, sha256_file


def test_put_stream_stores_by_content_hash(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    data = b"photo bytes" * 1000
    sha, path = store.put_stream(io.BytesIO(data), ".JPG", max_bytes=len(data))
    assert sha == hashlib.sha256(data).hexdigest()
    assert path == tmp_path / "store" / sha[:2] / f"{sha}.jpg"
    assert path.read_bytes() == data and sha256_file(path) == sha
    again_sha, again_path = store.put_stream(io.BytesIO(data), ".jpg", max_bytes=len(data))
    assert (again_sha, again_path) == (sha, path)
    assert [p.name for p in (tmp_path / "store").rglob("*") if p.is_file()] == [path.name]  # no temp left


def test_a_stream_longer_than_declared_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    with pytest.raises(RejectedFile, match="beyond its declared size"):
        store.put_stream(io.BytesIO(bytes(5000)), ".png", max_bytes=4000)
    assert [p for p in (tmp_path / "store").rglob("*") if p.is_file()] == []


def test_discard_only_removes_files_inside_the_store(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    _, inside = store.put_stream(io.BytesIO(b"x"), ".txt", max_bytes=10)
    outside = tmp_path / "original.jpg"
    outside.write_bytes(b"keep")
    store.discard(outside)
    assert outside.read_bytes() == b"keep"
    store.discard(inside)
    assert not inside.exists()
