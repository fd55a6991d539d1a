"""Face-aware crop boxes: pure geometry, no pixels.

Boxes are ``x1, y1, x2, y2`` in pixels of the photo as displayed (EXIF orientation applied); face boxes
may be floats, crop boxes are integers. :func:`face_crop` returns the largest crop of a given aspect
ratio that holds every chosen face with a margin, placing the faces' centre on a third line where the
photo leaves room (left or right third, upper third), and among equally good places one whose edges cut
no other face. When the chosen faces do not fit the ratio, it falls back to the crop that keeps the most
important faces whole and cuts none of them, and says why (:attr:`CropBox.reason`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Box = tuple[float, float, float, float]
#: extra margin above a face (hair, forehead) as a multiple of the side margin
TOP_MARGIN_FACTOR = 1.5
#: crop sizes tried, as shares of the largest crop, when the chosen faces cannot all be kept
_FALLBACK_SCALES = (1.0, 0.85, 0.7, 0.55, 0.4, 0.3, 0.2)


@dataclass(frozen=True)
class CropBox:
    """A crop box and how it was found. ``inside``/``cut``: indices of chosen faces wholly inside the crop
    / partly inside it (cut by its border; empty unless no crop of the ratio could avoid it)."""

    box: tuple[int, int, int, int]
    fallback: bool
    reason: str | None
    inside: tuple[int, ...]
    cut: tuple[int, ...]
    others_cut: int  # faces that were not chosen, cut by the crop's border

    def as_dict(self) -> dict[str, object]:
        return {
            "box": list(self.box),
            "fallback": self.fallback,
            "reason": self.reason,
            "faces_inside": list(self.inside),
            "faces_cut": list(self.cut),
            "other_faces_cut": self.others_cut,
        }


def parse_ratio(text: str) -> tuple[int, int]:
    """``"4:5"`` -> ``(4, 5)``; raises :class:`ValueError` with what was expected."""
    parts = text.strip().split(":")
    try:
        w, h = (int(p) for p in parts)
    except ValueError:
        raise ValueError(f"a crop ratio looks like 4:5 (width:height), got {text!r}") from None
    if w <= 0 or h <= 0 or w > 100 or h > 100:
        raise ValueError(f"crop ratio {text!r}: both sides must be integers from 1 to 100")
    return w, h


def ratio_name(ratio: tuple[int, int]) -> str:
    """Folder name of a ratio: ``(4, 5)`` -> ``"4x5"`` (a colon is not allowed in every file system)."""
    return f"{ratio[0]}x{ratio[1]}"


def largest_crop_size(width: int, height: int, ratio: tuple[int, int]) -> tuple[int, int]:
    """Width and height of the largest crop of ``ratio`` in a ``width`` x ``height`` photo (± 1 px)."""
    rw, rh = ratio
    if width * rh >= height * rw:
        return min(width, max(1, round(height * rw / rh))), height
    return width, min(height, max(1, round(width * rh / rw)))


def clip_box(box: Sequence[float], width: int, height: int) -> Box:
    x1, y1, x2, y2 = (float(v) for v in box)
    x1, x2 = min(max(x1, 0.0), width), min(max(x2, 0.0), width)
    y1, y2 = min(max(y1, 0.0), height), min(max(y2, 0.0), height)
    return x1, y1, max(x1, x2), max(y1, y2)


def with_margin(box: Sequence[float], margin: float, width: int, height: int) -> Box:
    """``box`` grown by ``margin`` times its size on each side (``TOP_MARGIN_FACTOR`` times more above),
    clipped to the photo."""
    x1, y1, x2, y2 = clip_box(box, width, height)
    fw, fh = x2 - x1, y2 - y1
    return clip_box(
        (x1 - margin * fw, y1 - TOP_MARGIN_FACTOR * margin * fh, x2 + margin * fw, y2 + margin * fh),
        width,
        height,
    )


def _union(boxes: Sequence[Box]) -> Box:
    a = np.asarray(boxes, dtype=np.float64)
    return float(a[:, 0].min()), float(a[:, 1].min()), float(a[:, 2].max()), float(a[:, 3].max())


def _centre(box: Box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def _candidates(extra: Sequence[float], lo: int, hi: int) -> np.ndarray:
    """Integer positions ``lo..hi`` from ``extra`` (rounded both ways, clamped), with both ends."""
    values = {lo, hi}
    for v in extra:
        if math.isfinite(v):
            values.update({min(max(math.floor(v), lo), hi), min(max(math.ceil(v), lo), hi)})
    return np.asarray(sorted(values), dtype=np.int64)


def _relations(boxes: np.ndarray, xs: np.ndarray, ys: np.ndarray, cw: int, ch: int) -> tuple[np.ndarray, ...]:
    """For every box and every crop position (x, y): wholly inside, and cut (partly inside)."""
    if len(boxes) == 0:
        shape = (0, len(xs), len(ys))
        return np.zeros(shape, dtype=bool), np.zeros(shape, dtype=bool)
    bx1, by1, bx2, by2 = (boxes[:, i][:, None] for i in range(4))
    in_x = (xs[None, :] <= bx1) & (xs[None, :] + cw >= bx2)
    in_y = (ys[None, :] <= by1) & (ys[None, :] + ch >= by2)
    over_x = (xs[None, :] < bx2) & (xs[None, :] + cw > bx1)
    over_y = (ys[None, :] < by2) & (ys[None, :] + ch > by1)
    inside = in_x[:, :, None] & in_y[:, None, :]
    overlap = over_x[:, :, None] & over_y[:, None, :]
    return inside, overlap & ~inside


def _thirds_targets(centre: tuple[float, float], cw: int, ch: int) -> tuple[list[float], list[float]]:
    """Crop positions that put ``centre`` on the left or right third line and on the upper third line."""
    cx, cy = centre
    return [cx - cw / 3, cx - 2 * cw / 3], [cy - ch / 3]


def _distance(xs: np.ndarray, ys: np.ndarray, tx: list[float], ty: list[float]) -> np.ndarray:
    dx = np.min(np.abs(xs[:, None] - np.asarray(tx)[None, :]), axis=1)
    dy = np.min(np.abs(ys[:, None] - np.asarray(ty)[None, :]), axis=1)
    distance: np.ndarray = dx[:, None] + dy[None, :]
    return distance


def _faces_array(boxes: Sequence[Sequence[float]], width: int, height: int) -> np.ndarray:
    clipped = [clip_box(b, width, height) for b in boxes]
    return np.asarray(clipped, dtype=np.float64).reshape(-1, 4)


def _result(
    x: int,
    y: int,
    cw: int,
    ch: int,
    faces: np.ndarray,
    others: np.ndarray,
    fallback: bool,
    reason: str | None,
) -> CropBox:
    xs, ys = np.asarray([x]), np.asarray([y])
    inside, cut = _relations(faces, xs, ys, cw, ch)
    _, other_cut = _relations(others, xs, ys, cw, ch)
    return CropBox(
        (int(x), int(y), int(x + cw), int(y + ch)),
        fallback,
        reason,
        tuple(int(i) for i in np.flatnonzero(inside[:, 0, 0])),
        tuple(int(i) for i in np.flatnonzero(cut[:, 0, 0])),
        int(other_cut[:, 0, 0].sum()),
    )


def _fit_all(
    width: int, height: int, cw: int, ch: int, required: Box, centre: tuple[float, float], others: np.ndarray
) -> tuple[int, int] | None:
    """Best position of a ``cw`` x ``ch`` crop holding ``required``, or ``None`` when none does."""
    x_lo, x_hi = max(0, math.ceil(required[2] - cw)), min(width - cw, math.floor(required[0]))
    y_lo, y_hi = max(0, math.ceil(required[3] - ch)), min(height - ch, math.floor(required[1]))
    if x_lo > x_hi or y_lo > y_hi:
        return None
    tx, ty = _thirds_targets(centre, cw, ch)
    ox = [v for o in others for v in (o[0] - cw, o[2] - cw, o[0], o[2])]
    oy = [v for o in others for v in (o[1] - ch, o[3] - ch, o[1], o[3])]
    xs = _candidates([*tx, *ox], x_lo, x_hi)
    ys = _candidates([*ty, *oy], y_lo, y_hi)
    _, other_cut = _relations(others, xs, ys, cw, ch)
    cost = other_cut.sum(axis=0) * 1e6 + _distance(xs, ys, tx, ty)
    i, j = np.unravel_index(int(np.argmin(cost)), cost.shape)
    return int(xs[i]), int(ys[j])


def _best_subset(
    width: int,
    height: int,
    ratio: tuple[int, int],
    faces: np.ndarray,
    weights: np.ndarray,
    others: np.ndarray,
) -> tuple[int, int, int, int] | None:
    """The crop (x, y, w, h) that keeps the most face weight whole and cuts no chosen face: the largest
    crop size first, smaller ones when every position of it cuts one."""
    full_w, full_h = largest_crop_size(width, height, ratio)
    for scale in _FALLBACK_SCALES:
        cw, ch = max(1, round(full_w * scale)), max(1, round(full_h * scale))
        cw = min(width, max(1, round(ch * ratio[0] / ratio[1])))
        edges_x = [v for f in faces for v in (f[0], f[2], f[0] - cw, f[2] - cw)]
        edges_y = [v for f in faces for v in (f[1], f[3], f[1] - ch, f[3] - ch)]
        xs = _candidates(edges_x, 0, width - cw)
        ys = _candidates(edges_y, 0, height - ch)
        inside, cut = _relations(faces, xs, ys, cw, ch)
        _, other_cut = _relations(others, xs, ys, cw, ch)
        valid = ~cut.any(axis=0) & inside.any(axis=0)
        if not valid.any():
            continue
        kept = np.tensordot(weights, inside.astype(np.float64), axes=1)
        heaviest = faces[int(np.argmax(weights))]
        tx, ty = _thirds_targets(_centre(tuple(heaviest)), cw, ch)
        cost = -kept * 1e9 + other_cut.sum(axis=0) * 1e4 + _distance(xs, ys, tx, ty)
        cost[~valid] = np.inf
        i, j = np.unravel_index(int(np.argmin(cost)), cost.shape)
        return int(xs[i]), int(ys[j]), cw, ch
    return None


def face_crop(
    width: int,
    height: int,
    ratio: tuple[int, int],
    faces: Sequence[Sequence[float]],
    margin: float = 0.3,
    weights: Sequence[float] | None = None,
    other_faces: Sequence[Sequence[float]] = (),
) -> CropBox:
    """The crop of ``ratio`` (width:height) for a ``width`` x ``height`` photo that keeps ``faces``.

    ``faces``: the chosen face boxes (must stay whole, with ``margin`` times their size around them);
    ``weights``: how much each matters when not all fit (default: its area); ``other_faces``: faces the
    crop's border should avoid cutting where it can. A photo without chosen faces gets the centred crop.
    """
    if width < 1 or height < 1:
        raise ValueError(f"photo size must be positive, got {width}x{height}")
    cw, ch = largest_crop_size(width, height, ratio)
    chosen = _faces_array(faces, width, height)
    chosen_nonempty = chosen[(chosen[:, 2] > chosen[:, 0]) & (chosen[:, 3] > chosen[:, 1])]
    others = _faces_array(other_faces, width, height)
    if len(chosen_nonempty) == 0:
        x, y = (width - cw) // 2, (height - ch) // 2
        return _result(x, y, cw, ch, chosen, others, False, None)
    centre = _centre(_union([tuple(b) for b in chosen_nonempty]))
    required = _union([with_margin(b, margin, width, height) for b in chosen_nonempty])
    pos = _fit_all(width, height, cw, ch, required, centre, others)
    if pos is not None:
        return _result(pos[0], pos[1], cw, ch, chosen, others, False, None)
    for reduced in (margin / 2, 0.0):
        required = _union([with_margin(b, reduced, width, height) for b in chosen_nonempty])
        pos = _fit_all(width, height, cw, ch, required, centre, others)
        if pos is not None:
            reason = f"the faces fit {ratio[0]}:{ratio[1]} only with a margin of {reduced:g} (not {margin:g})"
            return _result(pos[0], pos[1], cw, ch, chosen, others, True, reason)
    w = (
        np.asarray(weights, dtype=np.float64)
        if weights is not None
        else (chosen[:, 2] - chosen[:, 0]) * (chosen[:, 3] - chosen[:, 1])
    )
    if len(w) != len(chosen):
        raise ValueError(f"weights: expected {len(chosen)} values, got {len(w)}")
    sub = _best_subset(width, height, ratio, chosen, w, others)
    if sub is not None:
        x, y, sw, sh = sub
        result = _result(x, y, sw, sh, chosen, others, True, None)
        reason = (
            f"the chosen faces do not fit {ratio[0]}:{ratio[1]} together: "
            f"{len(result.inside)} of {len(chosen)} kept whole"
            + (f", crop {sw / cw:.0%} of the largest" if sw < cw else "")
        )
        return CropBox(result.box, True, reason, result.inside, result.cut, result.others_cut)
    x = min(max(0, round(centre[0] - cw / 2)), width - cw)
    y = min(max(0, round(centre[1] - ch / 2)), height - ch)
    result = _result(x, y, cw, ch, chosen, others, True, None)
    reason = f"the chosen faces overlap so that every {ratio[0]}:{ratio[1]} crop cuts one"
    return CropBox(result.box, True, reason, result.inside, result.cut, result.others_cut)


def portrait_crop(
    width: int,
    height: int,
    face: Sequence[float],
    ratio: tuple[int, int] = (4, 5),
    face_width_share: float = 0.38,
    face_centre_height: float = 0.4,
) -> CropBox:
    """Head-and-shoulders crop of one face: the face takes ``face_width_share`` of the crop's width, its
    centre at ``face_centre_height`` of the crop's height; shrunk (never below the face) and shifted to
    stay inside the photo. ``fallback`` when the face had to be cut or the crop is tighter than asked."""
    fx1, fy1, fx2, fy2 = clip_box(face, width, height)
    fw = max(fx2 - fx1, 1.0)
    cw = fw / face_width_share
    ch = cw * ratio[1] / ratio[0]
    max_w, max_h = largest_crop_size(width, height, ratio)
    shrink = min(1.0, max_w / cw, max_h / ch)
    cw_i = max(1, min(max_w, round(cw * shrink)))
    ch_i = max(1, min(max_h, round(cw_i * ratio[1] / ratio[0])))
    cx, cy = (fx1 + fx2) / 2, (fy1 + fy2) / 2
    x = min(max(0, round(cx - cw_i / 2)), width - cw_i)
    y = min(max(0, round(cy - face_centre_height * ch_i)), height - ch_i)
    faces = np.asarray([[fx1, fy1, fx2, fy2]])
    result = _result(x, y, cw_i, ch_i, faces, np.zeros((0, 4)), False, None)
    if result.cut or not result.inside:
        return CropBox(result.box, True, "the face does not fit a crop of this ratio", (), result.cut, 0)
    if shrink < 1.0:
        reason = f"the photo leaves room for {shrink:.0%} of the head-and-shoulders crop"
        return CropBox(result.box, True, reason, result.inside, (), 0)
    return result
