"""EmbeddingIndex against a naive numpy search; add, remove, growth and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventlens.match.vector_index import EmbeddingIndex

DIM = 16


def naive(ids: list[int], vectors: np.ndarray, query: np.ndarray, k: int) -> list[tuple[int, float]]:
    d = np.sqrt(((vectors.astype(np.float64) - query.astype(np.float64)) ** 2).sum(1))
    order = np.argsort(d, kind="stable")[:k]
    return [(ids[i], float(d[i])) for i in order]


def assert_same_neighbours(
    got: list[tuple[int, float]], want: list[tuple[int, float]], distance_of: dict[int, float]
) -> None:
    """The same distances in the same order, and every id returned is at the distance reported (ids at
    equal distances may come in either order)."""
    assert len(got) == len(want)
    np.testing.assert_allclose([d for _, d in got], [d for _, d in want], atol=1e-5)
    assert len({i for i, _ in got}) == len(got)
    for i, d in got:
        assert distance_of[i] == pytest.approx(d, abs=1e-5)
    assert [d for _, d in got] == sorted(d for _, d in got)


@st.composite
def galleries(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(1, 120))
    vectors = rng.normal(0, 0.5, (n, DIM)).astype(np.float32)
    if draw(st.booleans()):  # exact duplicates and near-duplicates, where the expansion loses digits
        vectors[: n // 2] = vectors[0] + rng.normal(0, 1e-4, (n // 2, DIM)).astype(np.float32)
    queries = np.concatenate([rng.normal(0, 0.5, (3, DIM)), vectors[:2]]).astype(np.float32)
    return vectors, queries, draw(st.integers(1, 10))


@given(galleries())
def test_search_matches_a_naive_search(gallery: tuple[np.ndarray, np.ndarray, int]) -> None:
    vectors, queries, k = gallery
    ids = list(range(len(vectors)))
    index: EmbeddingIndex[int] = EmbeddingIndex(DIM)
    index.add(ids, vectors)
    results = index.search(queries, k)
    assert len(results) == len(queries)
    for query, got in zip(queries, results, strict=True):
        want = naive(ids, vectors, query, k)
        d = np.sqrt(((vectors.astype(np.float64) - query.astype(np.float64)) ** 2).sum(1))
        assert_same_neighbours(got, want, dict(enumerate(d.tolist())))


@given(galleries(), st.data())
def test_removed_ids_are_never_found(
    gallery: tuple[np.ndarray, np.ndarray, int], data: st.DataObject
) -> None:
    vectors, queries, k = gallery
    ids = list(range(len(vectors)))
    index: EmbeddingIndex[int] = EmbeddingIndex(DIM)
    index.add(ids, vectors)
    gone = data.draw(st.sets(st.sampled_from(ids)))
    assert index.remove([*gone, 10_000]) == len(gone), "unknown ids are ignored"
    kept = [i for i in ids if i not in gone]
    assert len(index) == len(kept) and sorted(index.ids) == kept
    for query, got in zip(queries, index.search(queries, k), strict=True):
        assert not {i for i, _ in got} & gone
        if kept:
            want = naive(kept, vectors[kept], query, k)
            d = np.sqrt(((vectors.astype(np.float64) - query.astype(np.float64)) ** 2).sum(1))
            assert_same_neighbours(got, want, dict(enumerate(d.tolist())))
        else:
            assert got == []


def test_distances_are_exact_near_zero() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(0, 1, (50, 128)).astype(np.float32)
    index: EmbeddingIndex[str] = EmbeddingIndex()
    index.add([f"f{i}" for i in range(50)], vectors)
    (best, *_), *_ = index.search(vectors[7], 3)
    assert best == ("f7", 0.0)


def test_growth_and_re_adding_after_removal() -> None:
    rng = np.random.default_rng(1)
    index: EmbeddingIndex[str] = EmbeddingIndex(DIM)
    for batch in range(5):  # beyond the initial capacity, in several batches
        index.add([f"{batch}-{i}" for i in range(50)], rng.normal(0, 1, (50, DIM)))
    assert len(index) == 250 and "4-49" in index
    target = rng.normal(0, 1, DIM)
    index.remove(["2-3"])
    index.add(["2-3"], target[None])
    assert index.search(target, 1) == [[("2-3", 0.0)]]


def test_add_refuses_duplicates_without_adding_anything() -> None:
    index: EmbeddingIndex[str] = EmbeddingIndex(DIM)
    index.add(["a"], np.ones((1, DIM)))
    with pytest.raises(ValueError, match="already in the index"):
        index.add(["b", "a"], np.ones((2, DIM)))
    with pytest.raises(ValueError, match="twice"):
        index.add(["c", "c"], np.ones((2, DIM)))
    assert index.ids == ["a"]


def test_small_and_empty_indexes() -> None:
    index: EmbeddingIndex[str] = EmbeddingIndex(DIM)
    assert index.search(np.zeros((2, DIM)), 5) == [[], []]
    index.add(["a", "b"], np.stack([np.zeros(DIM), np.ones(DIM)]))
    assert [i for i, _ in index.search(np.zeros(DIM), 5)[0]] == ["a", "b"], "k larger than the index"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda ix: ix.add(["a"], np.zeros((1, DIM + 1))), r"\(n, 16\)"),
        (lambda ix: ix.add(["a", "b"], np.zeros((1, DIM))), "2 ids for 1 vectors"),
        (lambda ix: ix.add(["a"], np.full((1, DIM), np.inf)), "finite"),
        (lambda ix: ix.search(np.zeros((1, 3)), 1), r"queries must have shape"),
        (lambda ix: ix.search(np.zeros(DIM), 0), "k must be >= 1"),
    ],
)
def test_bad_input_is_refused(call: object, message: str) -> None:
    index: EmbeddingIndex[str] = EmbeddingIndex(DIM)
    with pytest.raises(ValueError, match=message):
        call(index)  # type: ignore[operator]
