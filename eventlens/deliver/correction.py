"""Bounded automatic corrections: measure a photo, decide what to change, apply it.

The measurements are those of :mod:`eventlens.attributes.image_quality` (the ones the catalog stores):
mean luma and clipping of the photo, and the brightness of each face measured on its centre resampled
to 96 px, plus the contrast (1st to 99th percentile of luma) and the colour of near-grey pixels. The
exposure that must be in the target band (:class:`DeliverSettings`) is that of the faces (mean weighted
by face area) when the photo has faces, the photo's mean luma otherwise: a well-lit face on a dark stage
is a good photo. A photo whose exposure and contrast are in the band is left exactly as it is.
Otherwise one tone curve per channel is chosen, made of

    white balance gains (near-grey pixels made grey, partly) -> contrast stretch (levels) ->
    exposure gain (brightening only, never clipping more highlights) -> gamma (with a toe)

by scoring every curve of a small grid of gain x gamma on the luma histograms of the photo and of its
faces (exact for grey pixels, a few thousand dot products). Every factor is bounded by a setting. Colour
noise (estimated on the full-resolution pixels, after the curve) is smoothed in the chroma channels
only, so detail is kept; soft photos are gently sharpened; and when the result's focus measure would
still drop by more than ``sharpness_tolerance``, local contrast is raised until it does not.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from PIL import Image, ImageFilter

from eventlens.attributes.image_quality import PHOTO_FOCUS_SIDE_PX, PhotoQuality, photo_quality
from eventlens.settings import DeliverSettings

_FACE_PX = 96
_LEVELS = np.arange(256, dtype=np.float64) / 255.0
#: the corrected exposure aims this share of the band inside its edges
_BAND_INSET = 0.1
#: a cost per unit of |log factor|: of two curves that fix the exposure, the milder one wins
_MILDNESS = 0.02
_CLIP_LEVEL = 250 / 255
#: near-grey pixels for the white balance: chroma (max - min) / max below this, luma within these bounds
_GREY_CHROMA = 0.12
_GREY_LUMA = (0.2, 0.9)
_GREY_MIN_SHARE = 0.02
_WB_STRENGTH = 0.6
_LUMA = np.asarray([0.299, 0.587, 0.114])
#: strengths of the local-contrast step that keeps the focus measure (:func:`keep_sharpness`)
_LOCAL_CONTRAST_STEPS = (0.5, 1.0)
#: the gamma curve is x ** (1/gamma) shifted by this toe (see gamma_curve)
_TOE = 0.03
#: weight of the photo's own band in the choice of a curve for a photo with faces
_BACKGROUND_WEIGHT = 0.25


@dataclass(frozen=True)
class Measures:
    """What is measured on a photo (``face_brightness``: mean over its faces weighted by face area,
    ``None`` without faces)."""

    brightness: float
    clipped_high: float
    clipped_low: float
    contrast_spread: float
    face_brightness: float | None
    sharpness: float

    def as_dict(self) -> dict[str, float | None]:
        return {k: (None if v is None else round(v, 4)) for k, v in asdict(self).items()}


@dataclass
class Histograms:
    """Luma histograms (256 bins) of the photo and of each face, for scoring tone curves."""

    photo: np.ndarray
    faces: list[np.ndarray] = field(default_factory=list)  # each scaled to sum to the face's area
    grey_pixel_means: np.ndarray | None = None  # mean RGB (0..1) of near-grey pixels, if enough


def _band_error(value: float | None, lo: float, hi: float) -> float:
    if value is None:
        return 0.0
    return max(0.0, lo - value) + max(0.0, value - hi)


def exposure_error(m: Measures, s: DeliverSettings) -> float:
    """How far the exposure lies outside the target band (0 when inside): the faces' brightness when
    the photo has faces (the subject; a dark stage behind a well-lit face is not under-exposed), else
    the photo's mean brightness."""
    if m.face_brightness is not None:
        return _band_error(m.face_brightness, s.face_brightness_min, s.face_brightness_max)
    return _band_error(m.brightness, s.photo_brightness_min, s.photo_brightness_max)


