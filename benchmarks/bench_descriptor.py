"""Face-descriptor speed: dlib-bin vs the numpy and ONNX Runtime re-implementations of dlib's ResNet.

Usage: python benchmarks/bench_descriptor.py [--faces 32] [--blas-threads 1]

Prints ms/face for the three runtimes at batch sizes 1, 8 and 32, the one-time parse time of
the .dat file, the load time from the .npz cache, and the ONNX runtime's one-time cost (building
the ONNX graph in memory, creating the session) and resident memory.  OpenBLAS is pinned to one
thread (before numpy is imported) and the ONNX Runtime session uses one thread, so the figures
are per core.  The ONNX column is left out when ``onnxruntime`` is not installed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

BATCH_SIZES = (1, 8, 32)


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--faces", type=int, default=32, help="chips timed per batch size (default 32)")
    p.add_argument("--blas-threads", type=int, default=1, help="OPENBLAS_NUM_THREADS (default 1)")
    p.add_argument("--repeats", type=int, default=3, help="numpy/onnx runs per batch size; best is shown")
    return p.parse_args()


ARGS = _args()
os.environ["OPENBLAS_NUM_THREADS"] = str(ARGS.blas_threads)  # must precede the numpy import

import dlib  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
_t = time.perf_counter()
from eventlens.backends.dlib_face import _model_path  # noqa: E402
from eventlens.backends.dlib_resnet_numpy import (  # noqa: E402
    NumpyResnetDescriptor,
    load_resnet_weights,
    parse_resnet_dat,
)

IMPORT_S = time.perf_counter() - _t

try:
    import onnxruntime  # noqa: E402, F401

    from eventlens.backends.dlib_resnet_onnx import OnnxResnetDescriptor, build_onnx_model  # noqa: E402

    HAVE_ORT = True
except ImportError:
    HAVE_ORT = False


def _chips(n: int) -> np.ndarray:
    """Deterministic synthetic 150x150 RGB chips (the run time does not depend on content)."""
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(n, 150, 150, 3), dtype=np.uint8)


def _time_dlib(model, chips: np.ndarray, batch: int) -> float:
    """Seconds per face for dlib-bin, ``batch`` chips per call."""
    chip_list = [np.ascontiguousarray(c) for c in chips]
    t = time.perf_counter()
    for i in range(0, len(chip_list), batch):
        part = chip_list[i : i + batch]
        if batch == 1:
            model.compute_face_descriptor(part[0])
        else:
            model.compute_face_descriptor(part)
    return (time.perf_counter() - t) / len(chip_list)


def _time_numpy(desc, chips: np.ndarray, repeats: int) -> float:
    """Best-of-``repeats`` seconds per face for the numpy (or ONNX) runtime."""
    desc.compute(chips[: desc.batch_size])  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        desc.compute(chips)
        best = min(best, time.perf_counter() - t)
    return best / len(chips)


def main() -> None:
    dat = Path(_model_path("resnet"))
    print(f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}  faces per measurement: {ARGS.faces}")
    print(f"module import: {IMPORT_S * 1e3:.1f} ms")

    t = time.perf_counter()
    weights = parse_resnet_dat(dat)
    print(f"parse .dat (read + sha256 + parse, no cache): {(time.perf_counter() - t) * 1e3:.1f} ms")
    with tempfile.TemporaryDirectory() as cache:
        t = time.perf_counter()
        load_resnet_weights(dat, cache_dir=Path(cache))
        cold = time.perf_counter() - t
        print(f"load_resnet_weights, cold cache (parse + write .npz): {cold * 1e3:.1f} ms")
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            load_resnet_weights(dat, cache_dir=Path(cache))
            best = min(best, time.perf_counter() - t)
        print(f"load_resnet_weights, warm cache (read + sha256 + load .npz): {best * 1e3:.1f} ms")

    chips = _chips(ARGS.faces)
    onnx = _onnx_setup(weights) if HAVE_ORT else None
    model = dlib.face_recognition_model_v1(str(dat))
    header = f"\n{'batch':>5}  {'dlib-bin ms/face':>16}  {'numpy ms/face':>13}  {'speed-up':>8}"
    print(header + (f"  {'onnx ms/face':>12}  {'speed-up':>8}  {'onnx/numpy':>10}" if onnx else ""))
    for batch in BATCH_SIZES:
        desc = NumpyResnetDescriptor(weights, batch_size=batch)
        t_np = _time_numpy(desc, chips, ARGS.repeats)
        line = f"{batch:>5}  {{dlib}}  {t_np * 1e3:>13.2f}  {{np_x}}"
        if onnx is not None:
            onnx.batch_size = batch
            t_ort = _time_numpy(onnx, chips, ARGS.repeats)
            line += f"  {t_ort * 1e3:>12.2f}  {{ort_x}}  {t_np / t_ort:>9.2f}x"
        t_dlib = _time_dlib(model, chips, batch)
        print(
            line.replace("{dlib}", f"{t_dlib * 1e3:>16.1f}")
            .replace("{np_x}", f"{t_dlib / t_np:>7.1f}x")
            .replace("{ort_x}", f"{t_dlib / t_ort:>7.1f}x" if onnx is not None else "")
        )

    ours = NumpyResnetDescriptor(weights).compute(chips)
    ref = np.array([np.asarray(model.compute_face_descriptor(c)) for c in chips[:8]])
    print(f"\nmax |numpy - dlib| on 8 synthetic chips: {np.abs(ours[:8] - ref).max():.2e}")
    if onnx is not None:
        theirs = onnx.compute(chips)
        print(f"max |onnx - dlib| on 8 synthetic chips: {np.abs(theirs[:8] - ref).max():.2e}")
        print(f"max |onnx - numpy| on {len(chips)} synthetic chips: {np.abs(theirs - ours).max():.2e}")


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _onnx_setup(weights) -> OnnxResnetDescriptor:
    """The ONNX descriptor with its session created; prints the one-time costs and the memory."""
    t = time.perf_counter()
    model_bytes = build_onnx_model(weights)
    built = time.perf_counter() - t
    print(f"\nbuild ONNX model in memory: {built * 1e3:.1f} ms ({len(model_bytes) / 1e6:.1f} MB)")
    del model_bytes
    rss0 = _rss_mb()
    desc = OnnxResnetDescriptor(weights, batch_size=8)
    t = time.perf_counter()
    desc.load()  # builds the model again and creates the session
    first = time.perf_counter() - t
    desc.compute(_chips(8))
    print(f"OnnxResnetDescriptor.load, first session of the process: {first * 1e3:.1f} ms")
    print(f"resident memory of that session after a batch of 8: +{_rss_mb() - rss0:.0f} MB")
    again = OnnxResnetDescriptor(weights, batch_size=8)
    t = time.perf_counter()
    again.load()
    print(f"OnnxResnetDescriptor.load, another session: {(time.perf_counter() - t) * 1e3:.1f} ms")
    return desc


if __name__ == "__main__":
    main()
