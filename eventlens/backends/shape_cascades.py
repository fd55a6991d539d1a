"""dlib's 68-point shape predictor with fewer cascade levels: the same model file, cut after level N.

An ensemble-of-regression-trees predictor (Kazemi & Sullivan, 2014) refines the face shape in a cascade
of levels of 500 trees each; dlib's 68-point model has 15 levels (dlib's trainer defaults to 10). The
per-face cost is proportional to the levels kept: it is memory-bound, every tree reads one 544-byte leaf
out of ~65 MB. :func:`truncated_model` writes a copy of the model file that keeps the first ``levels``
levels (and their feature-pixel definitions) and is otherwise byte-identical, so dlib loads and runs it
unchanged.

On the hand-labelled faces (BENCHMARKS.md section 3) 12 levels decide eyes, smiles and open mouths as well
as 15 (balanced accuracy within +-0.01; points move 0.6 % of the face size on average) for ~25 % less
time; 10 levels lose 0.03 on eyes.

The file format (dlib's ``serialize``): integers are a control byte (low nibble: number of bytes that
follow; 0x80: negative) and that many little-endian bytes; a float is two integers (mantissa,
exponent). The model is ``version, initial_shape (matrix: -rows, -cols, floats), forests (vector of
levels, each a vector of trees: splits (idx1, idx2, float thresh), leaf values (matrices)), anchor_idx
(per level: vector of ints), deltas (per level: vector of 2-D float vectors)``. Finding the boundaries
means stepping over ~33 million integers: ~1.5 s, once; the result is cached under ``cache_dir``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from eventlens.backends.cache_files import write_atomically

__all__ = ["LEVELS_IN_MODEL", "truncated_model", "truncate"]

LEVELS_IN_MODEL = 15
"""Cascade levels of dlib's ``shape_predictor_68_face_landmarks.dat``."""


class _Tokens:
    """A cursor over dlib's serialized integers."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def int_(self) -> int:
        control = self.data[self.pos]
        size = control & 0x0F
        end = self.pos + 1 + size
        if size == 0 or size > 8 or end > len(self.data):
            raise ValueError(f"not a dlib shape predictor: bad integer at byte {self.pos}")
        value = int.from_bytes(self.data[self.pos + 1 : end], "little")
        self.pos = end
        return -value if control & 0x80 else value

    def skip(self, count: int) -> None:
        data, pos = self.data, self.pos
        for _ in range(count):
            pos += 1 + (data[pos] & 0x0F)
        if pos > len(data):
            raise ValueError("not a dlib shape predictor: truncated file")
        self.pos = pos

    def skip_matrix(self) -> None:
        rows, cols = self.int_(), self.int_()
        self.skip(abs(rows * cols) * 2)  # floats: mantissa and exponent


def _pack_int(value: int) -> bytes:
    sign = 0x80 if value < 0 else 0
    body = abs(value).to_bytes(max(1, (abs(value).bit_length() + 7) // 8), "little")
    return bytes([len(body) | sign]) + body


def truncate(data: bytes, levels: int) -> bytes:
    """The shape-predictor file ``data`` with only its first ``levels`` cascade levels (ValueError when
    ``data`` is not a dlib shape predictor or has fewer levels)."""
    try:
        return _truncate(data, levels)
    except IndexError:
        raise ValueError("not a dlib shape predictor: the file ends inside the model") from None


def _truncate(data: bytes, levels: int) -> bytes:
    t = _Tokens(data)
    if t.int_() != 1:
        raise ValueError("not a dlib shape predictor of serialization version 1")
    t.skip_matrix()  # initial shape
    head_end = t.pos
    n_levels = t.int_()
    if not 1 <= levels <= n_levels:
        raise ValueError(f"the model has {n_levels} cascade levels; cannot keep {levels}")
    level_starts = [t.pos]
    for _ in range(n_levels):
        for _ in range(t.int_()):  # trees
            t.skip(t.int_() * 4)  # splits: idx1, idx2, thresh (float: two integers)
            for _ in range(t.int_()):  # leaves
                t.skip_matrix()
        level_starts.append(t.pos)
    sections = [data[:head_end], _pack_int(levels), data[level_starts[0] : level_starts[levels]]]
    for per_point in (1, 4):  # anchor_idx: one integer per feature pixel; deltas: two floats
        if t.int_() != n_levels:
            raise ValueError("not a dlib shape predictor: feature pixels do not match the levels")
        starts = [t.pos]
        for _ in range(n_levels):
            t.skip(t.int_() * per_point)
            starts.append(t.pos)
        sections += [_pack_int(levels), data[starts[0] : starts[levels]]]
    if t.pos != len(data):
        raise ValueError(f"not a dlib shape predictor: {len(data) - t.pos} bytes after the model")
    return b"".join(sections)


def truncated_model(source: Path, levels: int, cache_dir: Path) -> Path:
    """A copy of the model ``source`` cut to ``levels`` cascade levels, made once under ``cache_dir``
    (named after the source's sha256, written atomically); ``source`` itself when nothing is cut."""
    if levels == LEVELS_IN_MODEL:
        return Path(source)
    data = Path(source).read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:16]
    target = Path(cache_dir) / "models" / f"{Path(source).stem}_{levels}levels_{digest}.dat"
    if target.is_file():
        return target
    cut = truncate(data, levels)
    write_atomically(target, lambda f: f.write(cut))
    return target
