"""The run as a process, in real subprocesses: kill -9 and SIGTERM of the main process, a worker killed
mid-run, a photo that crashes its worker, two runs on one output folder, and errors as one line.

The runs use the fake backend, slowed down by ``tests/process_driver.py`` so that the test can act while
the analysis runs. Processes are found in ``/proc``; every test bounds its waits and kills what it started.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from testkit import A, B, C, D, F, SyntheticEvent, fake_settings, read_csv, snapshot, write_photo

from eventlens import pipeline
from eventlens.analysis.pool import AnalysisPool
from eventlens.catalog.db import default_url, open_catalog
from eventlens.catalog.schema import photos, runs
from eventlens.settings import Settings

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

DRIVER = Path(__file__).with_name("process_driver.py")
N_PHOTOS = 30
GONE_WITHIN_S = 5.0
RUN_TIMEOUT_S = 120.0
_PATTERNS = [[A], [A, B], [B, C], [C], [D, A], [F, B], [A, C, F], [B]]


# --- processes in /proc --------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, start time) of a process, or None when it no longer exists."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1]), int(fields[19])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _descendants(pid: int) -> dict[int, int]:
    """Every process below ``pid``, by pid, with its start time (to tell a reused pid apart)."""
    parents: dict[int, list[tuple[int, int]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) is not None:
            parents.setdefault(st[1], []).append((int(entry.name), st[2]))
    found: dict[int, int] = {}
    todo = [pid]
    while todo:
        for child, started in parents.get(todo.pop(), []):
            found[child] = started
            todo.append(child)
    return found


def _alive(processes: dict[int, int]) -> list[int]:
    """Those of ``processes`` still running (a zombie has ended; its parent has not reaped it yet)."""
    return [
        pid for pid, started in processes.items() if (st := _stat(pid)) and st[2] == started and st[0] != "Z"
    ]


def _workers(pid: int) -> dict[int, int]:
    return {p: s for p, s in _descendants(pid).items() if "spawn_main" in _cmdline(p)}


def _wait_for(condition: Callable[[], object], timeout_s: float, what: str) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def _assert_all_gone(processes: dict[int, int]) -> None:
    deadline = time.monotonic() + GONE_WITHIN_S
    while _alive(processes) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = _alive(processes)
    assert not survivors, [f"{p}: {_cmdline(p)}" for p in survivors]


# --- running the driver --------------------------------------------------------------------------------


@pytest.fixture
def start(model_cache_dir: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """``start(args, detector="slow", **env)``: the driver in a subprocess; all are killed at the end."""
    started: list[tuple[subprocess.Popen[str], dict[int, int]]] = []

    def run(args: list[str], detector: str = "slow", **env: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, str(DRIVER), *map(str, args)],
            env={**os.environ, **_backend_env(model_cache_dir, detector), **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append((proc, {}))
        return proc

    yield run
    for proc, _ in started:
        tree = _descendants(proc.pid)
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)
        for pid in _alive(tree):
            os.kill(pid, signal.SIGKILL)


def _backend_env(cache_dir: Path, detector: str) -> dict[str, str]:
    return {
        "EVENTLENS_DETECTOR": detector,
        "EVENTLENS_LANDMARKER": "fake",
        "EVENTLENS_EMBEDDER": "fake",
        "EVENTLENS_EYE_MODEL": "fake",
        "EVENTLENS_CACHE_DIR": str(cache_dir),
    }


def _finish(proc: subprocess.Popen[str], timeout_s: float = RUN_TIMEOUT_S) -> tuple[int, str, str]:
    stdout, stderr = proc.communicate(timeout=timeout_s)
    return proc.returncode, stdout, stderr


@pytest.fixture(scope="module")
def photos_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("photos")
    for i in range(N_PHOTOS):
        write_photo(root / f"p{i:02d}.png", _PATTERNS[i % len(_PATTERNS)], variant=i)
    return root


@pytest.fixture(scope="module")
def reference(photos_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The output of one clean, uninterrupted run in this process."""
    out = tmp_path_factory.mktemp("reference")
    pipeline.process(photos_dir, out, fake_settings(tmp_path_factory.mktemp("cache")))
    return snapshot(out)