def in_band(m: Measures, s: DeliverSettings) -> bool:
    """Exposure and contrast inside the target band: the photo is left unchanged."""
    return exposure_error(m, s) == 0.0 and m.contrast_spread >= s.contrast_min_spread


def reduced(image: Image.Image) -> Image.Image:
    """The copy the measures are taken on: box-reduced as :func:`photo_quality` reduces (long side
    ~512 px), so :func:`photo_quality` of it does not reduce again."""
    factor = round(max(image.size) / PHOTO_FOCUS_SIDE_PX)
    return image.reduce(factor) if factor >= 2 else image


def focus(image: Image.Image) -> float:
    """:func:`photo_quality`'s focus measure (0..1), from a box-reduced copy (the same reduction)."""
    return photo_quality(reduced(image)).sharpness


def _face_histogram(image: Image.Image, box: Sequence[float]) -> np.ndarray | None:
    """Histogram of the face's centre (the central 80 % of the box, as
    :func:`~eventlens.attributes.image_quality.face_region`) resampled to 96 px grey, as the analysis
    measures face brightness."""
    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy, hw, hh = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) * 0.4, (y2 - y1) * 0.4
    xa, xb = int(max(0, round(cx - hw))), int(min(image.width, round(cx + hw)))
    ya, yb = int(max(0, round(cy - hh))), int(min(image.height, round(cy + hh)))
    if xb - xa < 4 or yb - ya < 4:
        return None
    grey = image.crop((xa, ya, xb, yb)).convert("L").resize((_FACE_PX, _FACE_PX), Image.Resampling.BILINEAR)
    return np.asarray(grey.histogram(), dtype=np.float64)


def _area(box: Sequence[float]) -> float:
    return max(float(box[2]) - float(box[0]), 0.0) * max(float(box[3]) - float(box[1]), 0.0)


def _mean_brightness(face_histograms: list[np.ndarray], curve: np.ndarray = _LEVELS) -> float | None:
    """Brightness of the faces (histograms weighted by face area), after ``curve``."""
    if not face_histograms:
        return None
    total = sum(face_histograms[1:], face_histograms[0])
    return float(curve @ total / total.sum())


def _percentile(hist: np.ndarray, q: float) -> float:
    cdf = np.cumsum(hist)
    return float(np.searchsorted(cdf, q * cdf[-1]) / 255.0)


def _grey_pixel_means(rgb: np.ndarray) -> np.ndarray | None:
    px = rgb.reshape(-1, 3).astype(np.float32) / 255.0
    r, g, b = px[:, 0], px[:, 1], px[:, 2]  # channel-wise: a max along an axis of 3 is 20x slower
    hi, lo = np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)
    luma = px @ _LUMA.astype(np.float32)
    grey = (hi - lo < _GREY_CHROMA * np.maximum(hi, 1e-6)) & (luma > _GREY_LUMA[0]) & (luma < _GREY_LUMA[1])
    if grey.mean() < _GREY_MIN_SHARE:
        return None
    means: np.ndarray = px[grey].mean(axis=0).astype(np.float64)
    return means


def measure(
    image: Image.Image, face_boxes: Sequence[Sequence[float]], colour: bool = True
) -> tuple[Measures, Histograms]:
    """Measures of an RGB photo (any size; boxes in its pixels) and the histograms to score curves on.

    The photo is first box-reduced as :func:`photo_quality` reduces it (long side ~512 px), so a large
    photo costs little; faces are measured on the reduced copy too (resampled to 96 px either way).
    ``colour``: also measure the colour of near-grey pixels (for the white balance)."""
    return measure_reduced(reduced(image), image.width, face_boxes, colour)


