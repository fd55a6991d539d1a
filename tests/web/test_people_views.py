"""What the people pages show, without HTTP: face windows onto thumbnails, tiles with alt text naming the
person, the grid's pages, suggestion cards."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from people_kit import EMBED_MODEL, FaceSpec, around, build_catalog, unit

from eventlens.catalog.schema import persons
from eventlens.web import people_views as views
from eventlens.web.face_crops import MARGIN, face_window


def test_the_window_centres_the_face_and_scales_it_with_its_margin() -> None:
    box = (1000.0, 500.0, 1200.0, 800.0)  # 200 x 300 px face in a 4000 x 3000 photo
    w = face_window(box, 4000, 3000, 120)
    side = 300 * (1 + 2 * MARGIN)
    scale = 120 / side
    assert w.width_px == pytest.approx(4000 * scale) and w.height_px == pytest.approx(3000 * scale)
    # the face's centre lands on the window's centre
    assert w.left_px + 1100 * scale == pytest.approx(60) and w.top_px + 650 * scale == pytest.approx(60)
    assert w.thumb_size_px == 1024  # shown 1067 px wide: the largest thumbnail, scaled up a little
    medium = face_window((0, 0, 400, 400), 1200, 900, 112)  # shown 224 px wide: the 256 px thumbnail
    assert medium.thumb_size_px == 256
    small = face_window((0, 0, 1000, 1000), 1000, 1000, 112)  # a face filling the photo: a small thumbnail
    assert small.thumb_size_px == 128
    assert "left:" in w.img_style and w.window_style == "width:120px;height:120px"


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    rng = np.random.default_rng(2)
    a = unit(rng)
    specs = [FaceSpec(f"a{k}.jpg", "person_001", around(a, 0.05, rng)) for k in range(3)]
    specs += [FaceSpec(f"b{k}.jpg", "person_002", around(a, 0.3, rng)) for k in range(2)]
    specs += [FaceSpec("c0.jpg", None, unit(rng))]
    engine = build_catalog(tmp_path, specs)
    with engine.begin() as conn:
        conn.execute(persons.update().where(persons.c.label == "person_001").values(name="Ana"))
        for label in ("person_001", "person_002"):
            pid = sa.select(persons.c.id).where(persons.c.label == label).scalar_subquery()
            first = sa.text("(SELECT min(id) FROM faces WHERE person_id = persons.id)")
            conn.execute(persons.update().where(persons.c.id == pid).values(representative_face_id=first))
    return engine


def test_grid_tiles_name_the_person_in_the_alt_text(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        tiles, cursor = views.people_grid(conn, limit=1)
        assert cursor is not None and [t.person.label for t in tiles] == ["person_001"]
        assert tiles[0].face is not None and tiles[0].face.alt == "Face of Ana"
        assert tiles[0].face.window is not None and tiles[0].face.ref.endswith(":0")
        rest, end = views.people_grid(conn, limit=1, after=cursor)
        assert end is None and rest[0].face is not None and rest[0].face.alt == "Face of person_002"


def test_suggestion_cards_show_both_persons_faces(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        (card,) = views.suggestion_cards(conn, EMBED_MODEL, 2.0, 5)
    assert (card.left.title, card.right.title) == ("Ana", "person_002")
    assert len(card.left_faces) == 3 and len(card.right_faces) == 2
    assert {t.alt for t in card.left_faces} == {"Face of Ana"}
