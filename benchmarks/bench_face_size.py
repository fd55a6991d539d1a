"""How embedding quality falls with face size: the measurement behind ``cluster_min_face_px``.

Every identity photo of ``../shared/data/identities`` is shrunk so that its labelled face (the largest, most
central one, found by the real detector at full size) spans N pixels, then embedded by the real embedder
(landmarks and chip cut from the shrunken photo, as the pipeline would) and clustered with the real
partition at the default threshold. For each N the script prints the share of different-person pairs that
fall below the threshold (a wrong link), the share of same-person pairs above it, and the clustering scores.

Usage: python benchmarks/bench_face_size.py [--data ../shared/data] [--sizes 16 24 32 40 48 64 100]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from eventlens.analysis.pool import build_models  # noqa: E402
from eventlens.cluster.chinese_whispers import pairwise_distances  # noqa: E402
from eventlens.cluster.partition import partition_faces  # noqa: E402
from eventlens.evaluation.identities import labelled_face_index  # noqa: E402
from eventlens.evaluation.metrics import score_clustering  # noqa: E402
from eventlens.imaging.decode import decode  # noqa: E402
from eventlens.settings import load_settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 24, 32, 40, 48, 64, 100])
    args = parser.parse_args()
    settings = load_settings()
    models = build_models(settings, load=True)
    photos = sorted(p for p in (args.data / "identities").glob("*/*") if p.suffix.lower() != ".md")
    base = []
    for path in photos:
        image = decode(path, settings.max_image_megapixels, min(1.0, 1600 / 4000))
        dets = models.detector.detect(image.rgb)
        dets = dets[dets.scores >= settings.min_det_score]
        index = labelled_face_index([tuple(b) for b in dets.xyxy], image.rgb.shape[1], image.rgb.shape[0])
        if index is not None:
            base.append((path.parent.name, image.rgb, dets.xyxy[index]))
    print(
        f"{len(base)} labelled faces from {len(photos)} photos; threshold {settings.cluster_max_distance}\n"
    )
    print("| face px | different people linked | same person not linked | pairwise P | BCubed F |")
    print("|---|---|---|---|---|")
    for size in args.sizes:
        vectors, labels = [], []
        for label, rgb, box in base:
            face_px = float(np.sqrt((box[2] - box[0]) * (box[3] - box[1])))
            scale = min(1.0, size / face_px)
            h, w = rgb.shape[:2]
            small = Image.fromarray(rgb).resize(
                (max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR
            )
            vectors.append(models.embedder.embed(np.asarray(small), (box * scale)[None])[0])
            labels.append(label)
        emb = np.array(vectors)
        truth = np.array(labels)
        d = pairwise_distances(emb, emb)
        same = truth[:, None] == truth[None, :]
        off = ~np.eye(len(truth), dtype=bool)
        t = settings.cluster_max_distance
        clusters, _ = partition_faces(emb, [str(i) for i in range(len(emb))], t)
        scores = score_clustering(clusters.tolist(), labels)
        print(
            f"| {size} | {(d[~same] < t).mean():.4f} | {(d[same & off] >= t).mean():.3f} | "
            f"{scores.pairwise.precision:.4f} | {scores.bcubed.f1:.4f} |"
        )


if __name__ == "__main__":
    main()
