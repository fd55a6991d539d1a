"""The export's file helpers: a file is only ever created new, and a link becomes a copy only where no
link is possible."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from eventlens.export import safe_files
from eventlens.export.safe_files import copy_new, open_new, place, write_csv


@pytest.fixture
def original(tmp_path: Path) -> Path:
    path = tmp_path / "photos" / "p.jpg"
    path.parent.mkdir()
    path.write_bytes(b"original bytes")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    return path


@pytest.mark.parametrize("mode", ["hardlink", "copy", "symlink"])
def test_nothing_is_placed_over_an_existing_path(original: Path, tmp_path: Path, mode: str) -> None:
    other = tmp_path / "other.jpg"
    other.write_bytes(b"other")
    dst = tmp_path / "out.jpg"
    os.link(original, dst)  # the path already leads to the original
    with pytest.raises(FileExistsError):
        place(other, dst, mode)
    assert original.read_bytes() == b"original bytes"


def test_writing_never_follows_a_link(original: Path, tmp_path: Path) -> None:
    for link in (tmp_path / "hard.json", tmp_path / "soft.json"):
        if link.name.startswith("hard"):
            os.link(original, link)
        else:
            link.symlink_to(original)
        with pytest.raises(FileExistsError):
            write_csv(link, ["a"], [["b"]])
        with pytest.raises(FileExistsError), open_new(link) as fp:
            fp.write("x")
    assert original.read_bytes() == b"original bytes"


@pytest.mark.parametrize("code", [errno.EXDEV, errno.EPERM, errno.EACCES, errno.EMLINK])
def test_a_link_that_is_not_possible_becomes_a_copy(
    original: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(safe_files.os, "link", refuse)
    dst = tmp_path / "copy.jpg"
    assert place(original, dst, "hardlink") == "copy"
    assert dst.read_bytes() == b"original bytes" and dst.stat().st_ino != original.stat().st_ino
    assert dst.stat().st_mtime_ns == original.stat().st_mtime_ns  # as shutil.copy2


def test_other_link_errors_raise(original: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(safe_files.os, "link", broken)
    with pytest.raises(OSError, match="Input/output"):
        place(original, tmp_path / "x.jpg", "hardlink")
    assert not (tmp_path / "x.jpg").exists()


def test_copy_new_keeps_the_original(original: Path, tmp_path: Path) -> None:
    copy_new(original, tmp_path / "c.jpg")
    with pytest.raises(FileExistsError):
        copy_new(tmp_path / "c.jpg", original)
    assert original.read_bytes() == b"original bytes"
