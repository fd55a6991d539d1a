"""Time of the cluster stage on ready catalogs, and of the partition alone on all their faces together.

Each ``OUT`` (an output folder of ``eventlens process``) is copied to a temporary folder (the original is
never written) and :func:`eventlens.cluster.stage.cluster` runs on the copy ``--repeat`` times; the
script prints the time of every run in ms (the first one may re-partition a catalog an older version
wrote; later ones are the steady state). Then the clusterable faces of all the catalogs are partitioned at
once by :func:`eventlens.cluster.partition.partition_faces` (``combined``); with ``--scale K`` also K noisy
copies of them (a stand-in for a bigger event with many shots of the same people: Gaussian noise of
``--noise`` per dimension, seeded). Times are wall / CPU ms (the machine may be shared: CPU is steadier).
Runs with whatever eventlens is installed, so the same script measures two versions.

Usage: python benchmarks/bench_cluster.py OUT [OUT ...] [--repeat 5] [--scale 4] [--noise 0.01]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from eventlens.catalog.db import open_catalog  # noqa: E402
from eventlens.catalog.schema import faces  # noqa: E402
from eventlens.cluster.partition import partition_faces  # noqa: E402
from eventlens.cluster.stage import ClusterSummary, cluster, load_clusterable_faces  # noqa: E402
from eventlens.settings import load_settings  # noqa: E402

CATALOG = Path(".eventlens") / "catalog.sqlite"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outs", type=Path, nargs="+")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--scale", type=int, default=0)
    parser.add_argument("--noise", type=float, default=0.01)
    args = parser.parse_args()
    settings = load_settings()
    embeddings, photos = [], []
    with tempfile.TemporaryDirectory(prefix="eventlens-bench-cluster-") as tmp:
        for k, out in enumerate(args.outs):
            copy = Path(tmp) / f"{k}.sqlite"
            shutil.copyfile(out / CATALOG, copy)
            engine = open_catalog(f"sqlite:///{copy}")
            try:
                with engine.connect() as conn:
                    model = conn.execute(
                        sa.select(faces.c.embed_model).where(faces.c.embed_model.is_not(None)).limit(1)
                    ).scalar()
                    data = load_clusterable_faces(conn, model, settings.cluster_min_face_px, ClusterSummary())
                embeddings.append(data.embeddings)
                photos += [f"{k}:{p}" for p in data.photo]
                times = []
                for _ in range(args.repeat):
                    with _Timer(times):
                        summary = cluster(engine, settings, model)
            finally:
                engine.dispose()
            print(
                f"{out}: {len(data.ids)} faces, {summary.persons} persons; cluster() ms: {', '.join(times)}"
            )
    x = np.concatenate(embeddings)
    sets = [("combined", x, photos)]
    if args.scale:
        rng = np.random.default_rng(0)
        sets.append(
            (
                f"combined x{args.scale}",
                np.concatenate([x + args.noise * rng.standard_normal(x.shape) for _ in range(args.scale)]),
                [f"{k}:{p}" for k in range(args.scale) for p in photos],
            )
        )
    for name, emb, photo in sets:
        times = []
        for _ in range(args.repeat):
            with _Timer(times):
                partition_faces(emb.astype(np.float32), photo, settings.cluster_max_distance)
        print(f"{name}: {len(emb)} faces; partition_faces() ms: {', '.join(times)}")


class _Timer:
    """Appends "wall/CPU" ms of the block to ``times``."""

    def __init__(self, times: list[str]) -> None:
        self.times = times

    def __enter__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def __exit__(self, *exc: object) -> None:
        wall, cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu
        self.times.append(f"{1000 * wall:.0f}/{1000 * cpu:.0f}")


if __name__ == "__main__":
    main()
