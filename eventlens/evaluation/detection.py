"""Detection recall on the annotated group photos, with detection run exactly as the analyze stage runs it.

Each photo is probed, planned (:func:`~eventlens.analysis.detect_plan.plan_detection`), decoded at the
analysis scale and passed to :func:`~eventlens.analysis.photo.run_detection`; detections scoring below
``min_det_score`` are dropped. Ground-truth boxes are matched to detections greedily by IoU (highest first,
at least :data:`MATCH_MIN_IOU`, one detection per face); a nose point matches a detection whose box
contains it. Recall is reported per face-size bucket, the size being ``sqrt(w * h)`` of the ground-truth
box in original pixels.

WIDER and dlib annotations miss some faces (tiny, blurred, turned away), so detections matching no box are
reported as *unmatched detections*, an upper bound of false positives, not a false-positive count.

Speed is measured in one process, without landmarks or embeddings; :func:`evaluate_detection_in_worker`
runs it in a worker set up like the analysis workers (single-threaded numeric libraries).

Boxes are ``x1, y1, x2, y2`` in original pixels as displayed.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import multiprocessing
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from eventlens.analysis.photo import decode_for_detection, run_detection
from eventlens.analysis.pool import worker_environment
from eventlens.backends.base import FaceDetector
from eventlens.backends.registry import create_detector
from eventlens.detections import Detections, box_iou
from eventlens.evaluation.annotations import AnnotatedImage, load_annotations
from eventlens.settings import Settings

#: lower edges of the face-size buckets, in original pixels (sqrt of box area); the last is open
SIZE_BUCKET_EDGES_PX: tuple[float, ...] = (0, 10, 15, 20, 30, 45, 70)
#: the smallest face counted in the headline recall, original pixels
HEADLINE_MIN_FACE_PX = 20.0
#: a detection matches a ground-truth box when their IoU is at least this
MATCH_MIN_IOU = 0.3
_WARM_UP_SIDE_PX = 64


# --- geometry and matching ----------------------------------------------------------------------------


def face_sizes_px(boxes_xyxy: np.ndarray) -> np.ndarray:
    """Face size per box: ``sqrt(width * height)`` in the boxes' pixels, shape ``(n,)``."""
    b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    return np.sqrt(np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None))


def bucket_of(sizes_px: np.ndarray) -> np.ndarray:
    """Index into :data:`SIZE_BUCKET_EDGES_PX` of each face size (int64, ``(n,)``)."""
    return np.digitize(np.asarray(sizes_px, dtype=np.float64), SIZE_BUCKET_EDGES_PX[1:]).astype(np.int64)


def bucket_names() -> list[str]:
    """Names of the size buckets, e.g. ``[0,10)`` ... ``[70,inf)``."""
    edges = [*SIZE_BUCKET_EDGES_PX, math.inf]
    return [f"[{lo:g},{hi:g})" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]


def match_boxes(gt_xyxy: np.ndarray, det_xyxy: np.ndarray, min_iou: float = MATCH_MIN_IOU) -> np.ndarray:
    """Greedy one-to-one matching by IoU, highest first: per ground-truth box, a detection index or -1."""
    gt_xyxy = np.asarray(gt_xyxy, dtype=np.float64).reshape(-1, 4)
    matched = np.full(len(gt_xyxy), -1, dtype=np.int64)
    if not len(gt_xyxy) or not len(det_xyxy):
        return matched
    iou = box_iou(gt_xyxy, det_xyxy)
    gi, di = np.nonzero(iou >= min_iou)
    order = np.lexsort((di, gi, -iou[gi, di]))  # highest IoU first; ties by index, deterministic
    taken: set[int] = set()
    for g, d in zip(gi[order], di[order], strict=True):
        if matched[g] < 0 and int(d) not in taken:
            matched[g] = d
            taken.add(int(d))
    return matched


def match_points(points_xy: np.ndarray, det_xyxy: np.ndarray) -> np.ndarray:
    """Greedy one-to-one matching of points to boxes containing them, nearest box centre (relative to the
    box size) first: for each point, a detection index or -1."""
    points_xy = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    det = np.asarray(det_xyxy, dtype=np.float64).reshape(-1, 4)
    matched = np.full(len(points_xy), -1, dtype=np.int64)
    if not len(points_xy) or not len(det):
        return matched
    x, y = points_xy[:, 0:1], points_xy[:, 1:2]
    inside = (x >= det[:, 0]) & (x <= det[:, 2]) & (y >= det[:, 1]) & (y <= det[:, 3])
    centre = (det[:, :2] + det[:, 2:]) / 2
    size = np.maximum(face_sizes_px(det), 1e-6)
    dist = np.hypot(x - centre[:, 0], y - centre[:, 1]) / size
    pi, di = np.nonzero(inside)
    order = np.lexsort((di, pi, dist[pi, di]))
    taken: set[int] = set()
    for p, d in zip(pi[order], di[order], strict=True):
        if matched[p] < 0 and int(d) not in taken:
            matched[p] = d
            taken.add(int(d))
    return matched


