"""Speed of the gallery index (eventlens.match.vector_index.EmbeddingIndex): exact search over N faces.

N random 128-d vectors with the scale of dlib descriptors (norm ~1.45) are added in batches of 500 (the
time is reported as an enrolment rate of the index alone, without detection or embedding); then
``--queries`` single-vector searches for the ``--k`` nearest are timed one by one (median, 95th
percentile), and one batched search of all the queries at once. Queries are enrolled vectors plus noise,
so each has a near neighbour as a real face would. Runs on one BLAS thread unless
``OPENBLAS_NUM_THREADS`` says otherwise (the service shares the machine with the analysis workers).

Usage: python benchmarks/bench_vector_index.py [--faces 10000] [--queries 1000] [--k 5]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import time  # noqa: E402

import numpy as np  # noqa: E402

from eventlens.match.vector_index import EmbeddingIndex  # noqa: E402

BATCH = 500


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    vectors = rng.normal(0.0, 0.128, (args.faces, 128)).astype(np.float32)
    index: EmbeddingIndex[int] = EmbeddingIndex(128)
    start = time.perf_counter()
    for first in range(0, args.faces, BATCH):
        rows = range(first, min(first + BATCH, args.faces))
        index.add(list(rows), vectors[first : first + BATCH])
    add_s = time.perf_counter() - start
    picks = rng.integers(0, args.faces, args.queries)
    queries = (vectors[picks] + rng.normal(0.0, 0.03, (args.queries, 128))).astype(np.float32)
    index.search(queries[:10], args.k)  # warm up
    times_ms = []
    for q in queries:
        start = time.perf_counter()
        index.search(q, args.k)
        times_ms.append(1000 * (time.perf_counter() - start))
    start = time.perf_counter()
    index.search(queries, args.k)
    batch_ms = 1000 * (time.perf_counter() - start)
    times = np.array(times_ms)
    print(
        f"| faces | add (faces/s) | single query median ms | p95 ms | max ms | batch of {args.queries} ms |\n"
        f"|---|---|---|---|---|---|\n"
        f"| {args.faces} | {args.faces / add_s:,.0f} | {np.median(times):.3f} | "
        f"{np.percentile(times, 95):.3f} | {times.max():.3f} | {batch_ms:.1f} |"
    )
    print(f"\nk = {args.k}; OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}")


if __name__ == "__main__":
    main()