def measure_reduced(
    small: Image.Image,
    full_width_px: int,
    face_boxes: Sequence[Sequence[float]],
    colour: bool = True,
    quality: PhotoQuality | None = None,
) -> tuple[Measures, Histograms]:
    """:func:`measure` of a photo ``full_width_px`` wide (boxes in its pixels) from its :func:`reduced`
    copy ``small`` (and, when already computed, :func:`photo_quality` of it)."""
    scale = small.width / full_width_px
    quality = photo_quality(small) if quality is None else quality
    hist = np.asarray(small.convert("L").histogram(), dtype=np.float64)
    boxes = [[float(v) * scale for v in b] for b in face_boxes]
    measured = [(h, _area(b)) for h, b in ((_face_histogram(small, b), b) for b in boxes) if h is not None]
    faces = [h * (a / h.sum()) for h, a in measured]  # each face weighs by its area
    face_b = _mean_brightness(faces)
    m = Measures(
        brightness=quality.exposure.brightness,
        clipped_high=quality.exposure.clipped_high,
        clipped_low=quality.exposure.clipped_low,
        contrast_spread=_percentile(hist, 0.99) - _percentile(hist, 0.01),
        face_brightness=face_b,
        sharpness=quality.sharpness,
    )
    return m, Histograms(hist, faces, _grey_pixel_means(np.asarray(small)) if colour else None)


def gamma_curve(x: np.ndarray, gamma: float) -> np.ndarray:
    """``x ** (1 / gamma)`` with a toe: its slope at black is bounded (``_TOE``), so lifting the
    shadows does not lift the noise and JPEG blocks of the blacks with them; 0 -> 0, 1 -> 1."""
    if gamma == 1.0:
        return x
    g = 1.0 / gamma
    low, high = _TOE**g, (1.0 + _TOE) ** g
    curve: np.ndarray = ((x + _TOE) ** g - low) / (high - low)
    return curve


@dataclass(frozen=True)
class Correction:
    """One tone curve per channel plus optional chroma smoothing and sharpening; identity by default."""

    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)
    black_point: float = 0.0  # levels: input black / white points (0..1)
    white_point: float = 1.0
    exposure_gain: float = 1.0
    gamma: float = 1.0  # > 1 brightens: output = input ** (1 / gamma)
    denoise_radius_px: float = 0.0
    noise_sigma: float | None = None
    sharpen_percent: int = 0
    sharpen_radius_px: float = 0.0
    local_contrast: float = 0.0  # set by keep_sharpness: detail added back at a coarse scale
    local_contrast_radius_px: int = 0

    @property
    def contrast(self) -> float:
        return 1.0 / (self.white_point - self.black_point)

    def tone(self, v: np.ndarray) -> np.ndarray:
        """The grey tone curve (levels, gain, gamma) on values 0..1."""
        x = np.clip((v - self.black_point) / (self.white_point - self.black_point), 0.0, 1.0)
        return gamma_curve(np.clip(x * self.exposure_gain, 0.0, 1.0), self.gamma)

    def lut(self) -> list[int]:
        """768-entry lookup table for :meth:`PIL.Image.Image.point` (R, G, B)."""
        out: list[int] = []
        for gain in self.white_balance:
            values = self.tone(np.clip(_LEVELS * gain, 0.0, 1.0))
            out += np.clip(np.round(values * 255.0), 0, 255).astype(int).tolist()
        return out

    def is_identity(self) -> bool:
        return self.tone_is_identity() and self.denoise_radius_px == 0 and self.sharpen_percent == 0

    def tone_is_identity(self) -> bool:
        return self.white_balance == (1.0, 1.0, 1.0) and self.lut()[:256] == list(range(256))

    def explain(self) -> dict[str, object]:
        """What changed and by how much (for metadata.json)."""
        return {
            "exposure_gain": round(self.exposure_gain, 3),
            "gamma": round(self.gamma, 3),
            "white_balance": [round(g, 3) for g in self.white_balance],
            "contrast": round(self.contrast, 3),
            "levels": [round(self.black_point, 3), round(self.white_point, 3)],
            "denoise": {"chroma_blur_px": round(self.denoise_radius_px, 2), "noise_sigma": self.noise_sigma},
            "sharpen": {"percent": self.sharpen_percent, "radius_px": round(self.sharpen_radius_px, 2)},
            "local_contrast": {"amount": self.local_contrast, "radius_px": self.local_contrast_radius_px},
        }


