"""``Detections``: the validated result of one face-detection pass.

Boxes are ``x1, y1, x2, y2`` in pixels of the image the detector saw (floats, x2/y2 exclusive), scores
are in ``[0, 1]``, and the optional five landmarks are the detector's own points (for libfacedetection:
right eye, left eye, nose tip, right and left mouth corner, as seen in the image), shape ``(n, 5, 2)``.
Adapters that turn a backend's raw output into this type live with their backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def _as_float32(a: object, shape_tail: tuple[int, ...], name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float32)
    if arr.size == 0:
        arr = arr.reshape((0, *shape_tail))
    if arr.ndim != 1 + len(shape_tail) or arr.shape[1:] != shape_tail:
        raise ValueError(f"{name} must have shape (n, {', '.join(map(str, shape_tail))}); got {arr.shape}")
    return arr


@dataclass(frozen=True)
class Detections:
    """Faces found in one image: ``xyxy (n, 4)``, ``scores (n,)``, ``landmarks5 (n, 5, 2)`` or ``None``."""

    xyxy: np.ndarray
    scores: np.ndarray
    landmarks5: np.ndarray | None = None

    def __post_init__(self) -> None:
        xyxy = _as_float32(self.xyxy, (4,), "xyxy")
        n = len(xyxy)
        scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        if scores.shape != (n,):
            raise ValueError(f"scores must have shape ({n},) to match xyxy; got {scores.shape}")
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "scores", scores)
        if self.landmarks5 is not None:
            lm = _as_float32(self.landmarks5, (5, 2), "landmarks5")
            if len(lm) != n:
                raise ValueError(f"landmarks5 must have {n} rows to match xyxy; got {len(lm)}")
            object.__setattr__(self, "landmarks5", lm)
        if n and np.any(xyxy[:, 2:] < xyxy[:, :2]):
            raise ValueError("boxes must satisfy x2 >= x1 and y2 >= y1")

    @classmethod
    def empty(cls, with_landmarks: bool = True) -> Detections:
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2)) if with_landmarks else None)

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: int | slice | np.ndarray | Sequence[int]) -> Detections:
        """Select faces by a boolean mask, an index array or a slice (an int selects one face)."""
        if isinstance(index, int | np.integer):
            index = [int(index)]
        lm = None if self.landmarks5 is None else self.landmarks5[index]
        return Detections(self.xyxy[index], self.scores[index], lm)

    @property
    def sizes_px(self) -> np.ndarray:
        """Face size per box: the geometric mean of width and height, in pixels."""
        wh = self.xyxy[:, 2:] - self.xyxy[:, :2]
        sizes: np.ndarray = np.sqrt(np.maximum(wh[:, 0], 0) * np.maximum(wh[:, 1], 0))
        return sizes

    def mapped(self, scale: float, offset_x_px: float = 0.0, offset_y_px: float = 0.0) -> Detections:
        """Map coordinates back: ``original = detector / scale + offset`` (boxes and landmarks)."""
        off = np.array([offset_x_px, offset_y_px], dtype=np.float32)
        xyxy = self.xyxy / scale + np.tile(off, 2)
        lm = None if self.landmarks5 is None else self.landmarks5 / scale + off
        return Detections(xyxy, self.scores, lm)

    def clipped(self, width_px: int, height_px: int) -> Detections:
        """Clip boxes to the image; landmarks are left as they are (they may lie outside a cut face)."""
        xyxy = self.xyxy.copy()
        xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, width_px)
        xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, height_px)
        return Detections(xyxy, self.scores, self.landmarks5)

    @staticmethod
    def concat(parts: Sequence[Detections]) -> Detections:
        parts = [p for p in parts if len(p)]
        if not parts:
            return Detections.empty()
        with_lm = all(p.landmarks5 is not None for p in parts)
        lm = np.concatenate([p.landmarks5 for p in parts]) if with_lm else None
        return Detections(
            np.concatenate([p.xyxy for p in parts]), np.concatenate([p.scores for p in parts]), lm
        )

    def nms(self, iou_threshold: float) -> Detections:
        """Greedy non-maximum suppression, highest score first; the result is ordered by descending score."""
        if len(self) < 2:
            return self
        order = np.argsort(-self.scores, kind="stable")
        keep: list[int] = []
        suppressed = np.zeros(len(self), dtype=bool)
        ious = box_iou(self.xyxy, self.xyxy)
        for i in order:
            if suppressed[i]:
                continue
            keep.append(int(i))
            suppressed |= ious[i] > iou_threshold
        return self[np.array(keep)]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection over union of boxes ``a (n, 4)`` and ``b (m, 4)`` in xyxy; shape ``(n, m)``."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
