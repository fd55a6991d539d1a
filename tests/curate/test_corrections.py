"""Every human correction (:mod:`eventlens.curate.corrections`) and its undo, on the catalog of the standard
synthetic event (real SQLite in a tmp folder, fake backend): person_001 is identity A (4 photos),
person_002 B (3), person_003 C (2); D's one face is unassigned."""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from testkit import SyntheticEvent, person_folders, read_csv

from eventlens import pipeline
from eventlens.catalog.schema import corrections as corrections_table
from eventlens.catalog.schema import face_not_person, faces, persons
from eventlens.curate import corrections
from eventlens.errors import InputError, NotFoundError
from eventlens.settings import Settings
from eventlens.summaries import RunSummary


@pytest.fixture
def opened(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]
) -> Iterator[pipeline.Event]:
    out = tmp_path / "out"
    settings = make_settings()
    pipeline.process(event.root, out, settings)
    ev = pipeline.Event.open(out, settings, create=False)
    try:
        yield ev
    finally:
        ev.close()


def state(engine: sa.Engine) -> dict[str, Any]:
    """Everything a correction may change: persons, face assignments, cannot-links."""
    with engine.connect() as conn:
        return {
            "persons": {r.id: tuple(r) for r in conn.execute(sa.select(persons))},
            "faces": {r.id: (r.person_id, r.assigned_by) for r in conn.execute(sa.select(faces))},
            "links": set(
                map(tuple, conn.execute(sa.select(face_not_person.c.face_id, face_not_person.c.person_id)))
            ),
        }


def person(engine: sa.Engine, label: str) -> sa.Row | None:
    with engine.connect() as conn:
        return conn.execute(sa.select(persons).where(persons.c.label == label)).first()


def faces_of(engine: sa.Engine, label: str) -> list[sa.Row]:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(faces).join(persons, persons.c.id == faces.c.person_id).where(persons.c.label == label)
        ).all()


def ref(face: sa.Row) -> str:
    return f"{face.photo_sha256}:{face.face_index}"


def unassigned(engine: sa.Engine) -> list[sa.Row]:
    with engine.connect() as conn:
        return conn.execute(sa.select(faces).where(faces.c.person_id.is_(None))).all()


def test_rename_is_recorded_with_time_actor_and_before_state_and_undone(opened: pipeline.Event) -> None:
    engine = opened.engine
    initial = state(engine)
    done = corrections.rename(engine, "person_001", "  Ana ")
    assert person(engine, "person_001").name == "Ana"
    assert done.by == f"cli:{getpass.getuser()}" and done.action == "rename"
    assert datetime.fromisoformat(done.at).utcoffset().total_seconds() == 0
    with engine.connect() as conn:
        payload = json.loads(conn.execute(sa.select(corrections_table.c.payload_json)).scalar_one())
    assert payload["before"]["persons"][0]["name"] is None  # what undo needs
    # the person can now be named by its name, or by its number
    assert corrections.rename(engine, "Ana", "Anna", by="test").by == "test"
    corrections.rename(engine, "1", "Ann")
    undone = corrections.undo(engine, steps=2)
    assert person(engine, "person_001").name == "Ana"
    assert undone.action == "undo" and "#3" in undone.summary and "#2" in undone.summary
    corrections.undo(engine)
    assert state(engine) == initial
    history = corrections.history(engine)
    assert [c.action for c in history] == ["undo", "undo", "rename", "rename", "rename"]
    assert [c.undone_by for c in history[2:]] == [history[1].id, history[1].id, history[0].id]
    with pytest.raises(InputError, match="no correction to undo"):
        corrections.undo(engine)


def test_category_and_its_errors(opened: pipeline.Event) -> None:
    engine = opened.engine
    corrections.set_category(engine, "person_002", "main")
    assert person(engine, "person_002").category == "main"
    with pytest.raises(InputError, match="'bride' is unknown; use one of main, important, other"):
        corrections.set_category(engine, "person_002", "bride")
    with pytest.raises(NotFoundError, match="no person 'person_042'"):
        corrections.set_category(engine, "person_042", "main")
    corrections.undo(engine)
    assert person(engine, "person_002").category is None
    assert len(corrections.history(engine)) == 2  # the failed calls recorded nothing


