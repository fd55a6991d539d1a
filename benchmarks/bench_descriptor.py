"""Face-descriptor speed: dlib's ResNet on dlib-bin and as an ONNX graph on ONNX Runtime.

Usage: python benchmarks/bench_descriptor.py [--faces 32] [--blas-threads 1] [--repeats 3]

Prints the one-time costs (parse of the .dat file, load from the .npz cache, building the ONNX graph in
memory, creating the session, its resident memory), then ms/face of both runtimes at batch sizes 1, 8
and 32 and how far apart their descriptors are. OpenBLAS is pinned to one thread (before numpy is
imported) and both sessions use one thread, so the figures are per core.
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
    p.add_argument("--repeats", type=int, default=3, help="onnx runs per batch size; best is shown")
    return p.parse_args()


ARGS = _args()
os.environ["OPENBLAS_NUM_THREADS"] = str(ARGS.blas_threads)  # must precede the numpy import

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from eventlens.backends.dlib_face import _model_path  # noqa: E402
from eventlens.backends.dlib_resnet_onnx import build_onnx_model  # noqa: E402
from eventlens.backends.dlib_weights import load_resnet_weights, parse_resnet_dat  # noqa: E402
from eventlens.backends.sessions import Session, create_session  # noqa: E402


def _chips(n: int) -> np.ndarray:
    """Deterministic synthetic 150x150 RGB chips (the run time does not depend on content)."""
    return np.random.default_rng(0).integers(0, 256, size=(n, 150, 150, 3), dtype=np.uint8)


def _per_face(session: Session, chips: np.ndarray, batch: int, repeats: int) -> float:
    """Best-of-``repeats`` seconds per face, ``batch`` chips per ``run`` call."""
    session.run({"chips": chips[:batch]})  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for i in range(0, len(chips), batch):
            session.run({"chips": chips[i : i + batch]})
        best = min(best, time.perf_counter() - t)
    return best / len(chips)


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    dat = Path(_model_path("resnet"))
    print(f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}  faces per measurement: {ARGS.faces}")
    t = time.perf_counter()
    weights = parse_resnet_dat(dat)
    print(f"parse .dat (read + parse, no cache): {(time.perf_counter() - t) * 1e3:.1f} ms")
    with tempfile.TemporaryDirectory() as cache:
        load_resnet_weights(dat, cache_dir=Path(cache))
        t = time.perf_counter()
        load_resnet_weights(dat, cache_dir=Path(cache))
        warm_s = time.perf_counter() - t
    print(f"load_resnet_weights, warm cache (read + sha256 + load .npz): {warm_s * 1e3:.1f} ms")
    t = time.perf_counter()
    model = build_onnx_model(weights)
    print(f"build ONNX model in memory: {(time.perf_counter() - t) * 1e3:.1f} ms ({len(model) / 1e6:.1f} MB)")
    rss0 = _rss_mb()
    t = time.perf_counter()
    onnx = create_session("onnxruntime", model, batch_size=8)
    print(f"ONNX Runtime session: {(time.perf_counter() - t) * 1e3:.1f} ms")
    chips = _chips(ARGS.faces)
    onnx.run({"chips": chips[:8]})
    print(f"resident memory of that session after a batch of 8: +{_rss_mb() - rss0:.0f} MB")
    dlib = create_session("dlib", dat)

    print(f"\n{'batch':>5}  {'dlib-bin ms/face':>16}  {'onnx ms/face':>12}  {'speed-up':>8}")
    for batch in BATCH_SIZES:
        t_ort = _per_face(create_session("onnxruntime", model, batch_size=batch), chips, batch, ARGS.repeats)
        t_dlib = _per_face(dlib, chips, batch, 1)
        print(f"{batch:>5}  {t_dlib * 1e3:>16.1f}  {t_ort * 1e3:>12.2f}  {t_dlib / t_ort:>7.1f}x")
    (ours,), (ref,) = onnx.run({"chips": chips[:8]}), dlib.run({"chips": chips[:8]})
    print(f"\nmax |onnx - dlib| on 8 synthetic chips: {np.abs(ours - ref).max():.2e}")


if __name__ == "__main__":
    main()
