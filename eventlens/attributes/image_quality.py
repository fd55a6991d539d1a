"""Pixel measurements of faces and photos: focus, brightness, exposure clipping, perceptual hash.

All functions take uint8 RGB arrays (or Pillow images) and return numbers with documented ranges. Focus is
measured on a grey copy of about fixed size (faces: 96 px square; photos: reduced by an integer factor to a
long side of about 512 px, 384-640), so values are comparable across face and photo sizes: a small face
upscaled to 96 px is correctly judged soft.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

FACE_FOCUS_PX = 96
PHOTO_FOCUS_SIDE_PX = 512
#: Laplacian variance at which sharpness is 0.5: real faces of the labelled set score above it (10th
#: percentile 0.59 for faces under 60 px), the same faces blurred by a Gaussian of 2 % of the face size
#: score below it (90th percentile 0.37); see docs/curation.md
FOCUS_HALF_VARIANCE = 17.0
_CLIP_HIGH = 250
_CLIP_LOW = 5
_HASH_SIDE = 32
_HASH_BITS_SIDE = 8


def _grey(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb, dtype=np.float32)
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def laplacian_variance(grey: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of a grey image (0..255 scale); 0 for images under 3 px."""
    g = np.asarray(grey, dtype=np.float32)
    if g.shape[0] < 3 or g.shape[1] < 3:
        return 0.0
    lap = g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4.0 * g[1:-1, 1:-1]
    return float(lap.var())


def focus_score(laplacian_var: float) -> float:
    """Map a Laplacian variance to 0..1 (0.5 at :data:`FOCUS_HALF_VARIANCE`), monotonic."""
    v = max(laplacian_var, 0.0)
    return v / (v + FOCUS_HALF_VARIANCE)


@dataclass(frozen=True)
class Exposure:
    """``brightness`` mean luma 0..1; ``clipped_high`` / ``clipped_low`` share of pixels at >= 250 / <= 5."""

    brightness: float
    clipped_high: float
    clipped_low: float


def exposure(rgb: np.ndarray) -> Exposure:
    return exposure_of_grey(_grey(rgb))


def exposure_of_grey(luma: np.ndarray) -> Exposure:
    """:class:`Exposure` of grey values 0..255 (ITU-R 601 luma)."""
    luma = np.asarray(luma, dtype=np.float32)
    if luma.size == 0:
        return Exposure(0.0, 0.0, 0.0)
    return Exposure(
        float(luma.mean() / 255.0), float((luma >= _CLIP_HIGH).mean()), float((luma <= _CLIP_LOW).mean())
    )


def exposure_of_histogram(histogram: Sequence[int]) -> Exposure:
    """:class:`Exposure` from a 256-bin histogram of grey values (the same numbers as
    :func:`exposure_of_grey` on the pixels, without touching them again)."""
    h = np.asarray(histogram, dtype=np.float64)
    n = h.sum()
    if n == 0:
        return Exposure(0.0, 0.0, 0.0)
    return Exposure(
        float(h @ np.arange(256) / n / 255.0),
        float(h[_CLIP_HIGH:].sum() / n),
        float(h[: _CLIP_LOW + 1].sum() / n),
    )


def _face_region_box(
    width: int, height: int, box_xyxy: Sequence[float] | np.ndarray, inner: float
) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    cx, cy, hw, hh = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) * inner / 2, (y2 - y1) * inner / 2
    xa, xb = int(max(0, round(cx - hw))), int(min(width, round(cx + hw)))
    ya, yb = int(max(0, round(cy - hh))), int(min(height, round(cy + hh)))
    return xa, ya, max(xa, xb), max(ya, yb)


def face_region(rgb: np.ndarray, box_xyxy: Sequence[float] | np.ndarray, inner: float = 0.8) -> np.ndarray:
    """The central ``inner`` share of a face box (drops hair and background at the edges), clipped."""
    xa, ya, xb, yb = _face_region_box(rgb.shape[1], rgb.shape[0], box_xyxy, inner)
    return rgb[ya:yb, xa:xb]


def face_focus_and_exposure(
    image: np.ndarray | Image.Image, box_xyxy: Sequence[float] | np.ndarray
) -> tuple[float, Exposure]:
    """Focus (0..1) and exposure of a face, both from its centre resampled to a 96 px grey square (the
    resampling normalises focus for face size, and makes exposure cheap for large faces). ``image``: uint8
    RGB array, or RGB Pillow image of the same pixels (the same values, without copying the region
    twice)."""
    if isinstance(image, Image.Image):
        xa, ya, xb, yb = _face_region_box(image.width, image.height, box_xyxy, 0.8)
        crop = image.crop((xa, ya, xb, yb))
    else:
        crop = Image.fromarray(np.ascontiguousarray(face_region(image, box_xyxy)))
    if crop.width < 4 or crop.height < 4:
        return 0.0, exposure(np.asarray(crop))
    grey = np.asarray(crop.convert("L").resize((FACE_FOCUS_PX, FACE_FOCUS_PX), Image.Resampling.BILINEAR))
    return focus_score(laplacian_variance(grey)), exposure_of_grey(grey)


def face_sharpness(rgb: np.ndarray, box_xyxy: Sequence[float]) -> float:
    """Focus of a face, 0..1, measured on the face's centre resampled to 96 px (size-normalised)."""
    return face_focus_and_exposure(rgb, box_xyxy)[0]


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    return np.cos(np.pi * (2 * i + 1) * k / (2 * n))


_DCT32 = _dct_matrix(_HASH_SIDE)


def perceptual_hash(grey_image: Image.Image) -> int:
    """64-bit pHash: DCT of a 32x32 grey copy, sign of the 8x8 low frequencies against their median."""
    small = np.asarray(
        grey_image.convert("L").resize((_HASH_SIDE, _HASH_SIDE), Image.Resampling.BILINEAR, reducing_gap=2.0),
        dtype=np.float64,
    )  # reducing_gap: an integer box reduction first, then bilinear over >= 2x (a third of the time)
    coeffs = (_DCT32 @ small @ _DCT32.T)[:_HASH_BITS_SIDE, :_HASH_BITS_SIDE].ravel()
    bits = coeffs > np.median(coeffs[1:])
    return int(sum(1 << i for i, b in enumerate(bits) if b))


def hamming_distance(a: int, b: int) -> int:
    return int(bin((a ^ b) & (2**64 - 1)).count("1"))


@dataclass(frozen=True)
class PhotoQuality:
    """Whole-photo measurements: ``sharpness`` 0..1, exposure, and a 64-bit perceptual hash."""

    sharpness: float
    exposure: Exposure
    phash: int


def photo_quality(image: np.ndarray | Image.Image) -> PhotoQuality:
    """Focus, exposure and perceptual hash of a photo (uint8 RGB array or RGB Pillow image), measured on a
    grey copy box-averaged by the integer factor that brings its long side nearest to 512 px (the
    analysis passes the detector's ~1000 px copy: halved; an integer reduction costs a seventh of a
    bilinear resize to exactly 512 px, and gives Laplacian variances ~15 % higher)."""
    pil = image if isinstance(image, Image.Image) else Image.fromarray(np.ascontiguousarray(image))
    grey = pil.convert("L")
    factor = round(max(grey.size) / PHOTO_FOCUS_SIDE_PX)
    if factor >= 2:
        grey = grey.reduce(factor)
    return PhotoQuality(
        sharpness=focus_score(laplacian_variance(np.asarray(grey))),
        exposure=exposure_of_histogram(grey.histogram()),
        phash=perceptual_hash(grey),
    )
