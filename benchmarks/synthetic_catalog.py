"""A synthetic catalog of any size (rows only, no images analysed), for search and page benchmarks.

Usage: python benchmarks/synthetic_catalog.py DIR [--photos 10000] [--seed 7]

Writes ``DIR/catalog.sqlite`` (schema from the migrations) holding ``--photos`` analysed photos over one
day with EXIF times, 0-12 faces each (most photos 1-3), about one person per 25 photos with names and
categories, and plausible face measurements, so that curation scores, eyes and smiles vary. Every photo's
``local_path`` is one small file ``DIR/photo.jpg`` (the catalog only needs it to exist).
"""

from __future__ import annotations

import argparse
import hashlib
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from eventlens.catalog.db import open_catalog
from eventlens.catalog.schema import (
    FACE_MEASUREMENT_COLUMNS,
    faces,
    persons,
    photo_paths,
    photos,
    runs,
    sources,
)

CATEGORIES = ("main", "important", "other", None)
NAMES = ("Ada", "Bruno", "Chloé", "Dmitri", "Eun-ji", "Farah", "Gustav", "Hana", "Ines", "Jonas")


def _measurements(rng: random.Random) -> dict[str, float]:
    open_eyes = rng.random() < 0.8
    ranges = {
        "ear_right": (0.22, 0.34) if open_eyes else (0.05, 0.15),
        "ear_left": (0.22, 0.34) if open_eyes else (0.05, 0.15),
        "mouth_width": (0.35, 0.55),
        "mouth_lift": (-0.05, 0.08),
        "mouth_opening": (0.0, 0.4),
        "mouth_gap": (0.0, 0.2),
        "corners_below_eyes": (0.3, 0.6),
        "lip_below_nose": (0.1, 0.3),
        "yaw_deg": (-40.0, 40.0),
        "pitch_deg": (-20.0, 20.0),
        "roll_deg": (-15.0, 15.0),
        "sharpness": (0.05, 0.9),
        "brightness": (0.3, 0.7),
        "clipped_high": (0.0, 0.05),
        "clipped_low": (0.0, 0.05),
        "size_ratio": (0.01, 0.2),
        "iris_dark_right": (0.2, 0.8),
        "iris_dark_left": (0.2, 0.8),
        "mouth_appearance": (-1.5, 1.5),
    }
    return {name: rng.uniform(*ranges[name]) for name in FACE_MEASUREMENT_COLUMNS}


def build_catalog(
    folder: Path,
    n_photos: int = 10_000,
    seed: int = 7,
    photo_files: Sequence[Path] | None = None,
    size_px: tuple[int, int] = (4000, 3000),
    url: str | None = None,
) -> str:
    """Write the catalog (see the module docstring) and return its SQLAlchemy URL.

    ``photo_files`` (one per photo, images of ``size_px``) are the photos' files; default: one tiny file
    for all. ``url``: where the catalog goes (default ``DIR/catalog.sqlite``)."""
    folder.mkdir(parents=True, exist_ok=True)
    image = folder / "photo.jpg"
    image.write_bytes(b"\xff\xd8\xff\xd9")
    width_px, height_px = size_px
    url = url or f"sqlite:///{folder / 'catalog.sqlite'}"
    engine = open_catalog(url)
    rng = random.Random(seed)
    start = datetime(2024, 6, 15, 9, 0, 0)
    n_persons = max(3, n_photos // 25)
    with engine.begin() as conn:
        run_id = conn.execute(
            sa.insert(runs).values(
                command="synthetic", started_at="2024-06-16T00:00:00", status="done", settings_json="{}"
            )
        ).inserted_primary_key[0]
        source_id = conn.execute(
            sa.insert(sources).values(kind="folder", uri=str(folder))
        ).inserted_primary_key[0]
        conn.execute(
            sa.insert(persons),
            [
                {
                    "id": i + 1,
                    "label": f"person_{i + 1:03d}",
                    "name": f"{NAMES[i % len(NAMES)]} {i // len(NAMES) + 1}" if i % 3 == 0 else None,
                    "category": CATEGORIES[i % len(CATEGORIES)],
                    "created_run": run_id,
                }
                for i in range(n_persons)
            ],
        )
        photo_rows: list[dict[str, Any]] = []
        path_rows: list[dict[str, Any]] = []
        face_rows: list[dict[str, Any]] = []
        for i in range(n_photos):
            sha = hashlib.sha256(f"{seed}:{i}".encode()).hexdigest()
            taken = start + timedelta(seconds=i * 3 + rng.randint(0, 2))
            # a few near-duplicate bursts: the same hash as the photo before, seconds apart
            phash = photo_rows[-1]["phash"] if i % 50 == 7 else f"{rng.getrandbits(64):016x}"
            photo_rows.append(
                {
                    "sha256": sha,
                    "size_bytes": 4,
                    "format": "JPEG",
                    "width_px": width_px,
                    "height_px": height_px,
                    "orientation": 1,
                    "taken_at": None if i % 97 == 0 else taken.isoformat(),
                    "local_path": str(photo_files[i] if photo_files is not None else image),
                    "status": "analyzed",
                    "pipeline_key": "{}",
                    "analyzed_at": "2024-06-16T00:00:00",
                    "added_run": run_id,
                    "sharpness": rng.uniform(0.05, 0.9),
                    "brightness": rng.uniform(0.3, 0.7),
                    "clipped_high": rng.uniform(0, 0.03),
                    "clipped_low": rng.uniform(0, 0.03),
                    "phash": phash,
                }
            )
            path_rows.append(
                {"source_id": source_id, "rel_path": f"day/IMG_{i:05d}.jpg", "sha256": sha, "status": "ok"}
            )
            n_faces = rng.choice((0, 1, 1, 1, 2, 2, 3, 3, 4, 6, 12))
            for k in range(n_faces):
                size = rng.uniform(0.015, 0.1) * width_px
                x1 = rng.uniform(0, width_px - size)
                y1 = rng.uniform(0, height_px - size)
                face_rows.append(
                    {
                        "photo_sha256": sha,
                        "face_index": k,
                        "x1": x1,
                        "y1": y1,
                        "x2": x1 + size,
                        "y2": y1 + size,
                        "det_score": rng.uniform(0.5, 0.99),
                        "detect_model": "synthetic",
                        "person_id": rng.randint(1, n_persons) if rng.random() < 0.85 else None,
                        "assigned_by": "cluster",
                        "cut_by_edge": False,
                        **_measurements(rng),
                    }
                )
        for table, rows in ((photos, photo_rows), (photo_paths, path_rows), (faces, face_rows)):
            for start_i in range(0, len(rows), 2000):
                conn.execute(sa.insert(table), rows[start_i : start_i + 2000])
    engine.dispose()
    return url


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folder", type=Path)
    parser.add_argument("--photos", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(build_catalog(args.folder, args.photos, args.seed))


if __name__ == "__main__":
    main()
