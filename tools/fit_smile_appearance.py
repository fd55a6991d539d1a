"""Fit the smile model with the mouth's appearance (:mod:`eventlens.attributes.mouth_appearance`) on the
DEVELOPMENT labels, and write its template.

Only the development part of the labels may shape the decision: rows whose ``split`` is not ``dev`` are
skipped, and the tool stops if none is ``dev`` (the test part measures the frozen result once). ::

    .venv/bin/python tools/fit_smile_appearance.py --data ../shared/data --cache /tmp/smile_dev.npz \\
        [--write]

1. measure: every photo with a ``dev`` label runs through the real analysis
   (:func:`eventlens.analysis.photo.analyze_photo`, default settings); for each face the product's own
   :func:`~eventlens.attributes.mouth_appearance.mouth_pixels` is taken on the pixels and landmarks the
   measurements see, with the five smile features (:func:`~eventlens.attributes.decide.smile_features`).
   Each labelled box is matched to the detected face it overlaps most (IoU >= 0.5). Cached in ``--cache``
   (delete it to measure again).
2. cross-validate: faces labelled smile ``yes`` / ``no`` (every size; ``unsure`` left out), grouped 5-fold
   (folds by photo, or by person for ``identities``; both classes spread evenly), ``--seeds`` shuffles:
   the five features alone, and with the first ``--components`` principal components of the crop pixels
   (computed on the training folds); balanced logistic regression, L2 with C = ``--c`` on standardised
   features (Newton's method, numpy only).
3. fit on all the faces; the pixel components and their weights fold into one template (the logit is
   linear in the pixels); ``--write`` writes it to ``eventlens/attributes/mouth_smile.npz``; the geometric
   weights and the bias for ``decide.py`` are printed.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eventlens.attributes import mouth_appearance  # noqa: E402
from eventlens.attributes.decide import SMILE_FEATURES, smile_features  # noqa: E402

LABELS = REPO / "tests" / "data" / "face_attributes" / "labels.csv"
MATCH_IOU = 0.5
FOLDS = 5
_INPUTS = ("mouth_width", "mouth_lift", "mouth_gap", "corners_below_eyes", "lip_below_nose", "yaw_deg")


def family(dataset: str, photo: str) -> str:
    """Faces that must stay in one fold: one person's folder of ``identities``, else one photo."""
    return f"id:{photo.split('/')[0]}" if dataset == "identities" else f"{dataset}:{photo}"


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return float(ix * iy / union) if union > 0 else 0.0


def dev_rows(labels: Path) -> list[dict[str, str]]:
    rows = [r for r in csv.DictReader(labels.open(newline="", encoding="utf-8")) if r.get("split") == "dev"]
    if not rows:
        raise SystemExit(f"{labels}: no rows of split 'dev'")
    return [r for r in rows if r["smile"] in ("yes", "no")]


