"""``eventlens enhance``: enhanced copies, face-aware crops and portraits, from the catalog.

    OUT/enhanced/<rel_path>          corrected copy of each photo (or its bytes unchanged) + metadata.json
    OUT/crops/<W>x<H>/<rel_path>     crops of each ratio asked for, keeping the chosen faces whole
    OUT/portraits/person_001.jpg     head and shoulders of each person, from their best photo

Which faces a crop keeps, and whose brightness the exposure weighs: in each photo, the faces of ``main``
and ``important`` persons (categories from ``cluster_labels.json``, imported into the catalog); in a photo
without such a person, every face. Each person's best photo is the first of their ranking
by :func:`eventlens.curate.stage.compute_curation` (the one behind ``person_XXX/best/``). Photos are
processed on a pool of spawned worker processes (numeric libraries single-threaded, as in the analysis).
Only new files are written (a temporary file moved into place); originals are never opened for writing.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import json
import multiprocessing
import os
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import sqlalchemy as sa

from eventlens.analysis.pool import worker_environment
from eventlens.catalog import queries
from eventlens.curate.stage import compute_curation
from eventlens.deliver import crop_geometry as geo
from eventlens.deliver.files import output_name, write_new
from eventlens.deliver.worker import CutJob, EnhanceJob, init_worker, run_job
from eventlens.progress import SILENT, Progress
from eventlens.settings import Settings
from eventlens.summaries import EnhanceSummary

ENHANCED_DIR = "enhanced"
CROPS_DIR = "crops"
PORTRAITS_DIR = "portraits"
METADATA = "metadata.json"
KEY_CATEGORIES = ("main", "important")
PhotoChoice = Literal["best", "all"]


@dataclass
class _Face:
    index: int  # face_index in the catalog (the ``face`` column of face_data.csv)
    box: tuple[float, float, float, float]
    person: str  # label, "" when unassigned
    category: str | None


@dataclass
class _Photo:
    sha256: str
    rel_path: str
    local_path: Path
    width_px: int
    height_px: int
    format: str
    faces: list[_Face] = field(default_factory=list)


def _load(conn: sa.Connection) -> dict[str, _Photo]:
    result: dict[str, _Photo] = {}
    for r in queries.photos_on_disk(conn):
        assert r.width_px is not None and r.height_px is not None  # checked by photos_on_disk
        result[r.sha256] = _Photo(
            r.sha256, r.display_path, Path(r.local_path), r.width_px, r.height_px, r.format or "JPEG"
        )
    people = {p.id: p for p in queries.list_persons(conn).items}
    for f in queries.faces_of_photos(conn):
        if f.photo_sha256 in result:
            person = people.get(f.person_id) if f.person_id is not None else None
            result[f.photo_sha256].faces.append(
                _Face(
                    f.face_index,
                    f.box,
                    person.label if person is not None else "",
                    person.category if person is not None else None,
                )
            )
    return result


def chosen_faces(photo_faces: list[_Face]) -> tuple[list[int], str]:
    """Indices of the faces a crop must keep, and which rule chose them."""
    key = [i for i, f in enumerate(photo_faces) if f.category in KEY_CATEGORIES]
    if key:
        return key, "main and important persons"
    return list(range(len(photo_faces))), "no main or important person: every face"


def _unique_names(items: list[_Photo]) -> dict[str, str]:
    """A unique relative name per photo (same rel_path from two sources: disambiguated by hash)."""
    seen: dict[str, int] = defaultdict(int)
    for p in items:
        seen[p.rel_path.lower()] += 1
    names = {}
    for p in items:
        name = p.rel_path
        pure = PurePosixPath(name)
        if any(part in ("..", "") for part in pure.parts) or pure.is_absolute():
            name = pure.name
        if seen[p.rel_path.lower()] > 1:
            stem, suffix = os.path.splitext(name)
            name = f"{stem}__{p.sha256[:10]}{suffix}"
        names[p.sha256] = name
    return names


def _crop_name(name: str, fmt: str) -> str:
    return name if fmt in ("JPEG", "MPO") else f"{name}.jpg"


def _weights(photo_faces: list[_Face], idx: list[int]) -> list[float]:
    rank = {"main": 100.0, "important": 10.0}
    out = []
    for i in idx:
        x1, y1, x2, y2 = photo_faces[i].box
        out.append(rank.get(photo_faces[i].category or "", 1.0) * max(x2 - x1, 0) * max(y2 - y1, 0))
    return out


def plan_crops(
    photo: _Photo, ratios: list[tuple[int, int]], margin: float
) -> list[tuple[tuple[int, int], geo.CropBox, list[int]]]:
    """Crop box per ratio for one photo, with the indices of its chosen faces."""
    idx, _rule = chosen_faces(photo.faces)
    chosen = [photo.faces[i].box for i in idx]
    others = [f.box for i, f in enumerate(photo.faces) if i not in set(idx)]
    weights = _weights(photo.faces, idx)
    return [
        (
            r,
            geo.face_crop(photo.width_px, photo.height_px, r, chosen, margin, weights, others),
            idx,
        )
        for r in ratios
    ]


def _run_jobs(
    jobs: list[EnhanceJob], workers: int, huge_pages: bool
) -> Iterator[tuple[EnhanceJob, dict[str, Any]]]:
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield job, run_job(job)
        return
    # huge pages: ~6 % less CPU here (fewer page faults on the full-size images; profile_enhance.py)
    with worker_environment(huge_pages):
        pool = cf.ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=init_worker
        )
        try:
            yield from zip(jobs, pool.map(run_job, jobs, chunksize=1), strict=True)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _write_json(path: Path, data: object) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    write_new(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def select_photos(
    conn: sa.Connection, settings: Settings, choice: PhotoChoice
) -> tuple[dict[str, _Photo], list[str], dict[str, list[str]]]:
    """All exportable photos, the chosen ones (sha256s, by path) and each person's ranking."""
    all_photos = _load(conn)
    shown = {sha: p.rel_path for sha, p in all_photos.items()}
    curation = compute_curation(conn, shown, settings.curation, settings.eye_model)
    chosen = list(all_photos) if choice == "all" else [s for s in curation.best if s in all_photos]
    chosen.sort(key=lambda s: all_photos[s].rel_path)
    return all_photos, chosen, curation.person_best


