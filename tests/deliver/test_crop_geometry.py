"""Crop boxes (pure geometry): inside the photo, of the asked ratio, keeping the chosen faces whole."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventlens.deliver import crop_geometry as geo

RATIOS = [(1, 1), (4, 5), (9, 16), (16, 9), (3, 2)]


@st.composite
def photos_with_faces(draw: st.DrawFn) -> tuple[int, int, list[tuple[float, float, float, float]]]:
    width = draw(st.integers(40, 6000))
    height = draw(st.integers(40, 6000))
    n = draw(st.integers(0, 6))
    faces = []
    for _ in range(n):
        side = draw(st.floats(4, max(4.0, min(width, height) * 0.5)))
        x = draw(st.floats(-side / 2, width - side / 2))
        y = draw(st.floats(-side / 2, height - side / 2))
        faces.append((x, y, x + side, y + side * draw(st.floats(1.0, 1.4))))
    return width, height, faces


def _inside(outer: tuple[int, int, int, int], inner: tuple[float, float, float, float]) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and outer[2] >= inner[2] and outer[3] >= inner[3]


def _cuts(crop: tuple[int, int, int, int], face: tuple[float, float, float, float]) -> bool:
    overlaps = crop[0] < face[2] and crop[2] > face[0] and crop[1] < face[3] and crop[3] > face[1]
    return overlaps and not _inside(crop, face)


@given(photos_with_faces(), st.sampled_from(RATIOS), st.floats(0, 0.6))
def test_crop_is_inside_has_the_ratio_and_keeps_the_faces(photo, ratio, margin) -> None:
    width, height, faces = photo
    crop = geo.face_crop(width, height, ratio, faces, margin)
    x1, y1, x2, y2 = crop.box
    assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
    w, h = x2 - x1, y2 - y1
    assert abs(w - h * ratio[0] / ratio[1]) <= 1.0 + 1e-9, (w, h, ratio)
    clipped = [geo.clip_box(f, width, height) for f in faces]
    if not crop.fallback:
        for f in clipped:
            if f[2] > f[0] and f[3] > f[1]:
                assert _inside(crop.box, geo.with_margin(f, margin, width, height))
    else:
        assert crop.reason
    # a face the crop keeps is whole; a cut face is reported as cut
    for i, f in enumerate(clipped):
        assert _cuts(crop.box, f) == (i in crop.cut), (i, f, crop)
    if crop.cut:
        assert crop.fallback and "overlap" in (crop.reason or "")


@given(photos_with_faces(), st.sampled_from(RATIOS))
def test_crop_is_the_largest_of_its_ratio_unless_it_had_to_shrink(photo, ratio) -> None:
    width, height, faces = photo
    crop = geo.face_crop(width, height, ratio, faces)
    full_w, full_h = geo.largest_crop_size(width, height, ratio)
    w, h = crop.box[2] - crop.box[0], crop.box[3] - crop.box[1]
    if not crop.fallback or "largest" not in (crop.reason or ""):
        assert (w, h) == (full_w, full_h)


def test_a_single_face_goes_on_a_third_line() -> None:
    # a wide photo, one face right of centre: a 1:1 crop puts it on a vertical third line
    crop = geo.face_crop(3000, 1000, (1, 1), [(1900, 300, 2000, 420)])
    assert not crop.fallback
    x1, _, x2, _ = crop.box
    centre = 1950 - x1
    assert min(abs(centre - (x2 - x1) / 3), abs(centre - 2 * (x2 - x1) / 3)) <= 1


def test_faces_upper_third_in_a_tall_photo() -> None:
    crop = geo.face_crop(1000, 3000, (16, 9), [(450, 1500, 550, 1620)])
    _, y1, _, y2 = crop.box
    assert abs((1560 - y1) - (y2 - y1) / 3) <= 1


def test_people_who_do_not_fit_fall_back_and_keep_the_heavier_face_whole() -> None:
    # two faces at opposite ends of a landscape photo cannot share a 9:16 crop
    faces = [(50, 400, 250, 640), (1700, 400, 1850, 580)]
    crop = geo.face_crop(1920, 1080, (9, 16), faces, weights=[1.0, 5.0])
    assert crop.fallback and "do not fit" in (crop.reason or "")
    assert crop.inside == (1,) and crop.cut == ()


def test_other_faces_are_not_cut_when_there_is_room() -> None:
    chosen = [(900, 300, 1000, 420)]
    other = [(560, 300, 660, 420)]
    crop = geo.face_crop(2000, 1000, (1, 1), chosen, other_faces=other)
    assert not crop.fallback and crop.others_cut == 0


def test_without_faces_the_crop_is_centred() -> None:
    assert geo.face_crop(1000, 500, (1, 1), []).box == (250, 0, 750, 500)


@given(photos_with_faces().filter(lambda p: len(p[2]) > 0), st.floats(0.2, 0.6))
def test_portrait_keeps_the_face_whole(photo, share) -> None:
    width, height, faces = photo
    face = geo.clip_box(faces[0], width, height)
    if face[2] - face[0] < 1 or face[3] - face[1] < 1:
        return
    crop = geo.portrait_crop(width, height, face, (4, 5), share)
    x1, y1, x2, y2 = crop.box
    assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
    assert abs((x2 - x1) - (y2 - y1) * 4 / 5) <= 1.0
    if not crop.fallback or crop.inside:
        assert _inside(crop.box, face)


@pytest.mark.parametrize("text", ["4x5", "0:1", "a:b", "1:2:3", "200:1"])
def test_bad_ratios_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="ratio"):
        geo.parse_ratio(text)


def test_ratio_names() -> None:
    assert geo.parse_ratio(" 16:9 ") == (16, 9) and geo.ratio_name((16, 9)) == "16x9"
