"""Where photos come from: a folder (recursive) or a ZIP archive.

A source yields :class:`Candidate` files in a stable, sorted order. Operating-system clutter
(``.DS_Store``, ``Thumbs.db``, ``__MACOSX/``, AppleDouble ``._*`` files, hidden folders) is skipped and
counted, never reported as a rejected photo. ZIP members are checked before a byte is extracted: unsafe
paths, links, encryption and suspicious compression ratios are rejected with a reason.
"""

from __future__ import annotations

import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from eventlens.errors import InputError

_SYSTEM_FILES = frozenset({".ds_store", "thumbs.db", "desktop.ini", ".localized", "icon\r"})
_SKIPPED_DIRS = frozenset({"__macosx", ".eventlens", "@eadir", "$recycle.bin"})


def is_system_clutter(rel_path: str) -> bool:
    """True for files that operating systems leave in photo folders and archives."""
    parts = PurePosixPath(rel_path).parts
    name = parts[-1].lower() if parts else ""
    if name in _SYSTEM_FILES or name.startswith("._"):
        return True
    return any(p.lower() in _SKIPPED_DIRS or (p.startswith(".") and p not in (".", "..")) for p in parts[:-1])


@dataclass(frozen=True)
class Candidate:
    """One file of a source. ``rel_path`` uses ``/`` and is relative to the source root."""

    rel_path: str
    size_bytes: int
    mtime_ns: int
    path: Path | None = None  # a file on disk (folder sources)
    zip_member: zipfile.ZipInfo | None = None  # a member (ZIP sources)
    problem: str | None = None  # set when the file must be rejected before reading it


def iter_folder(root: Path, exclude: Path | None = None) -> tuple[list[Candidate], int]:
    """All files under ``root`` (sorted), and the number of clutter files skipped.

    ``exclude`` (e.g. the output folder when it lies inside the input) is not descended into.
    """
    root = root.resolve()
    excluded = exclude.resolve() if exclude is not None else None
    found: list[Candidate] = []
    skipped = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not (d.startswith(".") or d.lower() in _SKIPPED_DIRS or (excluded and here / d == excluded))
        )
        for name in sorted(filenames):
            path = here / name
            rel = path.relative_to(root).as_posix()
            if is_system_clutter(rel):
                skipped += 1
                continue
            try:
                st = path.stat()
            except OSError as exc:
                found.append(Candidate(rel, 0, 0, path, problem=f"cannot read file: {exc.strerror}"))
                continue
            if not stat.S_ISREG(st.st_mode):
                found.append(Candidate(rel, 0, 0, path, problem="not a regular file"))
                continue
            found.append(Candidate(rel, st.st_size, st.st_mtime_ns, path))
    return found, skipped


def _unsafe_member_name(name: str) -> str | None:
    if "\x00" in name:
        return "NUL byte in name"
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":"):
        return "absolute path"
    if ".." in PurePosixPath(normalised).parts:
        return "path escapes the archive (..)"
    return None


def iter_zip(
    archive: zipfile.ZipFile, max_file_bytes: int, max_ratio: float, max_total_bytes: int
) -> tuple[list[Candidate], int]:
    """Members of ``archive`` as candidates (sorted by name), and the number of clutter files skipped.

    Raises :class:`InputError` when the declared total size exceeds ``max_total_bytes``.
    """
    infos = [i for i in archive.infolist() if not i.is_dir()]
    total = sum(i.file_size for i in infos)
    if total > max_total_bytes:
        raise InputError(
            f"ZIP expands to {total / 1e6:,.0f} MB, more than the limit of {max_total_bytes / 1e6:,.0f} MB "
            "(setting max_zip_uncompressed_mb)"
        )
    found: list[Candidate] = []
    skipped = 0
    seen: dict[str, int] = {}  # a ZIP may hold several members of one name: only the first is read
    for info in sorted(infos, key=lambda i: i.filename):
        rel = info.filename.replace("\\", "/")
        unsafe = _unsafe_member_name(info.filename)
        mtime_ns = 0
        problem = None
        if unsafe:
            problem = f"unsafe path in ZIP: {unsafe}"
        elif is_system_clutter(rel):
            skipped += 1
            continue
        elif stat.S_ISLNK(info.external_attr >> 16):
            problem = "symbolic link in ZIP (not followed)"
        elif info.flag_bits & 0x1:
            problem = "encrypted ZIP member"
        elif info.file_size > max_file_bytes:
            problem = f"file of {info.file_size / 1e6:,.0f} MB exceeds the limit (setting max_file_mb)"
        elif info.compress_size and info.file_size / info.compress_size > max_ratio:
            problem = (
                f"compression ratio {info.file_size / info.compress_size:,.0f}:1 looks like a ZIP bomb "
                "(setting max_zip_ratio)"
            )
        seen[rel] = seen.get(rel, 0) + 1
        if seen[rel] > 1:  # paths are unique in the catalog: record the repeat under a path of its own
            rel, problem = f"{rel} (duplicate name #{seen[rel]})", "duplicate member name in ZIP (not read)"
        found.append(Candidate(rel, info.file_size, mtime_ns, None, info, problem))
    return found, skipped
