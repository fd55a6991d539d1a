"""Face crops for people to look at (representative faces, review screens).

Crops are cut with Pillow from a reduced-size decode (JPEG DCT scaling down to about the size the crop
needs) and cached under ``OUT/.eventlens/face-crops`` by photo, face box and size, so that re-exports
and later runs only crop new faces.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from eventlens.imaging.decode import decode_pil

#: the crop shows this multiple of the face box's larger side, so hair and chin are visible
CROP_CONTEXT = 1.6
#: the photo may be decoded this much smaller than the crop needs (a mild upscale is invisible at
#: thumbnail size and lets a 12 MP JPEG decode at half size)
CROP_DECODE_SLACK = 0.4
JPEG_QUALITY = 90


def crop_square(image: Image.Image, box_xyxy: Sequence[float], size_px: int) -> Image.Image:
    """A square ``size_px`` crop centred on the box (in ``image``'s pixels), padded with grey."""
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    side = max(x2 - x1, y2 - y1, 1.0) * CROP_CONTEXT
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, top = round(cx - side / 2), round(cy - side / 2)
    side_px = max(1, round(side))
    region = image.crop((left, top, left + side_px, top + side_px))  # Pillow pads outside with black
    canvas = Image.new("RGB", (side_px, side_px), (128, 128, 128))
    inside = (max(0, -left), max(0, -top), min(side_px, image.width - left), min(side_px, image.height - top))
    if inside[2] > inside[0] and inside[3] > inside[1]:
        canvas.paste(region.crop(inside), inside[:2])
    return canvas.resize((size_px, size_px), Image.Resampling.LANCZOS)


def face_crop_path(cache_dir: Path, photo_sha256: str, box_xyxy: Sequence[float], size_px: int) -> Path:
    key = hashlib.sha1(
        f"{photo_sha256}:{[round(float(v), 1) for v in box_xyxy]}:{size_px}".encode()
    ).hexdigest()
    return cache_dir / key[:2] / f"{key}.jpg"


@dataclass(frozen=True)
class CropJob:
    """One face crop to make (picklable, so worker processes can make it)."""

    photo: Path
    photo_sha256: str
    box_xyxy: tuple[float, ...]
    size_px: int
    cache_dir: Path
    max_megapixels: float


def make_crop(job: CropJob) -> Path:
    """:func:`cached_face_crop` of a :class:`CropJob`."""
    return cached_face_crop(
        job.photo, job.photo_sha256, job.box_xyxy, job.size_px, job.cache_dir, job.max_megapixels
    )


def cached_face_crop(
    photo: Path,
    photo_sha256: str,
    box_xyxy: Sequence[float],
    size_px: int,
    cache_dir: Path,
    max_megapixels: float,
) -> Path:
    """Path of the face crop (original-pixel box) in the crop cache, making it if needed."""
    target = face_crop_path(cache_dir, photo_sha256, box_xyxy, size_px)
    if target.is_file():
        return target
    side = max(float(box_xyxy[2]) - float(box_xyxy[0]), float(box_xyxy[3]) - float(box_xyxy[1]), 1.0)
    wanted = min(1.0, size_px / (side * CROP_CONTEXT) * CROP_DECODE_SLACK)
    image, scale = decode_pil(photo, max_megapixels, wanted)
    crop = crop_square(image, [float(v) * scale for v in box_xyxy], size_px)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".jpg")
    try:
        with os.fdopen(fd, "wb") as fp:
            crop.save(fp, "JPEG", quality=JPEG_QUALITY)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)  # a full disk leaves no half-written crop behind
        raise
    return target
