"""One writer per output folder: the lock on ``OUT/.eventlens/lock`` (see tests/test_pipeline_processes.py
for two real processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from testkit import SyntheticEvent

from eventlens import pipeline
from eventlens.errors import LockedError
from eventlens.lock import LOCK_FILE, acquire
from eventlens.settings import Settings


def test_a_second_writer_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    held = acquire(tmp_path / ".eventlens", "process")
    try:
        with pytest.raises(LockedError) as caught:
            acquire(tmp_path / ".eventlens", "cluster")
        message = str(caught.value)
        assert f"in use by PID {os.getpid()} (eventlens process, started " in message
        assert "wait for it or stop it" in message
        assert caught.value.exit_code == 75
    finally:
        held.release()
    acquire(tmp_path / ".eventlens", "cluster").release()  # free again once released


def test_the_lock_file_of_a_dead_run_does_not_block(tmp_path: Path) -> None:
    """A process that held the lock and was killed leaves its lock file; the kernel freed the flock."""
    work = tmp_path / ".eventlens"
    code = (
        f"from eventlens.lock import acquire; acquire(__import__('pathlib').Path({str(work)!r}), 'process')"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)  # exits holding the lock
    stale = json.loads((work / LOCK_FILE).read_text())
    assert stale["pid"] != os.getpid()
    held = acquire(work, "ingest")
    try:
        assert json.loads((work / LOCK_FILE).read_text())["pid"] == os.getpid()
    finally:
        held.release()


def test_every_writing_stage_takes_the_lock(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    out = tmp_path / "out"
    pipeline.process(event.root, out, make_settings())
    held = acquire(out / ".eventlens", "process")
    try:
        with pytest.raises(LockedError):
            pipeline.process(event.root, out, make_settings())
        with pytest.raises(LockedError):
            pipeline.Event.open(out, make_settings(), create=False, command="export")
        event_ = pipeline.Event.open(out, make_settings(), create=False)  # reading needs no lock
        try:
            with pytest.raises(LockedError), event_.run("cluster"):
                pass  # a run that writes takes the lock when it starts
        finally:
            event_.close()
    finally:
        held.release()
    pipeline.process(event.root, out, make_settings())  # free again
