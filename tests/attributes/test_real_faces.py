"""Face attributes on real faces whose answer a person can see (``tests/data/face_attributes/labels.csv``).

Each face runs the real measurement path: the photo decoded by :func:`eventlens.imaging.decode.decode`,
dlib's 68 landmarks on the labelled box, the eyes measured by MediaPipe's iris model, then
:func:`~eventlens.attributes.faces.measure_face` and :func:`~eventlens.attributes.decide.decide`.
Derived images (blurred, over- and under-exposed, mirrored copies) show that each measurement follows what
changed in the picture. The last test is the acceptance test of the feature: >= 90 % balanced accuracy on
at least 60 labelled faces for eyes, smile and mouth open.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageFilter

from eventlens.attributes.decide import FaceDecisions, decide
from eventlens.attributes.faces import FaceMeasurements, measure_face
from eventlens.backends.dlib_face import DlibLandmarker
from eventlens.backends.registry import create_eye_model
from eventlens.evaluation.attributes import evaluate_attributes
from eventlens.imaging.decode import decode
from eventlens.settings import Settings, load_settings

pytestmark = pytest.mark.real_models

LABELS_CSV = Path(__file__).resolve().parents[1] / "data" / "face_attributes" / "legacy_labels.csv"
EYE_MODEL = Settings.model_fields["eye_model"].default  # the shipped eye model

#: labelled faces (``identities/<photo>``) that are unmistakable when you look at them
EYES_CLOSED = ["Lindsay_Lohan/6246.png", "Daniel_Radcliffe/291.png", "Leonardo_DiCaprio/6015.png"]
EYES_OPEN = [
    "Hugh_Jackman/2870.png",
    "Jennifer_Lopez/4761.png",
    "Mark_Ruffalo/6312.png",
    "Robert_Downey_Jr/8142.png",
]
BROAD_SMILE = [
    "Jennifer_Lopez/4761.png",
    "Barack_Obama/149.png",
    "deepface_person06/img15.jpg",
    "Tina_Fey/9100.png",
]
NO_SMILE = [
    "Jennifer_Lopez/4785.png",
    "Hugh_Jackman/2870.png",
    "Victoria_Beckham/10037.png",
    "Gwyneth_Paltrow/1113.png",
]
MOUTH_OPEN = ["Victoria_Beckham/10061.png", "George_W_Bush/George_W_Bush_0003.jpg"]  # talking, not smiling
MOUTH_CLOSED = ["Victoria_Beckham/10037.png", "Robert_Downey_Jr/8142.png"]
#: sharp, well lit faces for the blurred and exposure-changed copies
SHARP_WELL_LIT = ["Hugh_Jackman/2870.png", "Mark_Ruffalo/6312.png", "deepface_person06/img15.jpg"]
#: turned (yaw), tilted (roll) and frontal faces for the mirror test
POSED = [
    "Tina_Fey/9100.png",  # turned ~40 deg, nose towards the image's right
    "Ariel_Sharon/Ariel_Sharon_0003.jpg",  # turned ~30 deg the other way
    "Jacques_Chirac/Jacques_Chirac_0009.jpg",  # tilted ~20 deg counter-clockwise
    "Vladimir_Putin/Vladimir_Putin_0004.jpg",  # tilted ~10 deg clockwise, looking down
    "Barack_Obama/232.png",  # frontal
]
#: a face blurred by a Gaussian of this share of its size is visibly soft
BLUR_SIGMA_SHARE = 0.03
#: degrees the pose of a mirror image may differ from the exact opposite (dlib is not mirror-symmetric)
MIRROR_TOLERANCE_DEG = 5.0

Measure = Callable[[np.ndarray, tuple[float, float, float, float]], tuple[FaceMeasurements, FaceDecisions]]


@functools.cache
def _boxes() -> dict[str, tuple[float, float, float, float]]:
    """Labelled boxes of the ``identities`` faces, by photo (one face per photo there)."""
    with open(LABELS_CSV, newline="", encoding="utf-8") as fp:
        return {
            row["photo"]: tuple(float(row[k]) for k in ("x1", "y1", "x2", "y2"))  # type: ignore[misc]
            for row in csv.DictReader(fp)
            if row["dataset"] == "identities"
        }


@pytest.fixture(scope="module")
def settings(model_cache_dir: Path) -> Settings:
    return load_settings(cache_dir=model_cache_dir, workers=1)


@pytest.fixture(scope="module")
def measure(settings: Settings) -> Measure:
    """``measure(rgb, box)``: the analysis pass's measurements and decisions of one face."""
    landmarker = DlibLandmarker(settings)
    eyes = create_eye_model(EYE_MODEL, settings)
    eyes.load()

    def run(
        rgb: np.ndarray, box: tuple[float, float, float, float]
    ) -> tuple[FaceMeasurements, FaceDecisions]:
        xyxy = np.array([box], dtype=np.float64)
        landmarks = landmarker.landmarks68(rgb, xyxy)
        ears, dark = eyes.measure_eyes(rgb, landmarks)
        height, width = rgb.shape[:2]
        m = measure_face(rgb, xyxy[0], landmarks[0], ears[0], xyxy[0], width, height, iris_dark=dark[0])
        d = decide(m.as_dict(), settings.curation, EYE_MODEL)
        assert d is not None
        return m, d

    return run


