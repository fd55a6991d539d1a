"""The photo score (:mod:`eventlens.curate.scoring`): each rule of the ``curation`` settings moves the score
the documented way, disqualified photos rank last, and ``results_string`` names what mattered."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from testkit import synthetic_eye

from eventlens.attributes.decide import FaceDecisions, decide
from eventlens.attributes.eye_appearance import iris_dark_height
from eventlens.backends.iris import eye_aspect_ratio16
from eventlens.curate.scoring import PhotoInput, ScoredFace, face_term, person_photo_score, rank, score_photo
from eventlens.settings import CategoryRule, CurationSettings

RULES = CurationSettings()


def _decisions(
    eyes_open: bool | None = True, smile: float = 0.2, well_exposed: bool = True, looking_away: bool = False
) -> FaceDecisions:
    return FaceDecisions(
        eyes_open_score=None if eyes_open is None else float(eyes_open),
        eyes_open=eyes_open,
        smile_score=smile,
        smile=smile >= 0.5,
        mouth_open=False,
        sharp=True,
        well_exposed=well_exposed,
        looking_away=looking_away,
        expression="eyes_closed" if eyes_open is False else ("smiling" if smile >= 0.5 else "neutral"),
    )


def _face(person: str, category: str, sharpness: float = 0.8, **decisions: object) -> ScoredFace:
    return ScoredFace(person, category, _decisions(**decisions), sharpness)  # type: ignore[arg-type]


def _photo(name: str, *faces: ScoredFace, sharpness: float = 0.6, **kw: object) -> PhotoInput:
    return PhotoInput(name, f"sha-{name}", sharpness, True, list(faces), **kw)  # type: ignore[arg-type]


def _score(photo: PhotoInput, rules: CurationSettings = RULES) -> float:
    return score_photo(photo, rules).final_score


def _rules_with(category: str, **changes: object) -> CurationSettings:
    categories = dict(RULES.categories)
    categories[category] = categories[category].model_copy(update=changes)
    return RULES.model_copy(update={"categories": categories})


# --- requirements and penalties ----------------------------------------------------------------------


def test_a_main_face_with_closed_eyes_disqualifies_the_photo() -> None:
    closed = score_photo(_photo("a.jpg", _face("person_001", "main", eyes_open=False, smile=1.0)), RULES)
    weak = score_photo(_photo("z.jpg", _face("", "other"), sharpness=0.0), RULES)
    assert closed.disqualified and not weak.disqualified
    assert closed.final_score > weak.final_score  # better score, still ranked after it
    assert [s.photo for s in rank([closed, weak])] == ["z.jpg", "a.jpg"]
    assert "REQUIRED_EYES_OPEN" in closed.results_string


def _laughing_face_measurements(iris_shows: bool, with_darkness: bool = True) -> dict[str, object]:
    """A broadly laughing face (wide, lifted, open mouth) whose eyes are narrowed to an EAR of ~0.13, as
    the eye model would measure them: the iris shows between the lids (the model's lids sit inside the
    visible opening, as on real laughing eyes), or the eyes are shut (skin and a lash line)."""
    if iris_shows:
        crop, outline = synthetic_eye(opening_px=6.0, iris=True, outline_opening_px=3.6)
    else:
        crop, outline = synthetic_eye(opening_px=3.6, iris=False, lash_px=2.0)
    ear, dark = eye_aspect_ratio16(outline), iris_dark_height(crop, outline)
    return {
        "ear_right": ear,
        "ear_left": ear,
        "iris_dark_right": dark if with_darkness else None,
        "iris_dark_left": dark if with_darkness else None,
        "mouth_width": 1.05,
        "mouth_lift": 0.13,
        "mouth_opening": 0.4,
        "mouth_gap": 0.18,
        "corners_below_eyes": 0.9,
        "lip_below_nose": 0.18,
        "yaw_deg": 0.0,
        "pitch_deg": 0.0,
        "roll_deg": 0.0,
        "sharpness": 0.9,
        "brightness": 0.5,
        "clipped_high": 0.0,
        "clipped_low": 0.0,
        "size_ratio": 0.2,
    }


def _laughing_main_photo(name: str, **kw: bool) -> PhotoInput:
    d = decide(_laughing_face_measurements(**kw), RULES, "mediapipe_iris_int8")
    assert d is not None and d.smile
    return _photo(name, ScoredFace("person_001", "main", d, 0.9))


def test_a_laughing_main_person_with_narrowed_open_eyes_does_not_disqualify_the_photo() -> None:
    laughing = score_photo(_laughing_main_photo("laugh.jpg", iris_shows=True), RULES)
    assert not laughing.disqualified
    assert "REQUIRED_EYES_OPEN" not in laughing.results_string and "eyes=open" in laughing.results_string
    shut = score_photo(_laughing_main_photo("shut.jpg", iris_shows=False), RULES)
    assert shut.disqualified  # the same lid opening with no iris between the lids: closed
    # the eye aspect ratio alone (photos analysed before the iris dark height) called both closed
    assert score_photo(
        _laughing_main_photo("old.jpg", iris_shows=True, with_darkness=False), RULES
    ).disqualified


def test_without_the_requirement_closed_eyes_are_only_penalised() -> None:
    rules = _rules_with("main", require_eyes_open=False)
    closed = score_photo(_photo("a.jpg", _face("person_001", "main", eyes_open=False, smile=1.0)), rules)
    weak = score_photo(_photo("z.jpg", _face("", "other"), sharpness=0.0), rules)
    assert not closed.disqualified and "REQUIRED_EYES_OPEN" not in closed.results_string
    assert [s.photo for s in rank([closed, weak])] == ["a.jpg", "z.jpg"]
    opened = _score(_photo("a.jpg", _face("person_001", "main", eyes_open=True, smile=1.0)), rules)
    assert opened - closed.final_score == pytest.approx(
        rules.categories["main"].eyes_closed_penalty, abs=1e-3
    )


def test_any_category_can_require_open_eyes() -> None:
    photo = _photo("a.jpg", _face("person_007", "other", eyes_open=False))
    assert not score_photo(photo, RULES).disqualified
    assert score_photo(photo, _rules_with("other", require_eyes_open=True)).disqualified


def test_unknown_eyes_never_disqualify_or_penalise() -> None:
    unknown = _photo("a.jpg", _face("person_001", "main", eyes_open=None))
    opened = _photo("a.jpg", _face("person_001", "main", eyes_open=True))
    assert not score_photo(unknown, RULES).disqualified
    assert _score(unknown) == _score(opened)
    assert "eyes=unknown" in score_photo(unknown, RULES).results_string


def test_important_closed_eyes_cost_more_than_other_closed_eyes() -> None:
    def drop(category: str) -> float:
        opened = _score(_photo("a.jpg", _face("person_002", category, eyes_open=True)))
        closed = _score(_photo("a.jpg", _face("person_002", category, eyes_open=False)))
        return opened - closed

    assert drop("main") > drop("important") > drop("other") > 0
    assert drop("important") == pytest.approx(RULES.categories["important"].eyes_closed_penalty, abs=1e-3)
    assert drop("other") == pytest.approx(RULES.categories["other"].eyes_closed_penalty, abs=1e-3)


@pytest.mark.parametrize("category", ["main", "important", "other"])
@given(st.floats(0, 1), st.floats(0, 1))
def test_a_broader_smile_never_lowers_the_score(category: str, a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert _score(_photo("a.jpg", _face("p", category, smile=low))) <= _score(
        _photo("a.jpg", _face("p", category, smile=high))
    )


def test_smiles_raise_the_score_by_category_weight() -> None:
    def gain(category: str) -> float:
        return _score(_photo("a.jpg", _face("p", category, smile=1.0))) - _score(
            _photo("a.jpg", _face("p", category, smile=0.0))
        )

    assert gain("main") > gain("important") > gain("other") > 0
    assert gain("main") == pytest.approx(RULES.categories["main"].smile_reward, abs=1e-3)


def test_bad_exposure_looking_away_and_duplicates_are_penalised() -> None:
    base = _photo("a.jpg", _face("person_001", "main"))
    face = base.faces[0]
    assert face.decisions is not None
    dark = replace(base, faces=[replace(face, decisions=replace(face.decisions, well_exposed=False))])
    away = replace(base, faces=[replace(face, decisions=replace(face.decisions, looking_away=True))])
    dull = replace(base, well_exposed=False)
    copy = replace(base, duplicate_group=4, duplicate_pick=False)
    assert _score(base) - _score(dark) == pytest.approx(RULES.exposure_penalty, abs=1e-3)
    assert _score(base) - _score(away) == pytest.approx(RULES.looking_away_penalty, abs=1e-3)
    assert _score(base) - _score(dull) == pytest.approx(RULES.exposure_penalty, abs=1e-3)
    assert _score(base) - _score(copy) == pytest.approx(RULES.duplicate_penalty, abs=1e-3)
    assert "exposure=bad" in score_photo(dark, RULES).results_string
    assert "looking_away" in score_photo(away, RULES).results_string
    assert "near_duplicate_of_group=4" in score_photo(copy, RULES).results_string


def test_sharper_photos_and_faces_score_higher() -> None:
    assert _score(_photo("a.jpg", sharpness=0.9)) > _score(_photo("a.jpg", sharpness=0.1))
    assert _score(_photo("a.jpg", _face("p", "main", sharpness=0.9))) > _score(
        _photo("a.jpg", _face("p", "main", sharpness=0.1))
    )
    assert _score(_photo("a.jpg", sharpness=None)) == _score(_photo("a.jpg", sharpness=0.0))  # type: ignore[arg-type]


def test_other_faces_count_as_their_average() -> None:
    """A crowd of strangers does not outweigh the people who matter: other faces are averaged."""
    one = _photo("a.jpg", _face("", "other"))
    crowd = _photo("a.jpg", *[_face("", "other") for _ in range(30)])
    assert _score(crowd) == pytest.approx(_score(one), abs=1e-3)
    main = _photo("a.jpg", _face("person_001", "main"))
    assert _score(main) > _score(crowd)


def test_an_unmeasured_face_counts_its_presence_only() -> None:
    photo = _photo("a.jpg", ScoredFace("person_001", "main", None, 0.0), sharpness=0.0)
    result = score_photo(photo, RULES)
    assert result.final_score == pytest.approx(RULES.categories["main"].presence)
    assert "person_001:main unmeasured" in result.results_string


def test_an_unknown_category_is_scored_as_other() -> None:
    assert face_term(_face("p", "vip"), RULES)[0] == pytest.approx(face_term(_face("p", "other"), RULES)[0])


# --- ranking and explanations ------------------------------------------------------------------------


def test_rank_orders_qualified_by_score_then_path() -> None:
    scores = [
        score_photo(_photo(name, *faces, sharpness=s), RULES)
        for name, faces, s in [
            ("c.jpg", (), 0.5),
            ("b.jpg", (), 0.5),
            ("a.jpg", (_face("person_001", "main", eyes_open=False),), 1.0),
            ("d.jpg", (_face("person_001", "main"),), 0.5),
        ]
    ]
    assert [s.photo for s in rank(scores)] == ["d.jpg", "b.jpg", "c.jpg", "a.jpg"]
    assert rank(list(reversed(scores))) == rank(scores)


def test_results_string_explains_every_term() -> None:
    photo = _photo(
        "a.jpg",
        _face("person_003", "other", eyes_open=False),
        _face("person_001", "main", smile=0.91, sharpness=0.75),
        _face("person_002", "important", eyes_open=False),
        _face("", "other"),
        duplicate_group=2,
        duplicate_pick=False,
    )
    text = score_photo(photo, RULES).results_string
    parts = text.split("; ")
    assert parts[0] == "person_001:main eyes=open smile=0.91 sharp=0.75"  # main first
    assert parts[1].startswith("person_002:important eyes=closed")  # then important
    assert parts[2].startswith("person_003:other eyes=closed")  # then named others
    assert parts[3] == "+1 other faces (0 with eyes closed)"  # the rest counted
    assert parts[-1] == "photo sharp=0.60 near_duplicate_of_group=2"
    assert score_photo(photo, RULES).persons == ("person_001", "person_002", "person_003")


def test_results_string_counts_closed_eyes_among_the_faces_it_does_not_name() -> None:
    """Named others with closed eyes are described by name; the count covers the unnamed rest only."""
    named_closed = [_face(f"person_00{i}", "other", eyes_open=False) for i in range(1, 4)]
    crowd = [_face("", "other", eyes_open=True), _face("", "other", eyes_open=False)]
    text = score_photo(_photo("a.jpg", *named_closed, *crowd), RULES).results_string
    assert text.count("eyes=closed") == 3
    assert "+2 other faces (1 with eyes closed)" in text


def test_only_three_other_persons_are_named() -> None:
    others = [_face(f"person_01{i}", "other") for i in range(5)]
    text = score_photo(_photo("a.jpg", *others), RULES).results_string
    assert [p.split(":")[0] for p in text.split("; ")[:3]] == ["person_010", "person_011", "person_012"]
    assert "person_013" not in text and "+2 other faces" in text


def test_a_persons_own_face_dominates_their_best_photos() -> None:
    good = _face("person_002", "other", smile=0.9)
    bad = _face("person_002", "other", eyes_open=False)
    busy = score_photo(_photo("a.jpg", bad, _face("person_001", "main", smile=1.0)), RULES)
    plain = score_photo(_photo("b.jpg", good), RULES)
    assert busy.final_score > plain.final_score
    assert person_photo_score(good, plain, RULES) > person_photo_score(bad, busy, RULES)


def test_scores_come_from_the_rules_only() -> None:
    """Same inputs and rules, same result; a rule change moves exactly its term."""
    photo = _photo("a.jpg", _face("person_001", "main", smile=0.5), _face("", "other"))
    assert score_photo(photo, RULES) == score_photo(photo, RULES)
    richer = RULES.model_copy(
        update={
            "categories": {
                **RULES.categories,
                "main": CategoryRule(presence=10.0, eyes_closed_penalty=4.0, smile_reward=2.0),
            }
        }
    )
    main_presence = RULES.categories["main"].presence
    expected_gain = (10.0 - main_presence) * (1 + RULES.face_sharpness_weight * 0.8)
    assert _score(photo, richer) - _score(photo) == pytest.approx(expected_gain, abs=1e-3)
