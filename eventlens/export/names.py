"""File names of the photos in the export: never one that eventlens writes itself, never two alike.

A photo keeps its own name unless that name is one eventlens writes (``metadata.json``, ``best``, ...),
is shared by another photo of the same folder (compared as a case-insensitive file system would), or is
too long to take a rank prefix. Such a photo is named ``<stem>__<first 10 hex of its sha256><suffix>``,
with more of the hash (then a counter) when that name is taken too, and the stem shortened so that every
name fits in :data:`~eventlens.export.safe_files.NAME_MAX_BYTES`. The result depends only on the photos'
paths and hashes, so re-exports give the same names.
"""

from __future__ import annotations

import itertools
import os
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath

from eventlens.export.safe_files import NAME_MAX_BYTES

#: names eventlens writes into the output folder or a person folder; no photo is given one of them
RESERVED_NAMES = frozenset(
    {
        "metadata.json",
        "best",
        "summary.csv",
        "face_data.csv",
        "photo_scores.csv",
        "rejected.csv",
        "report.html",
        "cluster_labels.json",
        "output_clusters",
        "unassigned",
        ".eventlens",
    }
)
#: a suffix longer than this is taken as part of the name, not kept as the extension
_MAX_SUFFIX_BYTES = 16


def name_key(name: str) -> str:
    """What a case-insensitive, normalising file system (macOS, Windows) compares."""
    return unicodedata.normalize("NFC", name).casefold()


_RESERVED_KEYS = frozenset(name_key(n) for n in RESERVED_NAMES)


def _size(name: str) -> int:
    return len(os.fsencode(name))


def _split(name: str) -> tuple[str, str]:
    stem, suffix = os.path.splitext(name)
    if _size(suffix) > _MAX_SUFFIX_BYTES:
        return name, ""
    return stem, suffix


def fit(stem: str, tag: str, suffix: str, max_bytes: int = NAME_MAX_BYTES) -> str:
    """``stem + tag + suffix`` with the stem shortened (by whole characters) to fit in ``max_bytes``."""
    room = max_bytes - _size(tag + suffix)
    while _size(stem) > room and stem:
        stem = stem[: -max(1, (_size(stem) - room) // 4)]
    return stem + tag + suffix


def _tags(sha256: str) -> Iterator[str]:
    yield f"__{sha256[:10]}"
    yield f"__{sha256[:16]}"
    yield f"__{sha256}"
    for i in itertools.count(2):
        yield f"__{sha256[:10]}_{i}"


def file_names(photos: Iterable[tuple[str, str]]) -> dict[str, str]:
    """A unique, safe file name for each ``(sha256, rel_path)`` of one folder, by sha256."""
    items = sorted(photos, key=lambda p: (p[1], p[0]))
    original = {sha: PurePosixPath(rel).name for sha, rel in items}
    counts = Counter(name_key(n) for n in original.values())
    names: dict[str, str] = {}
    taken = set(_RESERVED_KEYS)
    renamed = []
    for sha, _rel in items:
        name = original[sha]
        key = name_key(name)
        if counts[key] == 1 and key not in _RESERVED_KEYS and _size(name) <= NAME_MAX_BYTES:
            names[sha] = name
            taken.add(key)
        else:
            renamed.append(sha)
    for sha in renamed:
        stem, suffix = _split(original[sha])
        name = next(n for n in (fit(stem, tag, suffix) for tag in _tags(sha)) if name_key(n) not in taken)
        names[sha] = name
        taken.add(name_key(name))
    return names
