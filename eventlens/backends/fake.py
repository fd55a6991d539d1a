"""A deterministic fake face model, for fast tests of the pipeline, CLI and API.

A "face" is a filled square of one of the :data:`PALETTE` colours (channel levels 0, 128, 255; the three
greys are excluded) on any background that does not quantise to a palette colour (e.g. dark grey 40).
:func:`draw_face` paints one. The fake detector finds one box per palette colour present; the fake
embedder maps the colour at the box centre to a fixed random unit vector of that identity, plus a small
deterministic jitter, so faces of one colour are ~0.1 apart and faces of different colours ~1.4 apart.
Survives JPEG compression at quality >= 80 for squares of 16 px and more when the colours use channel
levels 0 and 255 only: a 255 channel blurs into a ring of the matching 128 colour at the square's edge,
which would be found as a second face if that colour is also in the photo.
"""

from __future__ import annotations

import itertools
import zlib
from typing import TYPE_CHECKING

import numpy as np

from eventlens.backends.base import FaceDetector, FaceEmbedder, FaceLandmarker, ModelInfo
from eventlens.detections import Detections

if TYPE_CHECKING:
    from eventlens.settings import Settings

_LEVELS = (0, 128, 255)
PALETTE: list[tuple[int, int, int]] = [
    (r, g, b) for r, g, b in itertools.product(_LEVELS, repeat=3) if not (r == g == b)
]
_MIN_FACE_PX = 8
_EMBED_DIM = 128
_JITTER = 0.05

# Mean 68-point face layout in a unit box (x, y in 0..1), roughly the iBUG 300-W mean shape, in the
# proportions of a real neutral face (of the labelled faces, in inter-ocular distances: mouth 0.85 wide,
# its corners 1.07 below the lower eyelids, the upper lip 0.26 below the nose base, lips together).
_TEMPLATE68 = np.array(
    [(0.05 + 0.9 * i / 16, 0.35 + 0.62 * np.sin(np.pi * i / 16)) for i in range(17)]  # jaw
    + [(0.15 + 0.25 * i / 4, 0.22) for i in range(5)]  # right brow
    + [(0.6 + 0.25 * i / 4, 0.22) for i in range(5)]  # left brow
    + [(0.5, 0.35 + 0.28 * i / 3) for i in range(4)]  # nose bridge
    + [(0.4 + 0.2 * i / 4, 0.7) for i in range(5)]  # nostrils
    + [(0.22, 0.38), (0.28, 0.34), (0.34, 0.34), (0.4, 0.38), (0.34, 0.42), (0.28, 0.42)]  # right eye
    + [(0.6, 0.38), (0.66, 0.34), (0.72, 0.34), (0.78, 0.38), (0.72, 0.42), (0.66, 0.42)]  # left eye
    + [(0.34 + 0.32 * i / 6, 0.83 - 0.03 * np.sin(np.pi * i / 6)) for i in range(7)]  # outer lip, top
    + [(0.66 - 0.32 * i / 6, 0.83 + 0.06 * np.sin(np.pi * i / 6)) for i in range(1, 6)]  # outer lip, bottom
    + [(0.39 + 0.22 * i / 4, 0.83) for i in range(5)]  # inner lip, top
    + [(0.555 - 0.11 * i / 2, 0.83) for i in range(3)],  # inner lip, bottom
    dtype=np.float32,
)
assert _TEMPLATE68.shape == (68, 2)
_TEMPLATE5 = _TEMPLATE68[[36 + 1, 42 + 2, 30, 48, 54]]


def draw_face(rgb: np.ndarray, identity: int, xyxy: tuple[int, int, int, int]) -> None:
    """Paint the fake face of ``identity`` (index into :data:`PALETTE`) into ``rgb`` in place."""
    x1, y1, x2, y2 = xyxy
    rgb[y1:y2, x1:x2] = PALETTE[identity]


def _quantise(rgb: np.ndarray) -> np.ndarray:
    """Palette index per pixel, or -1 where the pixel is not a palette colour."""
    q = np.rint(rgb.astype(np.float32) / 127.5).astype(np.int16)  # 0, 1, 2 per channel
    code = q[..., 0] * 9 + q[..., 1] * 3 + q[..., 2]
    lut = np.full(27, -1, dtype=np.int16)
    for i, (r, g, b) in enumerate(PALETTE):
        lut[(r // 127) * 9 + (g // 127) * 3 + b // 127] = i
    identity: np.ndarray = lut[code]
    return identity


def identity_of_color(color: np.ndarray) -> int:
    return int(_quantise(np.asarray(color, dtype=np.uint8).reshape(1, 1, 3))[0, 0])


def _layout(xyxy: np.ndarray, template: np.ndarray) -> np.ndarray:
    xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
    wh = xyxy[:, 2:] - xyxy[:, :2]
    points: np.ndarray = xyxy[:, None, :2] + template[None] * wh[:, None, :]
    return points


class FakeDetector(FaceDetector):
    input_max_side_px = 4096
    min_face_at_input_px = _MIN_FACE_PX

    def __init__(self, settings: Settings | None = None) -> None:
        self.info = ModelInfo("fake-detector", "1")

    def detect(self, rgb: np.ndarray) -> Detections:
        labels = _quantise(rgb)
        boxes = []
        for identity in np.unique(labels):
            if identity < 0:
                continue
            ys, xs = np.nonzero(labels == identity)
            x1, x2, y1, y2 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
            if min(x2 - x1, y2 - y1) >= _MIN_FACE_PX and len(xs) >= 0.5 * (x2 - x1) * (y2 - y1):
                boxes.append((x1, y1, x2, y2))
        if not boxes:
            return Detections.empty()
        xyxy = np.array(boxes, dtype=np.float32)
        return Detections(xyxy, np.full(len(boxes), 0.99), _layout(xyxy, _TEMPLATE5))


class FakeLandmarker(FaceLandmarker):
    def __init__(self, settings: Settings | None = None) -> None:
        self.info = ModelInfo("fake-landmarks68", "1")

    def landmarks68(self, rgb: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
        return _layout(xyxy, _TEMPLATE68)


def identity_vector(identity: int) -> np.ndarray:
    """The fixed unit vector of a fake identity."""
    v = np.random.default_rng(1000 + identity).standard_normal(_EMBED_DIM)
    return (v / np.linalg.norm(v)).astype(np.float32)


class FakeEmbedder(FaceEmbedder):
    dim = _EMBED_DIM

    def __init__(self, settings: Settings | None = None) -> None:
        self.info = ModelInfo("fake-embedder", "1")

    def embed(self, rgb: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
        out = np.zeros((len(np.asarray(xyxy).reshape(-1, 4)), self.dim), dtype=np.float32)
        h, w = rgb.shape[:2]
        for i, (x1, y1, x2, y2) in enumerate(np.asarray(xyxy).reshape(-1, 4)):
            cx = int(np.clip((x1 + x2) / 2, 0, w - 1))
            cy = int(np.clip((y1 + y2) / 2, 0, h - 1))
            identity = identity_of_color(rgb[cy, cx])
            seed = zlib.crc32(np.array([x1, y1, x2, y2], dtype=np.int32).tobytes())
            jitter = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            base = identity_vector(identity) if identity >= 0 else identity_vector(len(PALETTE) + i)
            v = base + _JITTER * jitter / np.sqrt(self.dim)
            out[i] = v / np.linalg.norm(v)
        return out
