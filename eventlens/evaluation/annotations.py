"""Face annotations of the group photos (``shared/data/groups/annotations``), read into one type.

Sources and their quirks:

* ``dlib_training.xml``, ``dlib_testing.xml``: ``<box top left width height>`` per face; the XML names the
  original files (``2008_002506.jpg``), which are stored here as ``dlib_2008_002506.jpg``. Boxes with
  ``ignore='1'`` are skipped.
* ``wider_boxes_for_included_images.txt``: file name, face count, then ``x y w h`` per face; boxes with a
  non-positive width or height are skipped.
* ``compreface_annotations.py``: one nose point per face in ``Row('000_5.jpg', [(x, y), ...])`` calls of
  ``SAMPLE_IMAGES``; the files are stored as ``compreface_000_5.jpg``. The file is parsed with :mod:`ast`
  and never executed.
* PhotoPrism's detector test only gives face counts (:data:`PHOTOPRISM_COUNTS`).

All coordinates are original pixels; boxes are ``x1, y1, x2, y2``.
"""

from __future__ import annotations

import ast
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DLIB_FILES = ("dlib_training.xml", "dlib_testing.xml")
WIDER_FILE = "wider_boxes_for_included_images.txt"
COMPREFACE_FILE = "compreface_annotations.py"
#: faces PhotoPrism's ``detector_test.go`` expects in its overlap test photos
PHOTOPRISM_COUNTS: dict[str, int] = {
    "photoprism_overlap_1.jpg": 2,
    "photoprism_overlap_2.jpg": 2,
    "photoprism_overlap_3.jpg": 2,
    "photoprism_overlap_4.jpg": 1,
}
_KIND_OF_SOURCE = {"dlib": "boxes", "wider": "boxes", "compreface": "points", "photoprism": "count"}


@dataclass(frozen=True)
class AnnotatedImage:
    """Ground truth of one photo: boxes ``(n, 4)`` xyxy, points ``(m, 2)`` xy, and/or a face count."""

    file_name: str  # name inside the groups folder
    source: str  # dlib | wider | compreface | photoprism
    boxes_xyxy: np.ndarray
    points_xy: np.ndarray
    expected_count: int | None = None

    @property
    def kind(self) -> str:
        """``boxes``, ``points`` or ``count``: how faces are annotated."""
        return _KIND_OF_SOURCE[self.source]


def _boxes(rows: list[tuple[float, float, float, float]]) -> np.ndarray:
    """``x, y, w, h`` rows as an ``(n, 4)`` float64 xyxy array."""
    xywh = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)


def parse_dlib_xml(path: Path, prefix: str = "dlib_") -> dict[str, np.ndarray]:
    """Boxes (xyxy, original pixels) per file of a dlib imglab XML; file names get ``prefix``."""
    out: dict[str, np.ndarray] = {}
    for image in ET.parse(path).getroot().iter("image"):
        rows = [
            (
                float(b.get("left", 0)),
                float(b.get("top", 0)),
                float(b.get("width", 0)),
                float(b.get("height", 0)),
            )
            for b in image.iter("box")
            if b.get("ignore", "0") != "1"
        ]
        out[prefix + Path(image.get("file", "")).name] = _boxes(rows)
    return out


def _is_number_row(line: str) -> bool:
    try:
        [float(t) for t in line.split()]
    except ValueError:
        return False
    return True


def parse_wider_boxes(path: Path) -> dict[str, np.ndarray]:
    """Boxes (xyxy, original pixels) per file of the WIDER FACE text format (file, count, ``x y w h``...)."""
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    out: dict[str, np.ndarray] = {}
    i = 0
    while i < len(lines):
        if _is_number_row(lines[i]):  # a stray row (e.g. WIDER's dummy box of an image without faces)
            i += 1
            continue
        name, count = lines[i], int(lines[i + 1])
        rows = [tuple(float(t) for t in ln.split()[:4]) for ln in lines[i + 2 : i + 2 + count]]
        out[name] = _boxes([r for r in rows if r[2] > 0 and r[3] > 0])  # type: ignore[misc]
        i += 2 + count
    return out


def _row_call(node: ast.expr) -> tuple[str, list[tuple[float, float]]] | None:
    """``(name, noses)`` of a ``Row('name.jpg', [(x, y), ...])`` call node, else ``None``."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Row"):
        return None
    args = list(node.args) + [k.value for k in node.keywords if k.arg in ("img_name", "noses")]
    if len(args) < 2:
        return None
    name, noses = ast.literal_eval(args[0]), ast.literal_eval(args[1])
    return str(name), [(float(x), float(y)) for x, y in noses]


def parse_compreface_noses(path: Path, prefix: str = "compreface_") -> dict[str, np.ndarray]:
    """Nose points ``(m, 2)`` per file from CompreFace's ``SAMPLE_IMAGES``; parsed, never executed."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: dict[str, np.ndarray] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.List)):
            continue
        if not any(isinstance(t, ast.Name) and t.id == "SAMPLE_IMAGES" for t in node.targets):
            continue
        for element in node.value.elts:
            row = _row_call(element)
            if row is not None:
                out[prefix + row[0]] = np.asarray(row[1], dtype=np.float64).reshape(-1, 2)
    return out


def _empty(cols: int) -> np.ndarray:
    return np.zeros((0, cols), dtype=np.float64)


def load_annotations(groups_dir: Path) -> list[AnnotatedImage]:
    """Every annotated photo present in ``groups_dir`` (annotations in ``groups_dir/annotations``).

    Annotation files that are missing are skipped; so are annotations of photos not in the folder.
    """
    ann = groups_dir / "annotations"
    images: list[AnnotatedImage] = []
    for name in DLIB_FILES:
        if (ann / name).is_file():
            images += [AnnotatedImage(f, "dlib", b, _empty(2)) for f, b in parse_dlib_xml(ann / name).items()]
    if (ann / WIDER_FILE).is_file():
        images += [
            AnnotatedImage(f, "wider", b, _empty(2)) for f, b in parse_wider_boxes(ann / WIDER_FILE).items()
        ]
    if (ann / COMPREFACE_FILE).is_file():
        noses = parse_compreface_noses(ann / COMPREFACE_FILE)
        images += [AnnotatedImage(f, "compreface", _empty(4), p, len(p)) for f, p in noses.items()]
    images += [AnnotatedImage(f, "photoprism", _empty(4), _empty(2), n) for f, n in PHOTOPRISM_COUNTS.items()]
    return sorted((im for im in images if (groups_dir / im.file_name).is_file()), key=lambda im: im.file_name)
