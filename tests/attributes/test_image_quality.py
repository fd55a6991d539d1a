"""Pixel measurements (:mod:`eventlens.attributes.image_quality`): focus, exposure and the perceptual hash.

The hash is checked on real photos from ``../shared/data`` (no face model involved): 0 bits apart for the
same image, a few at most for a re-encoded copy, many for a different photo.
"""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageFilter

from eventlens.attributes.image_quality import (
    FOCUS_HALF_VARIANCE,
    exposure,
    exposure_of_grey,
    exposure_of_histogram,
    face_region,
    face_sharpness,
    focus_score,
    hamming_distance,
    laplacian_variance,
    perceptual_hash,
    photo_quality,
)
from eventlens.imaging.decode import decode
from eventlens.settings import CurationSettings

#: photos of different people and scenes (identities, crowds, a collage)
DIFFERENT_PHOTOS = [
    "identities/Hugh_Jackman/2891.png",
    "identities/Jennifer_Aniston/4697.png",
    "identities/Barack_Obama/149.png",
    "identities/Ariel_Sharon/Ariel_Sharon_0003.jpg",
    "identities/Ariel_Sharon/Ariel_Sharon_0004.jpg",
    "identities/deepface_person06/img15.jpg",
    "groups/deepface_couple.jpg",
    "groups/ulfd_17.jpg",
    "edge/dlib_bald_guys_collage.jpg",
]
#: a clearly different photo is at least this many of the 64 bits away (unrelated photos: ~32)
DIFFERENT_MIN_BITS = 16
#: a re-encoded or resized copy is at most this many bits away
COPY_MAX_BITS = 2


def _rgb(path: Path) -> np.ndarray:
    return decode(path, 150.0).rgb


def _reencoded(rgb: np.ndarray, quality: int, scale: float = 1.0) -> np.ndarray:
    im = Image.fromarray(rgb)
    if scale != 1.0:
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def _photo(shared_data: Path, rel: str) -> Path:
    path = shared_data / rel
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


# --- perceptual hash ---------------------------------------------------------------------------------


def test_the_same_photo_has_the_same_hash(shared_data: Path) -> None:
    path = _photo(shared_data, DIFFERENT_PHOTOS[0])
    first, again = photo_quality(_rgb(path)), photo_quality(_rgb(path))
    assert hamming_distance(first.phash, again.phash) == 0
    assert 0 <= first.phash < 2**64


@pytest.mark.parametrize("rel", DIFFERENT_PHOTOS)
def test_a_reencoded_copy_is_a_few_bits_away(shared_data: Path, rel: str) -> None:
    rgb = _rgb(_photo(shared_data, rel))
    h = photo_quality(rgb).phash
    assert hamming_distance(h, photo_quality(_reencoded(rgb, quality=60)).phash) <= COPY_MAX_BITS
    assert hamming_distance(h, photo_quality(_reencoded(rgb, quality=50, scale=0.75)).phash) <= COPY_MAX_BITS


def test_different_photos_are_many_bits_apart(shared_data: Path) -> None:
    hashes = {rel: photo_quality(_rgb(_photo(shared_data, rel))).phash for rel in DIFFERENT_PHOTOS}
    for a, b in itertools.combinations(DIFFERENT_PHOTOS, 2):
        distance = hamming_distance(hashes[a], hashes[b])
        assert distance >= DIFFERENT_MIN_BITS, (a, b, distance)
        assert distance > CurationSettings().duplicate_max_hamming


def test_the_same_crowd_at_another_size_with_boxes_drawn_in_is_a_near_duplicate(shared_data: Path) -> None:
    """``tinyfaces_selfie.jpg`` is ``ulfd_17.jpg`` at 2048 px with yellow boxes drawn over the faces."""
    clean = photo_quality(_rgb(_photo(shared_data, "groups/ulfd_17.jpg"))).phash
    boxed = photo_quality(_rgb(_photo(shared_data, "groups/tinyfaces_selfie.jpg"))).phash
    assert hamming_distance(clean, boxed) <= CurationSettings().duplicate_max_hamming


@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
def test_hamming_distance_is_a_metric_on_64_bit_hashes(a: int, b: int, c: int) -> None:
    assert hamming_distance(a, a) == 0
    assert hamming_distance(a, b) == hamming_distance(b, a)
    assert 0 <= hamming_distance(a, b) <= 64
    assert hamming_distance(a, c) <= hamming_distance(a, b) + hamming_distance(b, c)
    assert hamming_distance(a, a ^ (2**64 - 1)) == 64


