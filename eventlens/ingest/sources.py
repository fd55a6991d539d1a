"""Where photos come from: a folder (with its subfolders) or a ZIP archive.

A source yields :class:`Candidate` files in a stable, sorted order. A folder is walked without recursion;
directory symlinks, unreadable and too deeply nested folders are not read but yielded as candidates
``sub/folder/`` whose problem (``skipped: ...``) says why, so that they are listed in rejected.csv. File
names are yielded as displayable text (:func:`display_text`) beside the exact path. Operating-system clutter
(``.DS_Store``, ``Thumbs.db``, ``__MACOSX/``, AppleDouble ``._*`` files, hidden folders) is skipped and
counted, never reported as a rejected photo. ZIP members are checked before a byte is extracted: unsafe
paths, links, encryption and suspicious compression ratios are rejected with a reason.
"""

from __future__ import annotations

import errno
import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from eventlens.errors import InputError

_SYSTEM_FILES = frozenset({".ds_store", "thumbs.db", "desktop.ini", ".localized", "icon\r"})
_SKIPPED_DIRS = frozenset({"__macosx", ".eventlens", "@eadir", "$recycle.bin"})

#: folders nested deeper than this are reported, not read (a bind-mount loop would otherwise go on until
#: the path is too long for the system)
MAX_FOLDER_DEPTH = 2_048


def is_system_clutter(rel_path: str) -> bool:
    """True for files that operating systems leave in photo folders and archives."""
    parts = PurePosixPath(rel_path).parts
    name = parts[-1].lower() if parts else ""
    if name in _SYSTEM_FILES or name.startswith("._"):
        return True
    return any(p.lower() in _SKIPPED_DIRS or (p.startswith(".") and p not in (".", "..")) for p in parts[:-1])


@dataclass(frozen=True)
class Candidate:
    """One file of a source. ``rel_path`` uses ``/``, is relative to the source root and is the name as
    shown (:func:`display_text`); ``path`` is exact, for opening the file."""

    rel_path: str
    size_bytes: int
    mtime_ns: int
    path: Path | None = None  # a file on disk (folder sources)
    zip_member: zipfile.ZipInfo | None = None  # a member (ZIP sources)
    problem: str | None = None  # set when the file must be rejected before reading it


def display_text(text: str) -> str:
    """``text`` as valid UTF-8: bytes of a file name that are not UTF-8 shown as ``\\xNN`` escapes.

    Python gives such bytes as lone surrogates (``surrogateescape``), which SQLite, CSV and JSON cannot
    hold; every other character is kept as it is.
    """
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no file system produced
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def _folder_problem(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "skipped: permission denied (the folder cannot be listed by this user)"
    if exc.errno == errno.ENAMETOOLONG:
        return "skipped: path too long (longer than the operating system allows)"
    return f"skipped: cannot read the folder ({exc.strerror or exc})"


def _is_folder(entry: os.DirEntry[str]) -> tuple[bool, bool]:
    """(is a folder, is a symbolic link to a folder); a broken or unreadable entry is neither."""
    try:
        if entry.is_dir(follow_symlinks=False):
            return True, False
        return False, entry.is_symlink() and entry.is_dir()
    except OSError:
        return False, False


def _resolves_to(link: Path, target: Path) -> bool:
    try:
        return link.resolve() == target
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python 3.11)
        return False


def _file(path: Path, rel: str) -> Candidate:
    try:
        st = path.stat()
    except OSError as exc:
        return Candidate(rel, 0, 0, path, problem=f"cannot read file: {exc.strerror}")
    if not stat.S_ISREG(st.st_mode):
        return Candidate(rel, 0, 0, path, problem="not a regular file")
    return Candidate(rel, st.st_size, st.st_mtime_ns, path)


def iter_folder(root: Path, exclude: Path | None = None) -> tuple[list[Candidate], int]:
    """All files under ``root``, and the number of clutter files skipped.

    Folders are walked with an explicit stack (no recursion, so any depth), each folder's entries in
    sorted order, a folder's files before its subfolders'. A directory symlink is not followed, and a
    folder that cannot be listed, is nested deeper than :data:`MAX_FOLDER_DEPTH` or has a path too long
    for the system is not read: each becomes a candidate ``sub/folder/`` with a ``skipped: ...`` problem.
    ``exclude`` (e.g. the output folder when it lies inside the input) is not descended into. Raises
    :class:`InputError` when ``root`` itself cannot be listed.
    """
    root = root.resolve()
    excluded = exclude.resolve() if exclude is not None else None
    found: list[Candidate] = []
    skipped = 0
    shown: dict[str, int] = {}  # display path -> times seen, to tell escaped names from real ones
    stack: list[tuple[Path, str, int]] = [(root, "", 0)]  # folder, its relative path + "/", depth
    while stack:
        folder, prefix, depth = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            if not prefix:
                raise InputError(
                    f"cannot read the folder {display_text(str(root))}: {exc.strerror or exc}"
                ) from exc
            found.append(Candidate(display_text(prefix), 0, 0, folder, problem=_folder_problem(exc)))
            continue
        subfolders = []
        for entry in entries:
            rel = prefix + entry.name
            is_dir, is_dir_link = _is_folder(entry)
            path = folder / entry.name
            if is_dir or is_dir_link:
                if entry.name.startswith(".") or entry.name.lower() in _SKIPPED_DIRS or path == excluded:
                    continue
                if is_dir_link and excluded is not None and _resolves_to(path, excluded):
                    continue  # the output folder, reached through a link
                if is_dir_link:
                    found.append(
                        Candidate(display_text(rel + "/"), 0, 0, path, problem="skipped: directory symlink")
                    )
                elif depth + 1 > MAX_FOLDER_DEPTH:
                    problem = f"skipped: folder nested deeper than {MAX_FOLDER_DEPTH} levels"
                    found.append(Candidate(display_text(rel + "/"), 0, 0, path, problem=problem))
                else:
                    subfolders.append((path, rel + "/", depth + 1))
                continue
            if is_system_clutter(rel):
                skipped += 1
                continue
            candidate = _file(path, display_text(rel))
            shown[candidate.rel_path] = shown.get(candidate.rel_path, 0) + 1
            if shown[candidate.rel_path] > 1:  # a real "\\xNN" in one name, the same escape in another
                candidate = Candidate(
                    f"{candidate.rel_path} (name collision #{shown[candidate.rel_path]})",
                    candidate.size_bytes,
                    candidate.mtime_ns,
                    path,
                    problem="name collides with another once its non-UTF-8 bytes are escaped (rename it)",
                )
            found.append(candidate)
        stack.extend(reversed(subfolders))
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
