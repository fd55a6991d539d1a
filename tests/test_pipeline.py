"""``eventlens.pipeline.process`` with the fake backend: re-runs, incremental runs with stable person ids,
min_faces, deleted inputs, duplicates and the worker pool."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from testkit import (
    EVENT_PHOTOS,
    A,
    B,
    C,
    D,
    E,
    F,
    SyntheticEvent,
    encode,
    folder_identities,
    folder_photos,
    hash_tree,
    person_folders,
    photo_array,
    read_csv,
    read_metadata,
    snapshot,
)

from eventlens import pipeline
from eventlens.catalog.db import default_url, open_catalog
from eventlens.catalog.schema import photo_paths, photos, runs
from eventlens.settings import Settings
from eventlens.summaries import RunSummary

Run = Callable[..., RunSummary]


def _process(event: SyntheticEvent, out: Path, settings: Settings) -> RunSummary:
    return pipeline.process(event.root, out, settings)


def _identity_of_person(out: Path, event: SyntheticEvent) -> dict[str, int]:
    result = {}
    for label in person_folders(out):
        (identity,) = folder_identities(out, label, event.root)
        result[label] = identity
    return result


def _inodes(out: Path) -> dict[str, int]:
    return {
        p.relative_to(out).as_posix(): p.stat().st_ino
        for p in out.rglob("*")
        if p.is_file()
        and ".eventlens" not in p.parts
        and p.suffix in (".png", ".jpg")
        and p.parent.name != "output_clusters"
    }


def test_first_run_summary(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    summary = _process(event, tmp_path / "out", make_settings())
    ingest = summary.ingest
    assert ingest.files == 12 - 1  # .DS_Store is skipped, not counted as a file
    assert ingest.new_photos == EVENT_PHOTOS + 1  # + the truncated JPEG, which only analysis can reject
    assert ingest.duplicates == 1 and ingest.rejected == 1 and ingest.skipped_system_files == 1
    analyze = summary.analyze
    assert analyze.photos == EVENT_PHOTOS + 1 and analyze.rejected == 1
    assert analyze.faces == sum(len(ids) for ids in event.photos.values())
    cluster = summary.cluster
    assert (cluster.persons, cluster.new_persons, cluster.unassigned_faces) == (3, 3, 1)


def test_rerunning_the_same_command_skips_everything_and_changes_nothing(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    out = tmp_path / "out"
    inputs = hash_tree(event.root)
    _process(event, out, make_settings())
    first, inodes = snapshot(out), _inodes(out)
    again = _process(event, out, make_settings())
    assert again.analyze.photos == 0
    assert again.ingest.new_photos == 0 and again.ingest.unchanged == again.ingest.files
    assert again.cluster.new_persons == 0
    assert snapshot(out) == first
    assert _inodes(out) == inodes  # still links to the same originals
    assert hash_tree(event.root) == inputs  # the originals are never modified


def test_exact_duplicates_are_processed_once(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    out = tmp_path / "out"
    _process(event, out, make_settings())
    _, rows = read_csv(out / "face_data.csv")
    assert [r["photo"] for r in rows].count("p01.png") == 1
    assert not any("p01_copy" in r["photo"] for r in rows)
    assert folder_photos(out, "person_001") == event.photos_of(A)


def test_new_photos_are_processed_alone_and_person_ids_stay_stable(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    out = tmp_path / "out"
    _process(event, out, make_settings())
    assert _identity_of_person(out, event) == {"person_001": A, "person_002": B, "person_003": C}

    # C now appears in more photos than A, and E is a new person
    event.add("day2/c1.png", [C], 11)
    event.add("day2/c2.jpg", [C, E], 12)
    event.add("day2/c3.png", [C], 13)
    event.add("day2/e1.png", [E], 14)
    summary = _process(event, out, make_settings())
    assert summary.ingest.new_photos == 4 and summary.ingest.unchanged == 11
    assert summary.analyze.photos == 4
    assert summary.cluster.new_persons == 1
    assert _identity_of_person(out, event) == {
        "person_001": A,
        "person_002": B,
        "person_003": C,
        "person_004": E,
    }
    assert folder_photos(out, "person_003") == event.photos_of(C)  # 5 photos, still person_003
    assert folder_photos(out, "person_001") == event.photos_of(A)
    _, rows = read_csv(out / "summary.csv")
    assert [(r["person"], r["photos"]) for r in rows] == [
        ("person_001", "4"),
        ("person_002", "3"),
        ("person_003", "5"),
        ("person_004", "2"),
    ]


def test_a_second_person_takes_the_next_free_number_after_one_joins_from_unassigned(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    out = tmp_path / "out"
    _process(event, out, make_settings())
    event.add("late/d2.png", [D], 21)  # D had one face (unassigned): now two
    event.add("late/f1.png", [F], 22)
    event.add("late/f2.png", [F], 23)
    event.add("late/f3.png", [F], 24)
    _process(event, out, make_settings())
    got = _identity_of_person(out, event)
    assert {k: got[k] for k in ("person_001", "person_002", "person_003")} == {
        "person_001": A,
        "person_002": B,
        "person_003": C,
    }
    # new persons are numbered after the existing ones by descending photo count: F (3) before D (2)
    assert got["person_004"] == F and got["person_005"] == D
    assert "unassigned" not in {p.name for p in out.iterdir()}


def test_min_faces(event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]) -> None:
    out = tmp_path / "one"
    _process(event, out, make_settings(min_faces=1))
    assert _identity_of_person(out, event) == {
        "person_001": A,
        "person_002": B,
        "person_003": C,
        "person_004": D,
    }
    assert not (out / "unassigned").exists()

    out = tmp_path / "three"
    _process(event, out, make_settings(min_faces=3))
    assert _identity_of_person(out, event) == {"person_001": A, "person_002": B}
    assert folder_identities(out, "unassigned", event.root) == {C, D}
    _, rows = read_csv(out / "face_data.csv")
    assert {r["person"] for r in rows if r["photo"] in event.photos_of(C) - event.photos_of(A)} == {""}


def test_a_deleted_input_is_marked_missing_and_leaves_the_export(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    out = tmp_path / "out"
    _process(event, out, make_settings())
    (event.root / "sub" / "p03.png").unlink()  # A and B
    (event.root / "p01.png").unlink()  # A, but an exact copy remains in sub/deeper/
    summary = _process(event, out, make_settings())
    assert summary.ingest.missing == 2
    assert summary.analyze.photos == 0
    assert folder_photos(out, "person_001") == {"p02.jpg", "sub/p04.png", "sub/deeper/p01_copy.png"}
    assert folder_photos(out, "person_002") == {"p02.jpg", "p05.jpg"}
    assert not (out / "person_001" / "p03.png").exists() and not (out / "person_002" / "p03.png").exists()
    _, rows = read_csv(out / "face_data.csv")
    assert "sub/p03.png" not in {r["photo"] for r in rows}
    engine = open_catalog(default_url(out))
    try:
        with engine.connect() as conn:
            status = dict(conn.execute(sa.select(photo_paths.c.rel_path, photo_paths.c.status)).all())
    finally:
        engine.dispose()
    assert status["sub/p03.png"] == "missing" and status["p01.png"] == "missing"

    # the file comes back: it is found again without a new analysis
    event.add("sub/p03.png", [B, A], 3)
    summary = _process(event, out, make_settings())
    assert summary.analyze.photos == 0 and summary.ingest.missing == 0
    assert "sub/p03.png" in folder_photos(out, "person_001")


def test_every_person_keeps_a_crop_when_its_representative_photo_is_deleted(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    out = tmp_path / "out"
    _process(event, out, make_settings())
    for label in ("person_001", "person_002"):
        (event.root / read_metadata(out / label)["representative_face"]["photo"]).unlink(missing_ok=True)
    summary = _process(event, out, make_settings())
    labels = person_folders(out)
    assert summary.export.crops == len(labels)
    for label in labels:
        rep = read_metadata(out / label)["representative_face"]
        assert rep is not None and (event.root / rep["photo"]).exists()
        assert (out / "output_clusters" / f"{label}.jpg").is_file()


def test_a_renamed_file_is_recognised_by_its_content(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    out = tmp_path / "out"
    _process(event, out, make_settings())
    (event.root / "p06.png").rename(event.root / "renamed.png")
    summary = _process(event, out, make_settings())
    assert summary.analyze.photos == 0
    assert folder_photos(out, "person_003") == {"renamed.png", "sub/p04.png"}


def test_the_output_folder_inside_the_input_is_not_ingested(
    event: SyntheticEvent, make_settings: Callable[..., Settings]
) -> None:
    out = event.root / "sorted"
    _process(event, out, make_settings())
    summary = _process(event, out, make_settings())
    assert summary.ingest.files == 11  # the person folders' links are not new input
    assert summary.analyze.photos == 0


def test_runs_are_recorded(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    out = tmp_path / "out"
    first = _process(event, out, make_settings())
    engine = open_catalog(default_url(out))
    try:
        with engine.connect() as conn:
            (row,) = conn.execute(sa.select(runs)).all()
            n_photos = conn.execute(sa.select(sa.func.count()).select_from(photos)).scalar()
    finally:
        engine.dispose()
    assert (row.id, row.command, row.status) == (first.run_id, "process", "done")
    assert json.loads(row.summary_json)["analyze"]["photos"] == first.analyze.photos
    assert json.loads(row.settings_json)["detector"] == "fake"
    assert n_photos == EVENT_PHOTOS + 1


def test_the_worker_pool_gives_the_same_output(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    serial = _process(event, tmp_path / "serial", make_settings(workers=1))
    pooled = _process(event, tmp_path / "pooled", make_settings(workers=2))
    assert pooled.analyze.workers == 2
    assert pooled.analyze.photos == serial.analyze.photos
    assert pooled.analyze.faces == serial.analyze.faces
    assert snapshot(tmp_path / "pooled") == snapshot(tmp_path / "serial")


def test_a_second_source_joins_the_same_event(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    """Photos of a ZIP added to an event made from a folder; meanwhile a file of the folder vanished."""
    out = tmp_path / "out"
    _process(event, out, make_settings())
    (event.root / "p06.png").unlink()  # no ingest of the folder notices this before the export
    archive = tmp_path / "more.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("phone/e1.png", encode(photo_array([E], 31), ".png"))
        z.writestr("phone/e2.png", encode(photo_array([E, A], 32), ".png"))
        z.writestr("phone/p01.png", (event.root / "p01.png").read_bytes())  # already known from the folder
    summary = pipeline.process(archive, out, make_settings())
    assert summary.ingest.new_photos == 2 and summary.ingest.duplicates == 1
    assert summary.analyze.photos == 2
    assert folder_photos(out, "person_001") == event.photos_of(A) | {"phone/e2.png"}
    assert folder_photos(out, "person_002") == event.photos_of(B)
    assert folder_photos(out, "person_003") == event.photos_of(C) - {"p06.png"}, (
        "a vanished file is not exported"
    )
    assert folder_photos(out, "person_004") == {"phone/e1.png", "phone/e2.png"}


def test_persons_tied_on_photo_count_are_numbered_by_photo_not_by_analysis_order(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    """Two new persons with as many photos each: their numbers follow the photos (sha256, face index),
    not the face ids, which follow the order in which the workers happened to finish the photos."""
    ev = SyntheticEvent(tmp_path / "photos")
    for i, identity in enumerate([E, E, F, F]):
        ev.add(f"q{i}.png", [identity], 20 + i)

    def numbering(reverse_face_ids: bool) -> dict[str, int]:
        out = tmp_path / f"out_{reverse_face_ids}"
        event = pipeline.Event.open(out, make_settings())
        try:
            with event.run("process") as summary:
                pipeline.run_ingest(event, ev.root, summary)
                pipeline.run_analyze(event, summary)
                if reverse_face_ids:  # as if the photos had been analysed in the opposite order
                    with event.engine.begin() as conn:
                        conn.execute(sa.text("UPDATE faces SET id = 1000000 - id"))
                pipeline.run_cluster(event, summary)
                pipeline.run_export(event, summary)
        finally:
            event.close()
        return {label: next(iter(folder_identities(out, label, ev.root))) for label in person_folders(out)}

    as_analysed = numbering(reverse_face_ids=False)
    assert sorted(as_analysed.values()) == sorted([E, F])
    assert numbering(reverse_face_ids=True) == as_analysed