def enhance(
    engine: sa.Engine,
    out_dir: Path,
    settings: Settings,
    photos_choice: PhotoChoice = "best",
    ratios: Iterable[tuple[int, int]] = (),
    workers: int | None = None,
    portraits: bool | None = None,
    progress: Progress = SILENT,
) -> EnhanceSummary:
    """Write ``OUT/enhanced`` (and, with ``ratios``, ``OUT/crops`` and ``OUT/portraits``; see the module).

    ``portraits`` defaults to ``bool(ratios)``."""
    started = time.perf_counter()
    ratios = list(ratios)
    portraits = bool(ratios) if portraits is None else portraits
    s = settings.deliver
    with engine.connect() as conn:
        all_photos, chosen, person_best = select_photos(conn, settings, photos_choice)
    names = _unique_names(list(all_photos.values()))
    values = s.model_dump()
    jobs: dict[str, EnhanceJob] = {}
    crop_meta: dict[str, list[dict[str, Any]]] = {}
    summary = EnhanceSummary(workers=workers or settings.effective_workers)
    for sha in chosen:
        p = all_photos[sha]
        cuts = []
        entries = []
        for r, crop, idx in plan_crops(p, ratios, s.crop_margin):
            rel = f"{CROPS_DIR}/{geo.ratio_name(r)}/{_crop_name(names[sha], p.format)}"
            cuts.append(CutJob(out_dir / rel, crop.box))
            entries.append(
                {
                    "ratio": f"{r[0]}:{r[1]}",
                    "file": rel,
                    **crop.as_dict(),
                    # face numbers of the photo (face_data.csv), not positions among the chosen
                    "faces_chosen": [p.faces[i].index for i in idx],
                    "faces_inside": [p.faces[idx[i]].index for i in crop.inside],
                    "faces_cut": [p.faces[idx[i]].index for i in crop.cut],
                }
            )
            summary.crop_fallbacks += crop.fallback
        crop_meta[sha] = entries
        idx, _ = chosen_faces(p.faces)
        jobs[sha] = EnhanceJob(
            sha,
            p.local_path,
            tuple(p.faces[i].box for i in idx),
            out_dir / ENHANCED_DIR / output_name(names[sha], p.format),
            tuple(cuts),
            values,
            settings.max_image_megapixels,
        )
    portrait_meta: list[dict[str, object]] = []
    if portraits:
        for label, ranking in sorted(person_best.items()):
            best = next((sha for sha in ranking if sha in all_photos), None)
            if best is None:
                continue
            p = all_photos[best]
            own = [f for f in p.faces if f.person == label]
            if not own:
                continue
            face = max(own, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
            crop = geo.portrait_crop(
                p.width_px, p.height_px, face.box, face_width_share=s.portrait_face_width_share
            )
            rel = f"{PORTRAITS_DIR}/{label}.jpg"
            cut = CutJob(out_dir / rel, crop.box)
            key = best if best in jobs else f"portrait:{label}"
            portrait = {"person": label, "file": rel, "photo": p.rel_path, "photo_sha256": best}
            portrait_meta.append({**portrait, **crop.as_dict(), "job": key})
            if key in jobs:
                jobs[key] = dataclasses.replace(jobs[key], cuts=(*jobs[key].cuts, cut))
            else:
                jobs[key] = EnhanceJob(
                    best, p.local_path, (face.box,), None, (cut,), values, settings.max_image_megapixels
                )
    results: dict[str, dict[str, Any]] = {}
    ordered = list(jobs.items())
    keys = {id(job): key for key, job in ordered}
    with progress.bar(len(ordered), "enhance") as bar:
        for job, result in _run_jobs([job for _, job in ordered], summary.workers, settings.huge_pages):
            results[keys[id(job)]] = result
            summary.cpu_s += result.get("cpu_s", 0.0)
            bar.advance()
    entries = []
    for sha in chosen:
        p, res = all_photos[sha], results[sha]
        status = res["status"]
        summary.photos += 1
        summary.enhanced += status == "enhanced"
        summary.unchanged += status == "unchanged"
        summary.failed += status == "failed"
        enhanced_rel = output_name(names[sha], p.format)
        entry = {"photo": p.rel_path, "file": enhanced_rel if status != "failed" else None, **res}
        entries.append(entry)
        if status != "failed":
            summary.crops += len(crop_meta[sha])
    for entry in portrait_meta:
        failed = results[str(entry.pop("job"))]["status"] == "failed"
        entry["written"] = not failed
        summary.portraits += not failed
    summary.wall_s = time.perf_counter() - started
    meta = {
        "settings": values,
        "photos_choice": photos_choice,
        "summary": summary.model_dump(mode="json"),
        "photos": entries,
    }
    _write_json(out_dir / ENHANCED_DIR / METADATA, meta)
    if ratios:
        crops = [
            {"photo": all_photos[sha].rel_path, "photo_sha256": sha, "crops": crop_meta[sha]}
            for sha in chosen
        ]
        _write_json(out_dir / CROPS_DIR / METADATA, {"margin": s.crop_margin, "photos": crops})
    if portraits:
        _write_json(out_dir / PORTRAITS_DIR / METADATA, {"portraits": portrait_meta})
    return summary
