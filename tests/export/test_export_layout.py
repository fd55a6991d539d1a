"""The output layout is a contract: folders, metadata.json, the three CSVs and the face crops, checked on
the standard synthetic event (fake backend) where every identity is known."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from testkit import (
    EVENT_PHOTOS,
    EVENT_REJECTED,
    A,
    B,
    C,
    D,
    SyntheticEvent,
    face_box,
    folder_identities,
    folder_photos,
    person_folders,
    read_csv,
    read_metadata,
    snapshot,
)

from eventlens import pipeline
from eventlens.attributes.decide import FaceDecisions
from eventlens.backends.fake import PALETTE
from eventlens.errors import InputError
from eventlens.export.layout import ATTRIBUTE_COLUMNS, _face_row, _Photo
from eventlens.settings import Settings
from eventlens.summaries import RunSummary

FACE_COLUMNS = ["photo", "photo_sha256", "face", "x1", "y1", "x2", "y2", "det_score", "person"]
SUMMARY_COLUMNS = ["person", "name", "photos", "faces", "category", "tags", "caption"]


@pytest.fixture
def processed(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]
) -> tuple[Path, dict]:
    out = tmp_path / "out"
    summary = pipeline.process(event.root, out, make_settings())
    return out, summary


#: what the output contract requires at the top of OUT for the standard event
CONTRACT_ENTRIES = {
    "person_001",
    "person_002",
    "person_003",
    "unassigned",
    "output_clusters",
    "summary.csv",
    "face_data.csv",
    "rejected.csv",
}


def test_top_level_entries(processed: tuple[Path, dict]) -> None:
    out, summary = processed
    entries = {p.name for p in out.iterdir()}
    assert entries >= CONTRACT_ENTRIES
    assert not {e for e in entries if e.startswith("person_")} - CONTRACT_ENTRIES, "no extra person folder"
    assert ".eventlens" in entries  # the catalog lives in OUT
    assert summary.export.persons == 3


def test_persons_are_numbered_by_descending_photo_count(
    event: SyntheticEvent, processed: tuple[Path, dict]
) -> None:
    out, _ = processed
    assert person_folders(out) == ["person_001", "person_002", "person_003"]
    for label, identity in [("person_001", A), ("person_002", B), ("person_003", C)]:
        assert folder_photos(out, label) == event.photos_of(identity), label
        assert folder_identities(out, label, event.root) == {identity}, label
    assert folder_photos(out, "unassigned") == event.photos_of(D)  # one face < min_faces
    assert folder_identities(out, "unassigned", event.root) == {D}


def test_person_folders_hold_hard_links_of_the_originals(
    event: SyntheticEvent, processed: tuple[Path, dict]
) -> None:
    out, summary = processed
    for label in ["person_001", "person_002", "person_003", "unassigned"]:
        meta = read_metadata(out / label)
        files = sorted(p.name for p in (out / label).iterdir() if p.is_file())
        assert files == sorted(["metadata.json", *(e["file"] for e in meta["photos"])])
        for entry in meta["photos"]:
            exported = out / label / entry["file"]
            original = event.root / entry["photo"]
            assert exported.stat().st_ino == original.stat().st_ino, f"{exported} is not a hard link"
            assert hashlib.sha256(exported.read_bytes()).hexdigest() == entry["photo_sha256"]
    assert summary.export.copies == 0 and summary.export.links >= 4 + 3 + 2 + 1


def test_metadata_json(event: SyntheticEvent, processed: tuple[Path, dict]) -> None:
    out, _ = processed
    meta = read_metadata(out / "person_001")
    assert set(meta) >= {"person", "name", "photo_count", "face_count", "representative_face", "photos"}
    assert meta["person"] == "person_001" and meta["name"] is None
    assert meta["photo_count"] == 4 and meta["face_count"] == 4
    assert [e["photo"] for e in meta["photos"]] == sorted(event.photos_of(A))
    for entry in meta["photos"]:
        assert set(entry) >= {"file", "photo", "photo_sha256", "width", "height", "faces"}
        assert (entry["width"], entry["height"]) == (320, 240)
        (face,) = entry["faces"]  # only this person's face is listed, not the others in the photo
        slot = event.photos[entry["photo"]].index(A)
        variant = int(Path(entry["photo"]).stem[1:])
        np.testing.assert_allclose(face["box"], face_box(slot, variant), atol=2)  # original pixels
        assert 0 < face["det_score"] <= 1
    rep = meta["representative_face"]
    assert set(rep) >= {"photo", "photo_sha256", "face", "box", "crop"}
    assert rep["photo"] in event.photos_of(A)
    assert (out / "person_001" / rep["crop"]).resolve() == (
        out / "output_clusters" / "person_001.jpg"
    ).resolve()

    unassigned = read_metadata(out / "unassigned")
    assert unassigned["person"] == "unassigned" and unassigned["name"] is None
    assert unassigned["representative_face"] is None
    assert [len(e["faces"]) for e in unassigned["photos"]] == [1]


def test_summary_csv(processed: tuple[Path, dict]) -> None:
    out, _ = processed
    header, rows = read_csv(out / "summary.csv")
    assert header == SUMMARY_COLUMNS
    assert [(r["person"], r["name"], r["photos"], r["faces"]) for r in rows] == [
        ("person_001", "", "4", "4"),
        ("person_002", "", "3", "3"),
        ("person_003", "", "2", "2"),
    ]


def test_face_data_csv(event: SyntheticEvent, processed: tuple[Path, dict]) -> None:
    out, _ = processed
    header, rows = read_csv(out / "face_data.csv")
    assert header[: len(FACE_COLUMNS)] == FACE_COLUMNS  # the contract's columns first, in this order
    n_faces = sum(len(ids) for ids in event.photos.values())
    assert len(rows) == n_faces == 10
    label_of = {A: "person_001", B: "person_002", C: "person_003", D: ""}
    seen = set()
    for r in rows:
        rel = r["photo"]
        assert rel in event.photos, f"{rel} is not relative to the input root"
        assert r["photo_sha256"] == hashlib.sha256((event.root / rel).read_bytes()).hexdigest()
        box = [float(r[k]) for k in ("x1", "y1", "x2", "y2")]
        identity = event.photos[rel][int(np.argmin([abs(box[0] - face_box(s, 0)[0]) for s in range(4)]))]
        assert r["person"] == label_of[identity]
        assert 0 < float(r["det_score"]) <= 1
        seen.add((rel, int(r["face"])))
    assert len(seen) == len(rows)


def test_rejected_csv(processed: tuple[Path, dict]) -> None:
    out, summary = processed
    header, rows = read_csv(out / "rejected.csv")
    assert header == ["path", "reason"]
    assert {r["path"] for r in rows} == set(EVENT_REJECTED)
    for r in rows:
        assert EVENT_REJECTED[r["path"]] in r["reason"]
    assert summary.export.rejected == len(rows)
    assert summary.export.photos == EVENT_PHOTOS  # analysed photos, with or without faces
    assert summary.ingest.skipped_system_files == 1  # .DS_Store, not a rejection


def test_representative_crops(processed: tuple[Path, dict]) -> None:
    out, _ = processed
    crops = sorted(p.name for p in (out / "output_clusters").iterdir())
    assert crops == ["person_001.jpg", "person_002.jpg", "person_003.jpg"]
    for name, identity in zip(crops, [A, B, C], strict=True):
        with Image.open(out / "output_clusters" / name) as im:
            assert im.format == "JPEG" and im.size == (256, 256)
            centre = np.asarray(im.convert("RGB"))[128, 128].astype(int)
        assert np.abs(centre - np.array(PALETTE[identity])).max() < 40, "the crop shows the person's face"


def test_no_biometric_data_is_exported(processed: tuple[Path, dict]) -> None:
    out, _ = processed
    for path in out.rglob("*"):
        if path.suffix in (".json", ".csv") and ".eventlens" not in path.parts:
            text = path.read_text(encoding="utf-8")
            assert "embedding" not in text and "landmarks" not in text


@pytest.mark.parametrize("mode", ["copy", "symlink"])
def test_link_modes(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings], mode: str
) -> None:
    out = tmp_path / "out"
    pipeline.process(event.root, out, make_settings(link_mode=mode))
    exported = out / "person_003" / "p06.png"
    original = event.root / "p06.png"
    assert exported.read_bytes() == original.read_bytes()
    if mode == "copy":
        assert not exported.is_symlink() and exported.stat().st_ino != original.stat().st_ino
    else:
        assert exported.is_symlink() and exported.resolve() == original.resolve()


# --- the export never deletes what it did not write ---------------------------------------------------


def test_user_files_in_the_output_folder_survive(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "my_notes.txt").write_text("keep me", encoding="utf-8")
    (out / "selection").mkdir()
    (out / "selection" / "best.jpg").write_bytes(b"mine")
    pipeline.process(event.root, out, make_settings())
    (event.root / "p06.png").unlink()  # the next export changes person_003
    pipeline.process(event.root, out, make_settings())
    assert (out / "my_notes.txt").read_text(encoding="utf-8") == "keep me"
    assert (out / "selection" / "best.jpg").read_bytes() == b"mine"


def test_a_foreign_person_folder_stops_the_export_and_nothing_is_lost(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    out = tmp_path / "out"
    (out / "person_001").mkdir(parents=True)
    (out / "person_001" / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(InputError, match="person_001.*not written by eventlens"):
        pipeline.process(event.root, out, make_settings())
    assert (out / "person_001" / "holiday.jpg").read_bytes() == b"precious"
    assert sorted(p.name for p in out.iterdir()) == [".eventlens", "person_001"]
    assert sorted(p.name for p in (out / ".eventlens").iterdir() if p.name.startswith("staging")) == []
    # once the user moves the folder away, the same command completes
    (out / "person_001").rename(tmp_path / "moved")
    summary = pipeline.process(event.root, out, make_settings())
    assert summary.analyze.photos == 0  # the failed run's analysis was kept
    assert person_folders(out) == ["person_001", "person_002", "person_003"]


def test_a_user_file_inside_a_person_folder_is_never_deleted(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    out = tmp_path / "out"
    pipeline.process(event.root, out, make_settings())
    (out / "person_001" / "my_edit.jpg").write_bytes(b"retouched")
    (out / "person_002" / "picked").mkdir()
    with pytest.raises(InputError, match=r"person_001/my_edit\.jpg.*not written by eventlens"):
        pipeline.process(event.root, out, make_settings())
    assert (out / "person_001" / "my_edit.jpg").read_bytes() == b"retouched"
    assert (out / "person_002" / "picked").is_dir()
    assert folder_photos(out, "person_001") == event.photos_of(A)  # the previous export is intact
    (out / "person_001" / "my_edit.jpg").unlink()
    (out / "person_002" / "picked").rmdir()
    pipeline.process(event.root, out, make_settings())


def _run(event: SyntheticEvent, out: Path, settings: Settings) -> RunSummary:
    return pipeline.process(event.root, out, settings)


def test_export_is_repeatable_from_the_catalog(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    out = tmp_path / "out"
    _run(event, out, make_settings())
    first = snapshot(out)
    event_engine = pipeline.Event.open(out, make_settings())
    try:
        with event_engine.run("export") as summary:
            pipeline.run_export(event_engine, summary)
    finally:
        event_engine.close()
    assert snapshot(out) == first
    assert not [p for p in (out / ".eventlens").iterdir() if p.name.startswith("staging")]
    assert os.listdir(out / "person_001")  # not emptied by the swap


def test_face_data_writes_unknown_eyes_as_unknown(tmp_path: Path) -> None:
    """A face whose eyes are unknown (too small, or a score too close to the threshold) reads ``unknown``
    in face_data.csv's eyes_open column, next to true / false for decided faces."""
    photo = _Photo("a" * 64, "a.jpg", tmp_path / "a.jpg", 100, 100)
    face = {
        "face": 0,
        "box": (1.0, 2.0, 30.0, 40.0),
        "det_score": 0.9,
        "person": "person_001",
        "measurements": {
            "yaw_deg": 0.0,
            "pitch_deg": 0.0,
            "roll_deg": 0.0,
            "sharpness": 0.8,
            "brightness": 0.5,
        },
    }
    column = len(FACE_COLUMNS) + ATTRIBUTE_COLUMNS.index("eyes_open")
    cells = []
    for eyes_open in (None, True, False):
        d = FaceDecisions(
            eyes_open_score=None if eyes_open is None else float(eyes_open),
            eyes_open=eyes_open,
            smile_score=0.2,
            smile=False,
            mouth_open=False,
            sharp=True,
            well_exposed=True,
            looking_away=False,
            expression="eyes_closed" if eyes_open is False else "neutral",
        )
        cells.append(_face_row(photo, face, d)[column])
    assert cells == ["unknown", "true", "false"]