# --- running the detector as the pipeline does ---------------------------------------------------------


def detect_like_pipeline(
    detector: FaceDetector, path: Path, settings: Settings
) -> tuple[Detections, float, float]:
    """Detections (original pixels, score-filtered) of ``path`` as ``analyze_photo`` computes them.

    Returns ``(detections, decode_s, detect_s)``: seconds spent probing/decoding and detecting.
    """
    started = time.perf_counter()
    plan, image = decode_for_detection(path, detector, settings.min_face_px, settings.max_image_megapixels)
    decoded = time.perf_counter()
    dets = run_detection(detector, image, plan).detections
    dets = dets[dets.scores >= settings.min_det_score]
    return dets, decoded - started, time.perf_counter() - decoded


# --- results ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageResult:
    """Ground truth against detections for one photo."""

    file_name: str
    source: str
    kind: str  # boxes | points | count
    detections: int
    gt_sizes_px: tuple[float, ...]  # per annotated box (empty for points and counts)
    gt_found: tuple[bool, ...]  # per annotated box or point
    expected_count: int | None
    decode_s: float
    detect_s: float

    @property
    def unmatched_detections(self) -> int:
        """Detections matching no annotated box or point (meaningless for count-only photos)."""
        return self.detections - sum(self.gt_found)

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file_name,
            "source": self.source,
            "kind": self.kind,
            "annotated_faces": len(self.gt_found) if self.kind != "count" else self.expected_count,
            "found": sum(self.gt_found),
            "detections": self.detections,
            "decode_ms": round(self.decode_s * 1000, 1),
            "detect_ms": round(self.detect_s * 1000, 1),
        }


@dataclass(frozen=True)
class BucketRecall:
    name: str
    faces: int
    found: int

    @property
    def recall(self) -> float | None:
        return self.found / self.faces if self.faces else None


def _ratio(found: int, total: int) -> float | None:
    return found / total if total else None


@dataclass
class DetectionReport:
    """Detection quality and speed at one ``min_face_px`` over the annotated group photos."""

    min_face_px: int
    min_det_score: float
    images: list[ImageResult] = field(default_factory=list)

    def _boxes(self) -> tuple[np.ndarray, np.ndarray]:
        rows = [im for im in self.images if im.kind == "boxes"]
        sizes = np.array([s for im in rows for s in im.gt_sizes_px], dtype=np.float64)
        found = np.array([f for im in rows for f in im.gt_found], dtype=bool)
        return sizes, found

    def buckets(self) -> list[BucketRecall]:
        """Recall of annotated boxes per face-size bucket (original pixels)."""
        sizes, found = self._boxes()
        index = bucket_of(sizes)
        return [
            BucketRecall(name, int((index == i).sum()), int(found[index == i].sum()))
            for i, name in enumerate(bucket_names())
        ]

    def recall_at_least(self, min_size_px: float = HEADLINE_MIN_FACE_PX) -> BucketRecall:
        """Recall of annotated boxes of at least ``min_size_px`` original pixels."""
        sizes, found = self._boxes()
        keep = sizes >= min_size_px
        return BucketRecall(f">={min_size_px:g}", int(keep.sum()), int(found[keep].sum()))

    def point_recall(self) -> BucketRecall:
        """Recall of nose-point annotations (CompreFace): faces of any size."""
        rows = [im for im in self.images if im.kind == "points"]
        return BucketRecall(
            "points", sum(len(im.gt_found) for im in rows), sum(sum(im.gt_found) for im in rows)
        )

    def unmatched_detections(self) -> int:
        """Detections matching no annotated box, on the box-annotated photos."""
        return sum(im.unmatched_detections for im in self.images if im.kind == "boxes")

    def count_agreement(self) -> list[tuple[str, int, int]]:
        """``(file, expected, detected)`` for photos annotated only with a face count."""
        return [
            (im.file_name, int(im.expected_count or 0), im.detections)
            for im in self.images
            if im.kind == "count"
        ]

    @property
    def decode_s(self) -> float:
        return sum(im.decode_s for im in self.images)

    @property
    def detect_s(self) -> float:
        return sum(im.detect_s for im in self.images)

    @property
    def photos_per_s(self) -> float:
        """Photos decoded and detected per second in one process (no landmarks or embeddings)."""
        total = self.decode_s + self.detect_s
        return len(self.images) / total if total > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        headline, points = self.recall_at_least(), self.point_recall()
        return {
            "min_face_px": self.min_face_px,
            "min_det_score": self.min_det_score,
            "photos": len(self.images),
            "buckets": [
                {"size_px": b.name, "faces": b.faces, "found": b.found, "recall": b.recall}
                for b in self.buckets()
            ],
            "recall_min_20px": {"faces": headline.faces, "found": headline.found, "recall": headline.recall},
            "point_recall": {"faces": points.faces, "found": points.found, "recall": points.recall},
            "unmatched_detections": self.unmatched_detections(),
            "count_agreement": [
                {"file": f, "expected": e, "detected": d} for f, e, d in self.count_agreement()
            ],
            "decode_s": round(self.decode_s, 3),
            "detect_s": round(self.detect_s, 3),
            "photos_per_s": round(self.photos_per_s, 2),
            "images": [im.as_dict() for im in self.images],
        }


