"""Swapping a freshly built export into the output folder: atomic across a kill, and touching nothing else.

The previous export's top-level entries are listed in ``OUT/.eventlens/export-manifest.json`` and every file
inside them in ``export-files.json``. A new export, built in a staging folder, replaces exactly those:
an entry it did not write (a user's folder named ``person_001``, a photo a user dropped into a person
folder) stops the swap with a clear error before anything moves, so nothing of the user's is lost.

The swap is journalled. Before the first move, the journal ``export-swap.json`` (the staging and trash
folders, the previous and the new entries and files) is written and synced; then each previous entry
is moved into the trash folder and each new one from staging into ``OUT``, the manifests are rewritten and
the journal is removed. The next export first reads a journal left by a killed one (:func:`recover`): it
finishes the swap (each move is decided from what is on disk, so none is made twice) or, if something
foreign appeared at one of the entries in the meantime, puts the previous export back. Either way no mix
of old and new entries is left. A swap that fails in the middle (a refused move, a full disk for the
manifests) is undone at once.

Only the journal is synced (two fsyncs per export): the staged files are not, as syncing each would cost
more than the export itself; a kill never loses them, a power cut right after an export may.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eventlens.errors import InputError, OutputError
from eventlens.export.safe_files import remove_tree, replace_file

log = logging.getLogger(__name__)

MANIFEST = "export-manifest.json"
FILES_MANIFEST = "export-files.json"
JOURNAL = "export-swap.json"
LOCK = "export.lock"
STAGING_PREFIX = "staging-"
TRASH_SUFFIX = "-old"
_JOURNAL_VERSION = 1


def _exists(path: Path) -> bool:
    return os.path.lexists(path)


def _tree(root: Path) -> list[str]:
    """Every file and folder under ``root`` (not following links), relative to ``root``."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


