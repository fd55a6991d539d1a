"""Properties of the landmark geometry (:mod:`eventlens.attributes.face_geometry`).

The measurements must not depend on where the face is, how large it is or how it is turned in the image
plane (EAR and the mouth shape are ratios in the face's own frame), and the head pose must recover the
rotation of a 3-D face model seen by a camera.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventlens.attributes import face_geometry as fg
from eventlens.backends.fake import _TEMPLATE68

FACE_PX = 120.0

seeds = st.integers(0, 2**32 - 1)
angles_deg = st.floats(-180, 180)
scales = st.floats(0.05, 50)
shifts = st.floats(-5000, 5000)
pose_deg = st.floats(-40, 40)


def _landmarks(seed: int, jitter_px: float = 4.0) -> np.ndarray:
    """A plausible, non-degenerate face: the fake backend's mean shape, 120 px wide, with random jitter."""
    rng = np.random.default_rng(seed)
    return _TEMPLATE68.astype(np.float64) * FACE_PX + rng.normal(0.0, jitter_px, (68, 2))


def _similarity(points: np.ndarray, angle_deg: float, scale: float, dx: float, dy: float) -> np.ndarray:
    """Rotate by ``angle_deg``, scale uniformly and translate (a proper similarity: no reflection)."""
    a = np.radians(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return points @ rot.T * scale + np.array([dx, dy])


# --- eye aspect ratio --------------------------------------------------------------------------------


@given(seeds, angles_deg, scales, shifts, shifts)
def test_ear_is_invariant_to_translation_rotation_and_scale(
    seed: int, angle: float, scale: float, dx: float, dy: float
) -> None:
    lm = _landmarks(seed)
    moved = _similarity(lm, angle, scale, dx, dy)
    assert fg.eye_aspect_ratios(moved) == pytest.approx(fg.eye_aspect_ratios(lm), rel=1e-7, abs=1e-9)


@given(seeds, shifts, shifts)
def test_ear_is_invariant_to_a_mirror_image(seed: int, dx: float, dy: float) -> None:
    """Distances do not change under a reflection either (the eye's points keep their order)."""
    lm = _landmarks(seed)
    mirrored = lm * np.array([-1.0, 1.0]) + np.array([dx, dy])
    assert fg.eye_aspect_ratios(mirrored) == pytest.approx(fg.eye_aspect_ratios(lm), rel=1e-7, abs=1e-9)


def test_ear_of_known_eyes() -> None:
    # corners 10 px apart, lids 3 px apart at both inner pairs: EAR = (3 + 3) / (2 * 10)
    eye = np.array([(0, 0), (3, -1.5), (7, -1.5), (10, 0), (7, 1.5), (3, 1.5)], dtype=np.float64)
    assert fg.eye_aspect_ratio(eye) == pytest.approx(0.3)
    closed = eye.copy()
    closed[:, 1] = 0.0
    assert fg.eye_aspect_ratio(closed) == 0.0
    assert fg.eye_aspect_ratio(np.zeros((6, 2))) == 0.0  # degenerate: no width


@given(seeds, st.floats(0.0, 1.0))
def test_closing_the_lids_lowers_the_ear(seed: int, closing: float) -> None:
    """Moving the upper and lower lid of both eyes towards each other lowers EAR monotonically, to 0."""
    lm = _landmarks(seed, jitter_px=1.0)

    def closed_by(amount: float) -> np.ndarray:
        out = lm.copy()
        for upper, lower in ((37, 41), (38, 40), (43, 47), (44, 46)):
            middle = (lm[upper] + lm[lower]) / 2
            out[upper] = middle + (lm[upper] - middle) * (1 - amount)
            out[lower] = middle + (lm[lower] - middle) * (1 - amount)
        return out

    less, more = fg.eye_aspect_ratios(closed_by(closing / 2)), fg.eye_aspect_ratios(closed_by(closing))
    assert all(m <= x + 1e-12 for m, x in zip(more, less, strict=True))
    assert fg.eye_aspect_ratios(closed_by(1.0)) == pytest.approx((0.0, 0.0), abs=1e-9)


# --- mouth shape -------------------------------------------------------------------------------------


@given(seeds, angles_deg, scales, shifts, shifts)
def test_mouth_shape_is_invariant_to_similarity_transforms(
    seed: int, angle: float, scale: float, dx: float, dy: float
) -> None:
    lm = _landmarks(seed)
    a, b = fg.mouth_shape(lm), fg.mouth_shape(_similarity(lm, angle, scale, dx, dy))
    assert b.width == pytest.approx(a.width, rel=1e-7, abs=1e-9)
    assert b.corner_lift == pytest.approx(a.corner_lift, rel=1e-7, abs=1e-9)
    assert b.opening == pytest.approx(a.opening, rel=1e-7, abs=1e-9)
    assert b.gap == pytest.approx(a.gap, rel=1e-7, abs=1e-9)
    assert b.corners_below_eyes == pytest.approx(a.corners_below_eyes, rel=1e-7, abs=1e-9)
    assert b.lip_below_nose == pytest.approx(a.lip_below_nose, rel=1e-7, abs=1e-9)


def test_mouth_shape_reads_width_lift_and_opening() -> None:
    lm = _TEMPLATE68.astype(np.float64) * 100
    neutral = fg.mouth_shape(lm)
    assert 0.8 < neutral.width < 1.0  # 32 px mouth, 38 px between the eye centres
    assert neutral.opening < 0.1

    smiling = lm.copy()
    smiling[48] += (-6, -5)  # corners out and up
    smiling[54] += (6, -5)
    s = fg.mouth_shape(smiling)
    assert s.width > neutral.width and s.corner_lift > neutral.corner_lift

    frowning = lm.copy()
    frowning[[48, 54], 1] += 8  # corners down
    assert fg.mouth_shape(frowning).corner_lift < 0 < neutral.corner_lift

    gaping = lm.copy()
    gaping[65:68, 1] += 10  # lower inner lip drops 10 px
    gaping[55:60, 1] += 10
    assert fg.mouth_shape(gaping).opening > 0.3


def test_mouth_shape_of_a_degenerate_face_is_zero() -> None:
    assert fg.mouth_shape(np.zeros((68, 2))) == fg.MouthShape(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def test_mouth_shape_reads_the_smile_lengths() -> None:
    """Gap, corners below the lower eyelids, upper lip below the nose base: in inter-ocular units."""
    lm = _TEMPLATE68.astype(np.float64) * 100  # 38 px between the eye centres
    iod = 38.0
    m = fg.mouth_shape(lm)
    assert m.gap == pytest.approx((lm[66, 1] - lm[62, 1]) / iod, rel=1e-6)
    assert m.corners_below_eyes == pytest.approx((83 - 42) / iod, rel=1e-6)  # corners at 83, lids at 42
    assert m.lip_below_nose == pytest.approx((lm[51, 1] - lm[33, 1]) / iod, rel=1e-6)
    raised = lm.copy()
    raised[[48, 54], 1] -= 4
    raised[50:53, 1] -= 3
    r = fg.mouth_shape(raised)
    assert r.corners_below_eyes == pytest.approx(m.corners_below_eyes - 4 / iod, rel=1e-6)
    assert r.lip_below_nose == pytest.approx(m.lip_below_nose - 3 / iod, rel=1e-6)


# --- head pose ---------------------------------------------------------------------------------------


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """The head's rotation in the model frame (x right, y up, z towards the camera), built from the
    documented meaning of the angles: yaw turns the nose towards the image's right (about y), pitch
    raises it (about x), roll tilts the head clockwise on screen (about z); applied yaw, pitch, roll."""
    y, p, r = np.radians([yaw, pitch, roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), np.sin(p)], [0, -np.sin(p), np.cos(p)]])  # nose up
    rz = np.array([[np.cos(r), np.sin(r), 0], [-np.sin(r), np.cos(r), 0], [0, 0, 1]])  # clockwise
    return rz @ rx @ ry


