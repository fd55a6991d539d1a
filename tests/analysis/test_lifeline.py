"""Workers and the user's script: a plain script without a ``__main__`` guard can call ``process()``,
``python -m eventlens`` works, and ONNX Runtime writes no telemetry files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from testkit import A, B, write_photo

from eventlens.analysis.lifeline import has_main_guard

TIMEOUT_S = 180


@pytest.mark.parametrize(
    ("source", "guarded"),
    [
        ('if __name__ == "__main__":\n    main()\n', True),
        ("if '__main__' == __name__:\n    main()\n", True),
        ("import x\nx.process()\n", False),
        ("def f():\n    if __name__ == '__main__':\n        pass\n", False),  # not at the top level
        ("if __name__ == '__mp_main__':\n    pass\n", False),
    ],
)
def test_has_main_guard(tmp_path: Path, source: str, guarded: bool) -> None:
    script = tmp_path / "script.py"
    script.write_text(source, encoding="utf-8")
    assert has_main_guard(str(script)) is guarded


def test_a_script_without_a_main_guard_can_call_process(tmp_path: Path, model_cache_dir: Path) -> None:
    """The README's example as a plain script: spawned workers must not run the script again."""
    photos = tmp_path / "photos"
    for i, ids in enumerate([[A], [A, B], [B], [A, B], [A]]):
        write_photo(photos / f"p{i}.png", ids, variant=i)
    script = tmp_path / "organise.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            from pathlib import Path

            from eventlens.pipeline import process
            from eventlens.settings import load_settings

            settings = load_settings(
                min_faces=2, workers=2, detector="fake", landmarker="fake", embedder="fake",
                eye_model="fake", cache_dir={str(model_cache_dir)!r},
            )
            summary = process(Path({str(photos)!r}), Path({str(tmp_path / "out")!r}), settings)
            workers, persons = summary.analyze.workers, summary.cluster.persons
            sys.stdout.write(f"{{workers}} workers, {{persons}} persons\\n")
            """
        ),
        encoding="utf-8",
    )
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "2 workers, 2 persons\n", proc.stderr
    assert (tmp_path / "out" / "summary.csv").is_file()


def test_python_dash_m_eventlens() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "eventlens", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Usage: eventlens ") and "process" in proc.stdout


def _telemetry_files(home: Path, code: str) -> list[Path]:
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    subprocess.run([sys.executable, "-c", code], env={**env, "HOME": str(home)}, timeout=120, check=True)
    return sorted(p for p in home.rglob("*") if p.is_file())


def test_onnx_runtime_writes_no_telemetry_files(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    plain = _telemetry_files(tmp_path / "plain", "import onnxruntime")
    if not plain:
        pytest.skip("this onnxruntime writes no telemetry files at all: nothing to turn off")
    assert any("Microsoft" in p.parts for p in plain)  # what the test guards against
    code = (
        "from eventlens.backends.sessions import onnxruntime_module\n"
        "ort = onnxruntime_module()\n"
        "ort.InferenceSession\n"
    )
    assert _telemetry_files(tmp_path / "eventlens", code) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_watchdog_ends_a_worker_whose_parent_died() -> None:
    """The fallback of platforms without PR_SET_PDEATHSIG: a thread that watches the parent's pid."""
    worker = (
        "import os, threading, time\n"
        "from eventlens.analysis import lifeline\n"
        "threading.Thread(target=lifeline._watch_parent, args=(os.getppid(),), daemon=True).start()\n"
        "time.sleep(60)\n"
    )
    parent = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', {worker!r}])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        child = int(proc.stdout.readline())
        time.sleep(0.5)  # the child has started its watchdog
        proc.kill()
        proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while _running(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        alive = _running(child)
        if alive:
            os.kill(child, signal.SIGKILL)
        assert not alive, "the worker outlived its parent"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