def _white_balance(h: Histograms, s: DeliverSettings) -> tuple[float, float, float]:
    if h.grey_pixel_means is None:
        return (1.0, 1.0, 1.0)
    means = np.maximum(h.grey_pixel_means, 1e-3)
    cast = means / means.mean()
    if np.max(np.abs(cast - 1.0)) < s.white_balance_min_cast:
        return (1.0, 1.0, 1.0)
    gains = (1.0 / cast) ** _WB_STRENGTH
    gains = gains / float(gains @ _LUMA)  # keep the luma of grey pixels
    gains = np.clip(gains, 1.0 / s.max_white_balance_gain, s.max_white_balance_gain)
    return (float(gains[0]), float(gains[1]), float(gains[2]))


def _levels(h: Histograms, m: Measures, s: DeliverSettings) -> tuple[float, float]:
    if m.contrast_spread >= s.contrast_min_spread or m.contrast_spread <= 0:
        return 0.0, 1.0
    p_lo, p_hi = _percentile(h.photo, 0.005), _percentile(h.photo, 0.995)
    stretch = min(s.max_contrast_stretch, (s.contrast_min_spread + 0.05) / m.contrast_spread)
    if p_hi > p_lo:
        stretch = min(stretch, 1.0 / (p_hi - p_lo))
    width = 1.0 / stretch
    mid = (_percentile(h.photo, 0.01) + _percentile(h.photo, 0.99)) / 2
    black = min(max(mid - width / 2, 0.0), 1.0 - width)
    return black, black + width


def _curve_errors(
    photo_b: np.ndarray, face_b: np.ndarray | None, m: Measures, s: DeliverSettings, inset: bool
) -> np.ndarray:
    """Exposure error of candidate curves (:func:`exposure_error`; with ``inset``, a value outside
    its band aims a little inside it); with faces, a quarter of the photo's own band error is added so
    the background is not pushed far out of its band."""
    pb = (s.photo_brightness_min, s.photo_brightness_max)
    fb = (s.face_brightness_min, s.face_brightness_max)

    def band(values: np.ndarray, lo: float, hi: float, now: float | None) -> np.ndarray:
        d = _BAND_INSET * (hi - lo) if inset and _band_error(now, lo, hi) > 0 else 0.0
        return np.maximum(0.0, lo + d - values) + np.maximum(0.0, values - (hi - d))

    if face_b is None:
        return band(photo_b, *pb, m.brightness)
    return band(face_b, *fb, m.face_brightness) + _BACKGROUND_WEIGHT * band(photo_b, *pb, None)


def _score_curves(
    h: Histograms, m: Measures, s: DeliverSettings, black: float, white: float
) -> tuple[float, float]:
    """The gain and gamma of the grid whose curve puts the exposure best into the (inset) band."""
    gains = np.geomspace(1.0, s.max_exposure_gain, 9)
    gammas = np.geomspace(1.0 / s.max_gamma, s.max_gamma, 41)
    x = np.clip((_LEVELS - black) / (white - black), 0.0, 1.0)
    base = np.clip(x[None, :] * gains[:, None], 0.0, 1.0)  # (gain, level)
    curves = np.stack([gamma_curve(base, g) for g in gammas], axis=1)  # (gain, gamma, level)
    n = h.photo.sum()
    photo_b = curves @ h.photo / n
    face_b = None
    if h.faces:
        total = sum(h.faces[1:], h.faces[0])
        face_b = curves @ total / total.sum()
    err = _curve_errors(photo_b, face_b, m, s, inset=True)
    clipped = (curves >= _CLIP_LEVEL) @ h.photo / n
    extra_clipping = np.maximum(0.0, clipped - max(m.clipped_high, 0.005) - 0.005)
    mild = np.abs(np.log(gains))[:, None] + np.abs(np.log(gammas))[None, :]
    cost = err + 2.0 * extra_clipping + _MILDNESS * mild
    i, j = np.unravel_index(int(np.argmin(cost)), cost.shape)
    return float(gains[i]), float(gammas[j])


