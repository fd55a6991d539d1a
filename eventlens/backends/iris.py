"""Eyelid contours from MediaPipe's iris-landmark model, in float32 or with int8 convolutions.

Two variants of one model:

* ``float32``: the original ``iris_landmark.tflite``, installed by ``eventlens models install`` (see
  :mod:`eventlens.backends.model_files`).
* ``int8``: :data:`INT8_MODEL`, shipped with eventlens and derived from the float model by
  ``tools/quantize_iris.py``: the eye-contour head only, convolutions in int8 (calibrated on eye crops of
  ``../shared/data/identities`` outside the labelled faces), everything else float32. About
  1.9x faster (0.66 against 1.24 ms per eye), outlines within ~0.45 px of 64 of the float model's.

The model takes a 64x64 RGB crop of one eye scaled to [0, 1] and returns 71
eye and eyebrow contour points plus 5 iris points, in crop pixels. The first 16 contour points outline the
eye: 0..8 the lower lid from the outer corner (0) to the inner one (8), 9..15 the upper lid from outer to
inner, in both eyes (the mirrored crop makes the left eye's order match the right eye's). From those,
:func:`eye_aspect_ratio16` gives an eye-openness measure that separates open from closed eyes much better
than dlib's six-point eye contour.

Each eye is cropped as a square centred on the midpoint of its two corners, :data:`EYE_CROP_SCALE`
times the corner distance on a side (MediaPipe's own graph uses 2.3; on the labelled faces of
``tests/data/face_attributes`` both separate open from closed eyes equally well), turned so the eye axis
is horizontal (``rotate=True``; slightly better than axis-aligned crops there).

The model expects the image-left eye (the subject's right eye, dlib points 36-39) as it appears in the
image, inner corner on the right; the image-right eye (subject's left, dlib 42-45) is mirrored
horizontally first, and the outputs are mapped back. (Measured on the labelled faces: the outline's
corners land about twice as close to dlib's corners this way as with the opposite convention.)

Coordinates: image points use dlib's convention (pixel ``(i, j)``'s centre is at ``x = i, y = j``); the
model's outputs are continuous crop coordinates in [0, 64] (pixel ``i`` covers ``[i, i + 1)``).
Crops of large eyes are first box-averaged by an integer factor so that bilinear sampling never skips
pixels (no aliasing).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from eventlens.attributes.eye_appearance import iris_dark_heights
from eventlens.backends.model_files import IRIS_LANDMARK, model_path
from eventlens.errors import ModelError

if TYPE_CHECKING:
    from eventlens.backends.sessions import Session
    from eventlens.settings import Settings

__all__ = [
    "INT8_MODEL",
    "INT8_MODEL_SHA256",
    "VARIANTS",
    "EYE_CROP_SCALE",
    "INPUT_SIZE",
    "EYE_CORNER_INDICES",
    "OUTLINE_POINTS",
    "eye_corners68",
    "eye_crop_transforms",
    "sample_eye_crops",
    "eye_aspect_ratio16",
    "eye_aspect_ratios16",
    "IrisEyeModel",
]

EYE_CROP_SCALE = 2.8
"""Side of the square eye crop, in units of the eye-corner distance."""

INPUT_SIZE = 64
"""Side of the model's square RGB input (pixels)."""

EYE_CORNER_INDICES = (36, 39, 42, 45)
"""dlib 68-point indices of the eye corners, in the order :meth:`IrisEyeModel.eye_contours` expects:
right-eye outer, right-eye inner, left-eye inner, left-eye outer (the subject's right / left)."""

OUTLINE_POINTS = 16
"""Eye-outline points per eye: 0..8 lower lid from the outer to the inner corner, 9..15 upper lid (same
direction, corners excluded)."""

INT8_MODEL = Path(__file__).resolve().parent / "models" / "iris_contours_int8.tflite"
"""The int8 variant, shipped in the package (built by ``tools/quantize_iris.py``)."""

INT8_MODEL_SHA256 = "eb8caa69a134dc1e2e34688cf7b29a919d8f8705533a411993da80efb4e1a11f"
"""sha256 of :data:`INT8_MODEL` as built; checked on load (a damaged file is an error, not a guess)."""

VARIANTS = ("float32", "int8")
"""Model variants :class:`IrisEyeModel` can run."""

RUNTIMES = ("litert",)
"""Runtimes (:mod:`eventlens.backends.sessions`) that run the iris model."""

