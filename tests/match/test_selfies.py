"""match_users on synthetic embeddings: one record per user x photo (its best face), the threshold, the
order, exclusivity, the path through the event's clusters and its guards; largest_face; bucket."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventlens.match.confidence import confidence_of_distance, distance_of_confidence
from eventlens.match.selfies import Match, bucket, largest_face, match_users
from eventlens.settings import load_settings

DIM = 8


def unit(i: int, dim: int = DIM) -> np.ndarray:
    v = np.zeros(dim)
    v[i] = 1.0
    return v


def reference(
    users: Mapping[str, np.ndarray],
    keys: Sequence[str],
    faces: np.ndarray,
    min_confidence: float,
    clusters: Sequence[int] | None,
    exclusive: bool,
) -> list[Match]:
    """The documented rule, written out with loops."""

    def distance(selfies: np.ndarray, i: int) -> float:
        mean = selfies.mean(0)
        d = float(np.linalg.norm(faces[i] - mean))
        if clusters is not None and clusters[i] >= 0:
            members = [j for j in range(len(faces)) if clusters[j] == clusters[i]]
            centre = faces[members].mean(0)
            to_centre = max(
                float(np.linalg.norm(mean - centre)), min(float(np.linalg.norm(s - centre)) for s in selfies)
            )
            d = min(d, max(to_centre, float(np.linalg.norm(faces[i] - centre))))
        return d

    table = {u: [distance(np.atleast_2d(s), i) for i in range(len(faces))] for u, s in users.items()}
    out = []
    for u in sorted(users):
        best: dict[str, tuple[float, int]] = {}
        for i, key in enumerate(keys):
            d = table[u][i]
            if exclusive and any(table[v][i] < d for v in users):
                continue
            c = confidence_of_distance(d)
            if c >= min_confidence and (key not in best or c > best[key][0]):
                best[key] = (c, i)
        out += [Match(u, key, c, i) for key, (c, i) in best.items()]
    return sorted(out, key=lambda m: (m.user_id, -m.confidence, m.photo_key))


@st.composite
def events(draw: st.DrawFn) -> tuple[dict[str, np.ndarray], list[str], np.ndarray, list[int] | None]:
    """A few users near basis vectors, faces that are noisy copies of them or strangers, in a few
    photos, with or without cluster labels."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_users = draw(st.integers(1, 4))
    centres = [unit(i) * 1.4 for i in range(n_users)]
    users = {
        f"u{i}": centres[i] + rng.normal(0, 0.12, (draw(st.integers(1, 3)), DIM)) for i in range(n_users)
    }
    n_faces = draw(st.integers(0, 14))
    owners = [draw(st.integers(-1, n_users - 1)) for _ in range(n_faces)]  # -1: a stranger
    faces = np.array(
        [(centres[o] if o >= 0 else rng.normal(0, 0.8, DIM)) + rng.normal(0, 0.15, DIM) for o in owners]
    ).reshape(n_faces, DIM)
    keys = [f"p{draw(st.integers(0, 5))}" for _ in range(n_faces)]
    clusters = draw(st.none() | st.just([o if o >= 0 else -1 for o in owners]))
    return users, keys, faces, clusters


@given(events(), st.sampled_from([0.0, 0.3, 0.6, 0.91, 0.99]), st.booleans())
def test_match_users_follows_the_documented_rule(
    event: tuple[dict[str, np.ndarray], list[str], np.ndarray, list[int] | None],
    min_confidence: float,
    exclusive: bool,
) -> None:
    users, keys, faces, clusters = event
    found = match_users(users, keys, faces, min_confidence, face_clusters=clusters, exclusive=exclusive)
    expected = reference(users, keys, faces, min_confidence, clusters, exclusive)
    assert [(m.user_id, m.photo_key, m.face_index) for m in found] == [
        (m.user_id, m.photo_key, m.face_index) for m in expected
    ]
    np.testing.assert_allclose([m.confidence for m in found], [m.confidence for m in expected], atol=1e-9)
    pairs = [(m.user_id, m.photo_key) for m in found]
    assert len(pairs) == len(set(pairs)), "one record per user x photo"
    assert all(m.confidence >= min_confidence for m in found)
    assert all(keys[m.face_index] == m.photo_key for m in found)


