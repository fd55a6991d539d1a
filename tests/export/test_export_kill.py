"""``kill -9`` of a real ``eventlens export`` while it builds its staging folder or swaps it in: the next
export finishes (or undoes) the swap, and the output equals that of a clean export into a fresh folder.

Two kinds of kill points, five seeds each, on the first export (no previous one) and on a later one:

* real timing: the child is killed after a random delay counted from the moment its staging folder
  appears (so the kill lands while it builds or swaps, not while Python starts);
* swap steps: the child kills itself (SIGKILL) right after its N-th rename in the output or catalog
  folder (the next manifests, the journal, each move, the manifests), N random; it runs the real
  ``eventlens`` command with ``os.rename``/``os.replace`` wrapped, nothing of eventlens is changed.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from testkit import build_event, fake_settings

from eventlens import pipeline
from eventlens.settings import Settings

SEEDS = range(5)
CHILD_TIMEOUT_S = 60

#: runs ``eventlens`` with os.rename / os.replace counted: SIGKILL after the N-th one whose destination
#: is in the output folder, the catalog folder or a staging/trash folder (face-crop cache writes are not
#: counted); prints the count when it was not killed
_KILL_AT_STEP = r"""
import os, signal, sys
limit = int(os.environ["KILL_AT_SWAP_STEP"])
work = os.path.realpath(os.environ["KILL_WORK_DIR"])
watched = (work, os.path.dirname(work))
count = 0
def counted(real):
    def wrapper(src, dst, *args, **kwargs):
        global count
        real(src, dst, *args, **kwargs)
        parent = os.path.realpath(os.path.dirname(os.path.abspath(os.fspath(dst))))
        if parent in watched or (os.path.dirname(parent) == work
                                 and os.path.basename(parent).startswith("staging-")):
            count += 1
            if count == limit:
                os.kill(os.getpid(), signal.SIGKILL)
    return wrapper
