"""One photo of ``eventlens enhance``: measure, correct, write the enhanced copy and its crops.

A photo is decoded at full resolution at most once: a quick reduced decode (libjpeg DCT scaling) decides
whether it needs a correction; one that does not, and has no crops to cut, is copied byte for byte.
:func:`run_job` never raises for a bad photo: the failure is the result's ``error``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image
from PIL._imaging import set_blocks_max

from eventlens.deliver import correction
from eventlens.deliver.files import Original, copy_unchanged, read_photo, save_image
from eventlens.errors import InputError, RejectedFile
from eventlens.settings import DeliverSettings

log = logging.getLogger(__name__)
#: the measuring decode is at least this share of the photo's size (1/4 for a 12 MP JPEG)
MEASURE_MIN_SIDE_PX = 1000
#: freed 16 MB memory blocks a worker's Pillow keeps for its next images instead of handing them back
#: to the system (Pillow's default: none): a corrected 12 MP photo passes through ~5 full-size images
#: of 48 MB, and mapping fresh pages for each cost ~20 % of the CPU (benchmarks/profile_enhance.py)
PILLOW_BLOCKS_KEPT = 16


@dataclass(frozen=True)
class CutJob:
    """A crop to cut from the (enhanced) photo: box in displayed pixels of the original."""

    target: Path
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class EnhanceJob:
    """One photo to deliver (picklable for worker processes)."""

    sha256: str
    source: Path
    face_boxes: tuple[tuple[float, float, float, float], ...]  # the faces whose exposure matters
    enhanced_to: Path | None  # None: only crops (e.g. a portrait) from the corrected pixels
    cuts: tuple[CutJob, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)  # DeliverSettings values
    max_megapixels: float = 150.0


def _measure(
    original: Original, image: Image.Image, job: EnhanceJob, colour: bool = True
) -> tuple[correction.Measures, correction.Histograms]:
    boxes = [[v * original.scale for v in b] for b in job.face_boxes]
    return correction.measure(image, boxes, colour)


def _cut(image: Image.Image, scale: float, box: tuple[int, int, int, int]) -> Image.Image:
    if scale == 1.0:
        return image.crop(box)
    return image.crop(tuple(round(v * scale) for v in box))  # type: ignore[arg-type]


def init_worker() -> None:
    """Start of a worker process: Pillow keeps freed memory blocks (:data:`PILLOW_BLOCKS_KEPT`)."""
    set_blocks_max(PILLOW_BLOCKS_KEPT)


def run_job(job: EnhanceJob) -> dict[str, Any]:
    """Deliver one photo; returns what was done (for metadata.json)."""
    started = time.process_time()
    try:
        result = _run(job)
    except (RejectedFile, InputError, OSError) as exc:
        log.warning("enhance %s: %s", job.source, exc)
        result = {"sha256": job.sha256, "status": "failed", "error": str(exc)}
    result["cpu_s"] = round(time.process_time() - started, 3)
    return result


def _run(job: EnhanceJob) -> dict[str, Any]:
    s = DeliverSettings(**job.settings)
    with Image.open(job.source) as probe:
        long_side = max(probe.size)
    min_scale = min(1.0, MEASURE_MIN_SIDE_PX / max(long_side, 1))
    small = read_photo(job.source, job.max_megapixels, min_scale)
    before, hist = _measure(small, small.image, job)
    tone, reason = correction.plan(before, hist, s)
    result: dict[str, Any] = {"sha256": job.sha256, "before": before.as_dict(), "reason": reason}
    if tone.is_identity() and not job.cuts:
        if job.enhanced_to is not None:
            copy_unchanged(job.source, job.enhanced_to)
        result.update(status="unchanged", format=small.format, icc=small.icc_note)
        return result
    full = small if small.scale == 1.0 else read_photo(job.source, job.max_megapixels, 1.0)
    image, used = full.image, tone
    after = before
    if not tone.is_identity():
        used = correction.finish(tone, hist, before, s, full.image)
        sharp_before = correction.focus(full.image)
        kept = correction.keep_sharpness(sharp_before, correction.apply(full.image, used), used, s)
        image, used = kept.image, kept.correction
        boxes = [[v * full.scale for v in b] for b in job.face_boxes]
        after, _ = correction.measure_reduced(kept.small, image.width, boxes, False, kept.quality)
        result["sharpness_full"] = {
            "before": round(sharp_before, 4),
            "after": round(kept.quality.sharpness, 4),
        }
    if job.enhanced_to is not None:
        if used.is_identity():
            copy_unchanged(job.source, job.enhanced_to)
        else:
            save_image(
                image, job.enhanced_to, full.format, full.exif, full.had_icc, s.jpeg_quality, job.source
            )
    for cut in job.cuts:
        crop = _cut(image, full.scale, cut.box)
        save_image(crop, cut.target, "JPEG", full.exif, full.had_icc, s.jpeg_quality)
    result.update(
        status="unchanged" if used.is_identity() else "enhanced",
        format=full.format,
        icc=full.icc_note,
        size=[full.image.width, full.image.height],
    )
    if not used.is_identity():
        result["after"] = after.as_dict()
        result["corrections"] = used.explain()
    return result
