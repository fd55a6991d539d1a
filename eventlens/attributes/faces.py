"""Per-face measurements, taken in the analysis pass while the photo is decoded anyway.

:func:`measure_face` returns raw measurements (:class:`FaceMeasurements`), which the catalog stores.
The 0..1 scores and the booleans the curation rules use are derived from them by
:mod:`eventlens.attributes.decide` with thresholds from the settings, so thresholds can be tuned
without analysing photos again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from eventlens.attributes.face_geometry import head_pose, mouth_shape
from eventlens.attributes.image_quality import face_focus_and_exposure
from eventlens.attributes.mouth_appearance import mouth_appearance

#: a face box closer than this share of its size to a photo edge counts as cut by the edge
_EDGE_MARGIN = 0.02


@dataclass(frozen=True)
class FaceMeasurements:
    """Raw, threshold-free measurements of one face (ranges in the field comments)."""

    ear_right: float | None  # eye aspect ratio of the eye model; None when the face is too small
    ear_left: float | None
    mouth_width: float  # mouth corner distance / inter-ocular distance, ~0.8-1.2
    mouth_lift: float  # corner upturn / mouth width, ~-0.1..0.2, positive when smiling
    mouth_opening: float  # inner-lip gap / inner mouth width, 0..~0.8
    mouth_gap: float  # inner-lip gap / inter-ocular distance, ~0..0.5 (slightly < 0 when lips overlap)
    corners_below_eyes: float  # mouth corners below the lower eyelids / IOD, ~0.8-1.3, smaller smiling
    lip_below_nose: float  # upper lip top below the nose base / IOD, ~0.1-0.35, smaller smiling
    yaw_deg: float  # -90..90, + = nose towards the image's right
    pitch_deg: float  # -90..90, + = looking up
    roll_deg: float  # -180..180, + = tilted clockwise
    sharpness: float  # 0..1 focus of the face, size-normalised
    brightness: float  # 0..1 mean luma of the face centre
    clipped_high: float  # 0..1 share of face pixels at >= 250
    clipped_low: float  # 0..1 share of face pixels at <= 5
    size_ratio: float  # face size / shorter photo side, 0..1
    cut_by_edge: bool  # the box touches the photo's border
    # height of the dark iris patch between the lids / eye width, ~0-0.4 (attributes.eye_appearance);
    # None when the eye model sees no crop (dlib_68) or the face is too small
    iris_dark_right: float | None = None
    iris_dark_left: float | None = None
    # the smile model's term from the mouth crop's pixels (attributes.mouth_appearance), logit units,
    # ~-1.5..1.5, larger smiling; None for a degenerate eye line
    mouth_appearance: float | None = None

    def as_dict(self) -> dict[str, float | bool]:
        return asdict(self)


def measure_face(
    image: np.ndarray | Image.Image,
    box_in_rgb: np.ndarray,
    landmarks68_in_rgb: np.ndarray,
    ears: np.ndarray,
    box_original: np.ndarray,
    photo_width_px: int,
    photo_height_px: int,
    iris_dark: np.ndarray | None = None,
) -> FaceMeasurements:
    """Measure one face. ``image`` is the decoded photo (uint8 RGB array or RGB Pillow image of the same
    pixels); the first box and landmarks are in its pixels;
    ``ears`` the (right, left) eye aspect ratios of the eye model (NaN when not measured); ``box_original``
    in original pixels of a ``photo_width_px`` x ``photo_height_px`` photo; ``iris_dark`` the (right, left)
    iris dark heights of the eye model (NaN or omitted when not measured)."""
    ear_right, ear_left = (None if np.isnan(v) else float(v) for v in np.asarray(ears, dtype=np.float64))
    dark = np.full(2, np.nan) if iris_dark is None else np.asarray(iris_dark, dtype=np.float64)
    dark_right, dark_left = (None if np.isnan(v) else float(v) for v in dark)
    mouth = mouth_shape(landmarks68_in_rgb)
    pose = head_pose(landmarks68_in_rgb)
    sharpness, light = face_focus_and_exposure(image, box_in_rgb)
    x1, y1, x2, y2 = (float(v) for v in box_original)
    size = float(np.sqrt(max(x2 - x1, 0.0) * max(y2 - y1, 0.0)))
    margin = _EDGE_MARGIN * size
    cut = x1 <= margin or y1 <= margin or x2 >= photo_width_px - margin or y2 >= photo_height_px - margin
    return FaceMeasurements(
        ear_right=ear_right,
        ear_left=ear_left,
        mouth_width=mouth.width,
        mouth_lift=mouth.corner_lift,
        mouth_opening=mouth.opening,
        mouth_gap=mouth.gap,
        corners_below_eyes=mouth.corners_below_eyes,
        lip_below_nose=mouth.lip_below_nose,
        yaw_deg=pose.yaw_deg,
        pitch_deg=pose.pitch_deg,
        roll_deg=pose.roll_deg,
        sharpness=sharpness,
        brightness=light.brightness,
        clipped_high=light.clipped_high,
        clipped_low=light.clipped_low,
        size_ratio=size / max(1, min(photo_width_px, photo_height_px)),
        cut_by_edge=bool(cut),
        iris_dark_right=dark_right,
        iris_dark_left=dark_left,
        mouth_appearance=mouth_appearance(image, landmarks68_in_rgb),
    )
