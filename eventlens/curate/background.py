"""The brightness of a photo's background: the photo's mean luma with its faces taken out.

eventlens measures each photo's mean luma (``brightness``, 0..1, over the whole frame) and each face's
(over the face's centre). Assuming a face's box is as bright as its centre, the rest of the frame has

    (photo_brightness * frame_area - sum(face_brightness * face_area)) / (frame_area - sum(face_area))

Boxes are clipped to the frame; overlapping boxes are counted once each (faces rarely overlap). When faces
cover 95 % or more of the frame there is no background to speak of and the answer is ``None``; a result out
of 0..1 (the assumption failing) is clipped. A photo without faces is its own background.
"""

from __future__ import annotations

from collections.abc import Sequence

MIN_BACKGROUND_SHARE = 0.05


def background_brightness(
    photo_brightness: float | None,
    width_px: int | None,
    height_px: int | None,
    faces: Sequence[tuple[tuple[float, float, float, float], float | None]],
) -> float | None:
    """``faces``: ``((x1, y1, x2, y2), face_brightness)`` in the photo's displayed pixels."""
    if photo_brightness is None or not width_px or not height_px:
        return None
    frame = float(width_px * height_px)
    covered = 0.0
    light = 0.0
    for (x1, y1, x2, y2), face_brightness in faces:
        w = max(0.0, min(x2, width_px) - max(x1, 0.0))
        h = max(0.0, min(y2, height_px) - max(y1, 0.0))
        area = w * h
        covered += area
        light += area * (photo_brightness if face_brightness is None else face_brightness)
    rest = frame - covered
    if rest < MIN_BACKGROUND_SHARE * frame:
        return None
    value = (photo_brightness * frame - light) / rest
    return min(1.0, max(0.0, value))
