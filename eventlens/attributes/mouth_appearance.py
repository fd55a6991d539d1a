"""What the mouth looks like: an aligned grey crop of the mouth region and a compact descriptor of it.

dlib's 68 landmarks misplace the lips on small, blurred, bespectacled or turned faces, and the smile
measurements of :mod:`eventlens.attributes.face_geometry` inherit the error. The pixels themselves still
show a smile (raised corners, teeth, the cheek folds). :func:`aligned_patch` cuts the face region below
the eyes in a frame fixed by the eyes alone (rotated by the eye line, scaled by the inter-ocular
distance, IOD).

:func:`mouth_pixels` cuts a 24 x 16 px crop of 1.5 x 0.9 IOD around the lips' centre (the mean of the 20 lip
points: the crop moves with the lips, its scale and angle do not), normalised to zero mean and unit
spread; :func:`mouth_appearance` is the smile model's term from those pixels: a dot product with a fixed
template (``mouth_smile.npz``, loaded on first use), the principal components of the development faces'
crops weighted by a logistic regression together with the five mouth measurements
(``tools/fit_smile_appearance.py``; figures in docs/curation.md). Numpy and Pillow only, ~0.1 ms a face.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["MOUTH_CROP_IOD", "MOUTH_CROP_PX", "aligned_patch", "mouth_appearance", "mouth_pixels"]

#: (half width, half height) of the mouth crop around the lips' centre, in IOD
MOUTH_CROP_IOD = (0.75, 0.45)
#: (width, height) of the mouth crop in pixels
MOUTH_CROP_PX = (24, 16)
#: the template file: ``template`` (height, width) float32, applied to :func:`mouth_pixels`
TEMPLATE_PATH = Path(__file__).with_name("mouth_smile.npz")
#: spread (grey levels) added before dividing: a flat, featureless crop stays near zero
_SPREAD_FLOOR = 1.0


def _eye_line(landmarks68: np.ndarray) -> tuple[float, float, float, float, float] | None:
    """(midpoint x, midpoint y, cos, sin of the eye line, inter-ocular distance) from the centres of the six
    points of each eye; None when degenerate."""
    lm = np.asarray(landmarks68, dtype=np.float64)
    (rx, ry), (lx, ly) = lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)
    iod = math.hypot(lx - rx, ly - ry)
    if not (iod > 1e-3 and math.isfinite(iod)):
        return None
    return (rx + lx) / 2, (ry + ly) / 2, (lx - rx) / iod, (ly - ry) / iod, iod


def aligned_patch(
    image: np.ndarray | Image.Image,
    landmarks68: np.ndarray,
    region_iod: tuple[float, float, float, float],
    size_px: tuple[int, int],
) -> np.ndarray | None:
    """The grey pixels (float32 0..255, shape ``(height, width)`` of ``size_px = (width, height)``) of the
    rectangle ``region_iod = (x0, x1, y0, y1)`` of the face frame: origin at the eyes' midpoint (centres
    of the six points of each eye), x along the eye line towards the subject's left eye, y down, in IOD.
    ``landmarks68`` in ``image``'s pixels (pixel centres at integers). The region is cut from the photo,
    box-reduced by an integer factor so that no source pixel is skipped, and resampled bilinearly by
    Pillow; what lies outside the photo is black. None for a degenerate eye line."""
    line = _eye_line(landmarks68)
    return None if line is None else _patch(image, line, region_iod, size_px)


def _patch(
    image: np.ndarray | Image.Image,
    line: tuple[float, float, float, float, float],
    region_iod: tuple[float, float, float, float],
    size_px: tuple[int, int],
) -> np.ndarray:
    """:func:`aligned_patch` for the eye line ``line`` of :func:`_eye_line`."""
    mx, my, c, s, iod = line
    x0, x1, y0, y1 = region_iod
    w, h = size_px
    dx, dy = iod * (x1 - x0) / w, iod * (y1 - y0) / h  # source pixels per output pixel
    reduce = max(1, int(max(dx, dy)))
    # the region's corners in source pixels: mid + iod * (u * (c, s) + v * (-s, c))
    us, vs = (x0, x1, x0, x1), (y0, y0, y1, y1)
    xs = [mx + iod * (u * c - v * s) for u, v in zip(us, vs, strict=True)]
    ys = [my + iod * (u * s + v * c) for u, v in zip(us, vs, strict=True)]
    if isinstance(image, Image.Image):
        width_px, height_px = image.width, image.height
    else:
        height_px, width_px = image.shape[:2]
    bx0 = max(0, min(width_px - 1, math.floor(min(xs)) - reduce))
    by0 = max(0, min(height_px - 1, math.floor(min(ys)) - reduce))
    bx1 = max(bx0 + 1, min(width_px, math.ceil(max(xs)) + reduce + 1))
    by1 = max(by0 + 1, min(height_px, math.ceil(max(ys)) + reduce + 1))
    box = (bx0, by0, bx1, by1)
    if isinstance(image, Image.Image):  # reduce reads the box in place: no copy of the region
        region = image.reduce(reduce, box) if reduce > 1 else image.crop(box)
    else:
        region = Image.fromarray(np.ascontiguousarray(image[by0:by1, bx0:bx1]))
        region = region.reduce(reduce) if reduce > 1 else region
    if region.mode != "L":
        region = region.convert("L")
    # Pillow's affine map takes output coordinates (pixel i covers [i, i + 1)) to the reduced region's; a
    # source pixel centre p (landmark convention) lies at (p - b0 + 0.5) / reduce there
    k = 1.0 / reduce
    a, b = dx * c * k, -dy * s * k
    d, e = dx * s * k, dy * c * k
    ox = (mx + iod * (x0 * c - y0 * s) - bx0 + 0.5) * k
    oy = (my + iod * (x0 * s + y0 * c) - by0 + 0.5) * k
    out = region.transform((w, h), Image.Transform.AFFINE, (a, b, ox, d, e, oy), Image.Resampling.BILINEAR)
    return np.asarray(out, dtype=np.float32)


def mouth_pixels(image: np.ndarray | Image.Image, landmarks68: np.ndarray) -> np.ndarray | None:
    """The normalised mouth crop, ``(height, width)`` of :data:`MOUTH_CROP_PX`, float32: grey levels minus
    their mean, over their standard deviation (+ 1 grey level). ``landmarks68`` in ``image``'s pixels.
    None for a degenerate eye line."""
    line = _eye_line(landmarks68)
    if line is None:
        return None
    mx, my, c, s, iod = line
    lx, ly = (float(v) for v in np.asarray(landmarks68, dtype=np.float64)[48:68].mean(axis=0))
    lx, ly = lx - mx, ly - my
    cx, cy = (lx * c + ly * s) / iod, (-lx * s + ly * c) / iod  # the lips' centre in the face frame
    hw, hh = MOUTH_CROP_IOD
    patch = _patch(image, line, (cx - hw, cx + hw, cy - hh, cy + hh), MOUTH_CROP_PX)
    normalised: np.ndarray = (patch - patch.mean()) / (patch.std() + _SPREAD_FLOOR)
    return normalised.astype(np.float32)


@functools.cache
def _template() -> np.ndarray:
    with np.load(TEMPLATE_PATH) as data:
        template = np.asarray(data["template"], dtype=np.float32)
    if template.shape != MOUTH_CROP_PX[::-1]:
        raise ValueError(f"{TEMPLATE_PATH}: template of shape {template.shape}, need {MOUTH_CROP_PX[::-1]}")
    return template


def mouth_appearance(image: np.ndarray | Image.Image, landmarks68: np.ndarray) -> float | None:
    """The smile model's appearance term (logit units, 5th-95th percentile -1.1..1.4 on the labelled
    faces, larger for a smile): the template dot the
    normalised mouth crop of :func:`mouth_pixels`; None when there is no crop."""
    pixels = mouth_pixels(image, landmarks68)
    if pixels is None:
        return None
    return float(np.vdot(_template(), pixels))