def predicted_error(c: Correction, h: Histograms, s: DeliverSettings) -> float:
    """:func:`exposure_error` the photo would have after the tone curve of ``c`` (from the histograms)."""
    t = c.tone(_LEVELS)
    photo_b = float(t @ h.photo / h.photo.sum())
    face_b = _mean_brightness(h.faces, t)
    if face_b is not None:
        return _band_error(face_b, s.face_brightness_min, s.face_brightness_max)
    return _band_error(photo_b, s.photo_brightness_min, s.photo_brightness_max)


def plan(m: Measures, h: Histograms, s: DeliverSettings) -> tuple[Correction, str]:
    """The tone correction for a photo and the reason, or the identity when it is in the band."""
    if in_band(m, s):
        return Correction(), "exposure and contrast already in the target band"
    black, white = _levels(h, m, s)
    gain, gamma = _score_curves(h, m, s, black, white)
    wb = _white_balance(h, s)
    c = Correction(white_balance=wb, black_point=black, white_point=white, exposure_gain=gain, gamma=gamma)
    error = exposure_error(m, s)
    if error > 0 and predicted_error(c, h, s) >= error:  # the photo and its faces pull apart
        c = Correction(white_balance=wb, black_point=black, white_point=white)
        if m.contrast_spread >= s.contrast_min_spread or predicted_error(c, h, s) > error:
            c = Correction()
    problems = []
    if m.face_brightness is not None and exposure_error(m, s) > 0:
        problems.append(f"face brightness {m.face_brightness:.2f}")
    elif exposure_error(m, s) > 0:
        problems.append(f"photo brightness {m.brightness:.2f}")
    if m.contrast_spread < s.contrast_min_spread:
        problems.append(f"contrast spread {m.contrast_spread:.2f}")
    reason = "outside the target band: " + ", ".join(problems)
    if c.tone_is_identity():
        return Correction(), reason + "; no correction within the bounds improves it"
    return c, reason


