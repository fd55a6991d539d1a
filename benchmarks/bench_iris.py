"""Iris-model speed: LiteRT on 64x64 eye crops, float32 and int8.

Usage: python benchmarks/bench_iris.py [--eyes 64] [--blas-threads 1] [--repeats 5] [--cache-dir DIR]

Prints the session load time, and ms per eye for batches of 1, 8 and 32 eyes per ``run`` call (the
session runs chunks of 8 internally): the float32 model, and the shipped int8 model
(``eventlens/backends/models/iris_contours_int8.tflite``) on LiteRT; plus the cost of cropping
(``sample_eye_crops``) per eye, from a numpy array and from a Pillow image, and of the iris dark height
(:func:`eventlens.attributes.eye_appearance.iris_dark_heights`, numpy on the crop) per eye.
OpenBLAS is pinned to one thread (before numpy is imported) so the figures are per core. The model must
be installed (``eventlens models install``); ``--cache-dir`` defaults to the settings' cache directory.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

BATCH_SIZES = (1, 8, 32)


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--eyes", type=int, default=64, help="eye crops timed per batch size (default 64)")
    p.add_argument("--blas-threads", type=int, default=1, help="OPENBLAS_NUM_THREADS (default 1)")
    p.add_argument("--repeats", type=int, default=5, help="runs per batch size; the best is shown")
    p.add_argument("--cache-dir", type=Path, default=None, help="eventlens cache dir holding models/")
    return p.parse_args()


ARGS = _args()
os.environ["OPENBLAS_NUM_THREADS"] = str(ARGS.blas_threads)  # must precede the numpy import

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from eventlens.attributes.eye_appearance import iris_dark_heights  # noqa: E402
from eventlens.backends.iris import INT8_MODEL, eye_crop_transforms, sample_eye_crops  # noqa: E402
from eventlens.backends.model_files import IRIS_LANDMARK, model_path  # noqa: E402
from eventlens.backends.sessions import Session, create_session  # noqa: E402
from eventlens.settings import Settings  # noqa: E402


def _time_per_eye(net: Session, x: np.ndarray, batch: int, repeats: int) -> float:
    """Best-of-``repeats`` seconds per eye, ``batch`` eyes per ``run`` call."""
    name = net.inputs[0].name
    net.run({name: x[:batch]})  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for i in range(0, len(x), batch):
            net.run({name: x[i : i + batch]})
        best = min(best, time.perf_counter() - t)
    return best / len(x)


def _time_crops(repeats: int, eye_width_px: float, as_pillow: bool) -> float:
    """Seconds per eye to crop 32 eyes of ``eye_width_px`` corner distance out of a 2000x1500 photo (a 12 MP
    photo as the analysis decodes it), given as a numpy array or as the Pillow image the decoder keeps."""
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, size=(1500, 2000, 3), dtype=np.uint8)
    image = Image.fromarray(rgb) if as_pillow else rgb
    centres = rng.uniform(400, 1100, size=(16, 2))
    w = eye_width_px
    corners = np.stack(
        [centres + [-1.5 * w, 0], centres + [-0.5 * w, 0], centres + [0.5 * w, 0], centres + [1.5 * w, 0]],
        axis=1,
    )
    transforms = eye_crop_transforms(corners).reshape(-1, 2, 3)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        sample_eye_crops(image, transforms)
        best = min(best, time.perf_counter() - t)
    return best / len(transforms)


def _time_dark_heights(repeats: int) -> float:
    """Seconds per eye of the iris dark height, two eyes per call (one face), on eye crops with an
    almond outline of the crop geometry (22.8 px between the corners, 7 px lid opening)."""
    rng = np.random.default_rng(2)
    crops = rng.random((64, 64, 64, 3), dtype=np.float32)
    x = np.linspace(20.6, 43.4, 9)
    gap = 3.5 * np.sin(np.pi * (x - 20.6) / 22.8)
    outline = np.vstack([np.column_stack([x, 32 + gap]), np.column_stack([x[1:8], 32 - gap[1:8]])])
    outlines = np.broadcast_to(outline, (len(crops), 16, 2))
    iris_dark_heights(crops[:2], outlines[:2])  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for i in range(0, len(crops), 2):
            iris_dark_heights(crops[i : i + 2], outlines[i : i + 2])
        best = min(best, time.perf_counter() - t)
    return best / len(crops)


def main() -> None:
    cache = ARGS.cache_dir or Settings.model_fields["cache_dir"].default
    path = model_path(IRIS_LANDMARK, Path(cache))
    print(f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}  eyes per measurement: {ARGS.eyes}")
    loads = []
    for _ in range(3):
        t = time.perf_counter()
        create_session("litert", path)
        loads.append(time.perf_counter() - t)
    print(f"session load (float32, best of 3): {min(loads) * 1e3:.1f} ms")

    x = np.random.default_rng(0).random((ARGS.eyes, 64, 64, 3), dtype=np.float32)
    litert = create_session("litert", path)
    int8 = create_session("litert", INT8_MODEL)
    print(f"\n{'batch':>5}  {'litert ms/eye':>13}  {'litert int8 ms/eye':>18}")
    for batch in BATCH_SIZES:
        litert_s = _time_per_eye(litert, x, batch, ARGS.repeats)
        int8_s = _time_per_eye(int8, x, batch, ARGS.repeats)
        print(f"{batch:>5}  {litert_s * 1e3:>13.2f}  {int8_s * 1e3:>18.2f}")
    print(f"\n{'eye width px':>12}  {'crop ms/eye, array':>18}  {'crop ms/eye, Pillow':>19}")
    for width in (15, 40, 100):
        array_s, pillow_s = (_time_crops(ARGS.repeats, width, as_pillow) for as_pillow in (False, True))
        print(f"{width:>12}  {array_s * 1e3:>18.2f}  {pillow_s * 1e3:>19.2f}")
    print(f"\niris dark height (numpy, 2 eyes per call): {_time_dark_heights(ARGS.repeats) * 1e6:.1f} us/eye")


if __name__ == "__main__":
    main()