def test_best_face_of_a_photo_is_the_record() -> None:
    users = {"ann": unit(0)[None]}
    faces = np.stack([unit(0) + 0.3 * unit(1), unit(0) + 0.1 * unit(2), unit(3), unit(0) + 0.2 * unit(1)])
    found = match_users(users, ["a", "a", "a", "b"], faces, 0.5)
    assert [(m.photo_key, m.face_index) for m in found] == [("a", 1), ("b", 3)]
    assert found[0].confidence == pytest.approx(confidence_of_distance(0.1))


def test_threshold_keeps_exactly_the_confident_records() -> None:
    users = {"ann": unit(0)[None]}
    gaps = [0.40, 0.44, 0.45, 0.46, 0.50, 0.60]
    faces = np.stack([unit(0) + g * unit(1) for g in gaps])
    keys = [f"p{i}" for i in range(len(gaps))]
    threshold = confidence_of_distance(0.455)
    found = match_users(users, keys, faces, threshold)
    assert sorted(m.photo_key for m in found) == ["p0", "p1", "p2"]
    assert [m.photo_key for m in found] == ["p0", "p1", "p2"], "highest confidence first"
    assert len(match_users(users, keys, faces, 0.0)) == len(gaps)


def test_ties_are_ordered_by_photo_key_and_lowest_row() -> None:
    users = {"bob": unit(1)[None], "ann": unit(0)[None]}
    same = unit(0) + 0.2 * unit(2)
    faces = np.stack([same, same, same, unit(1)])
    found = match_users(users, ["z", "m", "m", "q"], faces, 0.5)
    assert [(m.user_id, m.photo_key, m.face_index) for m in found] == [
        ("ann", "m", 1),
        ("ann", "z", 0),
        ("bob", "q", 3),
    ]
    assert found == match_users(dict(reversed(list(users.items()))), ["z", "m", "m", "q"], faces, 0.5)


def test_each_face_goes_to_its_best_user_only() -> None:
    # one face between two look-alike users, nearer to bob
    ann, bob = unit(0), unit(0) + 0.2 * unit(1)
    face = unit(0) + 0.15 * unit(1)
    users = {"ann": ann[None], "bob": bob[None]}
    both = match_users(users, ["p"], face[None], 0.5, exclusive=False)
    assert [m.user_id for m in both] == ["ann", "bob"]
    only = match_users(users, ["p"], face[None], 0.5)
    assert [m.user_id for m in only] == ["bob"]


def test_several_selfies_count_by_their_mean() -> None:
    selfies = np.stack([unit(0) + 0.3 * unit(1), unit(0) - 0.3 * unit(1)])  # mean: unit(0)
    faces = unit(0)[None]
    (m,) = match_users({"ann": selfies}, ["p"], faces, 0.0)
    assert m.confidence == 1.0


def _cluster_event() -> tuple[np.ndarray, list[int], np.ndarray]:
    """A cluster of 4 faces spread 0.3 around a centre, a stranger chained into it 0.7 from the centre,
    and a user vector 0.3 from the centre on another axis (0.42 from each member, 0.76 from the stranger)."""
    centre = 1.4 * unit(0)
    members = [centre + 0.3 * unit(1), centre - 0.3 * unit(1), centre + 0.3 * unit(2), centre - 0.3 * unit(2)]
    stranger = centre + 0.7 * unit(4)
    faces = np.stack([*members, stranger])
    labels = [7, 7, 7, 7, 7]
    user = centre + 0.3 * unit(3)
    return faces, labels, user


def test_event_clusters_reach_faces_far_from_the_selfie() -> None:
    faces, labels, user = _cluster_event()
    keys = ["a", "b", "c", "d", "stranger"]
    threshold = confidence_of_distance(0.35)
    assert match_users({"ann": user[None]}, keys, faces, threshold) == []
    found = match_users({"ann": user[None]}, keys, faces, threshold, face_clusters=labels)
    # the stranger moves the centre by 0.14: the user and the members are 0.33 from it, the stranger 0.56
    assert sorted(m.photo_key for m in found) == ["a", "b", "c", "d"]
    assert all(distance_of_confidence(m.confidence) < 0.35 for m in found)


