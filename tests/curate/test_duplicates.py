"""Near-duplicate groups (:func:`eventlens.curate.duplicates.near_duplicate_groups`).

Groups are the connected components of "hashes at most ``max_hamming`` bits apart and, when both photos
have a capture time, at most ``max_seconds`` apart": an equivalence relation, numbered in input order.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from eventlens.attributes.image_quality import hamming_distance
from eventlens.curate.duplicates import near_duplicate_groups

T0 = datetime(2026, 6, 1, 14, 0, 0)
BASES = (0x0123_4567_89AB_CDEF, 0xFEDC_BA98_7654_3210, 0x0F0F_0F0F_F0F0_F0F0)


@st.composite
def photo_sets(draw: st.DrawFn) -> tuple[list[int | None], list[datetime | None]]:
    """Photos whose hashes are a few bits from one of three far-apart bases (so near-duplicates occur),
    some without a hash, with capture times in bursts, some without one."""
    n = draw(st.integers(0, 25))
    hashes: list[int | None] = []
    times: list[datetime | None] = []
    for _ in range(n):
        if draw(st.booleans()) and draw(st.booleans()) and draw(st.booleans()):
            hashes.append(None)
        else:
            h = draw(st.sampled_from(BASES))
            for bit in draw(st.lists(st.integers(0, 63), max_size=8)):
                h ^= 1 << bit
            hashes.append(h)
        seconds = draw(st.one_of(st.none(), st.integers(0, 300)))
        times.append(None if seconds is None else T0 + timedelta(seconds=seconds))
    return hashes, times


def _close(
    hashes: list[int | None], times: list[datetime | None], i: int, j: int, max_hamming: int, max_s: float
) -> bool:
    """The documented pairwise relation, written out independently."""
    a, b = hashes[i], hashes[j]
    if a is None or b is None or hamming_distance(a, b) > max_hamming:
        return False
    ta, tb = times[i], times[j]
    return ta is None or tb is None or abs((ta - tb).total_seconds()) <= max_s


def _components(n: int, close: object) -> list[set[int]]:
    """Connected components by depth-first search (``close(i, j)`` -> bool)."""
    seen: set[int] = set()
    result = []
    for start in range(n):
        if start in seen:
            continue
        stack, comp = [start], {start}
        while stack:
            i = stack.pop()
            for j in range(n):
                if j not in comp and close(i, j):  # type: ignore[operator]
                    comp.add(j)
                    stack.append(j)
        seen |= comp
        result.append(comp)
    return result


def _partition(groups: list[int]) -> list[set[int]]:
    by_group: dict[int, set[int]] = {}
    for i, g in enumerate(groups):
        by_group.setdefault(g, set()).add(i)
    return sorted(by_group.values(), key=min)


max_bits = st.integers(0, 12)
max_seconds = st.sampled_from([0.0, 5.0, 30.0, 120.0])


@given(photo_sets(), max_bits, max_seconds)
def test_groups_are_the_connected_components_of_the_near_duplicate_relation(
    photos: tuple[list[int | None], list[datetime | None]], bits: int, seconds: float
) -> None:
    hashes, times = photos
    groups = near_duplicate_groups(hashes, times, bits, seconds)
    assert len(groups) == len(hashes)
    expected = _components(len(hashes), lambda i, j: _close(hashes, times, i, j, bits, seconds))
    assert _partition(groups) == expected


@given(photo_sets(), max_bits, max_seconds)
def test_groups_are_numbered_in_input_order(
    photos: tuple[list[int | None], list[datetime | None]], bits: int, seconds: float
) -> None:
    """Group k is first seen before group k + 1, the numbers are 0..k-1, and the same input gives the
    same numbers."""
    hashes, times = photos
    groups = near_duplicate_groups(hashes, times, bits, seconds)
    first_seen: list[int] = []
    for g in groups:
        if g not in first_seen:
            first_seen.append(g)
    assert first_seen == list(range(len(first_seen)))
    assert near_duplicate_groups(list(hashes), list(times), bits, seconds) == groups


@given(photo_sets(), max_bits, max_seconds, st.randoms(use_true_random=False))
def test_grouping_does_not_depend_on_the_input_order(
    photos: tuple[list[int | None], list[datetime | None]], bits: int, seconds: float, rnd: object
) -> None:
    hashes, times = photos
    order = list(range(len(hashes)))
    rnd.shuffle(order)  # type: ignore[attr-defined]
    shuffled = near_duplicate_groups([hashes[i] for i in order], [times[i] for i in order], bits, seconds)
    back = [0] * len(order)
    for position, i in enumerate(order):
        back[i] = shuffled[position]
    assert _partition(back) == _partition(near_duplicate_groups(hashes, times, bits, seconds))


@given(photo_sets(), max_bits, max_seconds)
def test_a_looser_threshold_only_merges_groups(
    photos: tuple[list[int | None], list[datetime | None]], bits: int, seconds: float
) -> None:
    hashes, times = photos
    tight = near_duplicate_groups(hashes, times, bits, seconds)
    loose = near_duplicate_groups(hashes, times, bits + 4, seconds * 2)
    for i in range(len(hashes)):
        for j in range(len(hashes)):
            if tight[i] == tight[j]:
                assert loose[i] == loose[j]


def test_a_burst_drifting_slowly_is_one_group() -> None:
    """a~b and b~c but a and c too far apart: still one group (transitive)."""
    a = BASES[0]
    b = a ^ 0b1111_1111  # 8 bits from a
    c = b ^ (0b1111_1111 << 8)  # 8 bits from b, 16 from a
    times = [T0, T0 + timedelta(seconds=20), T0 + timedelta(seconds=40)]  # a..c 40 s apart
    assert near_duplicate_groups([a, b, c], times, 10, 30) == [0, 0, 0]
    assert near_duplicate_groups([a, c], [times[0], times[2]], 10, 30) == [0, 1]


def test_the_time_limit_separates_identical_photos() -> None:
    h = BASES[1]
    assert near_duplicate_groups([h, h], [T0, T0 + timedelta(seconds=31)], 10, 30) == [0, 1]
    assert near_duplicate_groups([h, h], [T0, T0 + timedelta(seconds=30)], 10, 30) == [0, 0]
    assert near_duplicate_groups([h, h], [T0, None], 10, 30) == [0, 0]  # a missing time does not separate
    assert near_duplicate_groups([h, h], [None, None], 10, 0) == [0, 0]


def test_photos_without_a_hash_are_never_grouped() -> None:
    assert near_duplicate_groups([None, None, BASES[0]], [T0, T0, T0], 64, 30) == [0, 1, 2]


def test_high_bit_hashes_and_exact_thresholds() -> None:
    top = 1 << 63
    assert near_duplicate_groups([top, top | 1, 0b111], [None] * 3, 1, 30) == [0, 0, 1]
    assert near_duplicate_groups([2**64 - 1, 0], [None, None], 63, 30) == [0, 1]
    assert near_duplicate_groups([2**64 - 1, 0], [None, None], 64, 30) == [0, 0]
    assert near_duplicate_groups([], [], 10, 30) == []


def test_many_photos_are_grouped_across_blocks() -> None:
    """More photos than several comparison blocks: a pair split across blocks is still found."""
    hashes: list[int | None] = [((i * 0x9E37_79B9_7F4A_7C15) % 2**64) for i in range(1500)]
    hashes[1400] = hashes[3]
    groups = near_duplicate_groups(hashes, [None] * len(hashes), 0, 30)
    assert groups[1400] == groups[3]
    assert len(set(groups)) == 1499
