"""Facial measurements from 68 landmarks (iBUG 300-W order), in any pixel frame.

Every function takes ``landmarks (68, 2)`` and returns plain numbers with a documented range; decisions
(open/closed, smiling or not) are made elsewhere from thresholds in the settings.

Index reference (the subject's right is on the image's left): jaw 0-16, brows 17-26, nose 27-35,
right eye 36-41, left eye 42-47, outer lips 48-59, inner lips 60-67.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RIGHT_EYE = slice(36, 42)
LEFT_EYE = slice(42, 48)

# A generic 3-D face (millimetres, x right, y up, z towards the camera) at six landmarks; the classic
# model used with solvePnP: nose tip 30, chin 8, eye outer corners 36 / 45, mouth corners 48 / 54.
_POSE_INDICES = np.array([30, 8, 36, 45, 48, 54])
_POSE_MODEL_MM = np.array(
    [
        (0.0, 0.0, 0.0),
        (0.0, -63.6, -12.5),
        (-43.3, 32.7, -26.0),
        (43.3, 32.7, -26.0),
        (-28.9, -28.9, -24.1),
        (28.9, -28.9, -24.1),
    ]
)


#: pseudo-inverse of the centred pose model (the least-squares solve of every head_pose call)
_POSE_MODEL_PINV = np.linalg.pinv(_POSE_MODEL_MM - _POSE_MODEL_MM.mean(0))


def _dist(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.hypot(*(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))


def eye_aspect_ratio(eye: np.ndarray) -> float:
    """EAR of one eye's six points (Soukupova & Cech 2016): ~0.25-0.35 open, below ~0.15 closed.

    ``(|p2 - p6| + |p3 - p5|) / (2 |p1 - p4|)``; 0 for a degenerate eye.
    """
    width = _dist(eye[0], eye[3])
    if width <= 1e-6:
        return 0.0
    return (_dist(eye[1], eye[5]) + _dist(eye[2], eye[4])) / (2.0 * width)


def eye_aspect_ratios(landmarks: np.ndarray) -> tuple[float, float]:
    """(right eye EAR, left eye EAR) of the subject."""
    lm = np.asarray(landmarks, dtype=np.float64)
    return eye_aspect_ratio(lm[RIGHT_EYE]), eye_aspect_ratio(lm[LEFT_EYE])


def face_frame(landmarks: np.ndarray) -> tuple[np.ndarray, float]:
    """Landmarks rotated so the eye line is horizontal and scaled by the inter-ocular distance.

    Returns (points (68, 2) in inter-ocular units, origin at the eyes' midpoint, y down), and the
    inter-ocular distance in input pixels.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    right_eye, left_eye = lm[RIGHT_EYE].mean(0), lm[LEFT_EYE].mean(0)
    delta = left_eye - right_eye
    iod = float(np.hypot(*delta))
    if iod <= 1e-6:
        return np.zeros_like(lm), 0.0
    c, s = delta / iod
    rot = np.array([[c, s], [-s, c]])
    return (lm - (left_eye + right_eye) / 2) @ rot.T / iod, iod


@dataclass(frozen=True)
class MouthShape:
    """Mouth measurements in inter-ocular units (IOD), independent of face size and roll.

    * ``width``: corner-to-corner width (48-54); ~0.8-0.95 neutral, wider when smiling.
    * ``corner_lift``: how far the corners sit above the lips' vertical centre (positive = raised, the
      upturn of a smile), relative to the mouth width.
    * ``opening``: inner-lip gap (62-66) over the inner mouth width (60-64); ~0 closed, > 0.3 wide open.
    * ``gap``: the inner-lip gap itself (66 below 62), in IOD; ~0 closed, ~0.1-0.25 in a smile showing
      teeth, more when shouting. Slightly negative when dlib overlaps the lips.
    * ``corners_below_eyes``: how far the mouth corners (48, 54) sit below the lower eyelids (40, 41,
      46, 47), in IOD; ~1.05 neutral, ~0.9 when a smile pulls the corners up towards raised cheeks.
    * ``lip_below_nose``: how far the top of the upper lip (51) sits below the nose base (33), in IOD;
      ~0.25 neutral, ~0.18 when a smile lifts the upper lip.
    """

    width: float
    corner_lift: float
    opening: float
    gap: float
    corners_below_eyes: float
    lip_below_nose: float


def mouth_shape(landmarks: np.ndarray) -> MouthShape:
    pts, iod = face_frame(landmarks)
    if iod == 0.0:
        return MouthShape(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    y = pts[:, 1]  # y grows downwards
    width = _dist(pts[48], pts[54])
    centre_y = (y[51] + y[57]) / 2
    corners_y = (y[48] + y[54]) / 2
    lift = (centre_y - corners_y) / width if width > 1e-6 else 0.0
    inner_width = _dist(pts[60], pts[64])
    opening = _dist(pts[62], pts[66]) / inner_width if inner_width > 1e-6 else 0.0
    lower_lids_y = (y[40] + y[41] + y[46] + y[47]) / 4
    return MouthShape(
        width=width,
        corner_lift=float(lift),
        opening=opening,
        gap=float(y[66] - y[62]),
        corners_below_eyes=float(corners_y - lower_lids_y),
        lip_below_nose=float(y[51] - y[33]),
    )


@dataclass(frozen=True)
class HeadPose:
    """Head rotation in degrees, 0 when facing the camera: yaw (+ = nose towards the image's right, i.e.
    the subject turns to their left), pitch (+ = looking up), roll (+ = head tilted clockwise on screen).
    """

    yaw_deg: float
    pitch_deg: float
    roll_deg: float


def head_pose(landmarks: np.ndarray) -> HeadPose:
    """Fit a generic 3-D face to six landmarks under scaled orthographic projection.

    Least squares gives the 2x3 projection of the centred model; its rows, orthonormalised, are the first
    two rows of the rotation, whose Euler angles are returned. Accurate to a few degrees for |yaw| < 60.
    """
    image = np.asarray(landmarks, dtype=np.float64)[_POSE_INDICES].copy()
    image[:, 1] *= -1  # image y grows downwards; the model's y grows upwards
    image -= image.mean(0)
    projection = _POSE_MODEL_PINV @ image  # (3, 2), least squares: image = centred model @ projection
    r1, r2 = projection[:, 0], projection[:, 1]
    n1, n2 = np.linalg.norm(r1), np.linalg.norm(r2)
    if n1 < 1e-9 or n2 < 1e-9:
        return HeadPose(0.0, 0.0, 0.0)
    r1, r2 = r1 / n1, r2 / n2
    r2 = r2 - r1 * float(r1 @ r2)  # Gram-Schmidt
    r2 /= np.linalg.norm(r2)
    r3 = np.cross(r1, r2)
    rot = np.stack([r1, r2, r3])
    # rot = Rz(roll) @ Rx(pitch) @ Ry(yaw) in the model frame (y up, z towards the camera)
    pitch = np.degrees(np.arcsin(np.clip(rot[2, 1], -1, 1)))
    yaw = np.degrees(np.arctan2(-rot[2, 0], rot[2, 2]))
    roll = np.degrees(np.arctan2(-rot[0, 1], rot[1, 1]))
    return HeadPose(float(yaw), float(-pitch), float(-roll))
