"""The journalled swap in-process: a swap interrupted while something new appears in its way is undone,
and the user's entry is reported, never moved or deleted."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from testkit import SyntheticEvent, person_folders

from eventlens import pipeline
from eventlens.errors import InputError
from eventlens.export import swap
from eventlens.settings import Settings


def _analysed(event: SyntheticEvent, out: Path, settings: Settings) -> None:
    opened = pipeline.Event.open(out, settings)
    try:
        with opened.run("process") as summary:
            pipeline.run_ingest(opened, event.root, summary)
            pipeline.run_analyze(opened, summary)
            pipeline.run_cluster(opened, summary)
    finally:
        opened.close()


def _export(out: Path, settings: Settings) -> None:
    opened = pipeline.Event.open(out, settings, create=False)
    try:
        with opened.run("export") as summary:
            pipeline.run_export(opened, summary)
    finally:
        opened.close()


def test_an_interrupted_first_swap_with_a_user_folder_in_its_way_is_undone(
    event: SyntheticEvent,
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "out"
    _analysed(event, out, make_settings())
    real_rename, moves = swap.os.rename, []

    def interrupted(src: Any, dst: Any) -> None:
        if len(moves) == 3:
            raise KeyboardInterrupt  # Ctrl-C (or a kill) after three moves
        moves.append(Path(dst).name)
        real_rename(src, dst)

    monkeypatch.setattr(swap.os, "rename", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _export(out, make_settings())
    monkeypatch.undo()
    assert (out / ".eventlens" / swap.JOURNAL).exists()
    assert sorted(p.name for p in out.iterdir() if p.name != ".eventlens") == sorted(moves)  # half swapped
    (out / "person_003").mkdir()  # meanwhile, the user puts a folder of their own at an entry still to come
    (out / "person_003" / "mine.jpg").write_bytes(b"precious")

    with pytest.raises(InputError, match="person_003 not written by eventlens"):
        _export(out, make_settings())
    assert sorted(p.name for p in out.iterdir()) == [".eventlens", "person_003"]  # the half swap was undone
    assert (out / "person_003" / "mine.jpg").read_bytes() == b"precious"
    assert not [p for p in (out / ".eventlens").iterdir() if p.name.startswith(("staging-", "export-"))]

    (out / "person_003").rename(tmp_path / "moved")
    _export(out, make_settings())
    assert person_folders(out) == ["person_001", "person_002", "person_003"]


def test_one_export_at_a_time(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    """Another export of the same folder (here: a lock held on it) is refused, and its folders are kept."""
    out = tmp_path / "out"
    _analysed(event, out, make_settings())
    other = out / ".eventlens" / "staging-99999999"  # the other export's staging folder
    other.mkdir()
    fd = os.open(out / ".eventlens" / swap.LOCK, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(InputError, match="another eventlens command is exporting"):
            _export(out, make_settings())
        assert other.is_dir()
    finally:
        os.close(fd)
    _export(out, make_settings())
    assert not other.exists()  # a leftover once no export holds the lock
    assert person_folders(out) == ["person_001", "person_002", "person_003"]