def _face(shared_data: Path, photo: str) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    path = shared_data / "identities" / photo
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    image = decode(path, 150.0)
    assert image.scale == 1.0
    return image.rgb, _boxes()[photo]


def _pil_op(rgb: np.ndarray, op: Callable[[Image.Image], Image.Image]) -> np.ndarray:
    return np.asarray(op(Image.fromarray(rgb)).convert("RGB"))


def _size(box: tuple[float, float, float, float]) -> float:
    return float(np.sqrt((box[2] - box[0]) * (box[3] - box[1])))


# --- eyes, smile, mouth ------------------------------------------------------------------------------


@pytest.mark.parametrize("photo", EYES_CLOSED)
def test_closed_eyes_are_closed(shared_data: Path, measure: Measure, photo: str) -> None:
    _, d = measure(*_face(shared_data, photo))
    assert d.eyes_open is False
    assert d.eyes_open_score is not None and d.eyes_open_score < 0.2
    assert d.expression == "eyes_closed"


@pytest.mark.parametrize("photo", EYES_OPEN)
def test_open_eyes_are_open(shared_data: Path, measure: Measure, photo: str) -> None:
    _, d = measure(*_face(shared_data, photo))
    assert d.eyes_open is True
    assert d.eyes_open_score is not None and d.eyes_open_score > 0.8


@pytest.mark.parametrize("photo", BROAD_SMILE)
def test_a_broad_smile_is_a_smile(shared_data: Path, measure: Measure, photo: str) -> None:
    _, d = measure(*_face(shared_data, photo))
    assert d.smile is True and d.smile_score > 0.7
    assert d.expression == "smiling"


@pytest.mark.parametrize("photo", NO_SMILE)
def test_a_neutral_mouth_is_no_smile(shared_data: Path, measure: Measure, photo: str) -> None:
    _, d = measure(*_face(shared_data, photo))
    assert d.smile is False and d.smile_score < 0.3


def test_the_same_person_smiling_scores_higher_than_not(shared_data: Path, measure: Measure) -> None:
    _, smiling = measure(*_face(shared_data, "Jennifer_Lopez/4761.png"))
    _, neutral = measure(*_face(shared_data, "Jennifer_Lopez/4785.png"))
    assert smiling.smile_score > neutral.smile_score + 0.5


@pytest.mark.parametrize("photo", MOUTH_OPEN)
def test_a_talking_mouth_is_open(shared_data: Path, measure: Measure, photo: str) -> None:
    m, d = measure(*_face(shared_data, photo))
    assert d.mouth_open is True and m.mouth_opening > 0.2
    assert d.expression == "mouth_open"  # eyes open, not smiling


@pytest.mark.parametrize("photo", MOUTH_CLOSED)
def test_closed_lips_are_a_closed_mouth(shared_data: Path, measure: Measure, photo: str) -> None:
    m, d = measure(*_face(shared_data, photo))
    assert d.mouth_open is False and m.mouth_opening < 0.05
    assert d.expression == "neutral"


def test_closed_eyes_take_precedence_over_a_smile_on_a_real_face(shared_data: Path, measure: Measure) -> None:
    """Daniel_Radcliffe/291.png laughs with his eyes shut: both are seen, the expression says eyes_closed."""
    _, d = measure(*_face(shared_data, "Daniel_Radcliffe/291.png"))
    assert d.eyes_open is False and d.smile is True
    assert d.expression == "eyes_closed"


# --- focus and exposure of derived copies ------------------------------------------------------------