# --- the whole evaluation ---------------------------------------------------------------------------------


def evaluate_image(
    detector: FaceDetector, image: AnnotatedImage, path: Path, settings: Settings
) -> ImageResult:
    """Detect faces in one annotated photo and match them against its ground truth."""
    dets, decode_s, detect_s = detect_like_pipeline(detector, path, settings)
    if image.kind == "boxes":
        found = match_boxes(image.boxes_xyxy, dets.xyxy) >= 0
        sizes = tuple(float(s) for s in face_sizes_px(image.boxes_xyxy))
    elif image.kind == "points":
        found, sizes = match_points(image.points_xy, dets.xyxy) >= 0, ()
    else:
        found, sizes = np.zeros(0, dtype=bool), ()
    return ImageResult(
        image.file_name,
        image.source,
        image.kind,
        len(dets),
        sizes,
        tuple(bool(f) for f in found),
        image.expected_count,
        decode_s,
        detect_s,
    )


def evaluate_detection(
    groups_dir: Path, settings: Settings, annotations: Sequence[AnnotatedImage] | None = None
) -> DetectionReport:
    """Run the configured detector on every annotated photo of ``groups_dir`` at ``settings.min_face_px``.

    Runs in this process; loading the model and a first warm-up call are not timed.
    """
    images = load_annotations(groups_dir) if annotations is None else list(annotations)
    detector = create_detector(settings.detector, settings)
    detector.load()
    detector.detect(np.zeros((_WARM_UP_SIDE_PX, _WARM_UP_SIDE_PX, 3), dtype=np.uint8))  # one-off set-up costs
    report = DetectionReport(settings.min_face_px, settings.min_det_score)
    for image in images:
        report.images.append(evaluate_image(detector, image, groups_dir / image.file_name, settings))
    return report


def upscaled_copies(
    groups_dir: Path, annotations: Sequence[AnnotatedImage], factor: float, out_dir: Path
) -> list[AnnotatedImage]:
    """Copies of the annotated photos enlarged ``factor`` times (Lanczos, JPEG quality 90) in ``out_dir``,
    with their annotations scaled alike: stand-ins for high-resolution event photos, where
    ``min_face_px`` decides the detection resolution (the originals are all under ~1 MP)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    scaled = []
    for image in annotations:
        target = out_dir / Path(image.file_name).with_suffix(".jpg").name
        if not target.exists():
            with Image.open(groups_dir / image.file_name) as im:
                rgb = ImageOps.exif_transpose(im).convert("RGB")
                size = (round(rgb.width * factor), round(rgb.height * factor))
                rgb.resize(size, Image.Resampling.LANCZOS).save(target, "JPEG", quality=90)
        scaled.append(
            replace(
                image,
                file_name=target.name,
                boxes_xyxy=image.boxes_xyxy * factor,
                points_xy=image.points_xy * factor,
            )
        )
    return scaled


def _evaluate_from_values(
    groups_dir: Path, settings_values: dict[str, Any], annotations: Sequence[AnnotatedImage] | None
) -> DetectionReport:
    return evaluate_detection(groups_dir, Settings(**settings_values), annotations)


def evaluate_detection_in_worker(
    groups_dir: Path, settings: Settings, annotations: Sequence[AnnotatedImage] | None = None
) -> DetectionReport:
    """:func:`evaluate_detection` in one spawned worker process set up like an analysis worker.

    The worker's numeric libraries (libfacedetection's OpenMP among them) run single-threaded, as in
    :mod:`eventlens.analysis.pool`, so the timings are those of one analysis worker and do not swing with
    the load of the other cores.
    """
    with (
        worker_environment(settings.huge_pages),
        cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool,
    ):
        return pool.submit(_evaluate_from_values, groups_dir, settings.model_dump(), annotations).result()
