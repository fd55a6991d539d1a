"""A full disk, a read-only output or a refused move at export: one line naming the path and the fix
(:class:`OutputError`, exit code 6), the previous export untouched, no staging folder left behind.

Two ways: a real tiny tmpfs as the output folder (skipped where ``mount`` is not permitted), and the one
file-creating helper of the export made to fail in-process, at chosen files.
"""

from __future__ import annotations

import errno
import hashlib
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, Any

import pytest
from click.testing import CliRunner
from testkit import SyntheticEvent

from eventlens import pipeline
from eventlens.cli import main
from eventlens.errors import OutputError
from eventlens.export import safe_files, swap
from eventlens.settings import Settings


def _state(out: Path) -> dict[str, str]:
    state = {}
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out)
        if rel.parts[0] != ".eventlens":
            state[rel.as_posix()] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def _work_entries(out: Path) -> list[str]:
    """What the export keeps in OUT/.eventlens besides the catalog and the caches (face crops, thumbnails):
    no staging, trash, journal or temp."""
    return sorted(
        p.name
        for p in (out / ".eventlens").iterdir()
        if not p.name.startswith(("catalog.sqlite", "face-crops", "thumbs"))
    )


CLEAN_WORK = ["export-files.json", "export-manifest.json", "export.lock", "lock"]


def _export(out: Path, settings: Settings) -> None:
    event = pipeline.Event.open(out, settings, create=False)
    try:
        with event.run("export") as summary:
            pipeline.run_export(event, summary)
    finally:
        event.close()


def _one_line(message: str, *words: str) -> None:
    assert "\n" not in message
    for word in words:
        assert word in message, message


# --- a real full / read-only file system -----------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs (needs root, or CAP_SYS_ADMIN)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, timeout=30, check=False)


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    chunk = b"\0" * 65536
    with open(filler, "wb", buffering=0) as fp:
        try:
            while True:
                fp.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_a_full_disk_leaves_the_previous_export(
    event: SyntheticEvent, tmp_path: Path, tiny_disk: Path, make_settings: Callable[..., Settings]
) -> None:
    """The output on another file system than the photos: every photo is copied, until the disk is full."""
    out = tiny_disk / "out"
    settings = make_settings(catalog_url=f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    summary = pipeline.process(event.root, out, settings)
    assert summary.export.copies > 0 and summary.export.links == 0  # EXDEV: copied
    before = _state(out)
    filler = _fill(tiny_disk)
    with pytest.raises(OutputError) as failed:
        _export(out, settings)
    _one_line(str(failed.value), str(out), "No space left on device", "free some space")
    assert _state(out) == before
    assert _work_entries(out) == CLEAN_WORK
    filler.unlink()
    _export(out, settings)
    assert _state(out) == before


def test_a_read_only_output(
    event: SyntheticEvent, tmp_path: Path, tiny_disk: Path, make_settings: Callable[..., Settings]
) -> None:
    out = tiny_disk / "out"
    settings = make_settings(catalog_url=f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    pipeline.process(event.root, out, settings)
    before = _state(out)
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_disk)], check=True, timeout=30)
    try:
        with pytest.raises(OutputError) as failed:
            _export(out, settings)
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(tiny_disk)], check=True, timeout=30)
    _one_line(str(failed.value), str(out), "read-only", "choose another --out")
    assert _state(out) == before


# --- the file-creating helper fails --------------------------------------------------------------


@pytest.fixture
def processed(event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]) -> Path:
    out = tmp_path / "out"
    pipeline.process(event.root, out, make_settings(link_mode="copy"))
    return out