@contextmanager
def export_lock(work_dir: Path) -> Iterator[None]:
    """One export at a time per output folder (the lock goes with the process, also when it is killed)."""
    fd = os.open(work_dir / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(
                f"another eventlens command is exporting into {work_dir.parent}; wait until it ends"
            ) from None
        yield
    finally:
        os.close(fd)


def clean_leftovers(work_dir: Path) -> None:
    """Remove what killed exports left behind (staging and trash folders, temporary files).

    Call only after :func:`recover`, which may still need them."""
    for entry in work_dir.iterdir():
        name = entry.name
        if name.startswith(STAGING_PREFIX):
            remove_tree(entry)
        elif name.startswith(".export-") and ".tmp-" in name:
            entry.unlink()


def discard(staging: Path, work_dir: Path) -> None:
    """Remove an export that was not swapped in (staging and trash folders), unless a journal still
    needs them to finish its swap."""
    if (work_dir / JOURNAL).exists():
        return
    remove_tree(staging)
    remove_tree(staging.with_name(staging.name + TRASH_SUFFIX))


def _manifests(work_dir: Path) -> tuple[set[str], set[str] | None]:
    manifest = work_dir / MANIFEST
    previous = set(json.loads(manifest.read_text(encoding="utf-8"))) if manifest.exists() else set()
    files_manifest = work_dir / FILES_MANIFEST
    written = set(json.loads(files_manifest.read_text(encoding="utf-8"))) if files_manifest.exists() else None
    return previous, written


def _foreign(new: list[str], previous: set[str], written: set[str] | None, out_dir: Path) -> list[str]:
    foreign = [n for n in new if n not in previous and _exists(out_dir / n)]
    if written is not None:
        foreign += [
            f"{name}/{rel}"
            for name in sorted(previous)
            if (out_dir / name).is_dir() and not (out_dir / name).is_symlink()
            for rel in _tree(out_dir / name)
            if f"{name}/{rel}" not in written
        ]
    return foreign


def swap_in(staging: Path, out_dir: Path, work_dir: Path) -> None:
    """Replace the previous export's entries by the staged ones; leave every other file alone.

    ``work_dir`` (``OUT/.eventlens``) holds the manifests of the previous export. Raises
    :class:`InputError` before anything moves when an entry eventlens did not write is in the way, and
    ``OSError`` when a move fails (the previous export is then put back, or, if even that fails, the
    journal lets the next export finish the swap).
    """
    previous, written = _manifests(work_dir)
    new = sorted(e.name for e in staging.iterdir())
    foreign = _foreign(new, previous, written, out_dir)
    if foreign:
        raise InputError(
            f"{out_dir} already holds {', '.join(foreign[:5])} not written by eventlens; "
            "move them away or choose another --out"
        )
    files = [f"{name}/{rel}" for name in new if (staging / name).is_dir() for rel in _tree(staging / name)]
    trash = staging.with_name(staging.name + TRASH_SUFFIX)
    trash.mkdir()
    journal = {
        "version": _JOURNAL_VERSION,
        "staging": staging.name,
        "trash": trash.name,
        "previous": sorted(previous),
        "new": new,
        "files": files,
        "previous_files": None if written is None else sorted(written),
    }
    replace_file(work_dir / JOURNAL, json.dumps(journal, indent=0), durable=True)  # the swap completes now
    try:
        _roll_forward(journal, out_dir, work_dir)
    except OSError:
        log.warning("the export swap failed; putting the previous export back")
        _roll_back(journal, out_dir, work_dir)  # if this fails too, the journal stays for the next run
        raise


def recover(out_dir: Path, work_dir: Path) -> str | None:
    """Finish (or undo) a swap a killed export left in its journal; ``None`` when there was none."""
    path = work_dir / JOURNAL
    if not path.exists():
        return None
    journal = _read_journal(path)
    staging = work_dir / journal["staging"]
    if _conflicts(journal, out_dir, work_dir):
        log.warning("an interrupted export left %s; something new is in the way: undoing it", path)
        _roll_back(journal, out_dir, work_dir)
        return "rolled back"
    log.warning("an interrupted export left %s: finishing its swap from %s", path, staging)
    _roll_forward(journal, out_dir, work_dir)
    return "finished"


def _plain_name(value: Any) -> bool:
    return isinstance(value, str) and value not in ("", ".", "..") and "/" not in value and "\0" not in value


def _read_journal(path: Path) -> dict[str, Any]:
    try:
        journal: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        ok = (
            journal.get("version") == _JOURNAL_VERSION
            and all(
                _plain_name(journal[k]) and journal[k].startswith(STAGING_PREFIX)
                for k in ("staging", "trash")
            )
            and all(_plain_name(n) and n != ".eventlens" for k in ("previous", "new") for n in journal[k])
            and all(isinstance(f, str) for f in journal["files"])
            and isinstance(journal["previous_files"], list | None)
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise OutputError(
            f"cannot read the export journal {path}: {exc}; move it away and export again"
        ) from exc
    if not ok:
        raise OutputError(
            f"the export journal {path} is not one eventlens wrote; move it away and export again"
        )
    return journal


def _conflicts(journal: dict[str, Any], out_dir: Path, work_dir: Path) -> list[str]:
    """Entries still to be moved in whose place something eventlens did not put has appeared."""
    staging, trash = work_dir / journal["staging"], work_dir / journal["trash"]
    previous = set(journal["previous"])
    return [
        name
        for name in journal["new"]
        if _exists(staging / name)
        and _exists(out_dir / name)
        and (name not in previous or _exists(trash / name))
    ]


def _roll_forward(journal: dict[str, Any], out_dir: Path, work_dir: Path) -> None:
    staging, trash = work_dir / journal["staging"], work_dir / journal["trash"]
    previous, new = set(journal["previous"]), set(journal["new"])
    trash.mkdir(exist_ok=True)
    for name in sorted(previous | new):
        target = out_dir / name
        if name in new and _exists(staging / name):
            if name in previous and _exists(target):
                os.rename(target, trash / name)
            os.rename(staging / name, target)
        elif name in previous and name not in new and _exists(target) and not _exists(trash / name):
            os.rename(target, trash / name)
    _write_manifests(work_dir, journal["new"], journal["files"])
    _finish(journal, work_dir)


def _roll_back(journal: dict[str, Any], out_dir: Path, work_dir: Path) -> None:
    staging, trash = work_dir / journal["staging"], work_dir / journal["trash"]
    previous, new = set(journal["previous"]), set(journal["new"])
    staging.mkdir(exist_ok=True)
    for name in sorted(previous | new, reverse=True):
        target = out_dir / name
        if name in new and not _exists(staging / name) and _exists(target):
            os.rename(target, staging / name)
        if name in previous and _exists(trash / name) and not _exists(target):
            os.rename(trash / name, target)
    _write_manifests(
        work_dir, journal["previous"] if journal["previous"] else None, journal["previous_files"]
    )
    _finish(journal, work_dir)


def _write_manifests(work_dir: Path, entries: list[str] | None, files: list[str] | None) -> None:
    """Rewrite (or, for ``None``, remove) the manifests that do not say this yet (so that undoing a swap
    whose moves were made but whose manifests were not writes nothing, even on a full disk)."""
    for name, value in ((FILES_MANIFEST, files), (MANIFEST, entries)):
        path = work_dir / name
        if value is None:
            path.unlink(missing_ok=True)
        elif not path.exists() or json.loads(path.read_text(encoding="utf-8")) != value:
            replace_file(path, json.dumps(value, indent=1))


def _finish(journal: dict[str, Any], work_dir: Path) -> None:
    (work_dir / JOURNAL).unlink()
    remove_tree(work_dir / journal["trash"])
    remove_tree(work_dir / journal["staging"])
