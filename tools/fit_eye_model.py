"""Refit the eyes-open constants of :mod:`eventlens.attributes.decide` from hand-labelled faces.

Only the DEVELOPMENT part of the labels may shape the decision: rows whose ``split`` is not ``dev`` are
refused (the test part measures the frozen result once; it must not be looked at while choosing). ::

    .venv/bin/python tools/fit_eye_model.py --labels ../labels/model/labels_dev.csv --data ../shared/data \\
        --measurements /tmp/eye_measurements.csv

1. measure: every labelled photo runs through the real analysis
   (:func:`eventlens.analysis.photo.analyze_photo` with the default settings: int8 iris model, faces
   measured on the detector's copy where the pipeline does so); each labelled box is matched to the
   detected face it overlaps most (IoU >= 0.5). The measurements are written to ``--measurements``
   (CSV) and reused when that file exists (delete it to measure again).
2. fit: faces of at least ``--min-face-px`` (geometric mean of the box sides) labelled ``open`` or
   ``closed``; features: the smaller eye aspect ratio and the smaller iris dark height of the two eyes; a
   logistic regression with balanced class weights and an L2 penalty (C = 1 on standardised features,
   scikit-learn's default; solved here by Newton's method, numpy only). Prints the constants for
   ``decide.py``, grouped cross-validation figures (folds by photo family: an identity folder, or one
   group photo; several seeds) and the unknown margin that makes ~8 % of the faces unknown.
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import sys
from pathlib import Path

import numpy as np

log = logging.getLogger("fit_eye_model")

MATCH_IOU = 0.5
UNKNOWN_SHARE = 0.08
MEASURED = ("ear_right", "ear_left", "iris_dark_right", "iris_dark_left")


def family(dataset: str, photo: str) -> str:
    """Faces that must stay in one fold: one person's folder of ``identities``, else one photo."""
    return f"id:{photo.split('/')[0]}" if dataset == "identities" else f"{dataset}:{photo}"


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return float(ix * iy / union) if union > 0 else 0.0


def read_labels(path: Path) -> list[dict[str, str]]:
    rows = list(csv.DictReader(path.open(newline="")))
    other = {r.get("split", "") for r in rows} - {"dev"}
    if other:
        raise SystemExit(
            f"{path} holds rows with split {sorted(other)}: only the development part may be used"
        )
    return rows


def measure(rows: list[dict[str, str]], data_dir: Path, out: Path) -> None:
    """Analyse every labelled photo and write one CSV row per labelled face with its measurements."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from eventlens.analysis.photo import analyze_photo  # noqa: PLC0415
    from eventlens.analysis.pool import build_models  # noqa: PLC0415
    from eventlens.settings import Settings  # noqa: PLC0415

    settings = Settings()
    models = build_models(settings, load=True)
    photos = sorted({(r["dataset"], r["photo"]) for r in rows})
    fields = [*rows[0].keys(), "matched", *MEASURED, "mouth_width", "mouth_lift", "yaw_deg"]
    with out.open("w", newline="") as fp:
        writer = csv.DictWriter(fp, fieldnames=fields)
        writer.writeheader()
        for k, (dataset, photo) in enumerate(photos):
            result = analyze_photo(
                "-",
                data_dir / dataset / photo,
                models,
                settings.min_face_px,
                settings.min_det_score,
                settings.max_image_megapixels,
                settings.cluster_min_face_px,
            )
            for r in (r for r in rows if (r["dataset"], r["photo"]) == (dataset, photo)):
                box = np.array([float(r[c]) for c in ("x1", "y1", "x2", "y2")])
                scored = [(_iou(box, f.xyxy), f) for f in result.faces if f.measurements is not None]
                best = max(scored, key=lambda t: t[0], default=(0.0, None))
                row: dict[str, object] = {**r, "matched": best[0] >= MATCH_IOU}
                if best[0] >= MATCH_IOU and best[1] is not None and best[1].measurements is not None:
                    m = best[1].measurements.as_dict()
                    row.update({c: m[c] for c in fields if c in m})
                writer.writerow(row)
            if k % 25 == 0:
                log.info("measured %d of %d photos", k + 1, len(photos))


def fit_logistic(x: np.ndarray, y: np.ndarray, c: float = 1.0) -> tuple[float, np.ndarray]:
    """Balanced-weight L2 logistic regression on standardised ``x`` (scikit-learn's objective with
    ``class_weight="balanced"``), by Newton's method; returns (intercept, coefficients) for raw ``x``."""
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    z = np.column_stack([np.ones(len(x)), (x - mu) / sd])
    weight = np.where(y, len(y) / (2 * y.sum()), len(y) / (2 * (~y).sum()))
    penalty = np.diag([0.0] + [1.0 / c] * x.shape[1])
    beta = np.zeros(z.shape[1])
    for _ in range(100):
        p = 1 / (1 + np.exp(-(z @ beta)))
        grad = z.T @ (weight * (p - y)) + penalty @ beta
        hess = (z * (weight * p * (1 - p))[:, None]).T @ z + penalty
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-10:
            break
    coef = beta[1:] / sd
    return float(beta[0] - (coef * mu).sum()), coef


