"""The cluster stage on a real SQLite catalog of synthetic faces: idempotent re-runs, a partition that
ignores the previous run's persons, locality when faces are added, and hand assignments that stay."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from test_partition import DIM, tangled_group

from eventlens.catalog.arrays import to_blob
from eventlens.catalog.db import open_catalog
from eventlens.catalog.schema import faces, persons, photo_paths, photos, sources
from eventlens.cluster.stage import cluster
from eventlens.settings import Settings, load_settings

MODEL = "synthetic-embedder"
GROUPS = 4
PER_GROUP = 40


class Catalog:
    """Photos of one synthetic face each (embeddings given), in a real catalog."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.count = 0
        with engine.begin() as conn:
            self.source = conn.execute(
                sources.insert().values(kind="folder", uri="/nowhere")
            ).inserted_primary_key[0]

    def add(self, embeddings: np.ndarray, group: int) -> list[str]:
        """One photo per embedding; returns the photos' sha256 (random-looking: new photos fall anywhere
        in the stable order)."""
        shas = []
        with self.engine.begin() as conn:
            for emb in embeddings:
                sha = hashlib.sha256(f"photo {self.count}".encode()).hexdigest()
                rel = f"g{group}/{self.count}.jpg"
                self.count += 1
                conn.execute(
                    photos.insert().values(sha256=sha, size_bytes=1, local_path=rel, status="analyzed")
                )
                conn.execute(
                    photo_paths.insert().values(source_id=self.source, rel_path=rel, sha256=sha, status="ok")
                )
                conn.execute(
                    faces.insert().values(
                        photo_sha256=sha,
                        face_index=0,
                        x1=0,
                        y1=0,
                        x2=100,
                        y2=100,
                        det_score=0.9,
                        detect_model="synthetic",
                        embedding=to_blob(emb),
                        embed_model=MODEL,
                    )
                )
                shas.append(sha)
        return shas

    def persons_of_faces(self) -> dict[str, str | None]:
        """Photo sha256 -> person label of its face."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(faces.c.photo_sha256, persons.c.label).join(
                    persons, persons.c.id == faces.c.person_id, isouter=True
                )
            ).all()
        return dict(rows)  # type: ignore[arg-type]


def partition(assignment: dict[str, str | None]) -> set[frozenset[str]]:
    clusters: dict[str, set[str]] = {}
    for sha, label in assignment.items():
        if label is not None:
            clusters.setdefault(label, set()).add(sha)
    return {frozenset(c) for c in clusters.values()}


@pytest.fixture
def settings() -> Settings:
    return load_settings()


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    engine = open_catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    try:
        yield Catalog(engine)
    finally:
        engine.dispose()


def _fill(catalog: Catalog, seed: int = 3) -> tuple[np.random.Generator, dict[str, int]]:
    rng = np.random.default_rng(seed)
    group_of = {}
    for g in range(GROUPS):
        for sha in catalog.add(tangled_group(10.0 * np.eye(DIM)[g], PER_GROUP, rng), g):
            group_of[sha] = g
    return rng, group_of


def test_rerunning_the_stage_changes_nothing(catalog: Catalog, settings: Settings) -> None:
    _fill(catalog)
    first = cluster(catalog.engine, settings, MODEL)
    assert first.new_persons >= GROUPS * 2, "the groups hold several persons each"
    assigned = catalog.persons_of_faces()
    for _ in range(4):
        again = cluster(catalog.engine, settings, MODEL)
        assert (again.new_persons, again.removed_persons) == (0, 0)
        assert catalog.persons_of_faces() == assigned


def test_the_previous_persons_do_not_change_the_partition(catalog: Catalog, settings: Settings) -> None:
    _fill(catalog)
    cluster(catalog.engine, settings, MODEL)
    reference = partition(catalog.persons_of_faces())
    # as if an earlier version had clustered differently: faces spread at random over the persons
    rng = np.random.default_rng(7)
    with catalog.engine.begin() as conn:
        ids = [r.id for r in conn.execute(sa.select(persons.c.id))]
        for (fid,) in conn.execute(sa.select(faces.c.id)).all():
            conn.execute(faces.update().where(faces.c.id == fid).values(person_id=int(rng.choice(ids))))
    cluster(catalog.engine, settings, MODEL)
    assert partition(catalog.persons_of_faces()) == reference


def test_added_faces_move_no_face_of_an_untouched_person(catalog: Catalog, settings: Settings) -> None:
    rng, group_of = _fill(catalog)
    cluster(catalog.engine, settings, MODEL)
    before = catalog.persons_of_faces()
    catalog.add(tangled_group(10.0 * np.eye(DIM)[2], 10, rng), 2)  # 10 new photos of group 2
    cluster(catalog.engine, settings, MODEL)
    after = catalog.persons_of_faces()
    untouched = {label for sha, label in before.items() if label is not None and group_of[sha] != 2}
    assert len(untouched) > GROUPS - 1, "the three untouched groups hold more than three persons"
    for sha, label in after.items():
        if sha in before and group_of[sha] != 2:
            assert label == before[sha], (
                f"a face of group {group_of[sha]} moved from {before[sha]} to {label}"
            )


def test_hand_assigned_faces_never_move(catalog: Catalog, settings: Settings) -> None:
    _, group_of = _fill(catalog)
    cluster(catalog.engine, settings, MODEL)
    with catalog.engine.begin() as conn:
        person_ids = dict(conn.execute(sa.select(persons.c.label, persons.c.id)).all())
        shas = sorted(group_of)
        # a face of group 0 put into a person of group 3; another taken out of every person
        target = next(
            label for sha, label in catalog.persons_of_faces().items() if group_of[sha] == 3 and label
        )
        moved, taken_out = shas[0], next(s for s in shas if group_of[s] == 1)
        conn.execute(
            faces.update()
            .where(faces.c.photo_sha256 == moved)
            .values(person_id=person_ids[target], assigned_by="user")
        )
        conn.execute(
            faces.update().where(faces.c.photo_sha256 == taken_out).values(person_id=None, assigned_by="user")
        )
    states = []
    for _ in range(3):
        cluster(catalog.engine, settings, MODEL)
        assigned = catalog.persons_of_faces()
        assert assigned[moved] == target and assigned[taken_out] is None
        states.append(assigned)
    assert states[1] == states[0] and states[2] == states[0]
