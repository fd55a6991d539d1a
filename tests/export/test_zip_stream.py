"""The streamed ZIP export holds the same paths and bytes as the folder export (``eventlens export``)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from testkit import SyntheticEvent

from eventlens import pipeline
from eventlens.cli import main
from eventlens.errors import InputError
from eventlens.export.zip_stream import ZipChoice, check_persons, export_zip, zip_chunks
from eventlens.settings import Settings


def _folder_files(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in out.rglob("*")
        if p.is_file() and p.relative_to(out).parts[0] not in (".eventlens", "cluster_labels.json")
    }


def _zip_files(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        return {name: zf.read(name) for name in zf.namelist()}


@pytest.fixture
def processed(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]
) -> pipeline.Event:
    out = tmp_path / "out"
    settings = make_settings()
    pipeline.process(event.root, out, settings)
    opened = pipeline.Event.open(out, settings, create=False, command="test")
    yield opened
    opened.close()


def _stream(ev: pipeline.Event, choice: ZipChoice | None = None) -> bytes:
    return b"".join(export_zip(ev.engine, ev.work_dir, ev.settings, choice or ZipChoice()))


def test_zip_has_the_folder_exports_paths_and_bytes(processed: pipeline.Event) -> None:
    folder = _folder_files(processed.out_dir)
    in_zip = _zip_files(_stream(processed))
    assert sorted(in_zip) == sorted(folder)
    assert any(name.endswith(".jpg") and "/" in name for name in in_zip)
    for name, data in folder.items():  # photos, crops, CSVs and metadata: byte for byte
        assert in_zip[name] == data, name
    assert not list(processed.work_dir.glob("zip-export-*")), "the private layout folder is removed"


def test_photos_are_stored_and_text_is_deflated(processed: pipeline.Event) -> None:
    with zipfile.ZipFile(io.BytesIO(_stream(processed))) as zf:
        kinds = {i.filename: i.compress_type for i in zf.infolist()}
    assert all(kind == zipfile.ZIP_STORED for name, kind in kinds.items() if name.endswith(".jpg"))
    assert kinds["face_data.csv"] == zipfile.ZIP_DEFLATED


def test_selected_persons_and_best_only(processed: pipeline.Event) -> None:
    folder = _folder_files(processed.out_dir)
    chosen = ZipChoice(("person_002",), best_only=True)
    names = set(_zip_files(_stream(processed, chosen)))
    expected = {
        n
        for n in folder
        if "/" not in n
        or n == "output_clusters/person_002.jpg"
        or n == "person_002/metadata.json"
        or n.startswith("person_002/best/")
    }
    assert names == expected
    assert any(n.startswith("person_002/best/") for n in names)
    everyone_best = set(_zip_files(_stream(processed, ZipChoice(None, best_only=True))))
    assert {n for n in everyone_best if n.startswith("best/")} == {n for n in folder if n.startswith("best/")}
    assert not any(n.startswith("unassigned/") for n in everyone_best)


def test_unknown_person_is_refused() -> None:
    with pytest.raises(InputError, match="person_999"):
        check_persons(["person_001", "person_999"], ["person_001"])


def test_chunks_stay_small_for_a_large_member(tmp_path: Path) -> None:
    big = tmp_path / "big.jpg"
    big.write_bytes(bytes(range(256)) * (12 * 4096))  # 12 MiB
    chunks = list(zip_chunks([("a/big.jpg", big)]))
    assert max(len(c) for c in chunks) <= (1 << 20) + 1024
    assert _zip_files(b"".join(chunks)) == {"a/big.jpg": big.read_bytes()}


def test_cli_zip_equals_the_folder_export(
    event: SyntheticEvent, tmp_path: Path, model_cache_dir: Path
) -> None:
    env = {
        "EVENTLENS_DETECTOR": "fake",
        "EVENTLENS_LANDMARKER": "fake",
        "EVENTLENS_EMBEDDER": "fake",
        "EVENTLENS_EYE_MODEL": "fake",
        "EVENTLENS_CACHE_DIR": str(model_cache_dir),
    }
    out = tmp_path / "out"
    runner = CliRunner()
    done = runner.invoke(
        main, ["process", str(event.root), "--out", str(out), "--workers", "1", "-q"], env=env
    )
    assert done.exit_code == 0, done.output
    zip_file = tmp_path / "event.zip"
    made = runner.invoke(
        main, ["export", "--out", str(out), "--zip", str(zip_file), "--workers", "1"], env=env
    )
    assert made.exit_code == 0, made.output
    assert _zip_files(zip_file.read_bytes()) == _folder_files(out)
    wrong = runner.invoke(main, ["export", "--out", str(out), "--person", "person_001"], env=env)
    assert wrong.exit_code != 0 and "--zip" in wrong.output
