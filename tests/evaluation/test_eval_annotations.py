"""Parsers of the group-photo annotations: synthetic files, then the real ones in ../shared/data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eventlens.evaluation.annotations import (
    PHOTOPRISM_COUNTS,
    load_annotations,
    parse_compreface_noses,
    parse_dlib_xml,
    parse_wider_boxes,
)
from eventlens.imaging.decode import probe

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
GROUPS = DATA / "groups"
ANNOTATIONS = GROUPS / "annotations"
needs_data = pytest.mark.skipif(
    not ANNOTATIONS.is_dir(), reason=f"shared data not found: {ANNOTATIONS} (the real annotation files)"
)

DLIB_XML = """<?xml version='1.0' encoding='ISO-8859-1'?>
<dataset><images>
  <image file='2008_000001.jpg' width='500' height='375'>
    <box top='10' left='20' width='30' height='40'/>
    <box top='0' left='0' width='5' height='5' ignore='1'/>
  </image>
  <image file='sub/2008_000002.jpg'/>
</images></dataset>
"""

WIDER_TXT = """# format: file / N / N lines of x y w h
wider_a.jpg
3
1 2 3 4 0 0 0 0 0 0
5 6 0 4
7 8 9 10
wider_b.jpg
0
0 0 0 0 0 0 0 0 0 0
wider_c.jpg
1
0 0 10 10
"""

COMPREFACE_PY = """import attr
raise SystemExit("this file must never be executed")
SAMPLE_IMAGES = [
    Row('000_2.jpg', [(10, 20), (30, 40)]),
    Row('001_A.jpg', [(1, 2)], include_to_tests=False),
    Row(img_name='017_0.jpg', noses=[]),
]
OTHER = [Row('999_1.jpg', [(0, 0)])]
"""


def test_dlib_xml(tmp_path: Path) -> None:
    path = tmp_path / "t.xml"
    path.write_text(DLIB_XML, encoding="iso-8859-1")
    boxes = parse_dlib_xml(path)
    assert set(boxes) == {"dlib_2008_000001.jpg", "dlib_2008_000002.jpg"}
    np.testing.assert_array_equal(boxes["dlib_2008_000001.jpg"], [[20, 10, 50, 50]])  # ignore='1' dropped
    assert boxes["dlib_2008_000002.jpg"].shape == (0, 4)


def test_wider_boxes(tmp_path: Path) -> None:
    path = tmp_path / "w.txt"
    path.write_text(WIDER_TXT, encoding="utf-8")
    boxes = parse_wider_boxes(path)
    assert set(boxes) == {"wider_a.jpg", "wider_b.jpg", "wider_c.jpg"}
    np.testing.assert_array_equal(boxes["wider_a.jpg"], [[1, 2, 4, 6], [7, 8, 16, 18]])  # w = 0 dropped
    assert boxes["wider_b.jpg"].shape == (0, 4)
    np.testing.assert_array_equal(boxes["wider_c.jpg"], [[0, 0, 10, 10]])


def test_compreface_is_parsed_not_executed(tmp_path: Path) -> None:
    path = tmp_path / "annotations.py"
    path.write_text(COMPREFACE_PY, encoding="utf-8")
    noses = parse_compreface_noses(path)
    assert set(noses) == {"compreface_000_2.jpg", "compreface_001_A.jpg", "compreface_017_0.jpg"}
    np.testing.assert_array_equal(noses["compreface_000_2.jpg"], [[10, 20], [30, 40]])
    assert noses["compreface_017_0.jpg"].shape == (0, 2)


@needs_data
def test_real_dlib_files_match_photos() -> None:
    training = parse_dlib_xml(ANNOTATIONS / "dlib_training.xml")
    testing = parse_dlib_xml(ANNOTATIONS / "dlib_testing.xml")
    assert (len(training), sum(len(b) for b in training.values())) == (4, 18)
    assert (len(testing), sum(len(b) for b in testing.values())) == (5, 25)
    for name, boxes in {**training, **testing}.items():
        header = probe(GROUPS / name, 150)
        assert header.orientation == 1, name  # boxes are in the stored frame: it must be the displayed one
        assert np.all(boxes[:, 2] <= header.width_px + 1) and np.all(boxes[:, 3] <= header.height_px + 1), (
            name
        )


@needs_data
def test_real_wider_file() -> None:
    boxes = parse_wider_boxes(ANNOTATIONS / "wider_boxes_for_included_images.txt")
    counts = {name: len(b) for name, b in boxes.items()}
    assert counts == {
        "wider_0_Parade_marchingband_1_765.jpg": 132,
        "wider_0_Parade_Parade_0_873.jpg": 142,
        "wider_11_Meeting_Meeting_11_Meeting_Meeting_11_176.jpg": 17,
        "wider_11_Meeting_Meeting_11_Meeting_Meeting_11_26.jpg": 37,
    }


@needs_data
def test_real_compreface_counts_match_file_names() -> None:
    noses = parse_compreface_noses(ANNOTATIONS / "compreface_annotations.py")
    present = {name: pts for name, pts in noses.items() if (GROUPS / name).is_file()}
    assert len(present) == 8
    for name, pts in present.items():
        assert len(pts) == int(Path(name).stem.rsplit("_", 1)[1]), name  # file-name suffix = face count


@needs_data
def test_load_annotations_covers_every_annotated_photo() -> None:
    images = load_annotations(GROUPS)
    kinds = {k: sum(im.kind == k for im in images) for k in ("boxes", "points", "count")}
    assert kinds == {"boxes": 13, "points": 8, "count": 4}
    counts = {im.file_name: im.expected_count for im in images if im.kind == "count"}
    assert counts == PHOTOPRISM_COUNTS
    for im in images:
        header = probe(GROUPS / im.file_name, 150)
        assert header.orientation == 1, im.file_name


def test_load_annotations_without_files(tmp_path: Path) -> None:
    (tmp_path / "annotations").mkdir()
    assert load_annotations(tmp_path) == []