def test_merge_pins_every_face_and_undo_restores_both_persons(opened: pipeline.Event) -> None:
    engine = opened.engine
    initial = state(engine)
    corrections.rename(engine, "person_003", "Cleo")
    named = state(engine)
    corrections.merge(engine, "person_002", ["person_003"])
    assert person(engine, "person_003") is None
    merged = faces_of(engine, "person_002")
    assert len(merged) == 5 and {f.assigned_by for f in merged} == {"user"}
    assert person(engine, "person_002").name == "Cleo"  # person_002 had none: it takes the other's
    # a re-cluster keeps them together (must-links)
    pipeline.run_cluster(opened, RunSummary())
    assert len(faces_of(engine, "person_002")) == 5 and person(engine, "person_003") is None
    corrections.undo(engine)
    assert state(engine) == named
    corrections.undo(engine)
    assert state(engine) == initial
    with pytest.raises(InputError, match="into itself"):
        corrections.merge(engine, "person_001", ["person_001"])
    with pytest.raises(NotFoundError):
        corrections.merge(engine, "person_001", ["person_002", "person_077"])
    assert state(engine) == initial  # one transaction: nothing of the failed merge is left


def test_move_faces_to_a_person_and_to_a_new_person(opened: pipeline.Event) -> None:
    engine = opened.engine
    initial = state(engine)
    (d_face,) = unassigned(engine)
    a_face = faces_of(engine, "person_001")[0]
    corrections.move_faces(engine, [ref(d_face)], "person_003")
    with engine.connect() as conn:
        moved = conn.execute(sa.select(faces).where(faces.c.id == d_face.id)).one()
    assert (moved.person_id, moved.assigned_by) == (person(engine, "person_003").id, "user")
    created = corrections.move_faces(engine, [f"{a_face.photo_sha256[:10]}:{a_face.face_index}"], "new")
    assert "person_004 (new)" in created.summary
    assert [f.id for f in faces_of(engine, "person_004")] == [a_face.id]
    # both stay after a re-cluster: pinned
    pipeline.run_cluster(opened, RunSummary())
    assert [f.id for f in faces_of(engine, "person_004")] == [a_face.id]
    assert d_face.id in {f.id for f in faces_of(engine, "person_003")}
    corrections.undo(engine, steps=2)
    assert person(engine, "person_004") is None
    pipeline.run_cluster(opened, RunSummary())
    assert state(engine)["faces"] == initial["faces"]
    with pytest.raises(InputError, match="PHOTO_SHA256:FACE"):
        corrections.move_faces(engine, ["p01.png"], "person_001")
    with pytest.raises(NotFoundError, match="no face"):
        corrections.move_faces(engine, ["abcdef0123:0"], "person_001")


def test_not_this_person_is_a_cannot_link_the_cluster_stage_respects(opened: pipeline.Event) -> None:
    engine = opened.engine
    initial = state(engine)
    a_faces = faces_of(engine, "person_001")
    wrong = a_faces[0]
    corrections.not_person(engine, ref(wrong), "person_001")
    assert wrong.id not in {f.id for f in faces_of(engine, "person_001")}
    assert (wrong.id, person(engine, "person_001").id) in state(engine)["links"]
    for _ in range(2):  # the next cluster run, and the one after
        summary = RunSummary()
        pipeline.run_cluster(opened, summary)
        assert summary.cluster.cannot_links_split == 1
        assert {f.id for f in faces_of(engine, "person_001")} == {f.id for f in a_faces[1:]}
        assert wrong.id in {f.id for f in unassigned(engine)}
    # a move to that person drops the cannot-link (the later fact wins)
    corrections.move_faces(engine, [ref(wrong)], "person_001")
    assert state(engine)["links"] == set()
    corrections.undo(engine, steps=2)
    pipeline.run_cluster(opened, RunSummary())
    assert state(engine) == initial


def test_hide_leaves_the_person_out_of_the_export_but_keeps_its_faces(opened: pipeline.Event) -> None:
    engine, out = opened.engine, opened.out_dir
    corrections.hide(engine, "person_002")
    pipeline.run_cluster(opened, RunSummary())
    pipeline.run_export(opened, RunSummary())
    assert person_folders(out) == ["person_001", "person_003"]
    assert "person_002" not in {r["person"] for r in read_csv(out / "summary.csv")[1]}
    assert not (out / "output_clusters" / "person_002.jpg").exists()
    assert len(faces_of(engine, "person_002")) == 3  # not re-assigned, not unassigned
    unassigned_photos = {
        p["photo"] for p in json.loads((out / "unassigned" / "metadata.json").read_text())["photos"]
    }
    assert unassigned_photos == {"p07.png"}
    corrections.hide(engine, "person_002", hidden=False)
    pipeline.run_export(opened, RunSummary())
    assert person_folders(out) == ["person_001", "person_002", "person_003"]
    corrections.undo(engine, steps=2)
    assert person(engine, "person_002").hidden is False


