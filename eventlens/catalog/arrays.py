"""Arrays in the catalog: little-endian float32 bytes, shape known from the column's meaning."""

from __future__ import annotations

from typing import overload

import numpy as np

_DTYPE = np.dtype("<f4")


def to_blob(array: np.ndarray | None) -> bytes | None:
    if array is None:
        return None
    return np.ascontiguousarray(array, dtype=_DTYPE).tobytes()


@overload
def from_blob(blob: bytes, shape: tuple[int, ...] = ...) -> np.ndarray: ...
@overload
def from_blob(blob: None, shape: tuple[int, ...] = ...) -> None: ...
@overload
def from_blob(blob: bytes | None, shape: tuple[int, ...] = ...) -> np.ndarray | None: ...
def from_blob(blob: bytes | None, shape: tuple[int, ...] = (-1,)) -> np.ndarray | None:
    if blob is None:
        return None
    return np.frombuffer(blob, dtype=_DTYPE).reshape(shape).astype(np.float32)
