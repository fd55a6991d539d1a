"""Merge suggestions on synthetic embeddings: order by similarity, what is left out, answers through the
corrections write path (with undo), and the clusterer keeping a "no" pair apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from people_kit import EMBED_MODEL, FaceSpec, around, build_catalog, unit

from eventlens.catalog.schema import corrections as corrections_table
from eventlens.catalog.schema import faces, person_not_person, persons
from eventlens.cluster import suggestions
from eventlens.cluster.stage import cluster
from eventlens.curate import corrections
from eventlens.errors import InputError
from eventlens.settings import Settings


def _specs(rng: np.random.Generator) -> tuple[list[FaceSpec], dict[str, np.ndarray]]:
    """person_001 and person_002 are one look (0.3 apart), person_003 is near-ish (0.6), person_004 far;
    person_005 shares a photo with person_001 and looks like it."""
    a = unit(rng) * 0.8
    centres = {
        "person_001": a,
        "person_002": around(a, 0.30, rng),
        "person_003": around(a, 0.60, rng),
        "person_004": around(a, 1.40, rng),
        "person_005": around(a, 0.25, rng),
    }
    specs = []
    for label, centre in centres.items():
        for k in range(3):
            specs.append(FaceSpec(f"{label}_{k}.jpg", label, around(centre, 0.05, rng)))
    specs.append(FaceSpec("person_001_0.jpg", "person_005", around(centres["person_005"], 0.05, rng)))
    return specs, centres


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    specs, _ = _specs(np.random.default_rng(7))
    return build_catalog(tmp_path, specs)


def _pairs(engine: sa.Engine, max_distance: float = 2.0) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [
            (s.label, s.other_label) for s in suggestions.merge_suggestions(conn, EMBED_MODEL, max_distance)
        ]


def test_suggestions_are_ordered_by_similarity_and_skip_pairs_sharing_a_photo(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        found = suggestions.merge_suggestions(conn, EMBED_MODEL, max_distance=2.0)
    pairs = [(s.label, s.other_label) for s in found]
    assert pairs[0] == ("person_002", "person_005") or pairs[0] == ("person_001", "person_002")
    assert ("person_001", "person_005") not in pairs  # a face of each in person_001_0.jpg
    distances = [s.distance for s in found]
    assert distances == sorted(distances)
    assert all(s.min_distance <= s.distance for s in found)
    near = {p: s.distance for p, s in zip(pairs, found, strict=True)}
    assert near[("person_001", "person_002")] < near[("person_001", "person_003")]
    assert near[("person_001", "person_003")] < near[("person_001", "person_004")]
    # the cut: far pairs are not suggested
    with engine.connect() as conn:
        close = suggestions.merge_suggestions(conn, EMBED_MODEL, max_distance=1.0)
    assert all(s.distance <= 1.0 for s in close) and ("person_001", "person_004") not in {
        (s.label, s.other_label) for s in close
    }
    with engine.connect() as conn:
        assert len(suggestions.merge_suggestions(conn, EMBED_MODEL, 2.0, limit=2)) == 2


def test_distance_is_the_mean_of_the_closest_cross_pairs(tmp_path: Path) -> None:
    e = np.eye(4, dtype=np.float32)
    specs = [
        FaceSpec("a0", "person_001", e[0]),
        FaceSpec("a1", "person_001", e[0] * 0.5),
        FaceSpec("b0", "person_002", e[0] * 0.5 + e[1] * 0.1),
        FaceSpec("b1", "person_002", e[1]),
    ]
    engine = build_catalog(tmp_path, specs)
    with engine.connect() as conn:
        (found,) = suggestions.merge_suggestions(conn, EMBED_MODEL, 5.0)
    x = np.stack([s.embedding for s in specs]).astype(np.float64)
    cross = sorted(float(np.linalg.norm(x[i] - x[j])) for i in (0, 1) for j in (2, 3))
    assert found.min_distance == pytest.approx(cross[0], abs=1e-5)
    assert found.distance == pytest.approx(np.mean(cross[:3]), abs=1e-5)


def test_no_is_a_person_cannot_link_with_undo_and_yes_is_a_merge(engine: sa.Engine) -> None:
    done = suggestions.answer(engine, EMBED_MODEL, "person_001", "person_002", same=False, by="test")
    assert done.action == "not_same"
    assert ("person_001", "person_002") not in _pairs(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(person_not_person)).scalar() == 1
    with pytest.raises(InputError, match="not a merge suggestion"):
        suggestions.answer(engine, EMBED_MODEL, "person_001", "person_002", same=True)
    corrections.undo(engine)
    assert ("person_001", "person_002") in _pairs(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(person_not_person)).scalar() == 0
    # yes: a merge through the write path, its distances recorded for the re-fit
    merged = suggestions.answer(engine, EMBED_MODEL, "person_001", "person_003", same=True)
    assert merged.action == "merge"
    with engine.connect() as conn:
        labels = set(conn.execute(sa.select(persons.c.label)).scalars())
        payload = conn.execute(
            sa.select(corrections_table.c.payload_json).where(corrections_table.c.id == merged.id)
        ).scalar_one()
    assert "person_003" not in labels
    assert '"min_distance"' in payload


def test_merge_carries_person_cannot_links_and_undo_restores_them(engine: sa.Engine) -> None:
    corrections.not_same_person(engine, "person_003", "person_004")
    corrections.merge(engine, "person_001", ["person_003"])
    with engine.connect() as conn:
        ids = {r.label: r.id for r in conn.execute(sa.select(persons.c.label, persons.c.id))}
        links = {tuple(r) for r in conn.execute(sa.select(person_not_person))}
    assert links == {(ids["person_001"], ids["person_004"])}
    corrections.undo(engine)
    with engine.connect() as conn:
        ids = {r.label: r.id for r in conn.execute(sa.select(persons.c.label, persons.c.id))}
        links = {tuple(r) for r in conn.execute(sa.select(person_not_person))}
    assert links == {(ids["person_003"], ids["person_004"])}
    with pytest.raises(InputError, match="one person"):
        corrections.not_same_person(engine, "person_001", "1")


def test_the_cluster_stage_keeps_a_pair_answered_no_apart(tmp_path: Path, model_cache_dir: Path) -> None:
    rng = np.random.default_rng(3)
    a = unit(rng) * 0.8
    specs = [FaceSpec(f"a{k}.jpg", "person_001", around(a, 0.1, rng)) for k in range(3)]
    specs += [FaceSpec(f"b{k}.jpg", "person_002", around(a, 0.1, rng)) for k in range(3)]
    engine = build_catalog(tmp_path, specs)
    settings = Settings(cache_dir=model_cache_dir, cluster_min_face_px=0)

    def persons_of_faces() -> list[str | None]:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(persons.c.label)
                .select_from(faces)
                .outerjoin(persons, persons.c.id == faces.c.person_id)
                .order_by(faces.c.id)
            ).scalars()
            return list(rows)

    corrections.not_same_person(engine, "person_001", "person_002")
    cluster(engine, settings, EMBED_MODEL)
    assert persons_of_faces() == ["person_001"] * 3 + ["person_002"] * 3
    corrections.undo(engine)  # without the answer the two looks are one person
    cluster(engine, settings, EMBED_MODEL)
    assert len(set(persons_of_faces())) == 1
