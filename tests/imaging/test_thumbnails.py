"""Thumbnails are made once per photo and size, oriented, bounded, and never stale."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from eventlens.errors import RejectedFile
from eventlens.imaging.thumbnails import THUMBNAIL_SIZES_PX, ensure_thumbnail, thumbnail_path
from eventlens.storage import sha256_file


def _photo(path: Path, size: tuple[int, int], orientation: int = 1) -> Path:
    im = Image.new("RGB", size, (200, 40, 40))
    im.paste((20, 200, 20), (0, 0, size[0] // 2, size[1] // 4))  # a green block top-left
    exif = Image.Exif()
    exif[0x0112] = orientation
    im.save(path, "JPEG", quality=90, exif=exif.tobytes())
    return path


def test_made_once_then_served_from_the_cache(tmp_path: Path) -> None:
    src = _photo(tmp_path / "a.jpg", (3000, 2000))
    sha = sha256_file(src)
    first = ensure_thumbnail(src, tmp_path / "cache", sha, 256, max_megapixels=50)
    assert first.made and first.path == thumbnail_path(tmp_path / "cache", sha, 256)
    mtime = first.path.stat().st_mtime_ns
    again = ensure_thumbnail(src, tmp_path / "cache", sha, 256, max_megapixels=50)
    assert not again.made and again.path.stat().st_mtime_ns == mtime
    with Image.open(first.path) as im:
        assert im.size == (256, 171)
        assert "exif" not in im.info


def test_orientation_applied_and_small_photos_not_upscaled(tmp_path: Path) -> None:
    src = _photo(tmp_path / "r.jpg", (300, 200), orientation=6)  # displayed 200 x 300
    thumb = ensure_thumbnail(src, tmp_path / "c", sha256_file(src), 1024, max_megapixels=50)
    with Image.open(thumb.path) as im:
        assert im.size == (200, 300)


def test_bad_size_hash_and_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not one of"):
        thumbnail_path(tmp_path, "a" * 64, 300)
    with pytest.raises(ValueError, match="SHA-256"):
        thumbnail_path(tmp_path, "../etc/passwd", THUMBNAIL_SIZES_PX[0])
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 100)
    with pytest.raises(RejectedFile):
        ensure_thumbnail(broken, tmp_path / "c", "b" * 64, 128, max_megapixels=50)
    assert not list((tmp_path / "c").rglob("*.jpg"))
