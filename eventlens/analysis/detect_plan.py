"""How to run a detector on a photo so that faces of ``min_face_px`` original pixels are found.

A detector finds faces of about ``min_face_at_input_px`` and more at its input and is tuned for inputs up to
``input_max_side_px``. From the smallest face wanted we derive the detection scale
``scale = min_face_at_input_px / min_face_px``, but a photo is never shrunk below the detector's native
size (that would save nothing and lose faces) nor enlarged. When the scaled photo fits into the
detector's comfortable size (``input_max_side_px * SINGLE_PASS_SLACK``) one pass suffices; otherwise the
scaled photo is cut into overlapping square tiles of ``input_max_side_px`` and a whole-photo pass at the
size that fits finds the faces too large for a tile. Results are merged by non-maximum suppression.

All functions here are pure: they take sizes and return plans, so they are unit-tested without images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: a single pass is used up to this multiple of the detector's native input size (measured, BENCHMARKS.md)
SINGLE_PASS_SLACK = 1.35
#: tiles overlap by this fraction of their side so a face cut by one tile is whole in its neighbour
TILE_OVERLAP = 0.25
#: boxes of the tiled and whole-photo passes that overlap more than this are one face
MERGE_IOU = 0.4


@dataclass(frozen=True)
class DetectionPass:
    """Run the detector on ``region`` (x1, y1, x2, y2 in pixels of the photo scaled by ``scale``)."""

    scale: float
    region: tuple[int, int, int, int]


@dataclass(frozen=True)
class DetectionPlan:
    passes: tuple[DetectionPass, ...]

    @property
    def max_scale(self) -> float:
        return max(p.scale for p in self.passes)

    @property
    def input_megapixels(self) -> float:
        """Pixels the detector will see in total, a proxy of its cost."""
        return sum((p.region[2] - p.region[0]) * (p.region[3] - p.region[1]) for p in self.passes) / 1e6


def detection_scale(min_face_px: float, min_face_at_input_px: float) -> float:
    """The scale that shows a face of ``min_face_px`` original pixels to the detector at its minimum size."""
    return min(1.0, min_face_at_input_px / float(min_face_px))


def _scaled(size_px: int, scale: float) -> int:
    return max(1, round(size_px * scale))


def _tile_starts(length_px: int, tile_px: int, step_px: int) -> list[int]:
    if length_px <= tile_px:
        return [0]
    count = math.ceil((length_px - tile_px) / step_px) + 1
    step = (length_px - tile_px) / (count - 1)
    return [round(i * step) for i in range(count)]


def plan_detection(
    width_px: int,
    height_px: int,
    min_face_px: float,
    input_max_side_px: int,
    min_face_at_input_px: float,
) -> DetectionPlan:
    """The passes that find faces of ``min_face_px`` and more in a ``width_px`` x ``height_px`` photo."""
    fit = input_max_side_px / max(width_px, height_px)
    scale = min(1.0, max(detection_scale(min_face_px, min_face_at_input_px), fit))
    w, h = _scaled(width_px, scale), _scaled(height_px, scale)
    if max(w, h) <= input_max_side_px * SINGLE_PASS_SLACK:
        return DetectionPlan((DetectionPass(scale, (0, 0, w, h)),))
    tile = input_max_side_px
    step = max(1, round(tile * (1 - TILE_OVERLAP)))
    passes = [
        DetectionPass(scale, (x, y, min(x + tile, w), min(y + tile, h)))
        for y in _tile_starts(h, tile, step)
        for x in _tile_starts(w, tile, step)
    ]
    overview = input_max_side_px / max(width_px, height_px)
    passes.append(DetectionPass(overview, (0, 0, _scaled(width_px, overview), _scaled(height_px, overview))))
    return DetectionPlan(tuple(passes))
