"""Face crops for display without cutting any image: a photo thumbnail placed inside a square window so that
only the face shows (CSS ``overflow: hidden``), so the only image the server sends is the thumbnail, behind a
session or a signed URL like every other (webcore's ``thumb_url``).

:func:`face_window` says which thumbnail size to use and where to put it: the window shows the face box
``x1, y1, x2, y2`` (original pixels as displayed) widened by :data:`MARGIN` on each side, scaled to
``window_px``.
"""

from __future__ import annotations

from dataclasses import dataclass

from eventlens.imaging.thumbnails import THUMBNAIL_SIZES_PX

#: share of the face box's longer side shown around it on each side
MARGIN = 0.25


@dataclass(frozen=True, slots=True)
class FaceWindow:
    thumb_size_px: int  # the thumbnail to show (its longer side)
    width_px: float  # the thumbnail's displayed size
    height_px: float
    left_px: float  # its offset inside the window (<= 0)
    top_px: float
    window_px: int

    @property
    def img_style(self) -> str:
        return (
            f"width:{self.width_px:.1f}px;height:{self.height_px:.1f}px;"
            f"left:{self.left_px:.1f}px;top:{self.top_px:.1f}px"
        )

    @property
    def window_style(self) -> str:
        return f"width:{self.window_px}px;height:{self.window_px}px"


def face_window(
    box: tuple[float, float, float, float], photo_width_px: int, photo_height_px: int, window_px: int
) -> FaceWindow:
    """Where to place which thumbnail of a ``photo_width_px`` x ``photo_height_px`` photo so that a square
    ``window_px`` window shows the face ``box`` with its margin (centred on the face)."""
    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1, 1.0) * (1 + 2 * MARGIN)
    scale = window_px / side
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    width, height = photo_width_px * scale, photo_height_px * scale
    longer = max(width, height)
    thumb = next((s for s in THUMBNAIL_SIZES_PX if s >= longer), THUMBNAIL_SIZES_PX[-1])
    return FaceWindow(
        thumb_size_px=thumb,
        width_px=width,
        height_px=height,
        left_px=window_px / 2 - cx * scale,
        top_px=window_px / 2 - cy * scale,
        window_px=window_px,
    )
