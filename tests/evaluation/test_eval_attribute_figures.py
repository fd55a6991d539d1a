"""The figures of the attribute evaluation: split selection, unknown answers, the photo bootstrap."""

from __future__ import annotations

import numpy as np

from eventlens.evaluation.attributes import (
    _Answers,
    _score,
    bootstrap_interval,
    photo_group,
    rows_of_split,
)


def _row(photo: str, split: str, dataset: str = "groups") -> dict[str, str]:
    return {"dataset": dataset, "photo": photo, "split": split, "x1": "0", "x2": "80"}


def test_rows_of_split_keep_copies_out_and_accept_files_without_a_split_column() -> None:
    rows = [_row("a.jpg", "dev"), _row("b.jpg", "test"), _row("c.jpg", "excluded")]
    assert [r["photo"] for r in rows_of_split(rows, "test")] == ["b.jpg"]
    assert [r["photo"] for r in rows_of_split(rows, "all")] == ["a.jpg", "b.jpg"]
    legacy = [{"dataset": "groups", "photo": "a.jpg"}]
    assert rows_of_split(legacy, "test") == legacy


def test_identity_photos_of_one_person_are_one_bootstrap_group() -> None:
    assert photo_group(_row("Ana/1.png", "test", "identities")) == "identities/Ana"
    assert photo_group(_row("Ana/1.png", "test", "groups")) == "groups/Ana/1.png"


def test_unknown_answers_are_counted_apart_and_as_open_by_the_scorer() -> None:
    a = _Answers()
    # 4 open eyes (one answered unknown, one called closed), 2 closed eyes (one called open)
    for truth, answer in [
        (True, True),
        (True, True),
        (True, None),
        (True, False),
        (False, False),
        (False, True),
    ]:
        a.truth.append(truth)
        a.answer.append(answer)
        a.value.append(1.0 if answer else 0.0)
        a.group.append(f"p{len(a.truth)}")
        a.tags.append(["laughing"] if truth else [])
    s = _score("eyes open", a)
    assert s.unknown == 1
    assert s.confusion == {"yes": {"yes": 2, "no": 1, "unknown": 1}, "no": {"yes": 1, "no": 1, "unknown": 0}}
    assert s.recall_positive == 2 / 3 and s.recall_negative == 0.5
    assert s.balanced_accuracy == (2 / 3 + 0.5) / 2
    assert s.balanced_accuracy_unknown_as_positive == (3 / 4 + 0.5) / 2
    assert s.by_tag == []  # a tag on fewer than 5 faces gives no figure


def test_bootstrap_interval_is_seeded_and_contains_the_estimate() -> None:
    rng = np.random.default_rng(1)
    truth = rng.random(300) < 0.2
    predicted = np.where(rng.random(300) < 0.85, truth, ~truth)
    groups = [f"photo{i // 3}" for i in range(300)]
    low, high = bootstrap_interval(truth, predicted, groups)
    assert (low, high) == bootstrap_interval(truth, predicted, groups)
    estimate = ((predicted[truth]).mean() + (~predicted[~truth]).mean()) / 2
    assert low < estimate < high
    assert 0.02 < high - low < 0.3
