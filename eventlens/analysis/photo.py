"""Analyse one photo, once: decode at reduced size, detect, place landmarks, embed, measure.

This is the unit of work a worker process runs. It never touches the catalog: it returns a
:class:`PhotoAnalysis` (plain numbers and arrays) that the main process writes. Coordinates in the result
are original pixels as displayed (EXIF orientation applied).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from eventlens.analysis.detect_plan import MERGE_IOU, DetectionPlan, plan_detection
from eventlens.attributes.faces import FaceMeasurements, measure_face
from eventlens.attributes.image_quality import PhotoQuality, photo_quality
from eventlens.backends.base import EyeModel, FaceDetector, FaceEmbedder, FaceLandmarker
from eventlens.detections import Detections
from eventlens.errors import RejectedFile
from eventlens.imaging.decode import DecodedImage, decode, probe

#: photos are decoded with at least this long side (or fully) for landmarks and measurements; a 12 MP
#: photo (4000 px) then decodes at half size with JPEG DCT scaling, 5x cheaper than in full
ANALYSIS_MIN_SIDE_PX = 1600
#: eyes are measured on faces of at least this size (original pixels); below it an eye is a few pixels
EYES_MIN_FACE_PX = 24
#: a face to embed should span at least this many pixels of the image its chip is cut from; when the first
#: decode is too small for the smallest such face, the photo is decoded again at a larger size (clustering
#: quality is flat from 64 px up and drops below 48 px; BENCHMARKS.md)
EMBED_FACE_PX = 64
#: faces at least this large in the detector's smaller copy of the photo are measured on that copy (eye
#: crops and face focus): their eye crops still average 2x2 blocks or more there, and cutting them from
#: the larger image cost ~3 ms per face (a fifth of the faces of the 1000-photo event, most of the time)
SMALL_COPY_MIN_FACE_PX = 192
#: a detection closer than this to an inner tile edge is a cut face; its neighbour tile has it whole
_TILE_EDGE_MARGIN_PX = 2


@dataclass
class FaceAnalysis:
    xyxy: np.ndarray  # (4,) float32, original pixels
    det_score: float
    landmarks5: np.ndarray | None  # (5, 2) detector landmarks, original pixels
    landmarks68: np.ndarray | None  # (68, 2) original pixels; None when measurements are off
    embedding: np.ndarray | None  # (dim,) float32; None for faces too small to embed
    measurements: FaceMeasurements | None  # None when measurements are off


@dataclass
class PhotoAnalysis:
    sha256: str
    width_px: int = 0
    height_px: int = 0
    faces: list[FaceAnalysis] = field(default_factory=list)
    quality: PhotoQuality | None = None
    rejected_reason: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass
class Models:
    """The backends one worker uses; each loads its weights on first use."""

    detector: FaceDetector
    landmarker: FaceLandmarker
    embedder: FaceEmbedder
    eyes: EyeModel

    def all(self) -> tuple[FaceDetector, FaceLandmarker, FaceEmbedder, EyeModel]:
        return self.detector, self.landmarker, self.embedder, self.eyes


class _Timer:
    def __init__(self, into: dict[str, float]) -> None:
        self.into = into
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.into[name] = self.into.get(name, 0.0) + (now - self.last) * 1000.0
        self.last = now


def _resized(image: DecodedImage, factor: float) -> tuple[np.ndarray, Image.Image | None]:
    """``image``'s pixels scaled by ``factor`` (<= 1): integer box reduction, then a bilinear remainder;
    as an array and, when at hand, as the Pillow image holding the same pixels."""
    if factor >= 0.999:
        return image.rgb, image.pil
    rgb = image.rgb
    im = image.pil
    whole = int(1 / factor)
    if whole >= 2:
        im = im.reduce(whole)
    target = (max(1, round(rgb.shape[1] * factor)), max(1, round(rgb.shape[0] * factor)))
    if im.size != target:
        im = im.resize(target, Image.Resampling.BILINEAR)
    return np.asarray(im), im


@dataclass
class DetectionRun:
    """Faces found in a photo (original pixels, left to right) and the smallest whole-photo image the
    detector saw (reused for whole-photo measurements instead of resizing the photo again)."""

    detections: Detections
    preview: np.ndarray | Image.Image  # the Pillow image when at hand (no copy for measurements)


def run_detection(detector: FaceDetector, image: DecodedImage, plan: DetectionPlan) -> DetectionRun:
    """Execute ``plan`` on ``image``; boxes in original pixels, merged across passes."""
    found = []
    by_scale: dict[float, tuple[np.ndarray, Image.Image | None]] = {}
    for p in plan.passes:
        if p.scale not in by_scale:
            by_scale[p.scale] = _resized(image, min(1.0, p.scale / image.scale))
        scaled = by_scale[p.scale][0]
        x1, y1, x2, y2 = p.region
        tile = np.ascontiguousarray(scaled[y1:y2, x1:x2])
        dets = detector.detect(tile)
        if len(plan.passes) > 1 and len(dets):
            dets = dets[_whole_in_tile(dets, p.region, scaled.shape[1], scaled.shape[0])]
        effective = scaled.shape[1] / image.original_width_px
        found.append(dets.mapped(1.0, x1, y1).mapped(effective))
    merged = Detections.concat(found)
    if len(plan.passes) > 1:
        merged = merged.nms(MERGE_IOU)
    merged = merged.clipped(image.original_width_px, image.original_height_px)
    order = np.lexsort((merged.xyxy[:, 1], merged.xyxy[:, 0]))  # left to right, then top to bottom
    preview_rgb, preview_pil = by_scale[min(by_scale)]
    return DetectionRun(merged[order], preview_pil if preview_pil is not None else preview_rgb)


def decode_for_detection(
    path: Path, detector: FaceDetector, min_face_px: float, max_megapixels: float
) -> tuple[DetectionPlan, DecodedImage]:
    """The detection plan for ``path`` and the photo decoded just large enough for it and for landmarks
    (JPEG DCT scaling: a 12 MP photo decodes at half size). Raises :class:`RejectedFile`."""
    header = probe(path, max_megapixels)
    plan = plan_detection(
        header.width_px,
        header.height_px,
        min_face_px,
        detector.input_max_side_px,
        detector.min_face_at_input_px,
    )
    long_side = max(header.width_px, header.height_px)
    min_scale = max(plan.max_scale, min(1.0, ANALYSIS_MIN_SIDE_PX / long_side))
    return plan, decode(path, max_megapixels, min_scale)


def _whole_in_tile(
    dets: Detections, region: tuple[int, int, int, int], width: int, height: int
) -> np.ndarray:
    """Mask of boxes that do not touch an inner edge of the tile (edges of the photo are fine)."""
    x1, y1, x2, y2 = region
    m = _TILE_EDGE_MARGIN_PX
    b = dets.xyxy
    ok = np.ones(len(dets), dtype=bool)
    if x1 > 0:
        ok &= b[:, 0] > m
    if y1 > 0:
        ok &= b[:, 1] > m
    if x2 < width:
        ok &= b[:, 2] < (x2 - x1) - m
    if y2 < height:
        ok &= b[:, 3] < (y2 - y1) - m
    return ok


def analyze_photo(
    sha256: str,
    path: Path,
    models: Models,
    min_face_px: float,
    min_det_score: float,
    max_megapixels: float,
    embed_min_face_px: float = 0.0,
    measure: bool = True,
) -> PhotoAnalysis:
    """Analyse the photo at ``path``; a damaged file yields ``rejected_reason`` instead of an exception.

    Faces smaller than ``embed_min_face_px`` (original pixels) get landmarks and measurements but no
    embedding: their embeddings are too unreliable to compare (see BENCHMARKS.md). With ``measure`` off,
    the curation work (68 landmarks, eyes, pose, mouth, focus, exposure, photo quality) is skipped.
    """
    result = PhotoAnalysis(sha256)
    timer = _Timer(result.timings_ms)
    try:
        plan, image = decode_for_detection(path, models.detector, min_face_px, max_megapixels)
    except RejectedFile as exc:
        result.rejected_reason = exc.reason
        return result
    result.width_px, result.height_px = image.original_width_px, image.original_height_px
    timer.lap("decode")
    run = run_detection(models.detector, image, plan)
    dets = run.detections[run.detections.scores >= min_det_score]
    timer.lap("detect")
    if measure:
        result.quality = photo_quality(run.preview)
        timer.lap("attributes")
    if not len(dets):
        return result

    sizes = dets.sizes_px
    to_embed = sizes >= embed_min_face_px
    if to_embed.any():
        needed = min(1.0, EMBED_FACE_PX / float(sizes[to_embed].min()))
        if needed > image.scale * 1.05:
            try:
                image = decode(path, max_megapixels, needed)
            except RejectedFile as exc:
                result.rejected_reason = exc.reason
                return result
            timer.lap("decode")
    boxes_in_image = dets.xyxy * image.scale
    embeddings = np.zeros((len(dets), models.embedder.dim), dtype=np.float32)
    if to_embed.any():
        embeddings[to_embed] = models.embedder.embed(image.rgb, boxes_in_image[to_embed])
    timer.lap("embed")
    landmarks68: np.ndarray | None = None
    measurements: list[FaceMeasurements | None] = [None] * len(dets)
    if measure:
        landmarks_in_image = models.landmarker.landmarks68(image.rgb, boxes_in_image)
        landmarks68 = (landmarks_in_image / image.scale).astype(np.float32)
        timer.lap("landmarks")
        measurements = _measure_faces(
            image, run.preview, dets, boxes_in_image, landmarks_in_image, models, result
        )
        timer.lap("attributes")
    for i in range(len(dets)):
        result.faces.append(
            FaceAnalysis(
                xyxy=dets.xyxy[i],
                det_score=float(dets.scores[i]),
                landmarks5=None if dets.landmarks5 is None else dets.landmarks5[i],
                landmarks68=None if landmarks68 is None else landmarks68[i],
                embedding=embeddings[i] if to_embed[i] else None,
                measurements=measurements[i],
            )
        )
    return result


def _measure_faces(
    image: DecodedImage,
    preview: np.ndarray | Image.Image,
    dets: Detections,
    boxes_in_image: np.ndarray,
    landmarks_in_image: np.ndarray,
    models: Models,
    result: PhotoAnalysis,
) -> list[FaceMeasurements | None]:
    """Measure every face on ``image``, or on the detector's smaller copy ``preview`` for faces of at least
    :data:`SMALL_COPY_MIN_FACE_PX` there (same measurements; crops of large faces cost far less)."""
    pixels = image.pil  # Pillow: crops cut in C, no copies
    boxes, landmarks = boxes_in_image, landmarks_in_image
    scale = preview.width / image.rgb.shape[1] if isinstance(preview, Image.Image) else 1.0
    on_preview = np.zeros(len(dets), dtype=bool)
    if scale < 0.99:
        on_preview = dets.sizes_px * image.scale * scale >= SMALL_COPY_MIN_FACE_PX
        boxes, landmarks = boxes.copy(), landmarks.copy()
        boxes[on_preview] *= scale  # box edges scale; pixel centres (landmarks) keep dlib's convention
        landmarks[on_preview] = (landmarks[on_preview] + 0.5) * scale - 0.5
    ears = np.full((len(dets), 2), np.nan)
    dark = np.full((len(dets), 2), np.nan)
    eye_faces = dets.sizes_px >= EYES_MIN_FACE_PX
    for source, chosen in ((pixels, eye_faces & ~on_preview), (preview, eye_faces & on_preview)):
        if chosen.any():
            ears[chosen], dark[chosen] = models.eyes.measure_eyes(source, landmarks[chosen])
    return [
        measure_face(
            preview if on_preview[i] else pixels,
            boxes[i],
            landmarks[i],
            ears[i],
            dets.xyxy[i],
            result.width_px,
            result.height_px,
            iris_dark=dark[i],
        )
        for i in range(len(dets))
    ]
