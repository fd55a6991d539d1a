"""Face crops for people to look at (representative faces, review screens)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from eventlens.imaging.decode import decode
from eventlens.settings import Settings

#: the crop shows this multiple of the face box's larger side, so hair and chin are visible
CROP_CONTEXT = 1.6


def face_crop(rgb: np.ndarray, box_xyxy: Sequence[float], size_px: int) -> Image.Image:
    """A square ``size_px`` crop centred on the box (coordinates in ``rgb``'s pixels), padded with grey."""
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    side = max(x2 - x1, y2 - y1, 1.0) * CROP_CONTEXT
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, top = round(cx - side / 2), round(cy - side / 2)
    side_px = max(1, round(side))
    canvas = Image.new("RGB", (side_px, side_px), (128, 128, 128))
    h, w = rgb.shape[:2]
    sx1, sy1, sx2, sy2 = max(left, 0), max(top, 0), min(left + side_px, w), min(top + side_px, h)
    if sx2 > sx1 and sy2 > sy1:
        canvas.paste(Image.fromarray(rgb[sy1:sy2, sx1:sx2]), (sx1 - left, sy1 - top))
    return canvas.resize((size_px, size_px), Image.LANCZOS)


def save_face_crop(
    photo: Path, box_xyxy: Sequence[float], size_px: int, dst: Path, settings: Settings
) -> None:
    """Decode ``photo`` at just enough resolution and save the face crop of ``box_xyxy`` (original px)."""
    side = max(float(box_xyxy[2]) - float(box_xyxy[0]), float(box_xyxy[3]) - float(box_xyxy[1]), 1.0)
    image = decode(photo, settings.max_image_megapixels, min(1.0, size_px / (side * CROP_CONTEXT)))
    box = [float(v) * image.scale for v in box_xyxy]
    face_crop(image.rgb, box, size_px).save(dst, "JPEG", quality=90)
