"""The scoring step: rank every photo from the catalog, in seconds, deterministically.

:func:`compute_curation` reads photos, faces (with their measurements) and persons (with their labels)
through the read model (:mod:`eventlens.catalog.queries`), derives each face's decisions, groups
near-duplicates, scores and ranks. :func:`write_curation` writes
``photo_scores.csv``, ``best/`` and each ``person_XXX/best/`` into the export's staging folder.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from eventlens.attributes.decide import FaceDecisions, decide
from eventlens.catalog import queries
from eventlens.curate.background import background_brightness
from eventlens.curate.duplicates import near_duplicate_groups
from eventlens.curate.scoring import (
    PhotoInput,
    PhotoScore,
    ScoredFace,
    person_photo_score,
    rank,
    score_photo,
)
from eventlens.export.safe_files import RANK_PREFIX_MAX_BYTES, write_csv
from eventlens.settings import CurationSettings

SCORE_COLUMNS = [
    "rank",
    "photo",
    "final_score",
    "persons",
    "results_string",
    "photo_sha256",
    "disqualified",
    "duplicate_group",
    "duplicate_pick",
    "background_brightness",
    "face_expressions",
]
BEST_DIR = "best"


@dataclass
class Curation:
    ranked: list[PhotoScore]
    decisions: dict[int, FaceDecisions | None]  # by face id
    person_best: dict[str, list[str]]  # person label -> photo sha256s, best first
    best: list[str] = field(default_factory=list)  # photo sha256s for OUT/best/, best first
    #: by photo sha256: brightness outside the faces (:mod:`eventlens.curate.background`), None if unknown
    background: dict[str, float | None] = field(default_factory=dict)
    #: by photo sha256: ``label:expression`` of each face in face order (``unassigned`` for no person)
    expressions: dict[str, list[str]] = field(default_factory=dict)


def eye_model_of(pipeline_key: str | None) -> str | None:
    """Name of the eye model recorded in a photo's pipeline key (``None`` when it does not say)."""
    try:
        key = json.loads(pipeline_key or "{}").get("eyes")
    except (json.JSONDecodeError, AttributeError):
        return None
    return key.split("@", 1)[0] if isinstance(key, str) else None


def _well_exposed(brightness: float | None, clipped: float, rules: CurationSettings) -> bool:
    if brightness is None:
        return True
    return rules.brightness_min <= brightness <= rules.brightness_max and clipped <= rules.clipped_max


def parse_time(text: str | None) -> datetime | None:
    """An ISO 8601 time from the catalog (EXIF), or None when absent or unreadable."""
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def compute_curation(
    conn: sa.Connection,
    shown_paths: dict[str, str],
    rules: CurationSettings,
    eye_model: str = "mediapipe_iris_int8",
) -> Curation:
    """Score the analysed photos listed in ``shown_paths`` (sha256 -> path shown to people).

    Each photo's eyes are judged with the calibration of the eye model that measured them (recorded in
    its pipeline key); ``eye_model`` only serves photos whose key does not say."""
    people = {p.id: p for p in queries.list_persons(conn).items}
    inputs: dict[str, PhotoInput] = {}
    taken: dict[str, datetime | None] = {}
    hashes: dict[str, int | None] = {}
    measured_by: dict[str, str] = {}
    frames: dict[str, tuple[float | None, int | None, int | None]] = {}
    for r in queries.photos_for_export(conn):
        if r.sha256 not in shown_paths:
            continue
        clipped = (r.clipped_high or 0.0) + (r.clipped_low or 0.0)
        inputs[r.sha256] = PhotoInput(
            shown_paths[r.sha256], r.sha256, r.sharpness, _well_exposed(r.brightness, clipped, rules)
        )
        taken[r.sha256] = parse_time(r.taken_at)
        hashes[r.sha256] = int(r.phash, 16) if r.phash else None
        measured_by[r.sha256] = eye_model_of(r.pipeline_key) or eye_model
        frames[r.sha256] = (r.brightness, r.width_px, r.height_px)
    face_light: dict[str, list[tuple[tuple[float, float, float, float], float | None]]] = defaultdict(list)
    expressions: dict[str, list[tuple[int, str]]] = defaultdict(list)
    decisions: dict[int, FaceDecisions | None] = {}
    face_of_person: dict[str, list[tuple[str, ScoredFace]]] = defaultdict(list)
    for f in sorted(queries.faces_of_photos(conn), key=lambda face: face.id):
        if f.photo_sha256 not in inputs:
            continue
        person = people.get(f.person_id) if f.person_id is not None else None
        d = decide(f.measurements, rules, measured_by[f.photo_sha256])
        decisions[f.id] = d
        scored = ScoredFace(
            person.label if person else "",
            person.category if person else "other",
            d,
            f.measurements["sharpness"] or 0.0,
        )
        inputs[f.photo_sha256].faces.append(scored)
        face_light[f.photo_sha256].append(((f.x1, f.y1, f.x2, f.y2), f.measurements.get("brightness")))
        label = person.label if person else "unassigned"
        expressions[f.photo_sha256].append((f.face_index, f"{label}:{d.expression}" if d else f"{label}:"))
        if person is not None:
            face_of_person[person.label].append((f.photo_sha256, scored))

    order = sorted(inputs, key=lambda sha: inputs[sha].photo)
    groups = near_duplicate_groups(
        [hashes[s] for s in order],
        [taken[s] for s in order],
        rules.duplicate_max_hamming,
        rules.duplicate_max_seconds,
    )
    for sha, group in zip(order, groups, strict=True):
        inputs[sha].duplicate_group = group
    first = {sha: score_photo(inputs[sha], rules) for sha in order}
    _mark_duplicate_picks(inputs, first)
    ranked = rank([score_photo(inputs[sha], rules) for sha in order])
    by_sha = {s.sha256: s for s in ranked}
    best = [s.sha256 for s in ranked if not s.disqualified and s.duplicate_pick][: rules.best_count]
    person_best = {
        label: _person_best(entries, by_sha, rules) for label, entries in sorted(face_of_person.items())
    }
    background = {sha: background_brightness(*frames[sha], face_light.get(sha, [])) for sha in order}
    shown = {sha: [text for _i, text in sorted(expressions.get(sha, []))] for sha in order}
    return Curation(ranked, decisions, person_best, best, background, shown)


