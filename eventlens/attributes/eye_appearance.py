"""Is there an iris between the lids? A measurement of the eye crop the iris model already saw.

The eye aspect ratio (EAR) of the iris model's outline says how far apart the lids are; a broad laugh
narrows open eyes to the EAR of closed ones (0.13-0.23 against 0.07-0.25 on the development labels). What
still differs is what lies between the lids: an open eye shows its iris, a dark patch as tall as the lid
opening; a closed eye shows skin and the thin dark line of the lashes.

:func:`iris_dark_heights` measures that on the model's own 64x64 crop and outline: in the middle 60 % of the
eye (where the iris sits when the person looks roughly ahead), the tallest column of pixels darker than
:data:`DARK_FRACTION` times the skin just below the lower lid, counted between the lids (plus
:data:`LID_MARGIN` of the eye width on either side), in units of the eye width. Open eyes mostly give
0.15-0.35, closed eyes 0-0.18 (the lash line), and laughing open eyes keep their iris height. Numpy only,
~25 microseconds per eye.

The constants were chosen on the development part of the hand labels (docs/curation.md): a fraction of
0.5 or 0.7 of the skin, or margins of 0.03 or 0.08, separated open from closed eyes less well.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["DARK_FRACTION", "LID_MARGIN", "CENTRAL_SHARE", "iris_dark_heights", "iris_dark_height"]

#: a pixel is dark below this fraction of the skin's luma
DARK_FRACTION = 0.6
#: rows counted reach this share of the eye width above the upper lid and below the lower one
LID_MARGIN = 0.05
#: share of the eye width, centred, whose columns are searched (the iris; not the corners' shadows)
CENTRAL_SHARE = 0.6
#: the skin reference: luma median of the band this far below the lower lid (shares of the eye width)
SKIN_BAND = (0.08, 0.30)
#: outlines narrower than this (crop pixels) are not measured
_MIN_WIDTH_PX = 4.0
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _sorted_line(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(points[:, 0], kind="stable")
    return points[order, 0], points[order, 1]


def iris_dark_height(crop: np.ndarray, outline: np.ndarray) -> float:
    """The dark height of one eye: ``crop`` (h, w, 3) RGB (float 0..1 or uint8), ``outline`` (16, 2) the
    iris model's eye outline in continuous crop coordinates (pixel ``i`` covers ``[i, i + 1)``; 0..8 lower
    lid, 9..15 upper lid). NaN when the outline is too narrow or no skin lies below it."""
    o = np.asarray(outline, dtype=np.float64)
    x_lo, x_hi = sorted((float(o[0, 0]), float(o[8, 0])))
    width = x_hi - x_lo
    h, w = crop.shape[:2]
    if not (width >= _MIN_WIDTH_PX and math.isfinite(width)):
        return float("nan")
    side = (1.0 - CENTRAL_SHARE) / 2 * width
    # columns whose centres (i + 0.5) lie strictly inside the central share
    c0 = max(0, math.floor(x_lo + side - 0.5) + 1)
    c1 = min(w, math.ceil(x_hi - side - 0.5))
    if c1 <= c0:
        return float("nan")
    xc = np.arange(c0, c1) + 0.5
    lower = np.interp(xc, *_sorted_line(o[0:9]))
    upper = np.interp(xc, *_sorted_line(o[[0, 9, 10, 11, 12, 13, 14, 15, 8]]))
    # rows that can matter: from above the upper lid's margin to below the skin band
    r0 = max(0, math.floor(float(upper.min()) - LID_MARGIN * width - 0.5))
    r1 = min(h, math.ceil(float(lower.max()) + SKIN_BAND[1] * width + 0.5))
    if r1 <= r0:
        return float("nan")
    luma = np.asarray(crop[r0:r1, c0:c1], dtype=np.float32) @ _LUMA  # (rows, columns)
    ys = np.arange(r0, r1)[:, None] + 0.5
    band = (ys > lower + SKIN_BAND[0] * width) & (ys < lower + SKIN_BAND[1] * width)
    skin_values = luma[band]
    if not len(skin_values):
        return float("nan")
    v = np.sort(skin_values)  # the median, without np.median's overhead (~50 us)
    skin = float(v[(len(v) - 1) // 2] + v[len(v) // 2]) / 2
    between = (ys > upper - LID_MARGIN * width) & (ys < lower + LID_MARGIN * width)
    dark = np.count_nonzero(between & (luma < DARK_FRACTION * skin), axis=0)
    return float(dark.max() / width)


def iris_dark_heights(crops: np.ndarray, outlines: np.ndarray) -> np.ndarray:
    """:func:`iris_dark_height` of each eye: ``crops`` (m, h, w, 3) RGB (float 0..1 or uint8),
    ``outlines`` (m, 16, 2) in their crop coordinates -> (m,) float64."""
    c = np.asarray(crops)
    o = np.asarray(outlines, dtype=np.float64)
    if c.ndim != 4 or c.shape[-1] != 3 or o.shape != (len(c), 16, 2):
        raise ValueError(f"need crops (m, h, w, 3) and outlines (m, 16, 2), got {c.shape} and {o.shape}")
    return np.array([iris_dark_height(c[k], o[k]) for k in range(len(c))], dtype=np.float64)