os.rename, os.replace = counted(os.rename), counted(os.replace)
import atexit
atexit.register(lambda: sys.stderr.write(f"swap-steps {count}\n"))
from eventlens.cli import main
sys.argv = ["eventlens", *sys.argv[1:]]
main()
"""


@pytest.fixture(scope="module")
def child_env(model_cache_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "EVENTLENS_DETECTOR": "fake",
        "EVENTLENS_LANDMARKER": "fake",
        "EVENTLENS_EMBEDDER": "fake",
        "EVENTLENS_EYE_MODEL": "fake",
        "EVENTLENS_CACHE_DIR": str(model_cache_dir),
    }


def _state(out: Path) -> dict[str, str]:
    """Every file (its SHA-256) and folder of the output, the catalog folder excluded."""
    state = {}
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out)
        if rel.parts[0] == ".eventlens":
            continue
        state[rel.as_posix()] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def _leftovers(out: Path) -> list[str]:
    return sorted(
        p.name
        for p in (out / ".eventlens").iterdir()
        if p.name.startswith("staging-") or p.name == "export-swap.json" or p.name.endswith(".next")
    )


def _export(out: Path, settings: Settings) -> None:
    event = pipeline.Event.open(out, settings, create=False)
    try:
        with event.run("export") as summary:
            pipeline.run_export(event, summary)
    finally:
        event.close()


def _copy_out(src: Path, dst: Path, catalog_only: bool = False) -> Path:
    """A copy of an output folder; with ``catalog_only``, a fresh folder holding only its catalog."""
    if not catalog_only:
        shutil.copytree(src, dst, symlinks=True)
        return dst
    (dst / ".eventlens").mkdir(parents=True)
    with (
        sqlite3.connect(src / ".eventlens" / "catalog.sqlite") as source,
        sqlite3.connect(dst / ".eventlens" / "catalog.sqlite") as target,
    ):
        source.backup(target)
    if (src / "cluster_labels.json").exists():
        shutil.copy2(src / "cluster_labels.json", dst / "cluster_labels.json")
    return dst


@dataclass
class Scenario:
    base: Path  # an output folder just before the export that gets killed
    expected: dict[str, str]  # the output of a clean export from the same catalog into a fresh folder
    swap_steps: int  # renames of a complete export from ``base``
    export_s: float  # time from its staging folder's appearance to its exit


def _start(out: Path, env: dict[str, str], kill_at_step: int = 0) -> subprocess.Popen[str]:
    env = {**env, "KILL_AT_SWAP_STEP": str(kill_at_step), "KILL_WORK_DIR": str(out / ".eventlens")}
    return subprocess.Popen(
        [sys.executable, "-c", _KILL_AT_STEP, "export", "--out", str(out), "-q"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_staging(proc: subprocess.Popen[str], out: Path) -> float:
    """Wait until the child's staging folder appears (or it exits); returns the time it appeared."""
    staging = out / ".eventlens" / f"staging-{proc.pid}"
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    while not staging.exists() and proc.poll() is None:
        assert time.monotonic() < deadline, "the export never started"
        time.sleep(0.0005)
    return time.monotonic()


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    try:
        _, stderr = proc.communicate(timeout=CHILD_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, stderr


def _scenario(tmp: Path, env: dict[str, str], settings: Settings, later: bool) -> Scenario:
    event = build_event(tmp / "photos")
    base = tmp / "base"
    opened = pipeline.Event.open(base, settings)
    try:
        with opened.run("process") as summary:
            pipeline.run_ingest(opened, event.root, summary)
            pipeline.run_analyze(opened, summary)
            pipeline.run_cluster(opened, summary)
            if later:  # a first export, then a catalog whose export differs in names and entries
                pipeline.run_export(opened, summary)
                (tmp / "labels.json").write_text('{"person_001": {"name": "Ana"}}', encoding="utf-8")
                pipeline.run_labels(opened, summary, tmp / "labels.json")
    finally:
        opened.close()
    if later:
        (event.root / "p06.png").unlink()  # person_003 loses a photo
        (event.root / "p07.png").unlink()  # unassigned disappears
    fresh = _copy_out(base, tmp / "fresh", catalog_only=True)
    _export(fresh, settings)
    expected = _state(fresh)
    reference = _copy_out(base, tmp / "reference")
    proc = _start(reference, env)
    appeared = _wait_for_staging(proc, reference)
    code, stderr = _finish(proc)
    assert code == 0, stderr
    assert _state(reference) == expected  # exporting over a previous export gives the same output
    steps = int(stderr.rsplit("swap-steps ", 1)[1].split()[0])
    return Scenario(base, expected, steps, time.monotonic() - appeared)


@pytest.fixture(scope="module", params=["first", "later"])
def scenario(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    child_env: dict[str, str],
    model_cache_dir: Path,
) -> Scenario:
    """Built once for both kinds of kill (each kill works on its own copy of ``base``)."""
    tmp = tmp_path_factory.mktemp(f"scenario-{request.param}")
    return _scenario(tmp, child_env, fake_settings(model_cache_dir), later=request.param == "later")


def _check_recovery(out: Path, scenario: Scenario, settings: Settings, what: str) -> None:
    _export(out, settings)
    assert _state(out) == scenario.expected, what
    assert _leftovers(out) == [], what


def test_kill_at_a_random_swap_step(
    scenario: Scenario, tmp_path: Path, child_env: dict[str, str], make_settings: Callable[..., Settings]
) -> None:
    assert scenario.swap_steps >= 5  # next manifests, journal, moves, manifests
    for seed in SEEDS:
        step = random.Random(seed).randint(1, scenario.swap_steps)
        out = _copy_out(scenario.base, tmp_path / f"out-{seed}")
        code, stderr = _finish(_start(out, child_env, kill_at_step=step))
        assert code == -signal.SIGKILL, f"step {step}: {stderr}"
        _check_recovery(out, scenario, make_settings(), f"killed after swap step {step}")


def test_kill_after_a_random_delay(
    scenario: Scenario, tmp_path: Path, child_env: dict[str, str], make_settings: Callable[..., Settings]
) -> None:
    killed = 0
    for seed in SEEDS:
        delay_s = random.Random(seed).uniform(0, scenario.export_s * 0.8)
        out = _copy_out(scenario.base, tmp_path / f"out-{seed}")
        proc = _start(out, child_env)
        try:
            _wait_for_staging(proc, out)
            time.sleep(delay_s)
            proc.send_signal(signal.SIGKILL)
        finally:
            code, _ = _finish(proc)
        killed += code == -signal.SIGKILL
        _check_recovery(out, scenario, make_settings(), f"killed {delay_s * 1000:.0f} ms into the export")
    assert killed >= 1, "no kill landed during the export"