_CONTOURS_OUTPUT = "output_eyes_contours_and_brows"
_CONTOUR_POINTS = 71
_MIN_CORNER_DISTANCE_PX = 1.0

# Lower-lid point i + 1 faces upper-lid point 9 + i (i = 0..6); the five inner pairs measure the opening.
_EAR_PAIRS = tuple((2 + i, 10 + i) for i in range(5))


def eye_corners68(landmarks68: np.ndarray) -> np.ndarray:
    """The four eye corners of dlib 68-point landmarks: ``(n, 68, 2)`` -> ``(n, 4, 2)`` float64."""
    lm = np.asarray(landmarks68, dtype=np.float64)
    if lm.ndim != 3 or lm.shape[1:] != (68, 2):
        raise ValueError(f"landmarks68 must have shape (n, 68, 2), got {lm.shape}")
    return lm[:, list(EYE_CORNER_INDICES), :]


# --------------------------------------------------------------------------------------
# Crops
# --------------------------------------------------------------------------------------


def eye_crop_transforms(
    eye_corners: np.ndarray, crop_scale: float = EYE_CROP_SCALE, rotate: bool = True, size: int = INPUT_SIZE
) -> np.ndarray:
    """Affine maps from crop pixels to image pixels, two eyes per face.

    ``eye_corners``: ``(n, 4, 2)`` image points ordered as :data:`EYE_CORNER_INDICES`. Returns float64
    ``(n, 2, 2, 3)``: for face ``f`` and eye ``e`` (0 = right eye / image-left, 1 = left eye, mirrored),
    ``T[f, e] @ (i, j, 1)`` is the image point (dlib convention) under the centre of crop pixel ``(i, j)``
    (column ``i``, row ``j``). The crop's x axis runs along the eye axis from the image-left corner to the
    image-right one (``rotate=True``) or along the image x axis; for the mirrored eye it is reversed.
    """
    c = np.asarray(eye_corners, dtype=np.float64)
    if c.ndim != 3 or c.shape[1:] != (4, 2):
        raise ValueError(f"eye_corners must have shape (n, 4, 2), got {c.shape}")
    if not np.isfinite(c).all():
        raise ValueError("eye_corners contain non-finite values")
    first = c[:, [0, 2], :]  # image-left corner of each eye: 36, 42
    second = c[:, [1, 3], :]  # image-right corner: 39, 45
    axis = second - first
    dist = np.maximum(np.linalg.norm(axis, axis=-1), _MIN_CORNER_DISTANCE_PX)  # (n, 2)
    horizontal = np.broadcast_to(np.array([1.0, 0.0]), axis.shape)
    degenerate = (np.linalg.norm(axis, axis=-1) < _MIN_CORNER_DISTANCE_PX)[..., None]
    ex = np.where(degenerate | (not rotate), horizontal, axis / dist[..., None])
    ey = np.stack([-ex[..., 1], ex[..., 0]], axis=-1)  # x axis turned +90 deg (image y points down)
    step = dist * crop_scale / size  # image pixels per crop pixel
    mirror = np.array([1.0, -1.0])[None, :]  # the left eye (index 1) is mirrored
    centre = (first + second) / 2
    half = (size - 1) / 2
    col_dir = ex * (step * mirror)[..., None]
    row_dir = ey * step[..., None]
    offset = centre - half * col_dir - half * row_dir
    return np.stack([col_dir, row_dir, offset], axis=-1)  # (n, 2, 2, 3): columns = d/di, d/dj, offset


def _region_bounds(affine: np.ndarray, size: int, factor: int) -> tuple[int, int, int, int]:
    """The image region under one crop, with ``factor`` pixels to spare on every side and sides that are
    multiples of ``factor``: ``(x1, y1, x2, y2)`` in image pixels (it may reach past the image)."""
    corners = affine @ np.array([[0, 0, size - 1, size - 1], [0, size - 1, 0, size - 1], [1, 1, 1, 1]])
    lo = np.floor(corners.min(axis=1)).astype(int) - factor
    hi = np.ceil(corners.max(axis=1)).astype(int) + factor
    n_cols, n_rows = (hi - lo) // factor + 1
    x1, y1 = int(lo[0]), int(lo[1])
    return x1, y1, x1 + int(n_cols) * factor, y1 + int(n_rows) * factor


