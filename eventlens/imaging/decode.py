"""Reading photos safely: header probing, reduced-size decoding, EXIF orientation.

Every failure on one file becomes :class:`~eventlens.errors.RejectedFile` with a one-line reason; nothing
here writes to the file. Sizes are reported *as displayed*, i.e. after the EXIF orientation is applied, and
all face coordinates in eventlens use that frame.

JPEGs are decoded at reduced size with libjpeg's DCT scaling (``Image.draft``: 1/2, 1/4 or 1/8), which is
3-5x cheaper than a full decode followed by a resize.

:func:`decode` (pixels as a numpy array, for the analysis) decodes colour JPEGs with ``simplejpeg``
(libjpeg-turbo) straight into the array, at the scale Pillow would choose and with the same pixels:
Pillow keeps RGB images as 4 bytes per pixel, and turning a decoded 12 MP photo into a numpy array
(``tobytes``) cost as much as decoding it (~50 ms; BENCHMARKS.md). Anything else, or a JPEG that
simplejpeg refuses, goes through Pillow, whose errors are the ones reported.
"""

from __future__ import annotations

import functools
import io
import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from eventlens.errors import RejectedFile

#: formats eventlens accepts (Pillow format names)
SUPPORTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "TIFF", "HEIF", "AVIF", "BMP", "GIF"})

# Signatures of formats that exist in photo folders but that no installed decoder reads.
_KNOWN_UNSUPPORTED: list[tuple[bytes, int, str]] = [
    (b"\xff\x0a", 0, "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", 0, "JPEG XL"),
    (b"%PDF", 0, "PDF document"),
    (b"PK\x03\x04", 0, "ZIP archive"),
    (b"ftypqt", 4, "QuickTime video"),
    (b"ftypisom", 4, "MP4 video"),
    (b"ftypmp4", 4, "MP4 video"),
    (b"ftypcrx", 4, "Canon CR3 raw"),
]

_EXIF_ORIENTATION = 0x0112
_EXIF_IFD = 0x8769
_EXIF_DATETIME_ORIGINAL = 0x9003
_EXIF_DATETIME = 0x0132


@functools.cache
def _register_plugins() -> None:
    """Teach Pillow HEIC/HEIF (pillow-heif). AVIF is built into Pillow >= 11.2."""
    try:
        import pillow_heif  # noqa: PLC0415 - optional plugin, registered on first use
    except ImportError:
        return
    pillow_heif.register_heif_opener()


@dataclass(frozen=True)
class ImageHeader:
    """What the header of an image says, without decoding pixels."""

    format: str
    width_px: int  # as displayed (EXIF orientation applied)
    height_px: int
    orientation: int  # EXIF orientation 1..8 (1 when absent or invalid)
    taken_at: str | None  # EXIF DateTimeOriginal as ISO 8601, when present and valid

    @property
    def megapixels(self) -> float:
        return self.width_px * self.height_px / 1e6


@dataclass(frozen=True)
class DecodedImage:
    """Pixels of a photo, oriented as displayed, possibly at reduced size.

    ``scale`` is decoded pixels per original (displayed) pixel: a box in ``rgb`` maps to the original by
    dividing by ``scale``. ``pil`` is the RGB Pillow image holding the same pixels (crops and resizes cut
    from it run in C without copying the photo).
    """

    rgb: np.ndarray  # uint8 (h, w, 3)
    scale: float
    original_width_px: int
    original_height_px: int
    pil_image: Image.Image | None = field(default=None, repr=False, compare=False)

    @property
    def pil(self) -> Image.Image:
        """The same pixels as a Pillow image (made from ``rgb`` on first use when the decoder gave none)."""
        if self.pil_image is None:
            object.__setattr__(self, "pil_image", Image.fromarray(self.rgb))  # a cache on a frozen record
        assert self.pil_image is not None
        return self.pil_image


def _sniff_unsupported(head: bytes) -> str | None:
    for magic, offset, name in _KNOWN_UNSUPPORTED:
        if head[offset : offset + len(magic)] == magic:
            return name
    return None


