"""ZIP input, with archives generated in tmp_path: nested folders, unsafe member paths, non-images, ZIP
bombs, macOS clutter, duplicates and damaged members."""

from __future__ import annotations

import hashlib
import io
import stat
import warnings
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from testkit import (
    A,
    B,
    C,
    encode,
    folder_photos,
    person_folders,
    photo_array,
    read_csv,
    read_metadata,
    snapshot,
)

from eventlens import pipeline
from eventlens.errors import InputError
from eventlens.settings import Settings
from eventlens.summaries import RunSummary

Member = tuple[str, bytes] | tuple[zipfile.ZipInfo, bytes]


def _write_zip(path: Path, members: list[Member], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return path


def _photo(identities: list[int], variant: int, suffix: str = ".jpg") -> bytes:
    return encode(photo_array(identities, variant), suffix)


@pytest.fixture
def event_zip(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    photos = {
        "day1/ceremony/a1.jpg": _photo([A], 1),
        "day1/ceremony/ab.png": _photo([A, B], 2, ".png"),
        "day1/party/b1.jpg": _photo([B], 3),
        "day2/deep/er/a2.jpg": _photo([A], 4),
        "day2/c1.jpg": _photo([C], 5),
    }
    symlink = zipfile.ZipInfo("day2/link.jpg")
    symlink.external_attr = (stat.S_IFLNK | 0o777) << 16
    members: list[Member] = [
        *photos.items(),
        ("day2/copy_of_a1.jpg", photos["day1/ceremony/a1.jpg"]),  # exact duplicate
        ("../escape.jpg", _photo([A], 6)),
        ("/abs/olute.jpg", _photo([A], 7)),
        ("day1/../../up.jpg", _photo([A], 8)),
        ("day1/readme.txt", b"Photos of the wedding, please do not share.\n" * 3),
        ("bomb.png", bytes(5_000_000)),  # zeros: a ratio of ~1000:1
        ("__MACOSX/day1/._a1.jpg", b"\x00\x05\x16\x07" + bytes(200)),
        ("day1/.DS_Store", b"\x00\x00\x00\x01Bud1" + bytes(100)),
        ("day1/._ab.png", b"\x00\x05\x16\x07" + bytes(200)),
        (symlink, b"/etc/passwd"),
    ]
    return _write_zip(tmp_path / "event.zip", members), photos


def _process(source: Path, out: Path, settings: Settings) -> RunSummary:
    return pipeline.process(source, out, settings)


def test_zip_event(
    event_zip: tuple[Path, dict[str, bytes]], tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    archive, photos = event_zip
    out = tmp_path / "out"
    before = archive.read_bytes()
    summary = _process(archive, out, make_settings())
    ingest = summary.ingest
    assert ingest.skipped_system_files == 3  # __MACOSX/, .DS_Store, ._ab.png: skipped silently
    assert ingest.duplicates == 1 and ingest.new_photos == len(photos)
    assert summary.analyze.photos == len(photos)  # the duplicate is analysed once
    assert archive.read_bytes() == before

    _, rejected_rows = read_csv(out / "rejected.csv")
    rejected = {r["path"]: r["reason"] for r in rejected_rows}
    assert set(rejected) == {
        "../escape.jpg",
        "/abs/olute.jpg",
        "day1/../../up.jpg",
        "day1/readme.txt",
        "bomb.png",
        "day2/link.jpg",
    }
    assert "unsafe path" in rejected["../escape.jpg"] and ".." in rejected["../escape.jpg"]
    assert "unsafe path" in rejected["/abs/olute.jpg"] and "absolute" in rejected["/abs/olute.jpg"]
    assert "unsafe path" in rejected["day1/../../up.jpg"]
    assert "not an image" in rejected["day1/readme.txt"]
    assert "ZIP bomb" in rejected["bomb.png"]
    assert "symbolic link" in rejected["day2/link.jpg"]
    assert not any("MACOSX" in p or "DS_Store" in p for p in rejected)

    # nothing was written outside the output folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["event.zip", "out"]
    assert not list(tmp_path.rglob("escape.jpg")) and not list(tmp_path.rglob("olute.jpg"))
    assert not Path("/abs/olute.jpg").exists()

    # persons by identity, numbered by photo count: A in 3 photos (a1 also as a copy), B in 2, C in 1
    assert person_folders(out) == ["person_001", "person_002"]
    assert folder_photos(out, "person_001") == {
        "day1/ceremony/a1.jpg",
        "day1/ceremony/ab.png",
        "day2/deep/er/a2.jpg",
    }
    assert folder_photos(out, "person_002") == {"day1/ceremony/ab.png", "day1/party/b1.jpg"}
    assert folder_photos(out, "unassigned") == {"day2/c1.jpg"}

    # the exported files are the extracted bytes, unchanged
    for label in ("person_001", "person_002", "unassigned"):
        for entry in read_metadata(out / label)["photos"]:
            data = (out / label / entry["file"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == entry["photo_sha256"]
            assert data == photos[entry["photo"]]


def test_rerunning_a_zip_extracts_nothing_new(
    event_zip: tuple[Path, dict[str, bytes]], tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    archive, photos = event_zip
    out = tmp_path / "out"
    _process(archive, out, make_settings())
    exported = snapshot(out)
    store_before = sorted(
        p.relative_to(out) for p in (out / ".eventlens" / "store").rglob("*") if p.is_file()
    )
    summary = _process(archive, out, make_settings())
    assert summary.analyze.photos == 0
    assert summary.ingest.new_photos == 0, "a re-read ZIP must not report its photos as new"
    assert summary.ingest.unchanged == len(photos) + 1
    store_after = sorted(p.relative_to(out) for p in (out / ".eventlens" / "store").rglob("*") if p.is_file())
    assert store_after == store_before
    assert len(store_before) == len(photos)  # rejected members are not kept in the store
    assert snapshot(out) == exported


def test_a_member_with_damaged_compressed_data_is_rejected(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    good = _photo([A], 1, ".png")
    victim = bytes(_photo([B], 2, ".png")) + bytes(range(256)) * 64
    clean = _write_zip(tmp_path / "clean.zip", [("good.png", good), ("victim.png", victim)])
    raw = clean.read_bytes()
    start = raw.index(b"victim.png") + len("victim.png")  # the member's data follows its local header name
    damaged = None
    for offset in range(40, 2000):  # find a flip that breaks the deflate stream itself (not only the CRC)
        candidate = bytearray(raw)
        candidate[start + offset] ^= 0x55
        try:
            with zipfile.ZipFile(io.BytesIO(bytes(candidate))) as z:
                z.read("victim.png")
        except zlib.error:
            damaged = bytes(candidate)
            break
        except zipfile.BadZipFile:
            continue
    assert damaged is not None
    path = tmp_path / "damaged.zip"
    path.write_bytes(damaged)
    out = tmp_path / "out"
    summary = _process(path, out, make_settings(min_faces=1))
    _, rows = read_csv(out / "rejected.csv")
    assert [(r["path"], "damaged ZIP member" in r["reason"]) for r in rows] == [("victim.png", True)]
    assert summary.analyze.photos == 1


def test_crc_errors_are_rejected(tmp_path: Path, make_settings: Callable[..., Settings]) -> None:
    data = _photo([A], 1, ".png")
    clean = _write_zip(tmp_path / "c.zip", [("a.png", data)], compression=zipfile.ZIP_STORED)
    raw = bytearray(clean.read_bytes())
    pos = raw.index(data[200:220])
    raw[pos] ^= 0xFF  # stored data changed: only the CRC notices
    path = tmp_path / "crc.zip"
    path.write_bytes(bytes(raw))
    out = tmp_path / "out"
    _process(path, out, make_settings())
    _, rows = read_csv(out / "rejected.csv")
    assert len(rows) == 1 and rows[0]["path"] == "a.png" and "damaged ZIP member" in rows[0]["reason"]


def test_a_zip_whose_total_size_is_absurd_is_refused(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    path = _write_zip(tmp_path / "big.zip", [("a.png", bytes(3_000_000)), ("b.png", bytes(3_000_000))])
    with pytest.raises(InputError, match="max_zip_uncompressed_mb"):
        _process(path, tmp_path / "out", make_settings(max_zip_uncompressed_mb=5))


def test_a_file_that_is_not_a_zip_is_refused(tmp_path: Path, make_settings: Callable[..., Settings]) -> None:
    path = tmp_path / "photos.tar"
    path.write_bytes(b"not an archive" * 100)
    with pytest.raises(InputError, match="neither a folder nor a ZIP"):
        _process(path, tmp_path / "out", make_settings())


def test_max_zip_ratio_is_a_setting(tmp_path: Path, make_settings: Callable[..., Settings]) -> None:
    # the same flat-coloured PNG is fine with the default ratio and a bomb with a strict one
    flat = encode(photo_array([A], 1, size=(2000, 1500)), ".png")
    path = _write_zip(tmp_path / "flat.zip", [("flat.png", flat + bytes(200_000))])
    out = tmp_path / "out"
    _process(path, out, make_settings(max_zip_ratio=2))
    _, rows = read_csv(out / "rejected.csv")
    assert len(rows) == 1 and "max_zip_ratio" in rows[0]["reason"]


def test_repeated_member_names_are_read_once(tmp_path: Path, make_settings: Callable[..., Settings]) -> None:
    """A ZIP may hold two members of one name (appended archives); the run must not crash on it."""
    first, second = _photo([A], 1, ".png"), _photo([B], 2, ".png")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about the duplicate name
        path = _write_zip(tmp_path / "dup.zip", [("a.png", first), ("a.png", second), ("sub\\c.png", first)])
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr("sub/c.png", second)  # the same path as sub\c.png once normalised
    out = tmp_path / "out"
    summary = _process(path, out, make_settings(min_faces=1))
    _, rows = read_csv(out / "rejected.csv")
    assert len(rows) == 2 and all("duplicate member name" in r["reason"] for r in rows)
    assert {r["path"].split(" ")[0] for r in rows} == {"a.png", "sub/c.png"}
    assert summary.ingest.new_photos == 2  # one member of each name is read
    again = _process(path, out, make_settings(min_faces=1))
    assert again.analyze.photos == 0 and again.ingest.new_photos == 0