def _resume(start: Callable[..., subprocess.Popen[str]], photos_dir: Path, out: Path) -> None:
    code, _, stderr = _finish(
        start(["process", photos_dir, "--out", out, "--workers", "2", "-q"], DRIVER_DETECT_S="0")
    )
    assert code == 0, stderr


def _run_statuses(out: Path) -> list[tuple[str, str]]:
    engine = open_catalog(default_url(out))
    try:
        with engine.connect() as conn:
            return [
                tuple(r) for r in conn.execute(sa.select(runs.c.command, runs.c.status).order_by(runs.c.id))
            ]
    finally:
        engine.dispose()


def _photo_reasons(out: Path) -> dict[str, str | None]:
    engine = open_catalog(default_url(out))
    try:
        with engine.connect() as conn:
            return {r.status + ":" + r.sha256: r.reject_reason for r in conn.execute(sa.select(photos))}
    finally:
        engine.dispose()


# --- the tests -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_of_the_main_process_leaves_no_worker_and_the_rerun_equals_a_clean_run(
    seed: int,
    start: Callable[..., subprocess.Popen[str]],
    photos_dir: Path,
    reference: dict[str, str],
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    proc = start(["process", photos_dir, "--out", out, "--workers", "2", "-q"])
    _wait_for(lambda: len(_workers(proc.pid)) >= 2, 60, "two workers")
    time.sleep(random.Random(seed).uniform(0.3, 2.5))  # a random point in the analysis
    assert proc.poll() is None, "the analysis ended before the kill: make it longer"
    tree = _descendants(proc.pid)
    assert len([p for p in tree if "spawn_main" in _cmdline(p)]) == 2
    proc.kill()
    proc.wait(timeout=10)
    _assert_all_gone(tree)

    _resume(start, photos_dir, out)
    assert snapshot(out) == reference


@pytest.mark.parametrize(("command", "workers"), [("process", 2), ("process", 1), ("analyze", 2)])
def test_sigterm_interrupts_the_run_stops_the_workers_and_the_run_resumes(
    start: Callable[..., subprocess.Popen[str]],
    photos_dir: Path,
    reference: dict[str, str],
    tmp_path: Path,
    command: str,
    workers: int,
) -> None:
    out = tmp_path / "out"
    before: list[tuple[str, str]] = []
    if command == "analyze":  # the analyze stage makes its own pool
        assert _finish(start(["ingest", photos_dir, "--out", out, "-q"]))[0] == 0
        before = [("ingest", "done")]
    args = [command, photos_dir] if command == "process" else [command]
    proc = start([*args, "--out", out, "--workers", workers])
    if workers > 1:
        _wait_for(lambda: len(_workers(proc.pid)) >= workers, 60, "the workers")
    else:
        lock_file = out / ".eventlens" / "lock"
        _wait_for(lambda: lock_file.is_file() and str(proc.pid) in lock_file.read_text(), 60, "the lock")
    time.sleep(1.5)
    assert proc.poll() is None
    tree = _descendants(proc.pid)
    proc.send_signal(signal.SIGTERM)
    code, stdout, stderr = _finish(proc, timeout_s=30)
    assert code == 143, stderr
    assert "interrupted" in stderr and "run the same command again to resume" in stderr
    assert "Traceback" not in stderr and stdout == ""
    _assert_all_gone(tree)
    assert _run_statuses(out) == [*before, (command, "interrupted")]

    _resume(start, photos_dir, out)
    assert snapshot(out) == reference
    assert _run_statuses(out) == [*before, (command, "interrupted"), ("process", "done")]