def _disk_full_at(monkeypatch: pytest.MonkeyPatch, name: str, after_bytes: int = 0) -> None:
    """Files named ``name`` (or starting with it) fail with ENOSPC after ``after_bytes`` bytes."""
    real = safe_files.open_new

    class Full:
        def __init__(self, fp: IO[Any], path: Path) -> None:
            self.fp, self.path, self.written = fp, path, 0

        def write(self, data: Any) -> int:
            self.written += len(data)
            if self.written > after_bytes:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.fp.write(data)

        def fileno(self) -> int:  # no sendfile() into this file: photo copies go through write()
            raise OSError(errno.EINVAL, "Invalid argument")

        def __getattr__(self, attr: str) -> Any:
            return getattr(self.fp, attr)

    def open_new(path: Path, binary: bool = False) -> AbstractContextManager[Any]:
        context = real(path, binary)
        if not path.name.startswith(name):
            return context

        class Wrapped:
            def __enter__(self) -> Full:
                return Full(context.__enter__(), path)

            def __exit__(self, *exc: Any) -> Any:
                return context.__exit__(*exc)

        return Wrapped()

    monkeypatch.setattr(safe_files, "open_new", open_new)


@pytest.mark.parametrize(
    "name, after_bytes",
    [
        ("face_data.csv", 100),  # a CSV, part written
        ("photo_scores.csv", 0),  # the curation's CSV
        ("metadata.json", 10),  # a person folder
        ("p05.jpg", 1000),  # a copied photo
        (".export-swap.json.tmp", 0),  # the journal, before the first move
        (".export-files.json.tmp", 0),  # a manifest, after the moves: they are undone
    ],
)
def test_disk_full_while_writing(
    event: SyntheticEvent,
    processed: Path,
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    after_bytes: int,
) -> None:
    before = _state(processed)
    (event.root / "p06.png").unlink()  # the next export differs in every CSV, person_003 and the manifests
    _disk_full_at(monkeypatch, name, after_bytes)
    with pytest.raises(OutputError) as failed:
        _export(processed, make_settings(link_mode="copy"))
    _one_line(str(failed.value), name, "No space left on device", "the disk is full", "previous export")
    assert _state(processed) == before
    assert _work_entries(processed) == CLEAN_WORK
    monkeypatch.undo()
    _export(processed, make_settings(link_mode="copy"))
    assert "person_003/p06.png" in before and "person_003/p06.png" not in _state(processed)


def test_a_refused_move_puts_the_previous_export_back(
    event: SyntheticEvent,
    processed: Path,
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = _state(processed)
    (event.root / "p06.png").unlink()  # the next export differs
    moves = 0
    real_rename = swap.os.rename

    def rename(src: Any, dst: Any) -> None:
        nonlocal moves
        moves += 1
        if moves == 7:
            raise OSError(errno.EACCES, "Permission denied", str(dst))
        real_rename(src, dst)

    monkeypatch.setattr(swap.os, "rename", rename)
    with pytest.raises(OutputError) as failed:
        _export(processed, make_settings(link_mode="copy"))
    monkeypatch.undo()
    _one_line(str(failed.value), "Permission denied", "make the output folder writable")
    assert moves > 7  # the moves made before the refusal were undone
    assert _state(processed) == before
    assert _work_entries(processed) == CLEAN_WORK


def test_the_cli_prints_one_line_and_exits_6(
    processed: Path, model_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _state(processed)
    _disk_full_at(monkeypatch, "summary.csv")
    env = {
        "EVENTLENS_DETECTOR": "fake",
        "EVENTLENS_LANDMARKER": "fake",
        "EVENTLENS_EMBEDDER": "fake",
        "EVENTLENS_EYE_MODEL": "fake",
        "EVENTLENS_CACHE_DIR": str(model_cache_dir),
        "EVENTLENS_LINK_MODE": "copy",
    }
    result = CliRunner().invoke(main, ["export", "--out", str(processed)], env=env)
    assert result.exit_code == 6, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot write the export into {processed}: "), (
        result.stderr
    )
    _one_line(lines[0], "summary.csv", "the disk is full")
    assert "Traceback" not in result.stderr
    assert _state(processed) == before
