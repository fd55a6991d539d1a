"""File names in the export: never a reserved name, never two alike (case-insensitively), always short
enough for a rank prefix, and the same on every export."""

from __future__ import annotations

import hashlib
import os

from hypothesis import given
from hypothesis import strategies as st

from eventlens.export.names import RESERVED_NAMES, file_names, fit, name_key
from eventlens.export.safe_files import FS_NAME_MAX_BYTES, NAME_MAX_BYTES


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def test_names_that_need_no_change_are_kept() -> None:
    names = file_names([(_sha("a"), "x/IMG_1.jpg"), (_sha("b"), "IMG_2.jpg")])
    assert names == {_sha("a"): "IMG_1.jpg", _sha("b"): "IMG_2.jpg"}


def test_reserved_names_are_renamed_whatever_their_case() -> None:
    photos = [(_sha(n), f"d/{n}") for n in ("metadata.json", "BEST", "Summary.CSV", "unassigned")]
    names = file_names(photos)
    for sha, rel in photos:
        stem, suffix = os.path.splitext(rel.split("/")[-1])
        assert names[sha] == f"{stem}__{sha[:10]}{suffix}"
        assert name_key(names[sha]) not in {name_key(r) for r in RESERVED_NAMES}


def test_a_name_like_a_disambiguated_one_is_never_shared() -> None:
    a, b, c = _sha("a"), _sha("b"), _sha("c")
    names = file_names([(a, "a/p.jpg"), (b, "b/p.jpg"), (c, f"c/p__{a[:10]}.jpg")])
    assert names[c] == f"p__{a[:10]}.jpg"  # its own name, unique as it is
    assert names[a] == f"p__{a[:16]}.jpg"  # the usual tag is taken: more of the hash
    assert names[b] == f"p__{b[:10]}.jpg"


def test_case_clashes_are_both_renamed() -> None:
    a, b = _sha("a"), _sha("b")
    assert file_names([(a, "P.JPG"), (b, "p.jpg")]) == {a: f"P__{a[:10]}.JPG", b: f"p__{b[:10]}.jpg"}


def test_long_names_are_shortened_keeping_the_extension() -> None:
    long_ascii, long_utf8 = "L" * 251 + ".jpg", "é" * 125 + ".jpeg"  # 255 and 255 bytes
    names = file_names([(_sha("a"), long_ascii), (_sha("b"), long_utf8)])
    for sha, name in names.items():
        assert len(os.fsencode(name)) <= NAME_MAX_BYTES
        assert len(os.fsencode("0001_" + name)) <= FS_NAME_MAX_BYTES
        assert name.endswith(f"__{sha[:10]}.jpg") or name.endswith(f"__{sha[:10]}.jpeg")
    assert fit("ab", "__x", ".jpg", max_bytes=9) == "ab__x.jpg"
    assert fit("abc", "__x", ".jpg", max_bytes=9) == "ab__x.jpg"


@given(
    st.lists(
        st.text(
            st.characters(blacklist_characters="/\0", blacklist_categories=("Cs",)), min_size=1, max_size=90
        ).filter(lambda n: n not in (".", "..")),
        min_size=1,
        max_size=12,
    ),
    st.randoms(use_true_random=False),
)
def test_names_are_unique_safe_and_deterministic(stems: list[str], rnd: object) -> None:
    photos = [(_sha(f"{i}"), f"d{i % 3}/{stem * 3}") for i, stem in enumerate(stems)]
    names = file_names(photos)
    keys = [name_key(n) for n in names.values()]
    assert len(set(keys)) == len(photos)
    assert not set(keys) & {name_key(r) for r in RESERVED_NAMES}
    assert all(len(os.fsencode(n)) <= NAME_MAX_BYTES and "/" not in n and n for n in names.values())
    shuffled = list(photos)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert file_names(shuffled) == names
