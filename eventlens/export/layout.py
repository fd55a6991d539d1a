"""The export stage: write the output layout (a contract that later tools read) from the catalog.

    OUT/person_001/            photos in which person_001 appears (hard links, else copies) + metadata.json
    OUT/unassigned/            photos with faces that belong to no person + metadata.json
    OUT/output_clusters/       person_001.jpg ... one representative face crop per person
    OUT/summary.csv            person,name,photos,faces,category,tags,caption
    OUT/face_data.csv          one row per face: photo,photo_sha256,face,x1,y1,x2,y2,det_score,person,
                               then the curation attributes (eyes_open, smile, pose, ...)
    OUT/photo_scores.csv       every photo ranked, best first, with an explanation of its score
    OUT/best/                  the top photos (rank-prefixed links); OUT/person_001/best/ likewise
    OUT/rejected.csv           path,reason

Everything is first built in a staging folder inside ``OUT/.eventlens`` and then swapped in
(:mod:`eventlens.export.swap`, journalled: the next export finishes a swap that was killed), so an
interrupted export never leaves half a person folder or a mix of two exports, and nothing eventlens did
not write is ever touched. Photos are linked or copied from the originals, which are never written: every
file of the export is created new, and no photo gets a name eventlens writes (:mod:`eventlens.export.names`,
:mod:`eventlens.export.safe_files`). A disk that is full or read-only is one :class:`OutputError`, and the
previous export stays as it was. No embedding or landmark (biometric) data is written here.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from eventlens.attributes.decide import FaceDecisions
from eventlens.catalog import queries
from eventlens.catalog.queries import PersonView, RejectionView
from eventlens.curate.stage import Curation, compute_curation, parse_time, write_curation
from eventlens.deliver.llm_captions import CACHE_DIR as LLM_CACHE_DIR
from eventlens.deliver.llm_captions import LlmCaption, PersonPhoto, PersonPhotos, caption_persons
from eventlens.deliver.tags import FaceFacts, PersonTags, PhotoFacts, tags_for_persons
from eventlens.export import swap
from eventlens.export.crops import CropJob, make_crop
from eventlens.export.names import file_names
from eventlens.export.safe_files import output_error, place, write_csv, write_json
from eventlens.settings import Settings
from eventlens.summaries import ExportSummary

UNASSIGNED = "unassigned"
CLUSTERS_DIR = "output_clusters"
CROP_CACHE = "face-crops"  # under OUT/.eventlens
SUMMARY_COLUMNS = ["person", "name", "photos", "faces", "category", "tags", "caption"]
FACE_COLUMNS = ["photo", "photo_sha256", "face", "x1", "y1", "x2", "y2", "det_score", "person"]
#: curation columns of face_data.csv, after the core columns (which stay first and unchanged)
ATTRIBUTE_COLUMNS = [
    "eyes_open",
    "eyes_open_score",
    "smile",
    "smile_score",
    "mouth_open",
    "yaw",
    "pitch",
    "roll",
    "sharpness",
    "brightness",
    "expression",
]


@dataclass
class _Photo:
    sha256: str
    rel_path: str
    local_path: Path
    width_px: int
    height_px: int
    taken_at: str | None = None
    faces: list[dict[str, Any]] = field(default_factory=list)


def _load(conn: sa.Connection) -> tuple[dict[str, _Photo], dict[int, PersonView]]:
    result: dict[str, _Photo] = {}
    for r in queries.photos_on_disk(conn):
        assert r.width_px is not None and r.height_px is not None  # checked by photos_on_disk
        result[r.sha256] = _Photo(
            r.sha256, r.display_path, Path(r.local_path), r.width_px, r.height_px, r.taken_at
        )
    people = {p.id: p for p in queries.list_persons(conn).items}
    for f in queries.faces_of_photos(conn):
        if f.photo_sha256 in result:
            result[f.photo_sha256].faces.append(
                {
                    "id": f.id,
                    "face": f.face_index,
                    "box": [round(f.x1, 1), round(f.y1, 1), round(f.x2, 1), round(f.y2, 1)],
                    "det_score": round(f.det_score, 3),
                    "person": f.person_label or "",
                    "measurements": dict(f.measurements),
                }
            )
    return result, people


def _file_names(items: list[_Photo]) -> dict[str, str]:
    """A unique, safe file name per photo inside one folder (see :mod:`eventlens.export.names`)."""
    return file_names((p.sha256, p.rel_path) for p in items)


def _place(src: Path, dst: Path, mode: str, summary: ExportSummary) -> None:
    if place(src, dst, mode) == "link":
        summary.links += 1
    else:
        summary.copies += 1


def _write_folder(
    folder: Path,
    label: str,
    person: PersonView | None,
    items: list[_Photo],
    settings: Settings,
    summary: ExportSummary,
    representative: dict[str, object] | None,
    tags: PersonTags | None = None,
    llm: LlmCaption | None = None,
) -> None:
    folder.mkdir(parents=True)
    names = _file_names(items)
    entries = []
    face_count = 0
    for p in sorted(items, key=lambda x: x.rel_path):
        _place(p.local_path, folder / names[p.sha256], settings.link_mode, summary)
        own = [
            {"face": f["face"], "box": f["box"], "det_score": f["det_score"]}
            for f in p.faces
            if f["person"] == (label if person is not None else "")
        ]
        face_count += len(own)
        entries.append(
            {
                "file": names[p.sha256],
                "photo": p.rel_path,
                "photo_sha256": p.sha256,
                "width": p.width_px,
                "height": p.height_px,
                "faces": own,
            }
        )
    meta = {
        "person": label,
        "name": person.name if person is not None else None,
        "category": (person.category or "other") if person is not None else None,
        "photo_count": len(entries),
        "face_count": face_count,
        "representative_face": representative,
        "tags": list(tags.tags) if tags is not None else [],
        "caption": tags.caption if tags is not None else None,
        **({"llm_caption": llm.caption, "llm_tags": llm.tags} if llm is not None else {}),
        "photos": entries,
    }
    write_json(folder / "metadata.json", meta)


def _face_row(p: _Photo, f: dict[str, Any], decisions: FaceDecisions | None) -> list[object]:
    core = [p.rel_path, p.sha256, f["face"], *f["box"], f["det_score"], f["person"]]
    if decisions is None:
        return core + [""] * len(ATTRIBUTE_COLUMNS)
    m = f["measurements"]
    return core + [
        "unknown" if decisions.eyes_open is None else str(decisions.eyes_open).lower(),
        "" if decisions.eyes_open_score is None else round(decisions.eyes_open_score, 3),
        str(decisions.smile).lower(),
        round(decisions.smile_score, 3),
        str(decisions.mouth_open).lower(),
        round(m["yaw_deg"], 1),
        round(m["pitch_deg"], 1),
        round(m["roll_deg"], 1),
        round(m["sharpness"], 3),
        round(m["brightness"], 3),
        decisions.expression,
    ]


def _group_by_person(all_photos: dict[str, _Photo], summary: ExportSummary) -> dict[str, list[_Photo]]:
    by_person: dict[str, list[_Photo]] = defaultdict(list)
    for p in sorted(all_photos.values(), key=lambda x: x.rel_path):
        summary.photos_without_faces += not p.faces
        for f in p.faces:
            key = str(f["person"]) or UNASSIGNED
            if not by_person[key] or by_person[key][-1] is not p:
                by_person[key].append(p)
            summary.unassigned_faces += not f["person"]
    return by_person


def _box_area(box: Any) -> float:
    area: float = max(box[2] - box[0], 0) * max(box[3] - box[1], 0)
    return area


def _make_crops(
    chosen: dict[str, tuple[_Photo, dict[str, Any]]],
    cache_dir: Path,
    settings: Settings,
    executor: Executor | None,
) -> dict[str, Path]:
    """Face crop of each person's chosen face (from the crop cache, made in parallel when missing):
    on ``executor`` (e.g. the analysis worker processes) or on threads (Pillow decodes outside the GIL)."""
    jobs = [
        CropJob(
            photo.local_path,
            photo.sha256,
            tuple(face["box"]),
            settings.face_crop_px,
            cache_dir,
            settings.max_image_megapixels,
        )
        for photo, face in chosen.values()
    ]
    if executor is not None:
        paths = list(executor.map(make_crop, jobs, chunksize=4))
    else:
        with ThreadPoolExecutor(max_workers=settings.effective_workers) as pool:
            paths = list(pool.map(make_crop, jobs))
    return dict(zip(chosen, paths, strict=True))


def _write_persons(
    staging: Path,
    people: dict[int, PersonView],
    by_person: dict[str, list[_Photo]],
    all_photos: dict[str, _Photo],
    settings: Settings,
    summary: ExportSummary,
    tags: dict[str, PersonTags],
    llm: dict[str, LlmCaption],
    executor: Executor | None = None,
) -> list[list[object]]:
    """Person folders, crops and unassigned; returns the rows of summary.csv."""
    face_by_id = {f["id"]: (p, f) for p in all_photos.values() for f in p.faces}
    summary_rows: list[list[object]] = []
    (staging / CLUSTERS_DIR).mkdir()
    # hidden persons get no folder, crop or summary row; their faces stay theirs (not unassigned)
    ordered = [
        p for p in sorted(people.values(), key=lambda r: r.label) if by_person.get(p.label) and not p.hidden
    ]
    chosen_faces: dict[str, tuple[_Photo, dict[str, Any]]] = {}
    for person in ordered:
        chosen = face_by_id.get(person.representative_face_id)
        if chosen is None:  # its photo vanished since clustering: show the person's largest exported face
            own = [(p, f) for p in by_person[person.label] for f in p.faces if f["person"] == person.label]
            chosen = max(own, key=lambda pf: _box_area(pf[1]["box"]), default=None)
        if chosen is not None:
            chosen_faces[person.label] = chosen
    crops = _make_crops(chosen_faces, staging.parent / CROP_CACHE, settings, executor)
    for person in ordered:
        items = by_person[person.label]
        rep = None
        if person.label in chosen_faces:
            rp, rf = chosen_faces[person.label]
            crop_name = f"{person.label}.jpg"
            place(crops[person.label], staging / CLUSTERS_DIR / crop_name, "hardlink")
            summary.crops += 1
            rep = {
                "photo": rp.rel_path,
                "photo_sha256": rp.sha256,
                "face": rf["face"],
                "box": rf["box"],
                "crop": f"../{CLUSTERS_DIR}/{crop_name}",
            }
        own_tags = tags.get(person.label)
        _write_folder(
            staging / person.label,
            person.label,
            person,
            items,
            settings,
            summary,
            rep,
            own_tags,
            llm.get(person.label),
        )
        n_faces = sum(1 for p in items for f in p.faces if f["person"] == person.label)
        summary_rows.append(
            [
                person.label,
                person.name or "",
                len(items),
                n_faces,
                person.category or "other",
                ";".join(own_tags.tags) if own_tags else "",
                own_tags.caption if own_tags else "",
            ]
        )
        summary.persons += 1
    if by_person.get(UNASSIGNED):
        _write_folder(staging / UNASSIGNED, UNASSIGNED, None, by_person[UNASSIGNED], settings, summary, None)
    return summary_rows


def export(
    engine: sa.Engine, out_dir: Path, settings: Settings, executor: Executor | None = None
) -> ExportSummary:
    """Write the output layout under ``out_dir`` from the catalog (see the module docstring).

    ``executor`` (optional, e.g. the analysis worker processes) makes the face crops; default: threads.
    Raises :class:`~eventlens.errors.OutputError` when the output cannot be written (the previous
    export is then left as it was) and :class:`~eventlens.errors.InputError` when an entry eventlens did
    not write is in the way."""
    summary = ExportSummary()
    with engine.connect() as conn:
        all_photos, people = _load(conn)
        rejected = queries.rejections(conn).items
        shown = {sha: p.rel_path for sha, p in all_photos.items()}
        curation = compute_curation(conn, shown, settings.curation, settings.eye_model)
    work = out_dir / ".eventlens"
    staging = work / f"{swap.STAGING_PREFIX}{os.getpid()}"
    try:
        work.mkdir(parents=True, exist_ok=True)
        with swap.export_lock(work):
            swap.recover(out_dir, work)
            swap.clean_leftovers(work)
            try:
                staging.mkdir()
                _build(staging, all_photos, people, rejected, curation, settings, summary, executor)
                swap.swap_in(staging, out_dir, work)
            finally:
                swap.discard(staging, work)
    except FileExistsError:
        raise  # eventlens never writes over a file: a name it had already used is a bug, not the disk's fault
    except OSError as exc:
        raise output_error(exc, out_dir, swap_pending=(work / swap.JOURNAL).exists()) from exc
    return summary


def _person_tags(
    all_photos: dict[str, _Photo], people: dict[int, PersonView], curation: Curation
) -> dict[str, PersonTags]:
    """Offline tags and caption of every shown person (:mod:`eventlens.deliver.tags`)."""
    groups = {s.sha256: s.duplicate_group for s in curation.ranked}
    facts = []
    for p in all_photos.values():
        faces = []
        for f in p.faces:
            d = curation.decisions.get(f["id"])
            faces.append(
                FaceFacts(f["person"], None if d is None else d.smile, None if d is None else d.eyes_open)
            )
        facts.append(PhotoFacts(p.sha256, parse_time(p.taken_at), groups.get(p.sha256, -1), tuple(faces)))
    shown = {p.label: p.name or p.label for p in people.values() if not p.hidden}
    return tags_for_persons(shown, facts)


def person_photos(all_photos: Mapping[str, _Photo], curation: Curation) -> list[PersonPhotos]:
    """Each person's best photos (``person_XXX/best/``'s order) with where to read them."""
    result = []
    for label, shas in sorted(curation.person_best.items()):
        photos = []
        for sha in shas:
            p = all_photos.get(sha)
            face = next((f for f in p.faces if f["person"] == label), None) if p is not None else None
            if p is None or face is None:
                continue
            x1, y1, x2, y2 = face["box"]
            box = (x1 / p.width_px, y1 / p.height_px, x2 / p.width_px, y2 / p.height_px)
            photos.append(PersonPhoto(sha, p.local_path, box))
        result.append(PersonPhotos(label, tuple(photos)))
    return result


def _cached_llm_captions(
    cache_dir: Path, persons: list[PersonPhotos], settings: Settings
) -> dict[str, LlmCaption]:
    """The answers an ``eventlens captions --llm`` run got for these photos (no call is made here)."""
    if not cache_dir.is_dir():
        return {}
    report = caption_persons(persons, cache_dir, settings, only_cached=True)
    return {p.label: p.caption for p in report.persons if p.caption is not None}


def load_for_captions(
    engine: sa.Engine, out_dir: Path, settings: Settings
) -> tuple[list[PersonPhotos], Path]:
    """What ``eventlens captions`` needs: each shown person's best photos, and the LLM answer cache."""
    with engine.connect() as conn:
        all_photos, people = _load(conn)
        shown = {sha: p.rel_path for sha, p in all_photos.items()}
        curation = compute_curation(conn, shown, settings.curation, settings.eye_model)
    visible = {p.label for p in people.values() if not p.hidden}
    persons = [p for p in person_photos(all_photos, curation) if p.label in visible]
    return persons, out_dir / ".eventlens" / LLM_CACHE_DIR


