"""Photos whose names clash with what eventlens writes, with each other, or with a spreadsheet: the
originals are never written, every photo reaches its person folder, and no CSV cell is a formula."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from testkit import A, B, D, encode, hash_tree, photo_array, read_csv, read_metadata

from eventlens import pipeline
from eventlens.export.safe_files import FORMULA_PREFIXES, NAME_MAX_BYTES, csv_cell
from eventlens.settings import Settings

LONG_NAME = "L" * 251 + ".jpg"  # 255 bytes: the longest name the input file system allows
HYPERLINK_DIR = '=HYPERLINK("http:'  # a name with "//" in it is a folder, then a file
HYPERLINK = '=HYPERLINK("x","y").jpg'


def _put(root: Path, rel: str, identities: list[int], variant: int) -> str:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode(photo_array(identities, variant), ".png"))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_hostile_event(root: Path) -> dict[str, list[int]]:
    """Photos (PNG bytes whatever their names) and the identities in each."""
    photos = {
        "metadata.json": [A],
        "sub/metadata.json": [A, B],
        "sub/METADATA.JSON": [A],
        "best": [A, B],  # a file named best, no extension
        "best_folder/best/q.jpg": [A],  # a folder named best
        "summary.csv": [A, B],
        "face_data.csv": [A],
        "a/p.jpg": [A],
        "b/p.jpg": [A, B],
        "P.JPG": [A],
        "p.jpg": [A, B],
        LONG_NAME: [A],
        f"deep/{LONG_NAME}": [A, B],
        HYPERLINK: [A],
        f'{HYPERLINK_DIR}/x","y").jpg': [A, B],
        "@SUM(A1).jpg": [A],
        "-2+3.jpg": [A],
        "+cmd.jpg": [D],  # D appears once (unassigned): "+1 other faces" starts its results_string
    }
    variants = iter(range(1, 100))
    shas = {rel: _put(root, rel, ids, next(variants)) for rel, ids in photos.items()}
    # the name a/p.jpg gets when disambiguated by the first 10 hex digits of its hash
    photos[f"c/p__{shas['a/p.jpg'][:10]}.jpg"] = [A]
    _put(root, f"c/p__{shas['a/p.jpg'][:10]}.jpg", [A], next(variants))
    (root / "=cmd|' -C calc'!A0.txt").write_text("not a photo", encoding="utf-8")  # -> rejected.csv
    return photos


def _check_person_folder(folder: Path, root: Path, expected: set[str], person: bool = True) -> None:
    meta = read_metadata(folder)
    assert {e["photo"] for e in meta["photos"]} == expected, folder.name
    files = {p.name for p in folder.iterdir()}
    assert files == {"metadata.json", *(["best"] if person else []), *(e["file"] for e in meta["photos"])}
    for entry in meta["photos"]:
        exported = folder / entry["file"]
        assert len(os.fsencode(entry["file"])) <= NAME_MAX_BYTES
        assert exported.is_file() and not exported.is_symlink()
        digest = hashlib.sha256(exported.read_bytes()).hexdigest()
        assert (
            digest
            == entry["photo_sha256"]
            == hashlib.sha256((root / entry["photo"]).read_bytes()).hexdigest()
        )
    # the reserved names are eventlens's own: metadata.json is JSON, best/ a folder of rank-prefixed links
    assert json.loads((folder / "metadata.json").read_text(encoding="utf-8"))["person"] == folder.name
    assert (folder / "best").is_dir() == person


def _cells(out: Path) -> dict[str, list[dict[str, str]]]:
    return {
        name: read_csv(out / name)[1]
        for name in ("summary.csv", "face_data.csv", "photo_scores.csv", "rejected.csv")
    }


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("link_mode", ["hardlink", "copy"])
def test_hostile_names_never_touch_the_originals(
    tmp_path: Path, make_settings: Callable[..., Settings], link_mode: str
) -> None:
    root = tmp_path / "photos"
    photos = build_hostile_event(root)
    before = hash_tree(root)
    out = tmp_path / "out"
    settings = make_settings(link_mode=link_mode)
    (tmp_path / "labels.json").write_text(
        json.dumps({"person_001": {"name": '=HYPERLINK("http://evil","Ana")', "category": "main"}}),
        encoding="utf-8",
    )
    pipeline.process(root, out, settings)
    event = pipeline.Event.open(out, settings)
    try:
        with event.run("score") as summary:
            pipeline.run_labels(event, summary, tmp_path / "labels.json")
            pipeline.run_export(event, summary)  # the second export, over the first
    finally:
        event.close()
    assert hash_tree(root) == before  # bytes and mtimes of every input file

    with_a = {rel for rel, ids in photos.items() if A in ids}
    with_b = {rel for rel, ids in photos.items() if B in ids}
    _check_person_folder(out / "person_001", root, with_a)
    _check_person_folder(out / "person_002", root, with_b)
    _check_person_folder(out / "unassigned", root, {"+cmd.jpg"}, person=False)
    best = sorted(p.name for p in (out / "best").iterdir())
    assert best and all(len(os.fsencode(name)) <= 255 for name in best)

    cells = _cells(out)
    for name, rows in cells.items():
        for row in rows:
            for value in row.values():
                if value and value[0] in FORMULA_PREFIXES:
                    assert _is_number(value), f"{name}: formula-like cell {value!r}"
    photo_cells = {r["photo"] for r in cells["face_data.csv"]}
    assert "'" + HYPERLINK in photo_cells and f'\'{HYPERLINK_DIR}/x","y").jpg' in photo_cells
    assert "'+cmd.jpg" in photo_cells and "'-2+3.jpg" in photo_cells and "'@SUM(A1).jpg" in photo_cells
    scores = {r["photo"]: r for r in cells["photo_scores.csv"]}
    assert scores["'+cmd.jpg"]["results_string"].startswith("'+1 other faces")  # eventlens's own text
    assert cells["summary.csv"][0]["name"] == '\'=HYPERLINK("http://evil","Ana")'
    assert [r["path"] for r in cells["rejected.csv"]] == ["'=cmd|' -C calc'!A0.txt"]
    # metadata.json is JSON, not a spreadsheet: names stay as they are
    assert HYPERLINK in {e["photo"] for e in read_metadata(out / "person_001")["photos"]}


def test_a_photo_named_like_a_disambiguated_name_keeps_every_photo(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    """a/p.jpg, b/p.jpg and c/p__<10 hex of a>.jpg: three different files in the person folder."""
    root = tmp_path / "photos"
    sha_a = _put(root, "a/p.jpg", [A], 1)
    _put(root, "b/p.jpg", [A], 2)
    _put(root, f"c/p__{sha_a[:10]}.jpg", [A], 3)
    before = hash_tree(root)
    out = tmp_path / "out"
    pipeline.process(root, out, make_settings())
    pipeline.process(root, out, make_settings())
    assert hash_tree(root) == before
    meta = read_metadata(out / "person_001")
    assert len({e["file"] for e in meta["photos"]}) == 3
    for entry in meta["photos"]:
        assert (
            hashlib.sha256((out / "person_001" / entry["file"]).read_bytes()).hexdigest()
            == entry["photo_sha256"]
        )


@pytest.mark.parametrize(
    "value, expected",
    [
        ("=1+2", "'=1+2"),
        ("+3 other faces", "'+3 other faces"),
        ("-x", "'-x"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("p01.png", "p01.png"),
        ("", ""),
        ("-0.1234", "-0.1234"),  # a number formatted as text stays a number
        ("+1e-3", "+1e-3"),
        (-12.3, -12.3),
        (7, 7),
        (None, None),
    ],
)
def test_csv_cell(value: object, expected: object) -> None:
    assert csv_cell(value) == expected