def _into_region(affine: np.ndarray, x1: int, y1: int, factor: int) -> np.ndarray:
    """``affine`` (crop -> image pixel centres) followed by the map into the region starting at ``(x1, y1)``
    box-averaged by ``factor``: region pixel ``d`` covers image pixels ``x1 + d*factor ... + factor - 1``,
    so its centre is their mean."""
    to_region = np.array(
        [
            [1 / factor, 0, -(x1 + (factor - 1) / 2) / factor],
            [0, 1 / factor, -(y1 + (factor - 1) / 2) / factor],
        ]
    )
    transform: np.ndarray = to_region @ np.vstack([affine, [0, 0, 1]])
    return transform


def _pillow_crop(
    image: Image.Image, affine: np.ndarray, size: int, factor: int, box: tuple[int, int, int, int]
) -> np.ndarray:
    """One crop cut in C: the region ``box`` box-averaged by ``factor``, then sampled bilinearly (8-bit
    rounding after each step: within 2 levels of the float path)."""
    x1, y1 = box[0], box[1]
    if factor > 1:
        region = image.reduce(factor, box=box)
    else:
        region, x1, y1 = image, 0, 0  # the affine transform reads only the pixels it needs
    a = _into_region(affine, x1, y1, factor)
    # Pillow maps output pixel centre (i + 0.5, j + 0.5) to input coordinates whose pixel centres are at
    # X + 0.5; our maps take pixel centres at integers on both sides
    data = (
        a[0, 0], a[0, 1], a[0, 2] + 0.5 - 0.5 * (a[0, 0] + a[0, 1]),
        a[1, 0], a[1, 1], a[1, 2] + 0.5 - 0.5 * (a[1, 0] + a[1, 1]),
    )  # fmt: skip
    return np.asarray(
        region.transform((size, size), Image.Transform.AFFINE, data, resample=Image.Resampling.BILINEAR)
    )


def _edge_block(source: np.ndarray | Image.Image, box: tuple[int, int, int, int]) -> np.ndarray:
    """The pixels under ``box`` ``(x1, y1, x2, y2)``, which may reach past the image: uint8, the nearest
    edge pixel repeated outside. Only the part inside the image is read from ``source``."""
    x1, y1, x2, y2 = box
    width, height = source.size if isinstance(source, Image.Image) else (source.shape[1], source.shape[0])
    xa, ya = min(max(x1, 0), width - 1), min(max(y1, 0), height - 1)
    xb, yb = max(min(x2, width), xa + 1), max(min(y2, height), ya + 1)
    if isinstance(source, Image.Image):
        inner = np.asarray(source.crop((xa, ya, xb, yb)))
    else:
        inner = source[ya:yb, xa:xb]
    if (xa, ya, xb, yb) == (x1, y1, x2, y2):  # inside the image: a plain copy
        return np.ascontiguousarray(inner)
    cols = np.clip(np.arange(x1, x2), xa, xb - 1) - xa
    rows = np.clip(np.arange(y1, y2), ya, yb - 1) - ya
    return np.ascontiguousarray(inner[rows[:, None], cols[None, :]])


def sample_eye_crops(
    image: np.ndarray | Image.Image, transforms: np.ndarray, size: int = INPUT_SIZE
) -> np.ndarray:
    """Crops of ``image`` under ``transforms`` (m, 2, 3): float32 (m, size, size, 3), 0..1.

    ``image``: a uint8 (H, W, 3) array or an RGB Pillow image of the same pixels (faster: no copy of the
    photo's pixels). Each crop pixel is a bilinear sample at the point its centre maps to; when a crop pixel
    spans two or more image pixels the region is box-averaged by that integer factor first. Crops are cut
    by Pillow in C; past an edge of the image they take the nearest edge pixel.
    """
    if isinstance(image, Image.Image):
        if image.mode != "RGB":
            raise ValueError(f"image must be an RGB Pillow image, got mode {image.mode}")
        pil: Image.Image | None = image
        width, height = image.size
        array: np.ndarray | None = None
    else:
        array = np.asarray(image)
        if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
            raise ValueError(f"rgb must be a uint8 (H, W, 3) image, got {array.dtype} {array.shape}")
        pil, (height, width) = None, array.shape[:2]
    out = np.empty((len(transforms), size, size, 3), dtype=np.float32)
    transforms = np.asarray(transforms, dtype=np.float64)
    factors = np.maximum(np.linalg.norm(transforms[:, :, 0], axis=1).astype(int), 1)  # image px per crop px
    for k, affine in enumerate(transforms):
        factor = int(factors[k])
        box = _region_bounds(affine, size, factor)
        if pil is not None and box[0] >= 0 and box[1] >= 0 and box[2] <= width and box[3] <= height:
            out[k] = _pillow_crop(pil, affine, size, factor, box)
            continue
        # only the region is copied into Pillow, its outside filled with the nearest edge pixels
        region = Image.fromarray(_edge_block(pil if pil is not None else array, box))  # type: ignore[arg-type]
        x1, y1, x2, y2 = box
        out[k] = _pillow_crop(region, _shifted(affine, x1, y1), size, factor, (0, 0, x2 - x1, y2 - y1))
    out *= np.float32(1 / 255)
    return out