def grouped_folds(y: np.ndarray, groups: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold of each face: whole groups, the groups with closed eyes spread evenly first."""
    rng = np.random.default_rng(seed)
    names = np.unique(groups)
    rng.shuffle(names)
    closed = {g: int((~y[groups == g]).sum()) for g in names}
    size = {g: int((groups == g).sum()) for g in names}
    fold_closed, fold_size, fold_of = np.zeros(k), np.zeros(k), {}
    for g in sorted(names, key=lambda g: -closed[g]):  # stable: the shuffle breaks ties
        f = int(np.lexsort((fold_size, fold_closed))[0]) if closed[g] else int(np.argmin(fold_size))
        fold_of[g] = f
        fold_closed[f] += closed[g]
        fold_size[f] += size[g]
    return np.array([fold_of[g] for g in groups])


def balanced_accuracy(truth: np.ndarray, said_open: np.ndarray) -> float:
    return float((said_open[truth].mean() + (~said_open[~truth]).mean()) / 2)


def features(rows: list[dict[str, str]]) -> np.ndarray:
    v = np.array([[float(r[c]) for c in MEASURED] for r in rows])
    return np.column_stack([v[:, :2].min(axis=1), v[:, 2:].min(axis=1)])


def face_px(r: dict[str, str]) -> float:
    return math.sqrt((float(r["x2"]) - float(r["x1"])) * (float(r["y2"]) - float(r["y1"])))


def fit(measured: Path, min_face_px: float, seeds: int) -> None:
    rows = [r for r in csv.DictReader(measured.open(newline="")) if r["matched"] == "True"]
    rows = [r for r in rows if all(r[c] not in ("", None) for c in MEASURED) and face_px(r) >= min_face_px]
    labelled = [r for r in rows if r["eyes"] in ("open", "closed")]
    x, y = features(labelled), np.array([r["eyes"] == "open" for r in labelled])
    groups = np.array([family(r["dataset"], r["photo"]) for r in labelled])
    narrowed = np.array([("laughing" in r["tags"] or "narrowed_eyes" in r["tags"]) for r in labelled])
    out = sys.stdout.write
    out(f"faces >= {min_face_px:g} px measured: {len(rows)}; labelled open {y.sum()}, closed {(~y).sum()}, ")
    out(f"open with laughing/narrowed eyes {(y & narrowed).sum()}\n")
    rule = x[:, 0] >= 0.18  # the EAR rule it replaces (mediapipe_iris calibration midpoint)
    out(f"EAR rule (smaller EAR >= 0.18): balanced accuracy {balanced_accuracy(y, rule):.3f}, ")
    out(f"laughing/narrowed open called closed {(~rule[y & narrowed]).sum()}\n")

    intercept, coef = fit_logistic(x, y)
    out(
        f"\nEYES_INTERCEPT = {intercept:.2f}\nEYES_EAR_GAIN = {coef[0]:.2f}\nEYES_DARK_GAIN = {coef[1]:.2f}\n"
    )
    every = features(rows)
    score = 1 / (1 + np.exp(-(intercept + every @ coef)))
    margin = math.floor(float(np.quantile(np.abs(score - 0.5), UNKNOWN_SHARE)) * 100) / 100
    out(
        f"eyes_unknown_margin = {margin:.2f} "
        f"({(np.abs(score - 0.5) < margin).mean():.1%} of the faces unknown)\n"
    )

    results = []
    for seed in range(seeds):
        folds = grouped_folds(y, groups, 5, seed)
        p = np.zeros(len(y))
        for f in range(5):
            b0, b = fit_logistic(x[folds != f], y[folds != f])
            p[folds == f] = 1 / (1 + np.exp(-(b0 + x[folds == f] @ b)))
        said, decided = p >= 0.5, np.abs(p - 0.5) >= margin
        results.append(
            (
                balanced_accuracy(y, said),
                (~said[y & narrowed]).sum(),
                (~said[~y]).sum(),
                balanced_accuracy(y[decided], said[decided]),
                (~said[y & narrowed & decided]).sum(),
                (~decided).mean(),
            )
        )
    r = np.mean(results, axis=0)
    out(f"\ngrouped 5-fold cross-validation, {seeds} seeds (mean):\n")
    out(f"  all decided: balanced accuracy {r[0]:.3f}, laughing/narrowed open called closed {r[1]:.1f} of ")
    out(f"{(y & narrowed).sum()}, closed eyes called closed {r[2]:.1f} of {(~y).sum()}\n")
    out(f"  with the unknown margin: balanced accuracy {r[3]:.3f} on the decided faces, laughing/narrowed ")
    out(f"open called closed {r[4]:.1f}, unknown {r[5]:.1%} of the labelled faces\n")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labels", type=Path, required=True, help="labels_dev.csv (development part only)")
    parser.add_argument(
        "--data", type=Path, default=Path("../shared/data"), help="photos: DATA/<dataset>/<photo>"
    )
    parser.add_argument(
        "--measurements", type=Path, required=True, help="CSV of measurements (made if absent)"
    )
    parser.add_argument("--min-face-px", type=float, default=40.0)
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    if "holdout" in args.data.resolve().parts:
        raise SystemExit("never fit on the holdout photos")
    if not args.measurements.exists():
        measure(read_labels(args.labels), args.data, args.measurements)
    else:
        read_labels(args.labels)  # the same check, even when the measurements are reused
    fit(args.measurements, args.min_face_px, args.seeds)


if __name__ == "__main__":
    main()
