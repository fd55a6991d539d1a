"""Swapping a freshly built export into the output folder without touching anything else.

The previous export's top-level entries are listed in ``OUT/.eventlens/export-manifest.json`` and every file
inside them in ``export-files.json``. A new export, built in a staging folder, replaces exactly those:
an entry it did not write (a user's folder named ``person_001``, a photo a user dropped into a person
folder) stops the swap with a clear error before anything moves, so nothing of the user's is lost.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from eventlens.errors import InputError

MANIFEST = "export-manifest.json"
FILES_MANIFEST = "export-files.json"


def _tree(root: Path) -> list[str]:
    """Every file and folder under ``root`` (not following links), relative to ``root``."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def swap_in(staging: Path, out_dir: Path, work_dir: Path) -> None:
    """Replace the previous export's entries by the staged ones; leave every other file alone.

    ``work_dir`` (``OUT/.eventlens``) holds the manifests of the previous export.
    """
    manifest = work_dir / MANIFEST
    previous = set(json.loads(manifest.read_text())) if manifest.exists() else set()
    files_manifest = manifest.with_name(FILES_MANIFEST)
    written = set(json.loads(files_manifest.read_text())) if files_manifest.exists() else None
    new = sorted(e.name for e in staging.iterdir())
    foreign = [n for n in new if n not in previous and ((out_dir / n).exists() or (out_dir / n).is_symlink())]
    if written is not None:
        foreign += [
            f"{name}/{rel}"
            for name in sorted(previous)
            if (out_dir / name).is_dir() and not (out_dir / name).is_symlink()
            for rel in _tree(out_dir / name)
            if f"{name}/{rel}" not in written
        ]
    if foreign:
        shutil.rmtree(staging)
        raise InputError(
            f"{out_dir} already holds {', '.join(foreign[:5])} not written by eventlens; "
            "move them away or choose another --out"
        )
    files = [f"{name}/{rel}" for name in new if (staging / name).is_dir() for rel in _tree(staging / name)]
    trash = staging.with_name(staging.name + "-old")
    shutil.rmtree(trash, ignore_errors=True)  # left by an earlier export that was killed
    trash.mkdir()
    for name in sorted(previous | set(new)):
        target = out_dir / name
        if name in previous and (target.exists() or target.is_symlink()):
            target.rename(trash / name)
        if name in new:
            (staging / name).rename(target)
    manifest.write_text(json.dumps(new, indent=1))
    files_manifest.write_text(json.dumps(files, indent=1))
    shutil.rmtree(trash)
    shutil.rmtree(staging)