def _shifted(affine: np.ndarray, x1: int, y1: int) -> np.ndarray:
    """``affine`` with image coordinates taken relative to ``(x1, y1)``."""
    return affine - np.array([[0, 0, x1], [0, 0, y1]], dtype=np.float64)


def _crop_to_image(points: np.ndarray, transforms: np.ndarray) -> np.ndarray:
    """Model outputs (m, p, 2) in continuous crop coordinates -> image points (m, p, 2) (dlib convention)."""
    ij = points - 0.5  # continuous [0, 64] -> pixel-centre coordinates
    image_points: np.ndarray = np.einsum("mab,mpb->mpa", transforms[:, :, :2], ij) + transforms[:, None, :, 2]
    return image_points


# --------------------------------------------------------------------------------------
# Eye aspect ratio
# --------------------------------------------------------------------------------------


def eye_aspect_ratios16(outlines: np.ndarray) -> np.ndarray:
    """Eye aspect ratio of eye outlines ``(..., 16, 2)`` -> ``(...)`` float64.

    The mean distance of the five inner lower/upper lid pairs (points 2..6 against 10..14) divided by the
    corner distance (points 0 and 8). Unit-free. On the labelled faces of
    ``tests/data/face_attributes`` (smaller of the two eyes) open eyes mostly give 0.16-0.33 and closed ones
    0.07-0.17; the best single threshold there is ~0.18.
    """
    o = np.asarray(outlines, dtype=np.float64)
    if o.ndim < 2 or o.shape[-2:] != (OUTLINE_POINTS, 2):
        raise ValueError(f"outlines must have shape (..., {OUTLINE_POINTS}, 2), got {o.shape}")
    lower = o[..., [p for p, _ in _EAR_PAIRS], :]
    upper = o[..., [q for _, q in _EAR_PAIRS], :]
    opening = np.linalg.norm(lower - upper, axis=-1).mean(axis=-1)
    width = np.linalg.norm(o[..., 0, :] - o[..., 8, :], axis=-1)
    ratio: np.ndarray = opening / np.maximum(width, 1e-6)
    return ratio


def eye_aspect_ratio16(outline16: np.ndarray) -> float:
    """Eye aspect ratio of one eye outline ``(16, 2)`` (see :func:`eye_aspect_ratios16`)."""
    o = np.asarray(outline16)
    if o.shape != (OUTLINE_POINTS, 2):
        raise ValueError(f"outline16 must have shape ({OUTLINE_POINTS}, 2), got {o.shape}")
    return float(eye_aspect_ratios16(o))


# --------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------