def _project(
    yaw: float,
    pitch: float,
    roll: float,
    px_per_mm: float = 1.5,
    centre: tuple[float, float] = (300.0, 200.0),
    camera_mm: float | None = None,
) -> np.ndarray:
    """68 image landmarks (y down) whose six pose points are the rotated 3-D model, projected
    orthographically, or in perspective from ``camera_mm`` in front of the nose tip."""
    model = fg._POSE_MODEL_MM @ _rotation(yaw, pitch, roll).T
    xy = model[:, :2]
    if camera_mm is not None:
        xy = xy * (camera_mm / (camera_mm - model[:, 2]))[:, None]
    image = xy * np.array([1.0, -1.0]) * px_per_mm + np.array(centre)
    lm = _TEMPLATE68.astype(np.float64) * 100  # the other 62 points play no part
    lm[fg._POSE_INDICES] = image
    return lm


def _angles(pose: fg.HeadPose) -> np.ndarray:
    return np.array([pose.yaw_deg, pose.pitch_deg, pose.roll_deg])


@given(pose_deg, pose_deg, pose_deg, st.floats(0.1, 20), shifts, shifts)
def test_head_pose_recovers_the_rotation_of_a_3d_model(
    yaw: float, pitch: float, roll: float, px_per_mm: float, cx: float, cy: float
) -> None:
    lm = _project(yaw, pitch, roll, px_per_mm, (cx, cy))
    assert np.abs(_angles(fg.head_pose(lm)) - (yaw, pitch, roll)).max() < 1.0


