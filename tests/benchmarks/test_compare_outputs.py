"""``benchmarks/compare_outputs.py``: the diff finds every changed, added or missing exported file (and
ignores ``.eventlens``), and a whole comparison of HEAD with the work tree runs on a fake-backend event."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from PIL import Image
from testkit import SyntheticEvent, load_benchmark

REPO = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    return load_benchmark("compare_outputs")


def _tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def test_diff_names_every_difference_outside_the_work_folder(tmp_path: Path) -> None:
    same = {"summary.csv": b"person\n", "person_001/metadata.json": b"{}"}
    a = _tree(tmp_path / "a", {**same, "face_data.csv": b"1\n", "gone.jpg": b"x", ".eventlens/x": b"1"})
    b = _tree(tmp_path / "b", {**same, "face_data.csv": b"2\n", "new.jpg": b"x", ".eventlens/x": b"2"})
    assert _load().diff_exports(a, b) == [
        "only in A: gone.jpg",
        "only in B: new.jpg",
        "differs: face_data.csv",
    ]
    assert _load().diff_exports(a, a) == []


def test_images_with_other_bytes_but_the_same_pixels_are_marked(tmp_path: Path) -> None:
    pixels = Image.new("RGB", (8, 8), (200, 10, 10))
    for side, comment in (("a", b"one"), ("b", b"two")):
        (tmp_path / side).mkdir()
        pixels.save(tmp_path / side / "crop.jpg", quality=90, comment=comment)
        Image.new("RGB", (8, 8), (10, 10, 10 if side == "a" else 200)).save(tmp_path / side / "other.jpg")
    assert _load().diff_exports(tmp_path / "a", tmp_path / "b") == [
        "differs: crop.jpg (same pixels)",
        "differs: other.jpg",
    ]


@pytest.mark.skipif(
    shutil.which("git") is None or not (REPO / ".git").exists(), reason="needs a git checkout"
)
def test_head_and_work_tree_compared_on_a_fake_event(
    event: SyntheticEvent, tmp_path: Path, model_cache_dir: Path
) -> None:
    config = tmp_path / "fake.yaml"
    fake = {"detector": "fake", "landmarker": "fake", "embedder": "fake", "eye_model": "fake"}
    config.write_text(yaml.safe_dump({**fake, "cache_dir": str(model_cache_dir)}), encoding="utf-8")
    script = [sys.executable, str(REPO / "benchmarks" / "compare_outputs.py"), "HEAD", "."]
    done = subprocess.run(
        [*script, "--data", str(event.root), "--config", str(config), "--work", str(tmp_path / "work")],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "photos_processed: HEAD vs .:" in done.stdout and "identical" in done.stdout
    assert (tmp_path / "work" / "photos_processed" / "B" / "face_data.csv").is_file()