def _mark_duplicate_picks(inputs: dict[str, PhotoInput], first: dict[str, PhotoScore]) -> None:
    """In each near-duplicate group, the best-scoring photo (then the sharpest, then by path) is the pick."""
    members: dict[int, list[str]] = defaultdict(list)
    for sha, p in inputs.items():
        members[p.duplicate_group].append(sha)
    for shas in members.values():
        if len(shas) < 2:
            continue
        pick = min(
            shas,
            key=lambda s: (
                first[s].disqualified,
                -first[s].final_score,
                -(inputs[s].sharpness or 0.0),
                inputs[s].photo,
            ),
        )
        for s in shas:
            inputs[s].duplicate_pick = s == pick


def _person_best(
    entries: list[tuple[str, ScoredFace]], by_sha: dict[str, PhotoScore], rules: CurationSettings
) -> list[str]:
    ranked = sorted(
        entries, key=lambda e: (-person_photo_score(e[1], by_sha[e[0]], rules), by_sha[e[0]].photo)
    )
    chosen: list[str] = []
    groups_used: set[int] = set()
    for sha, _face in ranked:
        group = by_sha[sha].duplicate_group
        if sha in chosen or group in groups_used:
            continue
        chosen.append(sha)
        groups_used.add(group)
        if len(chosen) >= rules.person_best_count:
            break
    return chosen


def write_curation(
    curation: Curation,
    staging: Path,
    place: Callable[[str, Path], None],
    file_name: Callable[[str], str],
) -> None:
    """Write ``photo_scores.csv``, ``best/`` and ``person_XXX/best/`` under ``staging``.

    ``place(sha256, destination)`` links or copies a photo; ``file_name(sha256)`` gives its file name.
    Files in ``best/`` folders are prefixed with their rank so that a file browser shows them in order.
    Every file is created new (the folders must not exist yet); CSV cells are neutralised
    (:func:`eventlens.export.safe_files.csv_cell`).
    """
    rows = (
        [
            i,
            s.photo,
            f"{s.final_score:.4f}",
            ";".join(s.persons),
            s.results_string,
            s.sha256,
            str(s.disqualified).lower(),
            s.duplicate_group,
            str(s.duplicate_pick).lower(),
            _rounded(curation.background.get(s.sha256)),
            ";".join(curation.expressions.get(s.sha256, [])),
        ]
        for i, s in enumerate(curation.ranked, start=1)
    )
    write_csv(staging / "photo_scores.csv", SCORE_COLUMNS, rows)
    _write_best(staging / BEST_DIR, curation.best, place, file_name)
    for label, shas in curation.person_best.items():
        if (staging / label).is_dir():
            _write_best(staging / label / BEST_DIR, shas, place, file_name)


def _rounded(value: float | None) -> str | float:
    return "" if value is None else round(value, 3)


def _write_best(
    folder: Path, shas: list[str], place: Callable[[str, Path], None], file_name: Callable[[str], str]
) -> None:
    folder.mkdir()
    width = max(3, len(str(len(shas))))
    if width + 1 > RANK_PREFIX_MAX_BYTES:
        raise ValueError(f"{len(shas)} photos in {folder}: rank prefixes would not fit the file names")
    for i, sha in enumerate(shas, start=1):
        place(sha, folder / f"{i:0{width}d}_{file_name(sha)}")
