"""Does a change of code change the export? Run two git revisions on the same analysed catalog and diff.

For each revision (a commit, branch or tag; ``.`` is the work tree as it is, uncommitted changes included)
the package is unpacked with ``git archive`` into a temporary folder. For each ``--run`` (an output
folder of an earlier ``eventlens process``, e.g. /work/runs/groups, which is only read), its catalog is
copied into a fresh output folder per revision, and ``eventlens cluster`` then ``eventlens export`` of
that revision run on the copy (no photo is analysed again, so the comparison takes seconds, not the
minutes of the face models). With ``--data PHOTOS`` instead, REV_A's ``eventlens process`` first builds
the catalog from the photos, and both revisions cluster and export copies of it.

Every file of the two exports (everything but ``.eventlens``) is compared byte for byte: face_data.csv,
summary.csv, photo_scores.csv, rejected.csv, every metadata.json, the crops and the photos' file names;
with ``--enhance``, also what ``eventlens enhance --crops 1:1,16:9`` writes (enhanced/, crops/, portraits/).

Usage: python benchmarks/compare_outputs.py REV_A REV_B (--run OUT_DIR | --data PHOTOS)...
                                            [--config FILE] [--workers N] [--work DIR] [--keep] [--enhance]

Prints one line per data set and the differing files (images whose bytes differ but whose pixels do not
are marked ``same pixels``); exit status 1 when any file differs.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

log = logging.getLogger("compare_outputs")

REPO = Path(__file__).resolve().parents[1]
CATALOG_FILES = ("catalog.sqlite", "catalog.sqlite-wal")
WORK_DIR = ".eventlens"
ENHANCE_CROPS = "1:1,16:9"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def unpack(rev: str, dest: Path) -> Path:
    """The package of revision ``rev`` under ``dest`` (``.``: the work tree itself); returns its root."""
    if rev == ".":
        return REPO
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", f"{rev}^{{commit}}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit, "eventlens"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    log.info("%s = %s unpacked in %s", rev, commit[:10], dest)
    return dest


def eventlens(src: Path, args: list[str]) -> dict[str, object]:
    """Run ``python -m eventlens ARGS --json`` with the package of ``src``; return its JSON summary."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    check = subprocess.run(
        [sys.executable, "-c", "import eventlens; print(eventlens.__file__)"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=src,
    ).stdout.strip()
    if not Path(check).resolve().is_relative_to(src.resolve()):
        raise SystemExit(f"eventlens imported from {check}, not from {src}: the revision was not used")
    done = subprocess.run(
        [sys.executable, "-m", "eventlens", *args, "--json", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        cwd=src,
    )
    if done.returncode != 0:
        raise SystemExit(f"eventlens {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    result: dict[str, object] = json.loads(done.stdout)
    return result


def copy_catalog(run: Path, out: Path) -> None:
    """The catalog of the output folder ``run`` (only read) into the new output folder ``out``."""
    (out / WORK_DIR).mkdir(parents=True)
    for name in CATALOG_FILES:
        if (run / WORK_DIR / name).is_file():
            shutil.copy2(run / WORK_DIR / name, out / WORK_DIR / name)
    if not (out / WORK_DIR / "catalog.sqlite").is_file():
        raise SystemExit(f"{run} holds no catalog ({WORK_DIR}/catalog.sqlite)")


def exported_files(out: Path) -> set[str]:
    return {
        p.relative_to(out).as_posix()
        for p in out.rglob("*")
        if not p.is_dir() and WORK_DIR not in p.relative_to(out).parts
    }


def diff_exports(a: Path, b: Path) -> list[str]:
    """Paths that differ between the exports ``a`` and ``b`` (present in one only, or other bytes)."""
    files_a, files_b = exported_files(a), exported_files(b)
    differ = [f"only in A: {p}" for p in sorted(files_a - files_b)]
    differ += [f"only in B: {p}" for p in sorted(files_b - files_a)]
    for p in sorted(files_a & files_b):
        if not filecmp.cmp(a / p, b / p, shallow=False):
            differ.append(f"differs: {p}" + (" (same pixels)" if _same_pixels(a / p, b / p) else ""))
    return differ


def _same_pixels(a: Path, b: Path) -> bool:
    """Whether two images decode to the same pixels (their bytes differ elsewhere, e.g. in metadata)."""
    if a.suffix.lower() not in IMAGE_SUFFIXES:
        return False
    import numpy as np  # noqa: PLC0415 - only when two images differ
    from PIL import Image  # noqa: PLC0415

    with Image.open(a) as image_a, Image.open(b) as image_b:
        return image_a.size == image_b.size and np.array_equal(np.asarray(image_a), np.asarray(image_b))


def stage_args(out: Path, config: Path | None, workers: int) -> list[str]:
    args = ["--out", str(out), "--workers", str(workers)]
    return args + (["--config", str(config)] if config is not None else [])


def compare(
    name: str,
    catalog_of: Path,
    sources: dict[str, Path],
    work: Path,
    config: Path | None,
    workers: int,
    enhance: bool = False,
) -> list[str]:
    outs = {}
    for side, src in sources.items():
        out = work / name / side
        copy_catalog(catalog_of, out)
        clustered = eventlens(src, ["cluster", *stage_args(out, config, workers)])
        exported = eventlens(src, ["export", *stage_args(out, config, workers)])
        if enhance:
            eventlens(src, ["enhance", "--crops", ENHANCE_CROPS, *stage_args(out, config, workers)])
        log.info("%s %s: cluster %s; export %s", name, side, clustered.get("cluster"), exported.get("export"))
        outs[side] = out
    return diff_exports(outs["A"], outs["B"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("rev_a")
    parser.add_argument("rev_b")
    parser.add_argument("--run", type=Path, action="append", default=[], help="output folder with a catalog")
    parser.add_argument("--data", type=Path, action="append", default=[], help="photos to process with REV_A")
    parser.add_argument("--config", type=Path, help="settings file for every run")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--work", type=Path, help="folder for the sources and outputs (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--enhance", action="store_true", help=f"also run enhance --crops {ENHANCE_CROPS}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if not args.run and not args.data:
        parser.error("give at least one --run OUT_DIR or --data PHOTOS")

    work = args.work or Path(tempfile.mkdtemp(prefix="compare_outputs_"))
    failed = False
    try:
        sources = {"A": unpack(args.rev_a, work / "src_a"), "B": unpack(args.rev_b, work / "src_b")}
        catalogs = {run.resolve().name: run for run in args.run}
        for photos in args.data:
            base = work / "processed" / photos.resolve().name
            eventlens(
                sources["A"], ["process", str(photos.resolve()), *stage_args(base, args.config, args.workers)]
            )
            catalogs[f"{photos.resolve().name}_processed"] = base
        for name, run in catalogs.items():
            differ = compare(name, run, sources, work, args.config, args.workers, args.enhance)
            files = len(exported_files(work / name / "A"))
            verdict = "identical" if not differ else f"{len(differ)} of {files} files differ"
            sys.stdout.write(f"{name}: {args.rev_a} vs {args.rev_b}: {files} files, {verdict}\n")
            for line in differ:
                sys.stdout.write(f"  {line}\n")
            failed = failed or bool(differ)
    finally:
        if args.keep or args.work is not None:
            log.info("outputs kept in %s", work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