def _looks_like_text(head: bytes) -> bool:
    for cut in range(4):  # the sample may end inside a multi-byte UTF-8 character
        try:
            text = head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return all(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return False


def _open(fp: BinaryIO, max_pixels: int) -> Image.Image:
    _register_plugins()
    head = fp.read(32)
    fp.seek(0)
    if not head:
        raise RejectedFile("empty file (0 bytes)")
    Image.MAX_IMAGE_PIXELS = max_pixels  # Pillow's own guard, at our limit (warns above 1x, fails above 2x)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            warnings.simplefilter("ignore", UserWarning)  # e.g. "Corrupt EXIF data": EXIF is optional
            im = Image.open(fp)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        declared = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(declared.group(1)) / 1e6:,.0f} MP" if declared else "too many pixels"
        raise RejectedFile(
            f"decompression bomb: declares {size}, more than the limit of {max_pixels / 1e6:.0f} MP "
            "(setting max_image_megapixels)"
        ) from None
    except UnidentifiedImageError:
        name = _sniff_unsupported(head)
        if name:
            raise RejectedFile(f"unsupported format: {name} (no decoder installed)") from None
        if _looks_like_text(head):
            raise RejectedFile("not an image (text file)") from None
        raise RejectedFile("not a readable image (unrecognised or corrupt content)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise RejectedFile(f"corrupt image header: {exc}") from None
    if im.format not in SUPPORTED_FORMATS:
        raise RejectedFile(f"unsupported format: {im.format}")
    width, height = im.size
    if width <= 0 or height <= 0:
        raise RejectedFile(f"invalid image size {width}x{height}")
    if width * height > max_pixels:
        raise RejectedFile(
            f"decompression bomb: declares {width}x{height} = {width * height / 1e6:.0f} MP, "
            f"more than the limit of {max_pixels / 1e6:.0f} MP (setting max_image_megapixels)"
        )
    return im


def _exif_orientation(im: Image.Image) -> int:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            value = im.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - malformed EXIF must not reject an otherwise good photo
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _exif_taken_at(im: Image.Image) -> str | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            exif = im.getexif()
            raw = exif.get_ifd(_EXIF_IFD).get(_EXIF_DATETIME_ORIGINAL) or exif.get(_EXIF_DATETIME)
    except Exception:  # noqa: BLE001 - malformed EXIF: no capture time
        return None
    if not isinstance(raw, str):
        return None
    try:
        return datetime.strptime(raw.strip("\x00 "), "%Y:%m:%d %H:%M:%S").isoformat()
    except ValueError:
        return None


def _header_of(im: Image.Image) -> ImageHeader:
    orientation = _exif_orientation(im)
    width, height = im.size
    if orientation >= 5:  # 5..8 rotate by 90 degrees
        width, height = height, width
    return ImageHeader(im.format or "?", width, height, orientation, _exif_taken_at(im))


def probe(path: Path, max_megapixels: float) -> ImageHeader:
    """Read the header of ``path``; raise :class:`RejectedFile` when it cannot be a usable photo."""
    with open(path, "rb") as fp:
        im = _open(fp, int(max_megapixels * 1e6))
        return _header_of(im)


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode == "RGB":
        return im
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float64)
        peak = 65535.0 if arr.max(initial=0) > 255 else 255.0
        return Image.fromarray(np.clip(arr / peak * 255.0, 0, 255).astype(np.uint8)).convert("RGB")
    return im.convert("RGB")


def decode(path: Path, max_megapixels: float, min_scale: float = 1.0) -> DecodedImage:
    """Decode ``path`` oriented as displayed, at no less than ``min_scale`` of the original size.

    JPEGs use DCT-domain reduction when ``min_scale <= 0.5``; other formats decode fully (``scale == 1``).
    Truncated or corrupt pixel data raises :class:`RejectedFile`.
    """
    with open(path, "rb") as fp:
        data = fp.read()
    return decode_bytes(data, max_megapixels, min_scale)


