"""Fit the smile decision (:data:`eventlens.attributes.decide.SMILE_WEIGHTS`) on the DEVELOPMENT labels.

Reads hand labels (``dataset,photo,x1,y1,x2,y2,...,smile,...,split``; boxes in displayed original pixels)
and, for each labelled face, the 68 landmarks stored in the catalog of ``RUNS/<dataset>`` (the face whose
box overlaps the label's by IoU >= 0.5). The features are computed by the product's own code
(:func:`~eventlens.attributes.face_geometry.mouth_shape`, :func:`~eventlens.attributes.face_geometry.
head_pose` and :func:`~eventlens.attributes.decide.smile_features`), so what is fitted is what runs.

Faces of at least ``--min-face-px`` with smile ``yes`` / ``no`` are used (``unsure`` is left out). The model
is a logistic regression with balanced class weights and scikit-learn's default L2 penalty (C = 1) on the
unscaled features; it is scored by grouped cross-validation (5 folds, grouped by photo, or by person for
the ``identities`` data set, repeated over ``--seeds`` shuffles), and then fitted on all of them. Rows of
any split other than ``dev`` are refused: the test part must never shape the decision. ::

    /work/main/.venv/bin/python tools/fit_smile_model.py --labels /work/labels/model/labels_dev.csv \\
        --runs /work/runs

scikit-learn is needed here only; eventlens itself never imports it.
"""

from __future__ import annotations

import argparse
import csv
import sqlite3
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eventlens.attributes.decide import SMILE_FEATURES, smile_features  # noqa: E402
from eventlens.attributes.face_geometry import head_pose, mouth_shape  # noqa: E402
from eventlens.catalog.arrays import from_blob  # noqa: E402

#: the rule before issue 13, for comparison: logistic(12 (mouth_width - 1.07) + 12 mouth_lift)
_OLD_WIDTH_MID, _OLD_GAIN = 1.07, 12.0
_FOLDS = 5
_MATCH_IOU = 0.5


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / union if union > 0 else 0.0


def _catalog_faces(runs: Path, dataset: str) -> dict[str, list[tuple[tuple[float, ...], np.ndarray]]]:
    """(box, landmarks68) of every measured face, by photo path relative to the data set's folder."""
    db = sqlite3.connect(f"file:{runs / dataset / '.eventlens' / 'catalog.sqlite'}?mode=ro", uri=True)
    out: dict[str, list[tuple[tuple[float, ...], np.ndarray]]] = {}
    query = (
        "SELECT pp.rel_path, f.x1, f.y1, f.x2, f.y2, f.landmarks68 FROM faces f "
        "JOIN photo_paths pp ON pp.sha256 = f.photo_sha256 "
        "WHERE pp.status = 'ok' AND f.landmarks68 IS NOT NULL"
    )
    for rel_path, x1, y1, x2, y2, blob in db.execute(query):
        out.setdefault(rel_path, []).append(((x1, y1, x2, y2), from_blob(blob, (68, 2)).astype(np.float64)))
    db.close()
    return out


def _group(dataset: str, photo: str) -> str:
    """Cross-validation group: the person for the identities data set (one folder each), else the photo."""
    return f"id:{photo.split('/')[0]}" if dataset == "identities" else f"{dataset}:{photo}"


def load(
    labels: Path, runs: Path, min_face_px: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(features (n, k), smiling (n,), groups (n,), old rule's scores (n,)) of the usable labelled faces."""
    catalogs: dict[str, dict[str, list[tuple[tuple[float, ...], np.ndarray]]]] = {}
    features, smiling, groups, old = [], [], [], []
    with open(labels, newline="", encoding="utf-8") as fp:
        for row in csv.DictReader(fp):
            if row.get("split", "dev") != "dev":
                raise SystemExit(
                    f"{labels}: a row of split {row['split']!r}; fit on the development part only"
                )
            box = tuple(float(row[k]) for k in ("x1", "y1", "x2", "y2"))
            if row["smile"] not in ("yes", "no") or box[2] - box[0] < min_face_px:
                continue
            if row["dataset"] not in catalogs:
                catalogs[row["dataset"]] = _catalog_faces(runs, row["dataset"])
            candidates = catalogs[row["dataset"]].get(row["photo"], [])
            best = max(candidates, key=lambda c: _iou(box, c[0]), default=None)
            if best is None or _iou(box, best[0]) < _MATCH_IOU:
                continue
            mouth, pose = mouth_shape(best[1]), head_pose(best[1])
            features.append(
                smile_features(
                    mouth.width,
                    mouth.corner_lift,
                    mouth.gap,
                    mouth.corners_below_eyes,
                    mouth.lip_below_nose,
                    pose.yaw_deg,
                )
            )
            smiling.append(row["smile"] == "yes")
            groups.append(_group(row["dataset"], row["photo"]))
            old.append(_OLD_GAIN * (mouth.width - _OLD_WIDTH_MID) + _OLD_GAIN * mouth.corner_lift)
    return np.array(features), np.array(smiling), np.array(groups), np.array(old)


def balanced_accuracy(truth: np.ndarray, predicted: np.ndarray) -> float:
    truth, predicted = truth.astype(bool), predicted.astype(bool)
    return float((predicted[truth].mean() + (~predicted[~truth]).mean()) / 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=Path, required=True, help="labels of the development part (CSV)")
    parser.add_argument(
        "--runs", type=Path, required=True, help="folder of <dataset>/.eventlens/catalog.sqlite"
    )
    parser.add_argument("--min-face-px", type=float, default=40.0, help="smallest labelled box width used")
    parser.add_argument("--seeds", type=int, default=20, help="shuffles of the grouped cross-validation")
    args = parser.parse_args()
    try:
        from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
        from sklearn.model_selection import StratifiedGroupKFold  # noqa: PLC0415
    except ImportError as exc:
        raise SystemExit(
            "scikit-learn is needed to fit: pip install scikit-learn (not an eventlens dependency)"
        ) from exc

    x, y, groups, old = load(args.labels, args.runs, args.min_face_px)

    def model() -> LogisticRegression:
        return LogisticRegression(C=1.0, class_weight="balanced", max_iter=10000)

    scores = []
    for seed in range(args.seeds):
        predicted = np.zeros(len(y), dtype=bool)
        for train, test in StratifiedGroupKFold(_FOLDS, shuffle=True, random_state=seed).split(x, y, groups):
            predicted[test] = model().fit(x[train], y[train]).predict(x[test])
        scores.append(balanced_accuracy(y, predicted))
    fitted = model().fit(x, y)
    out = sys.stdout
    out.write(f"faces {len(y)} (smiling {int(y.sum())}, not {int((~y).sum())}), groups {len(set(groups))}\n")
    out.write(f"old rule (no fit): balanced accuracy {balanced_accuracy(y, old >= 0):.3f}\n")
    out.write(
        f"grouped {_FOLDS}-fold CV over {args.seeds} shuffles: balanced accuracy "
        f"{np.mean(scores):.3f} (sd {np.std(scores):.3f}, "
        f"min {np.min(scores):.3f}, max {np.max(scores):.3f})\n"
    )
    out.write(f"fitted on all: balanced accuracy {balanced_accuracy(y, fitted.predict(x)):.3f}\n")
    weights = ", ".join(f'"{n}": {w:.2f}' for n, w in zip(SMILE_FEATURES, fitted.coef_[0], strict=True))
    out.write(f"SMILE_WEIGHTS = {{{weights}}}\nSMILE_BIAS = {fitted.intercept_[0]:.2f}\n")


if __name__ == "__main__":
    main()