def test_the_hash_ignores_size_and_colour() -> None:
    rng = np.random.default_rng(3)
    smooth = Image.fromarray((rng.random((6, 8, 3)) * 255).astype(np.uint8)).resize((400, 300), Image.BICUBIC)
    h = perceptual_hash(smooth.convert("L"))
    assert hamming_distance(h, perceptual_hash(smooth.resize((200, 150), Image.BILINEAR))) <= COPY_MAX_BITS
    assert perceptual_hash(smooth) == perceptual_hash(smooth.convert("L"))


# --- focus -------------------------------------------------------------------------------------------


@given(st.floats(0, 1e6), st.floats(0, 1e6))
def test_focus_score_is_bounded_and_monotonic(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert 0.0 <= focus_score(low) <= focus_score(high) < 1.0
    assert focus_score(FOCUS_HALF_VARIANCE) == pytest.approx(0.5)
    assert focus_score(-1.0) == 0.0


def _textured_face(size_px: int = 160, seed: int = 0) -> np.ndarray:
    """A photo with fine detail (a stand-in for skin, lashes and hair) in a face-sized box."""
    rng = np.random.default_rng(seed)
    noise = (rng.random((size_px // 4, size_px // 4)) * 255).astype(np.uint8)
    grey = np.asarray(Image.fromarray(noise).resize((size_px, size_px), Image.NEAREST))
    return np.repeat(grey[..., None], 3, axis=2)


def test_blurring_lowers_face_sharpness_step_by_step() -> None:
    rgb = _textured_face()
    box = (20, 20, 140, 140)
    values = [
        face_sharpness(np.asarray(Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(sigma))), box)
        for sigma in (0, 1, 2, 4, 8)
    ]
    assert values == sorted(values, reverse=True)
    assert values[0] > 0.9 and values[-1] < 0.1


def test_face_sharpness_is_size_normalised() -> None:
    """The same face at half the size is not judged sharper or softer by much: it is measured at 96 px."""
    rgb = _textured_face(320)
    small = np.asarray(Image.fromarray(rgb).resize((160, 160), Image.BILINEAR))
    big_value = face_sharpness(rgb, (40, 40, 280, 280))
    small_value = face_sharpness(small, (20, 20, 140, 140))
    assert small_value == pytest.approx(big_value, abs=0.1)


def test_tiny_or_flat_regions_have_no_focus() -> None:
    assert laplacian_variance(np.zeros((2, 50))) == 0.0
    assert face_sharpness(np.zeros((100, 100, 3), np.uint8), (10, 10, 12, 12)) == 0.0
    assert face_sharpness(np.full((100, 100, 3), 128, np.uint8), (10, 10, 90, 90)) == 0.0


# --- exposure ----------------------------------------------------------------------------------------


def test_exposure_reads_brightness_and_clipping() -> None:
    rgb = np.zeros((10, 10, 3), np.uint8)
    rgb[:5] = 255
    e = exposure(rgb)
    assert e.brightness == pytest.approx(0.5)
    assert e.clipped_high == pytest.approx(0.5) and e.clipped_low == pytest.approx(0.5)
    mid = exposure(np.full((4, 4, 3), 128, np.uint8))
    assert mid.brightness == pytest.approx(128 / 255) and mid.clipped_high == mid.clipped_low == 0.0
    assert exposure(np.zeros((0, 0, 3), np.uint8)).brightness == 0.0


def test_exposure_from_a_histogram_equals_exposure_from_the_pixels() -> None:
    grey = np.random.default_rng(3).integers(0, 256, (37, 53), dtype=np.uint8)
    grey[:5] = 255
    grey[-4:] = 2
    from_pixels = exposure_of_grey(grey)
    from_histogram = exposure_of_histogram(Image.fromarray(grey).histogram())
    assert from_histogram.brightness == pytest.approx(from_pixels.brightness, abs=1e-6)
    assert from_histogram.clipped_high == pytest.approx(from_pixels.clipped_high)
    assert from_histogram.clipped_low == pytest.approx(from_pixels.clipped_low)
    assert exposure_of_histogram([0] * 256).brightness == 0.0


def test_face_region_is_the_centre_of_the_box_clipped_to_the_photo() -> None:
    rgb = np.zeros((100, 200, 3), np.uint8)
    assert face_region(rgb, (50, 0, 150, 100)).shape == (80, 80, 3)
    assert face_region(rgb, (-50, -50, 50, 50)).shape == (40, 40, 3)  # only the part inside the photo
