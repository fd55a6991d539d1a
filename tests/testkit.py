"""Helpers of the test suite: synthetic photos for the fake backend, and readers of the output layout.

A fake "face" is a filled square of one :data:`eventlens.backends.fake.PALETTE` colour (the identity) on a
dark background; the fake detector finds it and the fake embedder maps it to that identity's vector. The
standard synthetic event (:func:`build_event`) has known identities, so every test can say exactly which
person folder must hold which photo.

Importable from tests as ``import testkit``: pytest puts ``tests/`` on ``sys.path`` for ``tests/conftest.py``.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import importlib.util
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from PIL import Image

from eventlens.backends import registry
from eventlens.backends.fake import PALETTE, draw_face, identity_of_color
from eventlens.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
MISSING_DATA = "../shared/data is absent: real-photo tests skipped"

#: background of synthetic photos: quantises to black, which is no fake identity
BACKGROUND = 40
FACE_PX = 56

#: identities of the synthetic events: colours with channel levels 0 and 255 only. A JPEG blurs a square's
#: edge into levels near 128, which are other palette colours; with these identities that ring never
#: joins another identity's face (see the report on the fake backend).
A, B, C, D, E, F = (
    PALETTE.index(c)
    for c in [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255)]
)


def fake_settings(cache_dir: Path, **overrides: Any) -> Settings:
    """Settings that use the fake backend in this process (workers=1) unless overridden."""
    values: dict[str, Any] = {
        "detector": "fake",
        "landmarker": "fake",
        "embedder": "fake",
        "eye_model": "fake",
        "workers": 1,
        "cache_dir": cache_dir,
    }
    values.update(overrides)
    return load_settings(**values)


# --- synthetic photos ----------------------------------------------------------------------------


def add_test_backends(monkeypatch: pytest.MonkeyPatch, backends: dict[str, str]) -> None:
    """Make test-only backends (``{"detector.slow": "module:Factory"}``, entry-point syntax) known to this
    process for one test, as if a package had installed them: the registry's cached entry-point table is
    replaced by a copy with them added. Spawned workers do not see them (run with ``workers=1``, or use an
    entry point on disk as ``tests/process_driver.py`` does)."""
    table = {kind: dict(eps) for kind, eps in registry.entry_points().items()}
    for name, target in backends.items():
        kind, _, short = name.partition(".")
        table[kind][short] = importlib.metadata.EntryPoint(name, target, registry.GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda: table)


def face_box(slot: int, variant: int = 0) -> tuple[int, int, int, int]:
    """A face-sized square in one of four slots of a 320x240 photo, nudged by ``variant``."""
    x = 16 + 72 * slot + (variant % 5) * 2
    y = 40 + (variant % 7) * 3
    return (x, y, x + FACE_PX, y + FACE_PX)


def photo_array(
    identities: Sequence[int], variant: int = 0, size: tuple[int, int] = (320, 240)
) -> np.ndarray:
    """A dark RGB photo with one fake face per identity; ``variant`` moves the faces and marks a corner."""
    width, height = size
    rgb = np.full((height, width, 3), BACKGROUND, dtype=np.uint8)
    rgb[height - 2 :, : 4 * (variant + 1)] = 60 - variant % 20  # still dark: no identity
    for slot, identity in enumerate(identities):
        draw_face(rgb, identity, face_box(slot, variant))
    return rgb


def encode(rgb: np.ndarray, suffix: str, quality: int = 95) -> bytes:
    """Image bytes in the format named by ``suffix`` (".jpg", ".png", ...)."""
    import io  # noqa: PLC0415

    buf = io.BytesIO()
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}[suffix.lower()]
    Image.fromarray(rgb).save(buf, fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    return buf.getvalue()


def write_photo(path: Path, identities: Sequence[int], variant: int = 0, **kw: Any) -> Path:
    """Save :func:`photo_array` to ``path`` in the format of its suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode(photo_array(identities, variant, **kw), path.suffix))
    return path


def identity_at(photo: Path, box: Sequence[float]) -> int:
    """The fake identity painted at the centre of ``box`` (original pixels) in ``photo``."""
    with Image.open(photo) as im:
        rgb = np.asarray(im.convert("RGB"))
    cx, cy = int((box[0] + box[2]) / 2), int((box[1] + box[3]) / 2)
    return identity_of_color(rgb[cy, cx])


@dataclass
class SyntheticEvent:
    """A folder of synthetic photos and the identities each holds."""

    root: Path
    photos: dict[str, list[int]] = field(default_factory=dict)  # rel path -> identities

    def add(self, rel: str, identities: Sequence[int], variant: int) -> Path:
        self.photos[rel] = list(identities)
        return write_photo(self.root / rel, identities, variant)

    def photos_of(self, identity: int) -> set[str]:
        return {rel for rel, ids in self.photos.items() if identity in ids}


#: unique readable photos of the standard event (the exact duplicate is the same photo)
EVENT_PHOTOS = 8
#: what rejected.csv must list for the standard event, with a word of the reason
EVENT_REJECTED = {"broken.jpg": "truncated", "notes.txt": "not an image"}


