"""Is the batch job idempotent and local? Repeated runs and added photos on real photos, with real models.

For each data set (``groups``, ``identities`` of ``../shared/data``):

1. *Added photos*: ``eventlens process`` on all photos but ``--add`` held out (a seeded choice), then on all
   of them. Every person of the first run whose faces all lie in connected components of the threshold
   graph that gained no new face is *untouched*; it must keep exactly its faces, under its label.
2. *Repeated runs*: ``process`` ``--runs`` more times on the same photos and catalog (nothing new to
   analyse): summary.csv and face_data.csv must be byte-identical after every run.

With ``--catalogs DIR`` (e.g. /work/runs), the catalogs ``DIR/<set>`` are also copied and processed
``--runs`` times: the first run may differ from the catalog's state (which an older version wrote), every
later one must not.

Usage: python benchmarks/repeat_runs.py [--data ../shared/data] [--sets groups identities] [--runs 5]
                                        [--add 10] [--catalogs /work/runs] [--work DIR] [--workers N]

Exit status 1 when a check fails. Importable: ``tests/benchmarks/test_repeat_runs.py`` runs the same
checks on a small subset.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from eventlens import pipeline
from eventlens.catalog import queries
from eventlens.catalog.db import default_url, open_catalog
from eventlens.catalog.schema import faces
from eventlens.cluster.stage import ClusterSummary, load_clusterable_faces
from eventlens.settings import Settings, load_settings

log = logging.getLogger("repeat_runs")

OUTPUTS = ("summary.csv", "face_data.csv")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".heic"}
SEED = 8

FaceKey = tuple[str, int]  # (photo sha256, face index)


def output_hashes(out: Path) -> dict[str, str]:
    return {name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in OUTPUTS}


def repeat(photos: Path, out: Path, settings: Settings, runs: int) -> list[dict[str, str]]:
    """Hashes of the outputs after each of ``runs`` ``process`` runs."""
    result = []
    for _ in range(runs):
        pipeline.process(photos, out, settings)
        result.append(output_hashes(out))
    return result


def image_files(root: Path) -> list[Path]:
    """Photos under ``root`` (relative), sorted; annotation folders and text files left out."""
    return sorted(
        p.relative_to(root)
        for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and "annotations" not in p.parts
    )


def link(source: Path, target: Path, rels: list[Path]) -> None:
    for rel in rels:
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        (target / rel).symlink_to((source / rel).resolve())


@dataclass
class FaceState:
    person: dict[FaceKey, str | None]  # every clusterable face -> person label
    embedding: dict[FaceKey, np.ndarray] = field(repr=False, default_factory=dict)


def face_state(out: Path, settings: Settings) -> FaceState:
    """Person label of every clusterable face of the catalog in ``out``, and its embedding."""
    engine = open_catalog(default_url(out))
    try:
        with engine.connect() as conn:
            embed_model = conn.execute(
                sa.select(faces.c.embed_model).where(faces.c.embed_model.is_not(None)).limit(1)
            ).scalar()
            data = load_clusterable_faces(conn, embed_model, settings.cluster_min_face_px, ClusterSummary())
            rows = queries.faces_of_photos(conn)
    finally:
        engine.dispose()
    by_id = {f.id: ((f.photo_sha256, f.face_index), f.person_label) for f in rows}
    state = FaceState({})
    for fid, emb in zip(data.ids.tolist(), data.embeddings, strict=True):
        key, label = by_id[fid]
        state.person[key] = label
        state.embedding[key] = emb
    return state


def components(state: FaceState, threshold: float) -> dict[FaceKey, int]:
    """Connected component of every face in the graph of pairs closer than ``threshold``."""
    from scipy.sparse import csr_matrix  # noqa: PLC0415
    from scipy.sparse.csgraph import connected_components  # noqa: PLC0415
    from scipy.spatial.distance import cdist  # noqa: PLC0415

    keys = sorted(state.embedding)
    x = np.stack([state.embedding[k] for k in keys]).astype(np.float64)
    _, comp = connected_components(csr_matrix(cdist(x, x) < threshold), directed=False)
    return dict(zip(keys, comp.tolist(), strict=True))


@dataclass
class LocalityResult:
    persons_before: int
    untouched: int
    moved_faces: list[FaceKey]  # faces of untouched persons that changed person
    new_faces: int

    @property
    def ok(self) -> bool:
        return not self.moved_faces


def locality(before: FaceState, after: FaceState, threshold: float) -> LocalityResult:
    """Faces of persons untouched by the new faces (see the module docstring) that moved."""
    comp = components(after, threshold)
    new = set(after.person) - set(before.person)
    touched_components = {comp[k] for k in new}
    faces_of: dict[str, list[FaceKey]] = {}
    for key, label in before.person.items():
        if label is not None:
            faces_of.setdefault(label, []).append(key)
    untouched = [
        label
        for label, keys in faces_of.items()
        if all(k in comp and comp[k] not in touched_components for k in keys)
    ]
    moved = [k for label in untouched for k in faces_of[label] if after.person.get(k) != label]
    # and nothing else joined an untouched person
    moved += [k for k, label in after.person.items() if label in untouched and before.person.get(k) != label]
    return LocalityResult(len(faces_of), len(untouched), sorted(set(moved)), len(new))


def added_photos_check(
    data: Path, work: Path, settings: Settings, add: int, subset: list[Path] | None = None
) -> tuple[LocalityResult, Path, Path]:
    """Process all photos of ``data`` (or ``subset``) but ``add`` held out, then all; returns the result and
    the photo and output folders (ready for :func:`repeat`)."""
    rels = subset if subset is not None else image_files(data)
    held = set(random.Random(SEED).sample(rels, add))
    photos, out = work / "photos", work / "out"
    photos.mkdir(parents=True)
    link(data, photos, [r for r in rels if r not in held])
    pipeline.process(photos, out, settings)
    before = face_state(out, settings)
    link(data, photos, sorted(held))
    pipeline.process(photos, out, settings)
    after = face_state(out, settings)
    return locality(before, after, settings.cluster_max_distance), photos, out


def main() -> int:
    default_data = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data)
    parser.add_argument("--sets", nargs="+", default=["groups", "identities"])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--add", type=int, default=10)
    parser.add_argument("--catalogs", type=Path, help="folder of ready outputs <set>/ to copy and re-run")
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary one, removed)")
    parser.add_argument("--workers", type=int)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    overrides = {"workers": args.workers} if args.workers else {}
    settings = load_settings(**overrides)
    failed = False
    with tempfile.TemporaryDirectory(prefix="eventlens-repeat-") as tmp:
        work = args.work or Path(tmp)
        for name in args.sets:
            if args.catalogs is not None:
                out = work / name / "catalog"
                shutil.copytree(args.catalogs / name, out)
                before = output_hashes(out)
                started = time.perf_counter()
                hashes = repeat(args.data / name, out, settings, args.runs)
                distinct = len({tuple(h.values()) for h in hashes})
                changed = hashes[0] != before
                log.info(
                    "%s, copy of %s: first run %s the outputs; %d runs give %d distinct outputs (%.1f s)",
                    name,
                    args.catalogs / name,
                    "changed" if changed else "kept",
                    args.runs,
                    distinct,
                    time.perf_counter() - started,
                )
                failed |= distinct != 1
            started = time.perf_counter()
            result, photos, out = added_photos_check(
                args.data / name, work / name / "added", settings, args.add
            )
            log.info(
                "%s, %d photos added: %d new faces; %d of %d persons untouched, %d of their faces moved %s"
                " (%.1f s)",
                name,
                args.add,
                result.new_faces,
                result.untouched,
                result.persons_before,
                len(result.moved_faces),
                result.moved_faces[:5],
                time.perf_counter() - started,
            )
            failed |= not result.ok
            first = output_hashes(out)
            hashes = repeat(photos, out, settings, args.runs)
            distinct = len({tuple(first.values())} | {tuple(h.values()) for h in hashes})
            log.info(
                "%s: %d more runs, %d distinct outputs over all %d", name, args.runs, distinct, args.runs + 1
            )
            failed |= distinct != 1
    log.info("FAILED" if failed else "all checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