def decode_bytes(data: bytes, max_megapixels: float, min_scale: float = 1.0) -> DecodedImage:
    """As :func:`decode`, from bytes in memory."""
    fast = _decode_jpeg_to_array(data, max_megapixels, min_scale)
    if fast is not None:
        return fast
    im, header = _decode_image(data, max_megapixels, min_scale)
    rgb = np.asarray(im, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise RejectedFile(f"unexpected decoded image shape {rgb.shape}")
    scale = rgb.shape[1] / header.width_px
    return DecodedImage(np.ascontiguousarray(rgb), scale, header.width_px, header.height_px, pil_image=im)


def decode_pil(path: Path, max_megapixels: float, min_scale: float = 1.0) -> tuple[Image.Image, float]:
    """As :func:`decode`, but the RGB Pillow image and its scale (no numpy copy: for crops and thumbnails)."""
    with open(path, "rb") as fp:
        im, header = _decode_image(fp.read(), max_megapixels, min_scale)
    return im, im.width / header.width_px


def _draft_request(size: tuple[int, int], min_scale: float) -> tuple[int, int] | None:
    """The size asked of ``Image.draft`` for a JPEG of stored ``size`` (None: decode in full)."""
    if min_scale > 0.5:
        return None
    return max(1, math.ceil(size[0] * min_scale)), max(1, math.ceil(size[1] * min_scale))


def _draft_denominator(size: tuple[int, int], want: tuple[int, int] | None) -> int:
    """The DCT scaling 1/n that Pillow's ``JpegImageFile.draft`` picks for ``want``: the largest n of
    8, 4, 2 and 1 that keeps the image at least ``want``."""
    if want is None:
        return 1
    ratio = min(size[0] // want[0], size[1] // want[1])
    return next(n for n in (8, 4, 2, 1) if ratio >= n)


#: numpy views equal to Pillow's ``ImageOps.exif_transpose`` for EXIF orientations 2..8
_ORIENT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: a.transpose(1, 0, 2)[:, ::-1],
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: a.transpose(1, 0, 2)[::-1],
}


def _decode_jpeg_to_array(data: bytes, max_megapixels: float, min_scale: float) -> DecodedImage | None:
    """A colour JPEG decoded by simplejpeg into the array Pillow's path would give; None for any other
    image, when simplejpeg is missing or refuses the data (Pillow then decodes it, or says why not)."""
    im = _open(io.BytesIO(data), int(max_megapixels * 1e6))  # the same checks and errors as Pillow's path
    if im.format != "JPEG" or im.mode != "RGB":
        return None
    try:
        import simplejpeg  # noqa: PLC0415 - a small C extension, only needed here
    except ImportError:
        return None
    header = _header_of(im)
    raw_w, raw_h = im.size
    n = _draft_denominator(im.size, _draft_request(im.size, min_scale))
    want_w, want_h = -(-raw_w // n), -(-raw_h // n)
    try:
        rgb = simplejpeg.decode_jpeg(data, "RGB", min_factor=n, min_width=want_w, min_height=want_h)
    except ValueError:  # damaged data (also recoverable damage): Pillow's path reports it
        return None
    if rgb.shape != (want_h, want_w, 3):
        return None
    if header.orientation != 1:
        rgb = np.ascontiguousarray(_ORIENT[header.orientation](rgb))
    return DecodedImage(rgb, rgb.shape[1] / header.width_px, header.width_px, header.height_px)


def _decode_image(data: bytes, max_megapixels: float, min_scale: float) -> tuple[Image.Image, ImageHeader]:
    im = _open(io.BytesIO(data), int(max_megapixels * 1e6))
    header = _header_of(im)
    want = _draft_request(im.size, min_scale) if im.format == "JPEG" else None
    if want is not None:
        im.draft("RGB", want)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            im.load()
            if header.orientation != 1:
                im = ImageOps.exif_transpose(im)
        return _to_rgb(im), header
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        text = str(exc)
        if "truncated" in text or "broken data stream" in text or "image file is" in text:
            raise RejectedFile(f"truncated or damaged image data ({text})") from None
        raise RejectedFile(f"cannot decode image data: {text}") from None