def build_event(root: Path) -> SyntheticEvent:
    """The standard event.

    A in 4 photos, B in 3, C in 2 (so person_001..003 by descending photo count), D in 1 (below
    ``min_faces``: unassigned), a photo without faces, an exact duplicate of ``p01.png`` in a subfolder,
    a truncated JPEG, a text file and a ``.DS_Store``.
    """
    ev = SyntheticEvent(root)
    ev.add("p01.png", [A], 1)
    ev.add("p02.jpg", [A, B], 2)
    ev.add("sub/p03.png", [B, A], 3)
    ev.add("sub/p04.png", [A, C], 4)
    ev.add("p05.jpg", [B], 5)
    ev.add("p06.png", [C], 6)
    ev.add("p07.png", [D], 7)
    ev.add("p08.png", [], 8)
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "sub" / "deeper" / "p01_copy.png").write_bytes((root / "p01.png").read_bytes())
    whole = (root / "p02.jpg").read_bytes()
    (root / "broken.jpg").write_bytes(whole[: len(whole) * 2 // 3])
    (root / "notes.txt").write_text("guest list\nAlice\nBob\n", encoding="utf-8")
    (root / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(64))
    return ev


# --- reading the output --------------------------------------------------------------------------


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as fp:
        reader = csv.DictReader(fp)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def read_metadata(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "metadata.json").read_text(encoding="utf-8"))


def folder_photos(out: Path, label: str) -> set[str]:
    """Input-relative paths of the photos in one output folder, from its metadata.json."""
    return {p["photo"] for p in read_metadata(out / label)["photos"]}


def person_folders(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.is_dir() and p.name.startswith("person_"))


def folder_identities(out: Path, label: str, photos_root: Path) -> set[int]:
    """The fake identities of the faces a folder's metadata.json assigns to it."""
    meta = read_metadata(out / label)
    return {identity_at(photos_root / p["photo"], f["box"]) for p in meta["photos"] for f in p["faces"]}


def snapshot(out: Path) -> dict[str, str]:
    """SHA-256 of every file the export wrote (the catalog folder excluded), by relative path."""
    result = {}
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out)
        if rel.parts[0] == ".eventlens" or not path.is_file():
            continue
        result[rel.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return result


def hash_tree(root: Path) -> dict[str, tuple[str, int]]:
    """Content hash and modification time of every file under ``root``: originals must not change."""
    return {
        p.relative_to(root).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


#: skin, iris and lash colours of :func:`synthetic_eye` (RGB)
SKIN_RGB, IRIS_RGB, LASH_RGB = (205, 160, 135), (70, 45, 30), (50, 35, 30)


def synthetic_eye(
    opening_px: float,
    iris: bool,
    lash_px: float = 0.0,
    size: int = 64,
    width_px: float = 22.8,
    outline_opening_px: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A 64x64 eye crop as the iris model sees it, and its 16-point outline (crop coordinates).

    Skin with an almond eye centred on the crop, ``width_px`` between the corners and ``opening_px``
    between the lids at the middle. ``iris``: a dark disc (radius 0.22 eye widths) shows between the lids
    (the white of the eye around it); else the lids are skin. ``lash_px``: a dark line that thick along
    the lid line (a closed eye's lashes). ``outline_opening_px``: the outline's opening when it differs
    from the drawn one (on laughing eyes the model's lids sit inside the visible opening). Returns
    (float32 (size, size, 3) in 0..1, float64 (16, 2)).
    """
    c = size / 2
    x_lo, x_hi = c - width_px / 2, c + width_px / 2

    def half_gap(x: np.ndarray, opening: float = opening_px) -> np.ndarray:
        t = np.clip((x - x_lo) / width_px, 0, 1)
        return opening / 2 * np.sin(np.pi * t)

    drawn = opening_px if outline_opening_px is None else outline_opening_px
    lower_x = np.linspace(x_lo, x_hi, 9)
    upper_x = lower_x[1:8]
    outline = np.vstack(
        [
            np.column_stack([lower_x, c + half_gap(lower_x, drawn)]),
            np.column_stack([upper_x, c - half_gap(upper_x, drawn)]),
        ]
    )
    xs = np.arange(size)[None, :] + 0.5
    ys = np.arange(size)[:, None] + 0.5
    img = np.empty((size, size, 3), dtype=np.float32)
    img[:] = np.array(SKIN_RGB, dtype=np.float32) / 255
    inside = (np.abs(ys - c) < half_gap(xs)) & (xs > x_lo) & (xs < x_hi)
    img[inside] = 0.92
    if iris:
        disc = (xs - c) ** 2 + (ys - c) ** 2 < (0.22 * width_px) ** 2
        img[inside & disc] = np.array(IRIS_RGB, dtype=np.float32) / 255
    if lash_px:
        line = (np.abs(ys - c) < lash_px / 2) & (xs > x_lo + 1) & (xs < x_hi - 1)
        img[line] = np.array(LASH_RGB, dtype=np.float32) / 255
    return img, outline


# --- benchmark scripts ---------------------------------------------------------------------------


def load_benchmark(script: str) -> ModuleType:
    """Import ``benchmarks/<script>.py`` (benchmarks/ is a folder of scripts, not a package), once."""
    name = f"eventlens_bench_{script}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{script}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