@dataclass
class IrisEyeModel:
    """MediaPipe's iris-landmark model on the eyes of faces with known eye corners.

    ``cache_dir``: where ``eventlens models install`` put ``models/iris_landmark.tflite`` (the settings'
    ``cache_dir``; the float32 variant). ``crop_scale`` and ``rotate``: the eye crop (see
    :func:`eye_crop_transforms`). ``runtime``: ``"litert"`` (Google's LiteRT; see
    :mod:`eventlens.backends.sessions`). ``variant``: ``"float32"`` or ``"int8"``. The model file is
    read on the first :meth:`load` or :meth:`eye_contours`.
    """

    cache_dir: Path
    crop_scale: float = EYE_CROP_SCALE
    rotate: bool = True
    runtime: str = "litert"
    variant: str = "float32"
    _net: Session | None = field(default=None, init=False, repr=False)
    _contours: int = field(default=0, init=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, variant: str = "float32") -> IrisEyeModel:
        return cls(cache_dir=Path(settings.cache_dir), runtime=settings.tflite_runtime, variant=variant)

    def _path(self) -> Path:
        if self.variant == "float32":
            return model_path(IRIS_LANDMARK, Path(self.cache_dir))
        if self.variant != "int8":
            raise ModelError(f"unknown iris model variant {self.variant!r}; use one of {', '.join(VARIANTS)}")
        try:
            digest = hashlib.sha256(INT8_MODEL.read_bytes()).hexdigest()
        except OSError as exc:
            raise ModelError(f"cannot read {INT8_MODEL}: {exc}; reinstall eventlens") from exc
        if digest != INT8_MODEL_SHA256:
            raise ModelError(f"{INT8_MODEL} is damaged (sha256 {digest[:12]}...); reinstall eventlens")
        return INT8_MODEL

    def load(self) -> None:
        """Read and compile the model (ModelError, with the install hint, if it is missing or damaged)."""
        if self._net is not None:
            return
        from eventlens.backends.sessions import check_runtime, create_session  # noqa: PLC0415

        check_runtime(self.runtime, RUNTIMES, "tflite_runtime")
        path = self._path()
        net = create_session(self.runtime, path)
        names = [o.name for o in net.outputs]
        # the float model names its outputs; the int8 one has the contours as its only output
        contours = (
            names.index(_CONTOURS_OUTPUT) if _CONTOURS_OUTPUT in names else (0 if len(names) == 1 else None)
        )
        shape = net.inputs[0].shape[1:]
        if shape != (INPUT_SIZE, INPUT_SIZE, 3) or contours is None:
            raise ModelError(f"{path} is not the iris-landmark model (input {shape})")
        self._net, self._contours = net, contours

    def contours_of_crops(self, crops: np.ndarray) -> np.ndarray:
        """Raw model contours of eye crops: float32 ``(m, 64, 64, 3)`` in [0, 1] -> ``(m, 71, 3)`` (x, y, z)
        in continuous crop pixels."""
        self.load()
        assert self._net is not None
        if len(crops) == 0:
            return np.zeros((0, _CONTOUR_POINTS, 3), dtype=np.float32)
        outputs = self._net.run({self._net.inputs[0].name: crops})
        return outputs[self._contours].reshape(len(crops), _CONTOUR_POINTS, 3)

    def eye_contours(self, image: np.ndarray | Image.Image, eye_corners: np.ndarray) -> np.ndarray:
        """Eye outlines of every face, in image pixels (see :meth:`eye_contours_and_darkness`)."""
        return self.eye_contours_and_darkness(image, eye_corners, darkness=False)[0]

    def eye_contours_and_darkness(
        self, image: np.ndarray | Image.Image, eye_corners: np.ndarray, darkness: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Eye outlines of every face, in image pixels.

        ``image``: uint8 (H, W, 3) array or RGB Pillow image (see :func:`sample_eye_crops`).
        ``eye_corners``: ``(n, 4, 2)`` image points of dlib landmarks 36, 39, 42, 45 per face (see
        :func:`eye_corners68`). Returns float64 ``(n, 2, 16, 2)``: per face the
        subject's right eye (image-left, dlib 36-41) then left eye, each with :data:`OUTLINE_POINTS` points
        (0..8 lower lid from the outer corner to the inner one, 9..15 upper lid) in dlib's pixel
        convention. All eyes run in one batch.

        Also returns, per face and eye, ``(n, 2)``, the height of the dark iris patch between the lids
        measured on the same crop (:func:`eventlens.attributes.eye_appearance.iris_dark_heights`; NaN
        with ``darkness`` off).
        """
        corners = np.asarray(eye_corners, dtype=np.float64)
        if corners.ndim != 3 or corners.shape[1:] != (4, 2):
            raise ValueError(f"eye_corners must have shape (n, 4, 2), got {corners.shape}")
        n = corners.shape[0]
        if n == 0:
            return np.zeros((0, 2, OUTLINE_POINTS, 2), dtype=np.float64), np.zeros((0, 2))
        transforms = eye_crop_transforms(corners, self.crop_scale, self.rotate).reshape(2 * n, 2, 3)
        crops = sample_eye_crops(image, transforms)
        contours = self.contours_of_crops(crops)[:, :OUTLINE_POINTS, :2].astype(np.float64)
        dark = iris_dark_heights(crops, contours) if darkness else np.full(2 * n, np.nan)
        return _crop_to_image(contours, transforms).reshape(n, 2, OUTLINE_POINTS, 2), dark.reshape(n, 2)