def _build(
    staging: Path,
    all_photos: dict[str, _Photo],
    people: dict[int, PersonView],
    rejected: list[RejectionView],
    curation: Curation,
    settings: Settings,
    summary: ExportSummary,
    executor: Executor | None,
) -> None:
    """Write the whole export into the empty folder ``staging``."""
    by_person = _group_by_person(all_photos, summary)
    tags = _person_tags(all_photos, people, curation)
    llm = _cached_llm_captions(staging.parent / LLM_CACHE_DIR, person_photos(all_photos, curation), settings)
    summary_rows = _write_persons(
        staging, people, by_person, all_photos, settings, summary, tags, llm, executor
    )
    face_rows = [
        _face_row(p, f, curation.decisions.get(f["id"]))
        for p in sorted(all_photos.values(), key=lambda x: x.rel_path)
        for f in p.faces
    ]
    summary.faces = len(face_rows)
    summary.photos = len(all_photos)
    write_csv(staging / "summary.csv", SUMMARY_COLUMNS, summary_rows)
    write_csv(staging / "face_data.csv", FACE_COLUMNS + ATTRIBUTE_COLUMNS, face_rows)
    write_csv(staging / "rejected.csv", ["path", "reason"], [[r.path, r.reason] for r in rejected])
    summary.rejected = len(rejected)

    all_names = _file_names(list(all_photos.values()))
    write_curation(
        curation,
        staging,
        place=lambda sha, dst: _place(all_photos[sha].local_path, dst, settings.link_mode, summary),
        file_name=lambda sha: all_names[sha],
    )
    summary.best = len(curation.best)