def estimate_noise_sigma(image: Image.Image, side_px: int = 1024) -> float:
    """Standard deviation of the luma noise (0..255 levels) by Immerkær's method (1996) on the centre
    ``side_px`` square, at full resolution."""
    w, h = image.size
    left, top = max(0, (w - side_px) // 2), max(0, (h - side_px) // 2)
    g = np.asarray(
        image.crop((left, top, min(w, left + side_px), min(h, top + side_px))).convert("L"), dtype=np.float32
    )
    if g.shape[0] < 3 or g.shape[1] < 3:
        return 0.0
    # the kernel [[1, -2, 1], [-2, 4, -2], [1, -2, 1]] is [1, -2, 1] across, then down (exact: integers)
    across = g[:, :-2] - 2 * g[:, 1:-1] + g[:, 2:]
    conv = across[:-2] - 2 * across[1:-1] + across[2:]
    return float(math.sqrt(math.pi / 2) * np.abs(conv).mean() / 6.0)


def _curve_slope(c: Correction, h: Histograms) -> float:
    """Mean slope of the tone curve over the photo's luma histogram (noise is scaled by it)."""
    t = c.tone(_LEVELS)
    slope = np.gradient(t, _LEVELS)
    return float(slope @ h.photo / h.photo.sum())


def finish(c: Correction, h: Histograms, m: Measures, s: DeliverSettings, full: Image.Image) -> Correction:
    """Add the chroma smoothing and sharpening decided on the full-resolution ``full`` photo."""
    sigma = estimate_noise_sigma(full)
    noise_after = sigma * _curve_slope(c, h)
    radius = 0.0
    if s.denoise_min_sigma > 0 and noise_after > s.denoise_min_sigma:
        radius = min(s.denoise_max_radius_px, 0.5 * noise_after / s.denoise_min_sigma)
    percent, sharpen_radius = 0, 0.0
    if m.sharpness < s.sharpen_below and noise_after <= s.denoise_min_sigma:
        percent = round(s.max_sharpen_percent * min(1.0, (s.sharpen_below - m.sharpness) / 0.25))
        sharpen_radius = 2.0  # detail finer than 2 px
    return Correction(
        c.white_balance,
        c.black_point,
        c.white_point,
        c.exposure_gain,
        c.gamma,
        round(radius, 2),
        round(sigma, 2),
        percent,
        sharpen_radius if percent else 0.0,
    )


def _detail_boost(image: Image.Image, scale_px: int, amount: float) -> Image.Image:
    """``image + amount * (image - blur)``, clipped: an unsharp mask whose blur is a box reduction by
    ``scale_px`` enlarged back (bilinear), a fraction of the cost of a Gaussian on a 12 MP photo."""
    blur = image.reduce(scale_px).resize(image.size, Image.Resampling.BILINEAR)
    return Image.blend(blur, image, 1.0 + amount)


def apply(image: Image.Image, c: Correction) -> Image.Image:
    """``image`` (RGB) with the correction applied (a new image)."""
    out = image if c.tone_is_identity() else image.point(c.lut())
    if c.denoise_radius_px > 0:
        y, cb, cr = out.convert("YCbCr").split()
        blur = ImageFilter.GaussianBlur(c.denoise_radius_px)
        out = Image.merge("YCbCr", (y, cb.filter(blur), cr.filter(blur))).convert("RGB")
    if c.sharpen_percent > 0:
        out = _detail_boost(out, round(c.sharpen_radius_px), c.sharpen_percent / 100)
    return out


@dataclass(frozen=True)
class Kept:
    """What :func:`keep_sharpness` returns: the image, the correction (with ``local_contrast`` set when
    it was raised), and the image's :func:`reduced` copy with :func:`photo_quality` of it (its focus
    measure is ``quality.sharpness``), to measure the result on without reducing it again."""

    image: Image.Image
    correction: Correction
    small: Image.Image
    quality: PhotoQuality


def _kept(image: Image.Image, c: Correction) -> Kept:
    small = reduced(image)
    return Kept(image, c, small, photo_quality(small))


def keep_sharpness(before: float, result: Image.Image, c: Correction, s: DeliverSettings) -> Kept:
    """Raise the local contrast of ``result`` until its focus measure is at most ``sharpness_tolerance``
    below ``before`` (a tone curve that lifts the shadows flattens the highlights). The detail is taken
    at the scale the measure sees: ``result`` minus a blurred copy (box-reduced by half the measure's
    factor, enlarged back), added at 0.5, else 1.0 times."""
    kept = _kept(result, c)
    if kept.quality.sharpness >= before - s.sharpness_tolerance:
        return kept
    factor = max(2, round(max(result.size) / PHOTO_FOCUS_SIDE_PX) // 2)
    blur = result.reduce(factor).resize(result.size, Image.Resampling.BILINEAR)
    for amount in _LOCAL_CONTRAST_STEPS:
        boosted = Image.blend(blur, result, 1.0 + amount)  # as _detail_boost, one blur for both steps
        kept = _kept(boosted, dataclasses.replace(c, local_contrast=amount, local_contrast_radius_px=factor))
        if kept.quality.sharpness >= before - s.sharpness_tolerance:
            break
    return kept