def test_a_user_reaches_a_cluster_only_with_a_selfie_near_it() -> None:
    faces, labels, user = _cluster_event()
    keys = ["a", "b", "c", "d", "stranger"]
    # two selfies whose mean is `user`, each 0.67 from the cluster's centre
    selfies = np.stack([user + 0.6 * unit(5), user - 0.6 * unit(5)])
    threshold = confidence_of_distance(0.35)
    assert match_users({"ann": selfies}, keys, faces, threshold, face_clusters=labels) == []


def test_faces_without_a_cluster_are_compared_directly() -> None:
    faces, labels, user = _cluster_event()
    keys = ["a", "b", "c", "d", "stranger"]
    loose = [-1] * len(labels)
    direct = match_users({"ann": user[None]}, keys, faces, 0.0)
    assert match_users({"ann": user[None]}, keys, faces, 0.0, face_clusters=loose) == direct


def test_empty_inputs() -> None:
    assert match_users({}, ["p"], unit(0)[None], 0.5) == []
    assert match_users({"ann": unit(0)[None]}, [], np.zeros((0, DIM)), 0.5) == []


@pytest.mark.parametrize(
    ("users", "keys", "faces", "clusters", "message"),
    [
        ({"ann": np.zeros((0, DIM))}, ["p"], np.zeros((1, DIM)), None, "k >= 1"),
        ({"ann": np.zeros((1, DIM + 1))}, ["p"], np.zeros((1, DIM)), None, r"\(k, 8\)"),
        ({"ann": np.full((1, DIM), math.nan)}, ["p"], np.zeros((1, DIM)), None, "finite"),
        ({"ann": np.zeros((1, DIM))}, ["p", "q"], np.zeros((1, DIM)), None, "1 entries"),
        ({"ann": np.zeros((1, DIM))}, ["p"], np.zeros(DIM), None, r"\(n, d\)"),
        ({"ann": np.zeros((1, DIM))}, ["p"], np.zeros((1, DIM)), [1, 2], r"\(1,\)"),
    ],
)
def test_bad_input_is_refused(
    users: dict[str, np.ndarray], keys: list[str], faces: np.ndarray, clusters: list[int] | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        match_users(users, keys, faces, 0.5, face_clusters=clusters)


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_min_confidence_must_be_a_confidence(bad: float) -> None:
    with pytest.raises(ValueError, match="min_confidence"):
        match_users({"ann": unit(0)[None]}, ["p"], unit(0)[None], bad)


@given(
    st.lists(
        st.tuples(*(st.floats(0, 1000, allow_nan=False) for _ in range(4))).map(
            lambda t: (min(t[0], t[2]), min(t[1], t[3]), max(t[0], t[2]), max(t[1], t[3]))
        ),
        max_size=8,
    )
)
def test_largest_face_has_the_largest_area(boxes: list[tuple[float, float, float, float]]) -> None:
    index = largest_face(np.array(boxes).reshape(-1, 4))
    if not boxes:
        assert index is None
        return
    areas = [(x2 - x1) * (y2 - y1) for x1, y1, x2, y2 in boxes]
    assert index is not None
    assert areas[index] == max(areas)
    assert index == areas.index(max(areas)), "ties go to the first"


def test_largest_face_refuses_other_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(n, 4\)"):
        largest_face(np.zeros((2, 3)))


def test_bucket_follows_the_settings() -> None:
    settings = load_settings(match_definitely_confidence=0.9, match_probably_confidence=0.6)
    assert bucket(0.95, settings) == "definitely"
    assert bucket(0.9, settings) == "definitely"
    assert bucket(0.7, settings) == "probably"
    assert bucket(0.6, settings) == "probably"
    assert bucket(0.59, settings) == "ignore"
    defaults = load_settings()
    assert bucket(defaults.match_min_confidence, defaults) != "ignore", "default matches are shown"
