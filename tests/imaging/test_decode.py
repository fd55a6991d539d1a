"""Decoding real awkward files (../shared/data/edge) and generated ones: RGB uint8 as displayed, or a
one-line rejection."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from eventlens.errors import RejectedFile
from eventlens.imaging import decode as decode_module
from eventlens.imaging.decode import decode, decode_bytes, probe

MAX_MP = 150.0

#: file -> (displayed width, height) for files that must decode
DECODABLE = {
    "immich_IMG_2682.heic": (4032, 3024),
    "photoprism_iphone_7.heic": (4032, 3024),
    "photoprism_wrong.heic": (500, 500),  # a JPEG named .heic
    "immich_8bit-sRGB.avif": (1617, 1080),
    "immich_denali.webp": (600, 315),
    "compreface_einstein.webp": (256, 256),
    "pillow_pil_sample_cmyk.jpg": (100, 100),
    "pillow_hopper_gray.jpg": (128, 128),
    "pillow_hopper_bad_exif.jpg": (500, 500),
    "facerec_32bit.png": (626, 1200),
    "pillow_transparent.png": (200, 150),
    "compreface_einstein.png": (256, 256),  # palette
    "photoprism_rotate_6.png": (960, 1395),  # PNG with EXIF orientation 6
    "immich_portrait-orientation-6.jpg": (840, 700),
    "pillow_exif-ifd-offset.jpg": (200, 200),
    "pillow_icc_profile_big.jpg": (425, 250),
}

#: file -> words the rejection reason must contain
REJECTED = {
    "pillow_decompression_bomb.gif": "decompression bomb",
    "compreface_corrupted.png": "not a readable image",
    "pillow_broken.png": "not a readable image",
    "compreface_empty.png": "not an image",  # despite its name, 5 bytes of text
    "immich_8bit-sRGB.jxl": "JPEG XL",
    "pillow_truncated_jpeg.jpg": "truncated",
    "compreface_truncated.jpg": "truncated",
    "pillow_truncated_image.png": "truncated",
    "photoprism_broken.jpg": "truncated",
}


@pytest.mark.parametrize("name", sorted(DECODABLE))
def test_awkward_formats_decode_to_rgb_uint8_as_displayed(edge_dir: Path, name: str) -> None:
    path = edge_dir / name
    header = probe(path, MAX_MP)
    assert (header.width_px, header.height_px) == DECODABLE[name]
    image = decode(path, MAX_MP)
    assert image.rgb.dtype == np.uint8 and image.rgb.ndim == 3 and image.rgb.shape[2] == 3
    assert image.rgb.flags.c_contiguous
    assert (image.original_width_px, image.original_height_px) == DECODABLE[name]
    height, width = image.rgb.shape[:2]
    assert width / height == pytest.approx(header.width_px / header.height_px, rel=0.02)
    assert image.scale == pytest.approx(width / header.width_px)
    assert image.rgb.std() > 1, "decoded to a blank image"


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_bad_files_are_rejected_with_a_reason_naming_the_cause(edge_dir: Path, name: str) -> None:
    with pytest.raises(RejectedFile) as info:
        decode(edge_dir / name, MAX_MP)
    reason = info.value.reason
    assert REJECTED[name] in reason
    assert "\n" not in reason and len(reason) < 300


def test_the_bomb_is_refused_from_its_header_alone(edge_dir: Path) -> None:
    with pytest.raises(RejectedFile, match="declares 4,365 MP"):
        probe(edge_dir / "pillow_decompression_bomb.gif", MAX_MP)


def test_the_30_megapixel_photo_decodes_at_reduced_size(edge_dir: Path) -> None:
    image = decode(edge_dir / "photoprism_6720px_white.jpg", MAX_MP, min_scale=0.2)
    assert (image.original_width_px, image.original_height_px) == (6720, 4480)
    assert image.rgb.shape[1] >= 0.2 * 6720 and image.rgb.shape[1] <= 0.5 * 6720  # DCT scaling used
    assert image.scale == pytest.approx(image.rgb.shape[1] / 6720)
    with pytest.raises(RejectedFile, match="decompression bomb"):
        probe(edge_dir / "photoprism_6720px_white.jpg", max_megapixels=20)


# --- EXIF orientation ------------------------------------------------------------------------------


def _thumb(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).resize((90, 60), Image.BILINEAR), dtype=np.float32)


@pytest.fixture(scope="module")
def upright(edge_dir: Path) -> np.ndarray:
    return _thumb(decode(edge_dir / "exiforient_Landscape_1.jpg", MAX_MP).rgb)


@pytest.mark.parametrize("orientation", range(0, 9))
@pytest.mark.parametrize("min_scale", [1.0, 0.25])
def test_every_exif_orientation_decodes_upright(
    edge_dir: Path, upright: np.ndarray, orientation: int, min_scale: float
) -> None:
    path = edge_dir / f"exiforient_Landscape_{orientation}.jpg"
    header = probe(path, MAX_MP)
    assert (header.width_px, header.height_px) == (1800, 1200)
    assert header.orientation == max(orientation, 1)  # 0 is invalid: treated as upright
    image = decode(path, MAX_MP, min_scale=min_scale)
    assert (image.original_width_px, image.original_height_px) == (1800, 1200)
    assert image.rgb.shape[1] / image.rgb.shape[0] == pytest.approx(1.5, rel=0.01)
    assert np.abs(_thumb(image.rgb) - upright).mean() < 3.0


def test_the_orientation_check_is_discriminative(edge_dir: Path, upright: np.ndarray) -> None:
    """Guard for the test above: the same photo turned the wrong way is far from upright."""
    rgb = decode(edge_dir / "exiforient_Landscape_1.jpg", MAX_MP).rgb
    assert np.abs(_thumb(rgb[::-1, ::-1]) - upright).mean() > 15
    assert np.abs(_thumb(rgb[:, ::-1]) - upright).mean() > 15


@pytest.mark.parametrize("name", ["exiforient_Portrait_6.jpg", "exiforient_Portrait_8.jpg"])
def test_portraits_stored_sideways_are_displayed_tall(edge_dir: Path, name: str) -> None:
    header = probe(edge_dir / name, MAX_MP)
    assert (header.width_px, header.height_px) == (1200, 1800)
    assert decode(edge_dir / name, MAX_MP).rgb.shape[:2] == (1800, 1200)


def test_rotated_greyscale_face_matches_its_upright_twin(edge_dir: Path) -> None:
    turned = decode(edge_dir / "immich_portrait-orientation-6.jpg", MAX_MP).rgb
    upright_rgb = decode(edge_dir / "immich_portrait.jpg", MAX_MP).rgb
    assert turned.shape == upright_rgb.shape
    diff = np.abs(_thumb(turned).mean(2) - _thumb(upright_rgb).mean(2)).mean()
    assert diff < 5


# --- generated files ------------------------------------------------------------------------------


def _bytes(image: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def test_empty_and_text_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(RejectedFile, match="empty file"):
        probe(empty, MAX_MP)
    with pytest.raises(RejectedFile, match="not an image"):
        decode_bytes("Grüße, ünïcödé text\n".encode() * 3, MAX_MP)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"%PDF-1.7\n" + bytes(100), "PDF"),
        (b"\x00\x00\x00\x18ftypqt  " + bytes(100), "QuickTime"),
        (b"\xff\x0a" + bytes(100), "JPEG XL"),
        (bytes(range(256)) * 4, "not a readable image"),
    ],
)
def test_unsupported_content_is_named(data: bytes, words: str) -> None:
    with pytest.raises(RejectedFile, match=words):
        decode_bytes(data, MAX_MP)


def test_sixteen_bit_png_decodes_to_eight_bit_rgb() -> None:
    ramp = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16).astype(np.uint16)
    image = decode_bytes(_bytes(Image.fromarray(ramp), "PNG"), MAX_MP)  # saved as a 16-bit greyscale PNG
    assert image.rgb.dtype == np.uint8 and image.rgb.shape == (64, 64, 3)
    assert image.rgb.max() > 200 and image.rgb.min() < 10


def test_transparent_pixels_become_white() -> None:
    rgba = np.zeros((20, 20, 4), dtype=np.uint8)
    rgba[:10] = (255, 0, 0, 255)
    image = decode_bytes(_bytes(Image.fromarray(rgba, mode="RGBA"), "PNG"), MAX_MP)
    assert tuple(image.rgb[0, 0]) == (255, 0, 0)
    assert tuple(image.rgb[-1, -1]) == (255, 255, 255)


def test_jpeg_reduced_decode_reports_its_scale() -> None:
    rgb = np.random.default_rng(0).integers(0, 255, (800, 1200, 3), dtype=np.uint8)
    data = _bytes(Image.fromarray(rgb), "JPEG", quality=90)
    for min_scale, want in [(1.0, 1.0), (0.5, 0.5), (0.3, 0.5), (0.25, 0.25), (0.1, 0.125)]:
        image = decode_bytes(data, MAX_MP, min_scale=min_scale)
        assert image.scale == pytest.approx(want), min_scale
        assert image.rgb.shape[1] >= 1200 * min_scale
    png = _bytes(Image.fromarray(rgb), "PNG")
    assert decode_bytes(png, MAX_MP, min_scale=0.25).scale == 1.0  # other formats decode fully


def test_exif_capture_time_is_read(tmp_path: Path) -> None:
    image = Image.new("RGB", (40, 30), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0132] = "2024:05:17 14:03:59"
    path = tmp_path / "t.jpg"
    path.write_bytes(_bytes(image, "JPEG", exif=exif))
    assert probe(path, MAX_MP).taken_at == "2024-05-17T14:03:59"


def test_decoding_never_writes_to_the_file(edge_dir: Path) -> None:
    path = edge_dir / "exiforient_Landscape_6.jpg"
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    decode(path, MAX_MP, min_scale=0.25)
    probe(path, MAX_MP)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


# --- the array path (simplejpeg) must give Pillow's pixels exactly --------------------------------


def _jpeg_with_orientation(rgb: np.ndarray, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=90, exif=exif.tobytes())
    return buf.getvalue()


def _pillow_pixels(data: bytes, min_scale: float) -> np.ndarray:
    im, _ = decode_module._decode_image(data, 150, min_scale)
    return np.asarray(im)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("min_scale", [1.0, 0.5, 0.3, 0.12])
def test_array_decode_equals_pillow_for_every_orientation_and_scale(
    orientation: int, min_scale: float
) -> None:
    rng = np.random.default_rng(orientation)
    rgb = np.clip(rng.normal(128, 60, (203, 317, 3)), 0, 255).astype(np.uint8)  # odd sizes: partial blocks
    data = _jpeg_with_orientation(rgb, orientation)
    got = decode_module.decode_bytes(data, 150, min_scale)
    assert got.pil_image is None  # decoded by simplejpeg, no Pillow image made
    expected = _pillow_pixels(data, min_scale)
    assert got.rgb.shape == expected.shape
    assert np.array_equal(got.rgb, expected)
    assert got.rgb.flags["C_CONTIGUOUS"]
    assert np.array_equal(np.asarray(got.pil), expected)  # made on first use, same pixels


def test_array_decode_equals_pillow_on_real_photos(edge_dir: Path) -> None:
    checked = 0
    for path in sorted(edge_dir.iterdir()):
        if path.suffix.lower() not in (".jpg", ".jpeg"):
            continue
        data = path.read_bytes()
        for min_scale in (1.0, 0.25):
            try:
                expected = _pillow_pixels(data, min_scale)
            except RejectedFile as exc:  # damaged: the same reason either way
                with pytest.raises(RejectedFile) as caught:
                    decode_module.decode_bytes(data, 150, min_scale)
                assert caught.value.reason == exc.reason
                continue
            assert np.array_equal(decode_module.decode_bytes(data, 150, min_scale).rgb, expected), path.name
            checked += 1
    assert checked >= 10


def test_truncated_jpegs_are_reported_as_pillow_reports_them() -> None:
    rgb = np.clip(np.random.default_rng(5).normal(128, 60, (256, 256, 3)), 0, 255).astype(np.uint8)
    data = _jpeg_with_orientation(rgb, 1)
    for cut in (len(data) // 2, len(data) * 9 // 10):
        with pytest.raises(RejectedFile) as pillow:
            _pillow_pixels(data[:cut], 1.0)
        with pytest.raises(RejectedFile) as ours:
            decode_module.decode_bytes(data[:cut], 150, 1.0)
        assert ours.value.reason == pillow.value.reason
