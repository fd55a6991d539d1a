"""Face-aware crops on every annotated group photo of ../shared/data/groups: with the two largest
annotated faces as the "main" persons, no crop of any ratio cuts one of them, and a crop that cannot keep
both says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageOps
from testkit import SHARED_DATA

from eventlens.deliver import crop_geometry as geo
from eventlens.evaluation.annotations import load_annotations

RATIOS = [(1, 1), (4, 5), (9, 16), (16, 9)]
GROUPS = SHARED_DATA / "groups"


def _size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        return ImageOps.exif_transpose(im).size


def _cuts(crop: tuple[int, int, int, int], face: tuple[float, ...]) -> bool:
    overlaps = crop[0] < face[2] and crop[2] > face[0] and crop[1] < face[3] and crop[3] > face[1]
    inside = crop[0] <= face[0] and crop[1] <= face[1] and crop[2] >= face[2] and crop[3] >= face[3]
    return overlaps and not inside


def test_no_crop_cuts_a_chosen_face_of_an_annotated_photo() -> None:
    if not GROUPS.is_dir():
        pytest.skip("../shared/data/groups is absent: real-photo tests skipped")
    annotated = [a for a in load_annotations(GROUPS) if a.kind == "boxes" and len(a.boxes_xyxy) > 0]
    assert len(annotated) >= 10
    fallbacks = crops = 0
    for a in annotated:
        width, height = _size(GROUPS / a.file_name)
        boxes = [geo.clip_box(b, width, height) for b in a.boxes_xyxy.tolist()]
        boxes = [b for b in boxes if b[2] > b[0] and b[3] > b[1]]
        by_area = sorted(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True)
        main, others = by_area[:2], by_area[2:]
        for ratio in RATIOS:
            crop = geo.face_crop(width, height, ratio, main, 0.3, other_faces=others)
            crops += 1
            x1, y1, x2, y2 = crop.box
            assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
            assert abs((x2 - x1) - (y2 - y1) * ratio[0] / ratio[1]) <= 1.0
            for face in main:
                assert not _cuts(crop.box, face), f"{a.file_name} {ratio}: crop {crop.box} cuts {face}"
            if crop.fallback:
                fallbacks += 1
                assert crop.reason and crop.inside, f"{a.file_name} {ratio}: {crop}"
            else:
                assert len(crop.inside) == len(main)
    assert 0 < fallbacks < crops, "some ratios cannot hold both faces, most can"
