"""Offline person tags and captions (eventlens/deliver/tags.py) on hand-made facts."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from eventlens.curate.background import background_brightness
from eventlens.deliver.tags import FaceFacts, PhotoFacts, person_tags, tags_for_persons, time_of_day


def _photo(i: int, *faces: FaceFacts, hour: int | None = None, group: int | None = None) -> PhotoFacts:
    when = datetime(2026, 6, 1, hour, 30) if hour is not None else None
    return PhotoFacts(f"{i:064x}", when, i if group is None else group, faces)


def _face(person: str, smile: bool | None = False, eyes: bool | None = True) -> FaceFacts:
    return FaceFacts(person, smile, eyes)


def test_smiling_portrait_evening_with_companions() -> None:
    photos = [
        _photo(1, _face("p1", True), hour=19),
        _photo(2, _face("p1", True), _face("p2"), hour=20),
        _photo(3, _face("p1", False), _face("p2"), _face("p3"), _face(""), hour=18),
        _photo(4, _face("p2"), _face("p3"), hour=9),
    ]
    names = {"p1": "Ana", "p2": "Ben", "p3": "p3"}
    tags = person_tags("p1", photos, names)
    assert tags.tags == ("photos:3", "smiling", "portrait", "evening", "with:Ben")
    assert tags.caption == (
        "Ana appears in 3 photos, 1 of them alone, 1 in groups of 4 or more, mostly in the evening. "
        "Smiling in 2 of 3 judged faces. Most often with Ben (2 photos)."
    )


def test_eyes_closed_in_a_burst_needs_closed_and_open_in_one_burst() -> None:
    burst = [_photo(1, _face("p", eyes=False), group=7), _photo(2, _face("p", eyes=True), group=7)]
    assert "eyes-closed-in-burst" in person_tags("p", burst, {}).tags
    apart = [_photo(1, _face("p", eyes=False), group=1), _photo(2, _face("p", eyes=True), group=2)]
    assert "eyes-closed-in-burst" not in person_tags("p", apart, {}).tags
    unknown = [_photo(1, _face("p", eyes=None), group=3), _photo(2, _face("p", eyes=True), group=3)]
    assert "eyes-closed-in-burst" not in person_tags("p", unknown, {}).tags


def test_rarely_smiling_groups_and_no_time() -> None:
    photos = [_photo(i, _face("p"), _face("a"), _face("b"), _face("c")) for i in range(6)]
    tags = person_tags("p", photos, {"p": "p", "a": "a", "b": "b", "c": "c"})
    assert tags.tags[:3] == ("photos:6", "rarely-smiling", "group-photos")
    assert [t for t in tags.tags if t.startswith("with:")] == ["with:a", "with:b", "with:c"]
    assert "mostly" not in tags.caption


def test_hidden_or_unknown_companions_are_not_named() -> None:
    photos = [_photo(i, _face("p"), _face("hidden")) for i in range(3)]
    assert person_tags("p", photos, {"p": "p"}).tags == ("photos:3",)


def test_time_of_day_buckets() -> None:
    hours = {h: time_of_day(datetime(2026, 1, 1, h)) for h in range(24)}
    assert hours[4] == "night" and hours[5] == "morning" and hours[12] == "afternoon"
    assert hours[17] == "evening" and hours[21] == "night" and hours[0] == "night"


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", ""]), st.booleans(), st.booleans()), max_size=12))
def test_deterministic_and_every_person_tagged(faces: list[tuple[str, bool, bool]]) -> None:
    photos = [_photo(i, _face(p, s, e)) for i, (p, s, e) in enumerate(faces)]
    names = {"a": "A", "b": "B", "c": "C"}
    first = tags_for_persons(names, photos)
    assert first == tags_for_persons(names, list(reversed(photos)))
    assert set(first) == set(names) and all(t.caption for t in first.values())


def test_background_brightness() -> None:
    # a 100x100 photo of mean 0.5 with a 50x50 face of 0.9: the other 7500 px average (5000-2250)/7500
    assert background_brightness(0.5, 100, 100, [((0, 0, 50, 50), 0.9)]) == (0.5 * 10000 - 0.9 * 2500) / 7500
    assert background_brightness(0.4, 100, 100, []) == 0.4
    assert background_brightness(0.4, 100, 100, [((-10, -10, 200, 200), 0.4)]) is None  # no background left
    assert background_brightness(None, 100, 100, []) is None
    assert background_brightness(0.1, 100, 100, [((0, 0, 60, 60), 1.0)]) == 0.0  # clipped