@pytest.mark.parametrize("photo", SHARP_WELL_LIT)
def test_a_blurred_copy_of_a_sharp_face_is_not_sharp(
    shared_data: Path, measure: Measure, settings: Settings, photo: str
) -> None:
    rgb, box = _face(shared_data, photo)
    original, d = measure(rgb, box)
    sigma = BLUR_SIGMA_SHARE * _size(box)
    blurred, d_blurred = measure(_pil_op(rgb, lambda im: im.filter(ImageFilter.GaussianBlur(sigma))), box)
    assert original.sharpness > settings.curation.sharp_min and d.sharp
    assert blurred.sharpness < settings.curation.sharp_min and not d_blurred.sharp


@pytest.mark.parametrize("photo", SHARP_WELL_LIT)
def test_an_over_exposed_copy_is_badly_exposed(shared_data: Path, measure: Measure, photo: str) -> None:
    rgb, box = _face(shared_data, photo)
    original, d = measure(rgb, box)
    bright, d_bright = measure(_pil_op(rgb, lambda im: ImageEnhance.Brightness(im).enhance(2.0)), box)
    assert d.well_exposed is True
    assert d_bright.well_exposed is False
    assert bright.brightness > original.brightness and bright.clipped_high > original.clipped_high


@pytest.mark.parametrize("photo", SHARP_WELL_LIT)
def test_an_under_exposed_copy_is_badly_exposed(shared_data: Path, measure: Measure, photo: str) -> None:
    rgb, box = _face(shared_data, photo)
    original, d = measure(rgb, box)
    dark, d_dark = measure(_pil_op(rgb, lambda im: ImageEnhance.Brightness(im).enhance(0.3)), box)
    assert d.well_exposed is True
    assert d_dark.well_exposed is False and dark.brightness < original.brightness


# --- head pose ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("photo", POSED)
def test_a_mirrored_photo_flips_yaw_and_roll_and_keeps_pitch(
    shared_data: Path, measure: Measure, photo: str
) -> None:
    rgb, (x1, y1, x2, y2) = _face(shared_data, photo)
    width = rgb.shape[1]
    pose, _ = measure(rgb, (x1, y1, x2, y2))
    mirror, _ = measure(np.ascontiguousarray(rgb[:, ::-1]), (width - x2, y1, width - x1, y2))
    assert mirror.yaw_deg == pytest.approx(-pose.yaw_deg, abs=MIRROR_TOLERANCE_DEG)
    assert mirror.roll_deg == pytest.approx(-pose.roll_deg, abs=MIRROR_TOLERANCE_DEG)
    assert mirror.pitch_deg == pytest.approx(pose.pitch_deg, abs=MIRROR_TOLERANCE_DEG)
    for before, after in ((pose.yaw_deg, mirror.yaw_deg), (pose.roll_deg, mirror.roll_deg)):
        if abs(before) > 2 * MIRROR_TOLERANCE_DEG:  # a clear angle changes sign
            assert np.sign(after) == -np.sign(before)


def test_pose_signs_on_real_faces(shared_data: Path, measure: Measure) -> None:
    """Tina Fey turns her nose to the image's right (+yaw); Chirac tilts his head counter-clockwise
    (-roll); Obama faces the camera."""
    turned, _ = measure(*_face(shared_data, "Tina_Fey/9100.png"))
    tilted, _ = measure(*_face(shared_data, "Jacques_Chirac/Jacques_Chirac_0009.jpg"))
    frontal, _ = measure(*_face(shared_data, "Barack_Obama/232.png"))
    assert turned.yaw_deg > 25
    assert tilted.roll_deg < -10
    assert max(abs(frontal.yaw_deg), abs(frontal.roll_deg)) < 8


# --- acceptance --------------------------------------------------------------------------------------


def test_decisions_reach_90_percent_balanced_accuracy_on_the_labelled_faces(
    shared_data: Path, model_cache_dir: Path, tmp_path: Path
) -> None:
    """The feature's acceptance test: the real pipeline (ingest, analyze) on every labelled photo, each
    labelled face found again, >= 90 % balanced accuracy on >= 60 faces for each attribute."""
    settings = load_settings(cache_dir=model_cache_dir, workers=2)
    report = evaluate_attributes(LABELS_CSV, shared_data, tmp_path, settings)
    assert report.unmatched == []
    assert report.matched_faces == report.labelled_faces == 170
    scores = {s.attribute: s for s in report.scores}
    assert set(scores) == {"eyes open", "smile", "mouth open"}
    for name, s in scores.items():
        assert s.faces >= 60, name
        assert min(s.positives, s.negatives) >= 30, name  # both classes well represented
        assert s.balanced_accuracy >= 0.90, (name, s.balanced_accuracy)
