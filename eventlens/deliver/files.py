"""Reading an original for delivery, and writing new files only.

:func:`read_photo` decodes a photo once (at full size, or reduced by libjpeg's DCT scaling for a quick
measurement), converts it to sRGB from its embedded ICC profile (``PIL.ImageCms``) and turns it upright
(pixels transposed by its EXIF orientation). :func:`save_image` writes pixels with the original's EXIF,
orientation tag set to 1, and an sRGB profile when the original had one. Every file is written to a new
temporary file beside its target and moved over it with :func:`os.replace`: an existing path is never
opened for writing, and a target that *is* the original (the same file) is refused.
"""

from __future__ import annotations

import io
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PIL import Image, ImageCms, ImageOps

from eventlens.errors import InputError, RejectedFile

_EXIF_ORIENTATION = 0x0112
#: Pillow format -> the format the delivered copy is written in (others become JPEG)
_WRITE_FORMAT = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WEBP", "TIFF": "TIFF"}


@cache
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@cache
def srgb_profile_bytes() -> bytes:
    return _srgb().tobytes()


@dataclass
class Original:
    """A decoded original: upright RGB pixels in sRGB, ``scale`` decoded per displayed pixel."""

    image: Image.Image
    scale: float
    format: str
    exif: Image.Exif
    had_icc: bool
    icc_note: str  # what happened to the colour profile


def _to_srgb(im: Image.Image, icc: bytes | None) -> tuple[Image.Image, str]:
    if icc and im.mode in ("RGB", "CMYK"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            out = ImageCms.profileToProfile(im, source, _srgb(), outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError) as exc:
            return im.convert("RGB"), f"embedded profile unreadable ({exc}); taken as sRGB"
        assert out is not None
        return out, "converted to sRGB"
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas, "none (taken as sRGB); transparency flattened on white"
    return im.convert("RGB") if im.mode != "RGB" else im, "none (taken as sRGB)"


def read_photo(path: Path, max_megapixels: float, min_scale: float = 1.0) -> Original:
    """Decode ``path`` upright in sRGB at no less than ``min_scale`` of its size (JPEG DCT scaling)."""
    Image.MAX_IMAGE_PIXELS = int(max_megapixels * 1e6)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            im = Image.open(path)
            fmt = im.format or "?"
            exif = im.getexif()
            icc = im.info.get("icc_profile")
            raw_w, raw_h = im.size
            if fmt in ("JPEG", "MPO") and min_scale <= 0.5:
                im.draft("RGB", (max(1, math.ceil(raw_w * min_scale)), max(1, math.ceil(raw_h * min_scale))))
            im.load()
            rgb, note = _to_srgb(im, icc)
            orientation = exif.get(_EXIF_ORIENTATION, 1)
            if isinstance(orientation, int) and 2 <= orientation <= 8:
                rgb.info["exif"] = exif.tobytes()  # exif_transpose reads the orientation from here
                rgb = ImageOps.exif_transpose(rgb)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise RejectedFile(f"cannot decode {path.name}: {exc}") from None
    displayed_w = raw_h if isinstance(orientation, int) and orientation >= 5 else raw_w
    return Original(rgb, rgb.width / displayed_w, fmt, exif, bool(icc), note)


def output_name(rel_path: str, source_format: str) -> str:
    """The delivered file's relative name: the original's, plus ``.jpg`` when written in another format."""
    return rel_path if source_format in _WRITE_FORMAT else f"{rel_path}.jpg"


def _refuse_original(target: Path, original: Path | None) -> None:
    if original is not None and target.exists() and os.path.samefile(target, original):
        raise InputError(f"{target} is the original photo {original}; choose another --out folder")


def write_new(target: Path, write: Callable[[Path], object], original: Path | None = None) -> None:
    """Call ``write(tmp)`` on a new temporary file beside ``target``, then move it over ``target``."""
    _refuse_original(target, original)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def copy_unchanged(source: Path, target: Path) -> None:
    """The original's bytes, unchanged, as a new file at ``target``."""
    write_new(target, lambda tmp: shutil.copy2(source, tmp), original=source)


def save_image(
    image: Image.Image,
    target: Path,
    source_format: str,
    exif: Image.Exif,
    with_profile: bool,
    jpeg_quality: int,
    original: Path | None = None,
) -> None:
    """Write ``image`` (upright RGB, sRGB) as a new file: EXIF kept with orientation 1."""
    fmt = _WRITE_FORMAT.get(source_format, "JPEG")
    exif_out = Image.Exif()
    exif_out.load(exif.tobytes())
    exif_out[_EXIF_ORIENTATION] = 1
    options: dict[str, object] = {"exif": exif_out.tobytes()}
    if with_profile:
        options["icc_profile"] = srgb_profile_bytes()
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = jpeg_quality
    write_new(target, lambda tmp: image.save(tmp, fmt, **options), original=original)
