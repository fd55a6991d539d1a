"""Keyset pagination of the read model: :class:`Page` and its opaque cursors.

A listing is sorted by a key that is unique per item (its sort columns, then a primary key as the
tie-break). A page holds up to ``limit`` items; its ``next_cursor`` encodes the key of its last item, and
the next page is the items whose key is greater (``after=next_cursor``). Unlike an offset, a cursor stays
on its item while items are added or removed before it: no item is skipped or shown twice, and each page
is an index range scan however deep it is.

A cursor is the URL-safe base64 of the JSON ``[listing, *key]``, without padding. Clients must treat it as
opaque; one that does not decode to a key of the same listing is a :class:`BadCursorError`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from eventlens.errors import BadCursorError, InputError

T = TypeVar("T")
R = TypeVar("R")

#: a sort key's values, as a cursor holds them
Key = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """Items of a listing, in its order; pass ``next_cursor`` as ``after`` for the next page (None: none)."""

    items: list[T]
    next_cursor: str | None


def encode_cursor(listing: str, key: Key) -> str:
    raw = json.dumps([listing, *key], separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, listing: str, types: Sequence[type[str] | type[int]]) -> Key:
    """The key of ``cursor``, a cursor of ``listing`` whose key has values of ``types``; BadCursorError if it
    is not one."""
    problem = (
        f"{cursor[:40]!r} is not a page cursor of {listing}: pass the next_cursor of the previous page "
        "unchanged (none for the first page)"
    )
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        value = json.loads(raw.decode("utf-8"))
    except (binascii.Error, UnicodeError, ValueError):  # not base64, not UTF-8, not JSON
        raise BadCursorError(problem) from None
    if (
        not isinstance(value, list)
        or len(value) != 1 + len(types)
        or value[0] != listing
        or not all(type(v) is t for v, t in zip(value[1:], types, strict=True))  # bool is no int here
    ):
        raise BadCursorError(problem)
    return tuple(value[1:])


def check_limit(limit: int | None) -> None:
    if limit is not None and limit < 1:
        raise InputError(f"a page holds at least one item (limit={limit}); give no limit for all items")


def paginate(
    rows: Sequence[R], limit: int | None, listing: str, key: Callable[[R], Key]
) -> tuple[list[R], str | None]:
    """Cut ``rows`` (a query's result with up to ``limit + 1`` rows) to a page; the cursor after it, if
    more rows follow."""
    if limit is None or len(rows) <= limit:
        return list(rows), None
    kept = list(rows[:limit])
    return kept, encode_cursor(listing, key(kept[-1]))
