"""A small real ``process`` (libfacedetection + dlib) on four identity folders of ../shared/data: one person
per identity, no wrong merges, and the worker pool gives the same faces as one process."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from testkit import read_csv

from eventlens import pipeline
from eventlens.catalog.arrays import from_blob
from eventlens.catalog.db import default_url, open_catalog
from eventlens.catalog.schema import faces
from eventlens.settings import load_settings
from eventlens.summaries import RunSummary

pytestmark = pytest.mark.real_models

#: LFW folders (250x250, one labelled face each, sometimes with partial faces around it)
IDENTITIES = ["George_W_Bush", "Donald_Rumsfeld", "Vladimir_Putin", "Jacques_Chirac"]
PHOTOS_PER_IDENTITY = 4


@dataclass
class RealRun:
    root: Path
    out: Path
    summary: RunSummary
    labelled_person: dict[str, str]  # photo -> person of its largest face
    faces: dict[tuple[str, int], tuple[np.ndarray, np.ndarray | None]]  # (sha, index) -> box, embedding


def _link_inputs(shared_data: Path, root: Path, per_identity: int) -> None:
    for name in IDENTITIES:
        folder = root / name
        folder.mkdir(parents=True)
        for photo in sorted((shared_data / "identities" / name).iterdir())[:per_identity]:
            (folder / photo.name).symlink_to(photo)


def _faces(out: Path) -> dict[tuple[str, int], tuple[np.ndarray, np.ndarray | None]]:
    engine = open_catalog(default_url(out))
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(faces)).all()
    finally:
        engine.dispose()
    return {
        (r.photo_sha256, r.face_index): (np.array([r.x1, r.y1, r.x2, r.y2]), from_blob(r.embedding))
        for r in rows
    }


def _run(root: Path, out: Path, cache: Path, workers: int) -> RealRun:
    summary = pipeline.process(root, out, load_settings(workers=workers, cache_dir=cache))
    _, rows = read_csv(out / "face_data.csv")
    largest: dict[str, tuple[float, str]] = {}
    for r in rows:
        area = (float(r["x2"]) - float(r["x1"])) * (float(r["y2"]) - float(r["y1"]))
        if r["photo"] not in largest or area > largest[r["photo"]][0]:
            largest[r["photo"]] = (area, r["person"])
    return RealRun(root, out, summary, {p: person for p, (_, person) in largest.items()}, _faces(out))


@pytest.fixture(scope="module")
def real_run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path) -> RealRun:
    base = tmp_path_factory.mktemp("real")
    _link_inputs(shared_data, base / "photos", PHOTOS_PER_IDENTITY)
    return _run(base / "photos", base / "out", model_cache_dir, workers=1)


def test_one_person_per_identity_and_no_wrong_merges(real_run: RealRun) -> None:
    assert real_run.summary.ingest.new_photos == len(IDENTITIES) * PHOTOS_PER_IDENTITY
    assert real_run.summary.ingest.rejected == 0
    assert set(real_run.labelled_person) == {
        f"{name}/{p.name}" for name in IDENTITIES for p in (real_run.root / name).iterdir()
    }, "every photo has a detected face"
    persons_of: dict[str, Counter[str]] = defaultdict(Counter)
    identities_of: dict[str, set[str]] = defaultdict(set)
    for photo, person in real_run.labelled_person.items():
        identity = photo.split("/")[0]
        persons_of[identity][person] += 1
        if person:
            identities_of[person].add(identity)
    for identity, persons in persons_of.items():
        assert list(persons) != [""], f"{identity} is unassigned"
        assert len(persons) == 1, f"{identity} is split over {dict(persons)}"
    wrong = {person: ids for person, ids in identities_of.items() if len(ids) > 1}
    assert not wrong, f"persons merging identities: {wrong}"
    assert len(identities_of) == len(IDENTITIES)


def test_real_output_layout(real_run: RealRun) -> None:
    for person in {p for p in real_run.labelled_person.values() if p}:
        folder = real_run.out / person
        assert (folder / "metadata.json").is_file()
        assert (real_run.out / "output_clusters" / f"{person}.jpg").is_file()
    _, summary_rows = read_csv(real_run.out / "summary.csv")
    counts = [int(r["photos"]) for r in summary_rows]
    assert counts == sorted(counts, reverse=True), "first-run persons are numbered by descending photo count"


def test_the_worker_pool_gives_the_same_faces(
    shared_data: Path, real_run: RealRun, tmp_path: Path, model_cache_dir: Path
) -> None:
    _link_inputs(shared_data, tmp_path / "photos", 2)
    pooled = _run(tmp_path / "photos", tmp_path / "out", model_cache_dir, workers=2)
    assert pooled.summary.analyze.workers == 2
    assert pooled.faces, "no faces found"
    assert set(pooled.faces) <= set(real_run.faces)
    for key, (box, embedding) in pooled.faces.items():
        serial_box, serial_embedding = real_run.faces[key]
        np.testing.assert_allclose(box, serial_box, atol=1e-3)
        if embedding is None or serial_embedding is None:
            assert embedding is None and serial_embedding is None
        else:
            np.testing.assert_allclose(embedding, serial_embedding, atol=1e-4)
    photos_serial = {sha for sha, _ in real_run.faces}
    photos_pooled = {sha for sha, _ in pooled.faces}
    for sha in photos_pooled:  # the same number of faces per photo
        assert sum(1 for s, _ in pooled.faces if s == sha) == sum(1 for s, _ in real_run.faces if s == sha)
    assert photos_pooled <= photos_serial