def test_chosen_representative_is_kept_over_re_clustering(opened: pipeline.Event) -> None:
    engine = opened.engine
    before = person(engine, "person_001")
    choice = next(f for f in faces_of(engine, "person_001") if f.id != before.representative_face_id)
    with pytest.raises(InputError, match="is person_002, not person_001; move it first"):
        corrections.set_representative(engine, "person_001", ref(faces_of(engine, "person_002")[0]))
    corrections.set_representative(engine, "person_001", ref(choice))
    pipeline.run_cluster(opened, RunSummary())
    pipeline.run_cluster(opened, RunSummary())
    assert person(engine, "person_001").representative_face_id == choice.id
    pipeline.run_export(opened, RunSummary())
    meta = json.loads((opened.out_dir / "person_001" / "metadata.json").read_text())
    assert (meta["representative_face"]["photo_sha256"], meta["representative_face"]["face"]) == (
        choice.photo_sha256,
        choice.face_index,
    )
    corrections.undo(engine)
    after = person(engine, "person_001")
    assert (after.representative_face_id, after.representative_by) == (before.representative_face_id, None)


def test_undo_of_one_correction_by_id(opened: pipeline.Event) -> None:
    engine = opened.engine
    first = corrections.rename(engine, "person_001", "Ana")
    corrections.rename(engine, "person_002", "Ben")
    corrections.undo(engine, correction_id=first.id)
    assert (person(engine, "person_001").name, person(engine, "person_002").name) == (None, "Ben")
    with pytest.raises(InputError, match="undone already"):
        corrections.undo(engine, correction_id=first.id)
    with pytest.raises(NotFoundError, match="no correction #99"):
        corrections.undo(engine, correction_id=99)


def test_a_correction_holds_the_write_lock_from_its_first_statement(opened: pipeline.Event) -> None:
    """``BEGIN IMMEDIATE``: while a correction's transaction is open no other writer can start, so a
    correction never fails half-way on a busy database; a failure inside it leaves nothing."""
    import sqlite3  # noqa: PLC0415

    path = opened.work_dir / "catalog.sqlite"
    with corrections.writing(opened.engine) as conn:
        other = sqlite3.connect(path, timeout=0)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        finally:
            other.close()
        corrections.rename(conn, "person_001", "Ana")
    assert person(opened.engine, "person_001").name == "Ana"
    with pytest.raises(NotFoundError), corrections.writing(opened.engine) as conn:
        corrections.rename(conn, "person_001", "Anna")
        corrections.rename(conn, "person_099", "Zed")
    assert person(opened.engine, "person_001").name == "Ana"
    assert len(corrections.history(opened.engine)) == 1


def test_out_labels_file_applies_only_entries_edited_since_it_was_read(opened: pipeline.Event) -> None:
    from eventlens.curate.labels import import_out_file  # noqa: PLC0415

    engine, path = opened.engine, opened.out_dir / "cluster_labels.json"
    path.write_text(json.dumps({"person_001": {"name": "Ana"}, "person_005": "main"}), encoding="utf-8")
    first = import_out_file(engine, path)
    assert person(engine, "person_001").name == "Ana" and first.unknown_persons == ["person_005"]
    corrections.rename(engine, "person_001", "Anna")
    again = import_out_file(engine, path)  # the file's entry is stale now: it must not revert the rename
    assert person(engine, "person_001").name == "Anna" and again.changed == 0
    (d_face,) = unassigned(engine)
    corrections.move_faces(engine, [ref(d_face)], "new")  # person_004
    corrections.move_faces(engine, [ref(faces_of(engine, "person_003")[0])], "new")  # person_005
    import_out_file(engine, path)  # person_005 exists now: its entry applies
    assert person(engine, "person_005").category == "main"
    assert person(engine, "person_001").name == "Anna"