def measure(rows: list[dict[str, str]], data_dir: Path, cache: Path) -> None:
    """Analyse the labelled photos; store, per matched labelled face, its crop pixels and smile features."""
    import eventlens.analysis.photo as photo_module  # noqa: PLC0415
    import eventlens.attributes.faces as faces_module  # noqa: PLC0415
    from eventlens.analysis.pool import build_models  # noqa: PLC0415
    from eventlens.settings import Settings  # noqa: PLC0415

    seen: list[tuple[np.ndarray, np.ndarray | None]] = []
    original = photo_module.measure_face

    def measure_and_keep(image: Any, box: Any, landmarks: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append((np.asarray(args[1], dtype=np.float64), mouth_appearance.mouth_pixels(image, landmarks)))
        return original(image, box, landmarks, *args, **kwargs)

    photo_module.measure_face = measure_and_keep  # type: ignore[assignment]
    faces_module.mouth_appearance = lambda image, landmarks: None  # type: ignore[assignment]  # no template yet
    settings = Settings()
    models = build_models(settings, load=True)
    pixels, features, smiling, groups, widths = [], [], [], [], []
    for dataset, photo in sorted({(r["dataset"], r["photo"]) for r in rows}):
        seen.clear()
        result = photo_module.analyze_photo(
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
            faces = [f for f in result.faces if f.measurements is not None]
            face = max(faces, key=lambda f: _iou(box, f.xyxy), default=None)
            crop = max(seen, key=lambda s: _iou(box, s[0]), default=None)
            if face is None or crop is None or crop[1] is None or _iou(box, face.xyxy) < MATCH_IOU:
                continue
            m = face.measurements.as_dict() if face.measurements is not None else {}
            pixels.append(crop[1].ravel())
            features.append(smile_features(*(float(m[k]) for k in _INPUTS)))
            smiling.append(r["smile"] == "yes")
            groups.append(family(dataset, photo))
            widths.append(box[2] - box[0])
    np.savez(
        cache,
        pixels=np.array(pixels),
        features=np.array(features),
        smiling=np.array(smiling),
        groups=np.array(groups),
        widths=np.array(widths),
    )


def fit_logistic(x: np.ndarray, y: np.ndarray, c: float) -> tuple[float, np.ndarray]:
    """Balanced-weight L2 logistic regression on standardised ``x`` by Newton's method; (intercept,
    coefficients) for raw ``x``."""
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    z = np.column_stack([np.ones(len(x)), (x - mu) / sd])
    weight = np.where(y, len(y) / (2 * y.sum()), len(y) / (2 * (~y).sum()))
    penalty = np.diag([0.0] + [1.0 / c] * x.shape[1])
    beta = np.zeros(z.shape[1])
    for _ in range(100):
        p = 1 / (1 + np.exp(-np.clip(z @ beta, -30, 30)))
        step = np.linalg.solve(
            (z * (weight * p * (1 - p))[:, None]).T @ z + penalty, z.T @ (weight * (p - y)) + penalty @ beta
        )
        beta -= step
        if np.abs(step).max() < 1e-10:
            break
    coef = beta[1:] / sd
    return float(beta[0] - (coef * mu).sum()), coef


def fit_model(
    g: np.ndarray, px: np.ndarray, y: np.ndarray, components: int, c: float
) -> tuple[float, np.ndarray, np.ndarray]:
    """(bias, geometric weights, pixel template (flat)): logit = bias + g @ weights + px @ template."""
    if components == 0:
        b0, coef = fit_logistic(g, y, c)
        return b0, coef, np.zeros(px.shape[1])
    mean = px.mean(axis=0)
    basis = np.linalg.svd(px - mean, full_matrices=False)[2][:components]  # (k, pixels)
    b0, coef = fit_logistic(np.column_stack([g, (px - mean) @ basis.T]), y, c)
    template = basis.T @ coef[g.shape[1] :]
    return b0 - float(mean @ template), coef[: g.shape[1]], template


def grouped_folds(y: np.ndarray, groups: np.ndarray, seed: int) -> np.ndarray:
    """Fold of each face: whole groups, largest first, each where it keeps both class counts most even."""
    rng = np.random.default_rng(seed)
    names = np.unique(groups)
    rng.shuffle(names)
    pos = {g: int(y[groups == g].sum()) for g in names}
    neg = {g: int((~y[groups == g]).sum()) for g in names}
    fold_pos, fold_neg, fold_of = np.zeros(FOLDS), np.zeros(FOLDS), {}
    for g in sorted(names, key=lambda g: -(pos[g] + neg[g])):  # stable: the shuffle breaks ties
        one = np.eye(FOLDS)
        cost = [(fold_pos + pos[g] * one[j]).std() + (fold_neg + neg[g] * one[j]).std() for j in range(FOLDS)]
        j = int(np.argmin(cost))
        fold_of[g] = j
        fold_pos[j] += pos[g]
        fold_neg[j] += neg[g]
    return np.array([fold_of[g] for g in groups])


def balanced_accuracy(truth: np.ndarray, said: np.ndarray) -> float:
    return float((said[truth].mean() + (~said[~truth]).mean()) / 2)


def cross_validate(
    g: np.ndarray, px: np.ndarray, y: np.ndarray, groups: np.ndarray, components: int, c: float, seeds: int
) -> np.ndarray:
    """Out-of-fold smile decisions, (seeds, faces)."""
    said = np.zeros((seeds, len(y)), dtype=bool)
    for seed in range(seeds):
        folds = grouped_folds(y, groups, seed)
        for f in range(FOLDS):
            train, test = folds != f, folds == f
            b0, w, t = fit_model(g[train], px[train], y[train], components, c)
            said[seed, test] = b0 + g[test] @ w + px[test] @ t >= 0
    return said


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=Path, default=LABELS, help="labels.csv (only its dev rows are read)")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="DATA/<dataset>/<photo>")
    parser.add_argument("--cache", type=Path, required=True, help="measured faces (.npz; made if absent)")
    parser.add_argument("--components", type=int, default=40, help="principal components of the crop")
    parser.add_argument("--c", type=float, default=0.02, help="inverse L2 penalty, standardised features")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--write", action="store_true", help="write eventlens/attributes/mouth_smile.npz")
    args = parser.parse_args()
    if "holdout" in args.data.resolve().parts:
        raise SystemExit("never fit on the holdout photos")
    rows = dev_rows(args.labels)
    if not args.cache.exists():
        measure(rows, args.data, args.cache)
    data = np.load(args.cache)
    px, g, y, groups, widths = (data[k] for k in ("pixels", "features", "smiling", "groups", "widths"))
    out = sys.stdout.write
    out(f"dev faces {len(y)} (smiling {y.sum()}, not {(~y).sum()}; >= 40 px {(widths >= 40).sum()}), ")
    out(f"groups {len(set(groups))}\n")
    big = widths >= 40
    for k in sorted({0, args.components}):
        said = cross_validate(g, px, y, groups, k, args.c, args.seeds)
        every = [balanced_accuracy(y, s) for s in said]
        large = [balanced_accuracy(y[big], s[big]) for s in said]
        name = "the five features" if k == 0 else f"the five features + {k} crop components"
        out(
            f"{name}: grouped {FOLDS}-fold CV over {args.seeds} shuffles, balanced accuracy "
            f"{np.mean(every):.3f} (sd {np.std(every):.3f}, {np.min(every):.3f}-{np.max(every):.3f}); "
            f">= 40 px {np.mean(large):.3f}\n"
        )
    bias, weights, template = fit_model(g, px, y, args.components, args.c)
    fitted = bias + g @ weights + px @ template >= 0
    out(f"fitted on all: balanced accuracy {balanced_accuracy(y, fitted):.3f}\n")
    pairs = ", ".join(f'"{n}": {w:.2f}' for n, w in zip(SMILE_FEATURES, weights, strict=True))
    out(f"SMILE_APPEARANCE_WEIGHTS = {{{pairs}}}\nSMILE_APPEARANCE_BIAS = {bias:.2f}\n")
    low, high = np.percentile(px @ template, [5, 95])
    out(f"appearance term on the dev faces: 5th-95th percentile {low:.2f} .. {high:.2f}\n")
    if args.write:
        shape = mouth_appearance.MOUTH_CROP_PX[::-1]
        np.savez(mouth_appearance.TEMPLATE_PATH, template=template.reshape(shape).astype(np.float32))
        out(f"wrote {mouth_appearance.TEMPLATE_PATH}\n")


if __name__ == "__main__":
    main()
