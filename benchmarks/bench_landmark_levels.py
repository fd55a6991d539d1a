"""dlib's 68-point model cut to fewer cascade levels: time per face and how far the points move.

Usage: python benchmarks/bench_landmark_levels.py --photos 1000 [--sample 50] [--levels 15 12 10 8]

Faces: those found in every 20th photo of the 1000-photo 12 MP event (``make_event.py``, built on first
use), up to ``--sample`` photos. For each number of levels, the 68 points of every face (warm loop, one
process) against all 15 levels: ms per face, mean point displacement as a share of the face size, and
the change of the mouth width (the smile measure) and head yaw. Accuracy of the decisions on the labelled
faces: ``EVENTLENS_LANDMARK_LEVELS=N eventlens eval --data ../shared/data``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from make_event import add_event_options, event_from_args

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from eventlens.analysis.photo import decode_for_detection, run_detection  # noqa: E402
from eventlens.analysis.pool import build_models  # noqa: E402
from eventlens.attributes.face_geometry import head_pose, mouth_shape  # noqa: E402
from eventlens.backends.dlib_face import DlibLandmarker  # noqa: E402
from eventlens.settings import Settings  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sample", type=int, default=50, help="photos to take faces from (default 50)")
    p.add_argument("--levels", type=int, nargs="+", default=[15, 12, 10, 8], help="levels to compare")
    add_event_options(p)
    args = p.parse_args()
    event_dir, _ = event_from_args(args)
    settings = Settings(workers=1)
    models = build_models(settings, load=True)
    faces = []
    for path in sorted((event_dir / "photos").rglob("*.jpg"))[::20][: args.sample]:
        plan, image = decode_for_detection(path, models.detector, settings.min_face_px, 150.0)
        dets = run_detection(models.detector, image, plan).detections
        dets = dets[dets.scores >= settings.min_det_score]
        faces += [(image.rgb, box) for box in dets.xyxy * image.scale]
    print(f"{len(faces)} faces from {event_dir}\n")
    header = ["levels", "ms/face", "points moved (% of face, mean / p95)", "mouth width change p95"]
    max_yaw = settings.curation.max_yaw_deg
    header += ["yaw change p95 (deg)", f"looking away (|yaw| > {max_yaw:g}) flips"]
    print("| " + " | ".join(header) + " |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as cache:
        cut_settings = Settings(workers=1, cache_dir=Path(cache))
        reference = None
        for levels in sorted(set(args.levels) | {15}, reverse=True):
            landmarker = DlibLandmarker(cut_settings, levels=levels)
            landmarker.load()
            times = []
            for _ in range(4):  # the first pass warms up; the best of the other three is shown
                start = time.perf_counter()
                points = [landmarker.landmarks68(rgb, box[None])[0] for rgb, box in faces]
                times.append(time.perf_counter() - start)
            ms = min(times[1:]) / len(faces) * 1000
            if reference is None:
                reference = points
            size = np.array([box[2] - box[0] for _, box in faces])
            pairs = list(zip(points, reference, strict=True))
            moved = np.array([np.linalg.norm(a - b, axis=1).mean() for a, b in pairs]) / size
            width = np.array([mouth_shape(a).width - mouth_shape(b).width for a, b in pairs])
            yaws = np.array([(head_pose(a).yaw_deg, head_pose(b).yaw_deg) for a, b in pairs])
            yaw = yaws[:, 0] - yaws[:, 1]
            flips = int(((abs(yaws[:, 0]) > max_yaw) != (abs(yaws[:, 1]) > max_yaw)).sum())
            print(
                f"| {levels} | {ms:.2f} | {100 * moved.mean():.2f} / {100 * np.percentile(moved, 95):.2f} "
                f"| {np.percentile(abs(width), 95):.3f} | {np.percentile(abs(yaw), 95):.1f} "
                f"| {flips} of {len(faces)} |"
            )


if __name__ == "__main__":
    main()