def test_a_killed_worker_costs_no_photo(
    start: Callable[..., subprocess.Popen[str]], photos_dir: Path, reference: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    proc = start(["process", photos_dir, "--out", out, "--workers", "2", "--json"])
    workers = _wait_for(lambda: w if len(w := _workers(proc.pid)) >= 2 else None, 60, "two workers")
    time.sleep(2.0)  # the workers have loaded their models and analyse photos
    assert proc.poll() is None
    os.kill(next(iter(workers)), signal.SIGKILL)  # as the OOM killer would
    code, stdout, stderr = _finish(proc)
    assert code == 0, stderr
    assert "Traceback" not in stderr and "BrokenProcessPool" not in stderr
    summary = json.loads(stdout)
    assert summary["analyze"]["photos"] == N_PHOTOS and summary["analyze"]["rejected"] == 0
    assert snapshot(out) == reference  # the photos in flight were analysed again


def test_a_photo_that_kills_its_worker_is_rejected_and_the_run_goes_on(
    start: Callable[..., subprocess.Popen[str]], photos_dir: Path, tmp_path: Path
) -> None:
    from process_driver import CRASH_IDENTITY  # noqa: PLC0415 - tests/ is on sys.path under pytest

    photos = tmp_path / "photos"
    for i in range(8):
        write_photo(photos / f"p{i}.png", _PATTERNS[i % len(_PATTERNS)], variant=i)
    write_photo(photos / "crash.png", [A, CRASH_IDENTITY], variant=20)
    out = tmp_path / "out"
    code, stdout, stderr = _finish(
        start(["process", photos, "--out", out, "--workers", "2", "--json"], detector="crashing")
    )
    assert code == 0, stderr
    assert "Traceback" not in stderr
    summary = json.loads(stdout)
    assert summary["analyze"]["photos"] == 9 and summary["analyze"]["rejected"] == 1
    _, rejected = read_csv(out / "rejected.csv")
    assert [(r["path"], r["reason"]) for r in rejected] == [
        ("crash.png", "analysis crashed the worker (killed by signal 9)")
    ]


def test_a_second_run_on_the_same_output_folder_is_refused(
    start: Callable[..., subprocess.Popen[str]], photos_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = start(["process", photos_dir, "--out", out, "--workers", "2", "-q"], DRIVER_DETECT_S="3")
    lock_file = out / ".eventlens" / "lock"
    _wait_for(lambda: lock_file.is_file() and str(first.pid) in lock_file.read_text(), 60, "the lock")
    for args in (["process", photos_dir], ["cluster"], ["export"], ["score"]):
        code, stdout, stderr = _finish(start([*args, "--out", out, "--workers", "1"], detector="fake"))
        assert code == 75, stderr
        assert stderr.strip().splitlines() == [
            line for line in stderr.splitlines() if line.startswith("error:")
        ], stderr
        assert f"in use by PID {first.pid} (eventlens process, started " in stderr
        assert "wait for it or stop it" in stderr and stdout == ""
    assert first.poll() is None, "the first run ended before the others tried: make it slower"
    first.send_signal(signal.SIGTERM)
    assert _finish(first, timeout_s=30)[0] == 143


# --- errors as one line, in pooled and single-worker mode ----------------------------------------------


def _eventlens(
    args: list[str], env: dict[str, str], timeout_s: float = RUN_TIMEOUT_S
) -> tuple[int, str, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "eventlens", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=timeout_s,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


def _one_line(stderr: str, *words: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_an_unknown_detector_is_one_line_with_a_suggestion(
    photos_dir: Path, tmp_path: Path, model_cache_dir: Path
) -> None:
    env = {**_backend_env(model_cache_dir, "yolo")}
    code, stdout, stderr = _eventlens(["settings"], env)
    assert code == 2 and stdout == ""
    _one_line(stderr, "detector", "'yolo'", "did you mean", "libfacedetection")
    code, stdout, stderr = _eventlens(["process", photos_dir, "--out", tmp_path / "out", "--json"], env)
    assert code == 2
    line = _one_line(stderr, "did you mean")
    assert json.loads(stdout) == {"error": line.removeprefix("error: "), "exit_code": 2}
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_missing_model_file_is_one_line(photos_dir: Path, tmp_path: Path, workers: int) -> None:
    env = {**_backend_env(tmp_path / "empty-cache", "fake"), "EVENTLENS_EYE_MODEL": "mediapipe_iris"}
    args = ["process", photos_dir, "--out", tmp_path / "out", "--workers", workers]
    code, stdout, stderr = _eventlens(args, env)
    assert code == 3 and stdout == ""
    _one_line(stderr, "iris_landmark.tflite", "eventlens models install")


@pytest.mark.parametrize("workers", [1, 2])
def test_a_model_that_fails_to_load_in_the_workers_is_one_line(
    start: Callable[..., subprocess.Popen[str]], photos_dir: Path, tmp_path: Path, workers: int
) -> None:
    proc = start(["process", photos_dir, "--out", tmp_path / "out", "--workers", workers], detector="broken")
    code, stdout, stderr = _finish(proc)
    assert code == 3 and stdout == ""
    _one_line(stderr, "broken.bin", "eventlens models install")


def test_a_worker_dead_before_the_export_costs_nothing(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    """The export makes its face crops on the analysis workers; when one has died it makes them itself."""
    reference = tmp_path / "reference"
    pipeline.process(event.root, reference, make_settings())
    settings = make_settings(workers=2)
    out = tmp_path / "out"
    ev = pipeline.Event.open(out, settings, command="process")
    try:
        with AnalysisPool(settings, 2) as pool, ev.run("process") as summary:
            pipeline.run_ingest(ev, event.root, summary)
            pipeline.run_analyze(ev, summary, pool=pool)
            pipeline.run_cluster(ev, summary)
            victim = {pool.worker_pids[0]: _stat(pool.worker_pids[0])[2]}  # type: ignore[index]
            os.kill(next(iter(victim)), signal.SIGKILL)
            _assert_all_gone(victim)
            pipeline.run_export(ev, summary, pool)
    finally:
        ev.close()
    assert summary.export is not None and summary.export.crops > 0
    assert snapshot(out) == snapshot(reference)


def test_two_threads_sharing_the_pool_survive_a_worker_death_with_one_restart(
    event: SyntheticEvent, make_settings: Callable[..., Settings]
) -> None:
    """The service's concurrent jobs share one pool: a dead worker breaks it for both; it is replaced
    once (not once per thread, which would shut down the pool the other thread just got), and every
    photo of both threads is analysed."""
    import threading

    from eventlens.analysis.pool import PhotoTask

    paths = sorted(p for p in event.root.rglob("*.png"))
    tasks = {name: [PhotoTask(f"{name}-{i}", paths[i % len(paths)]) for i in range(80)] for name in "ab"}
    results: dict[str, list[str | None]] = {}
    errors: list[BaseException] = []
    first_results = threading.Barrier(3, timeout=30)
    seen: dict[int, int] = {}  # every worker process this test's pool ever had
    watching = threading.Event()

    def watch() -> None:
        while not watching.is_set():
            seen.update(_workers(os.getpid()))
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    with AnalysisPool(make_settings(workers=2), 2) as pool:

        def run(name: str) -> None:
            got: list[str | None] = []
            try:
                for i, analysis in enumerate(pool.map(tasks[name])):
                    got.append(analysis.rejected_reason)
                    if i == 2:
                        first_results.wait()  # both threads are mapping when the worker dies
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)
            results[name] = got

        threads = [threading.Thread(target=run, args=(name,)) for name in "ab"]
        for t in threads:
            t.start()
        first_results.wait()
        victim = pool.worker_pids[0]
        os.kill(victim, signal.SIGKILL)  # as the OOM killer would
        for t in threads:
            t.join(timeout=RUN_TIMEOUT_S)
        generation = pool._generation
    watching.set()
    watcher.join()
    assert not errors, errors
    assert {name: len(got) for name, got in results.items()} == {"a": 80, "b": 80}
    assert all(reason is None for got in results.values() for reason in got), results
    assert generation == 1
    assert len(seen) == 4, seen  # the first two workers and one replacement pool of two