@given(pose_deg, pose_deg, pose_deg)
def test_head_pose_under_a_real_camera_is_within_a_few_degrees(yaw: float, pitch: float, roll: float) -> None:
    """A face 1 m from the camera (perspective, not the orthographic projection the fit assumes)."""
    lm = _project(yaw, pitch, roll, camera_mm=1000.0)
    assert np.abs(_angles(fg.head_pose(lm)) - (yaw, pitch, roll)).max() < 2.0


@given(pose_deg, pose_deg, pose_deg)
def test_a_mirrored_face_has_opposite_yaw_and_roll_and_the_same_pitch(
    yaw: float, pitch: float, roll: float
) -> None:
    lm = _project(yaw, pitch, roll)
    mirrored = lm * np.array([-1.0, 1.0])
    # the mirror image's subject-right eye and mouth corner are the original's left ones
    for a, b in ((36, 45), (48, 54)):
        mirrored[[a, b]] = mirrored[[b, a]]
    pose, flipped = fg.head_pose(lm), fg.head_pose(mirrored)
    assert flipped.yaw_deg == pytest.approx(-pose.yaw_deg, abs=1e-6)
    assert flipped.pitch_deg == pytest.approx(pose.pitch_deg, abs=1e-6)
    assert flipped.roll_deg == pytest.approx(-pose.roll_deg, abs=1e-6)


def test_head_pose_signs_match_their_documentation() -> None:
    frontal = _project(0, 0, 0)
    eyes_mid = lambda lm: (lm[36] + lm[45]) / 2  # noqa: E731
    assert _angles(fg.head_pose(frontal)) == pytest.approx((0, 0, 0), abs=1e-6)

    turned = _project(25, 0, 0)  # + yaw: the nose moves towards the image's right
    assert turned[30, 0] - eyes_mid(turned)[0] > frontal[30, 0] - eyes_mid(frontal)[0]
    assert fg.head_pose(turned).yaw_deg == pytest.approx(25, abs=1e-6)

    up = _project(0, 25, 0)  # + pitch: looking up, the nose tip rises towards the eye line
    assert eyes_mid(up)[1] - up[30, 1] > eyes_mid(frontal)[1] - frontal[30, 1]
    assert fg.head_pose(up).pitch_deg == pytest.approx(25, abs=1e-6)

    tilted = _project(0, 0, 25)  # + roll: clockwise on screen, the image-right eye sits lower (y down)
    assert tilted[45, 1] > tilted[36, 1]
    assert fg.head_pose(tilted).roll_deg == pytest.approx(25, abs=1e-6)


def test_head_pose_of_a_degenerate_face_is_frontal() -> None:
    assert fg.head_pose(np.zeros((68, 2))) == fg.HeadPose(0.0, 0.0, 0.0)
