"""Accuracy of the face-attribute decisions against hand labels (``tests/data/face_attributes``).

The labelled photos are linked into a work folder and run through the real pipeline (ingest, analyze);
each labelled face is found again by IoU >= 0.5 with its recorded box; its decisions come from
:func:`eventlens.attributes.decide.decide` with the current settings, exactly as ``face_data.csv`` shows
them. ``unsure`` labels are left out. A face whose eyes were too small to measure counts as "open" (the
scorer never penalises it), so such faces can only lower the score.

Balanced accuracy is the mean of the per-class recalls ("always open" scores 0.5). Next to the accuracy
of the shipped thresholds, a cross-validated figure shows how well a threshold chosen on part of the
labels carries to the rest (5 folds, 20 shuffles), i.e. how much the shipped one may be tuned to them.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from eventlens.attributes.decide import decide, eyes_open_score, smile_score
from eventlens.catalog.schema import FACE_MEASUREMENT_COLUMNS, faces, photo_paths
from eventlens.detections import box_iou
from eventlens.errors import InputError
from eventlens.pipeline import Event, run_analyze, run_ingest
from eventlens.progress import SILENT, Progress
from eventlens.settings import Settings

#: where the labels live in a source checkout
DEFAULT_LABELS = Path(__file__).resolve().parents[2] / "tests" / "data" / "face_attributes" / "labels.csv"
MATCH_IOU = 0.5
_FOLDS = 5
_SHUFFLES = 20


@dataclass
class AttributeScore:
    attribute: str
    faces: int
    positives: int  # open / smiling / mouth open
    negatives: int
    recall_positive: float
    recall_negative: float
    balanced_accuracy: float
    cross_validated: float | None = None  # balanced accuracy with a threshold chosen on other folds


@dataclass
class AttributeReport:
    labelled_faces: int
    matched_faces: int
    scores: list[AttributeScore] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_labels(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fp:
        return list(csv.DictReader(fp))


def link_labelled_photos(labels: Sequence[dict[str, str]], data_dir: Path, folder: Path) -> int:
    """Symlink each labelled photo present under ``data_dir`` to ``folder/<dataset>/<photo>`` (originals are
    only read); returns how many photos are linked."""
    linked = 0
    for row in labels:
        source = data_dir / row["dataset"] / row["photo"]
        if not source.is_file():
            continue
        target = folder / row["dataset"] / row["photo"]
        if not target.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(source.resolve())
        linked += 1
    return linked


def balanced_accuracy(truth: np.ndarray, predicted: np.ndarray) -> tuple[float, float, float]:
    """(recall of True, recall of False, their mean)."""
    truth = np.asarray(truth, dtype=bool)
    predicted = np.asarray(predicted, dtype=bool)
    pos = float(predicted[truth].mean()) if truth.any() else float("nan")
    neg = float((~predicted[~truth]).mean()) if (~truth).any() else float("nan")
    return pos, neg, (pos + neg) / 2


def cross_validated_threshold(values: np.ndarray, truth: np.ndarray) -> float:
    """Balanced accuracy when the threshold on ``values`` is picked on 4/5 of the faces and applied to the
    other 1/5, averaged over shuffles (stratification is not needed at these class sizes)."""
    results = []
    for shuffle in range(_SHUFFLES):
        folds = np.random.default_rng(shuffle).permutation(len(values)) % _FOLDS
        predicted = np.zeros(len(values), dtype=bool)
        for k in range(_FOLDS):
            train = folds != k
            candidates = np.unique(values[train])
            best = max(candidates, key=lambda t: balanced_accuracy(truth[train], values[train] >= t)[2])
            predicted[~train] = values[~train] >= best
        results.append(balanced_accuracy(truth, predicted)[2])
    return float(np.mean(results))


def _catalog_faces(engine: sa.Engine) -> dict[str, list[Any]]:
    columns = [faces.c[name] for name in FACE_MEASUREMENT_COLUMNS]
    query = (
        sa.select(photo_paths.c.rel_path, faces.c.x1, faces.c.y1, faces.c.x2, faces.c.y2, *columns)
        .join(faces, faces.c.photo_sha256 == photo_paths.c.sha256)
        .where(photo_paths.c.status == "ok")
    )
    found: dict[str, list[Any]] = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            found.setdefault(row.rel_path, []).append(row)
    return found


def _match(row: dict[str, str], candidates: list[Any]) -> Any | None:
    if not candidates:
        return None
    box = np.array([[float(row[k]) for k in ("x1", "y1", "x2", "y2")]])
    ious = box_iou(box, np.array([[c.x1, c.y1, c.x2, c.y2] for c in candidates]))[0]
    best = int(np.argmax(ious))
    return candidates[best] if ious[best] >= MATCH_IOU else None


def _score(name: str, truth: list[bool], predicted: list[bool], values: list[float]) -> AttributeScore:
    t, p = np.array(truth), np.array(predicted)
    pos, neg, bal = balanced_accuracy(t, p)
    return AttributeScore(
        name,
        len(t),
        int(t.sum()),
        int((~t).sum()),
        pos,
        neg,
        bal,
        cross_validated_threshold(np.array(values), t),
    )


def evaluate_attributes(
    labels_csv: Path, data_dir: Path, work_dir: Path, settings: Settings, progress: Progress = SILENT
) -> AttributeReport:
    """Run the pipeline on the labelled photos and score the eyes, smile and mouth-open decisions."""
    labels = read_labels(labels_csv)
    photos_dir = work_dir / "photos"
    if not link_labelled_photos(labels, data_dir, photos_dir):
        raise InputError(f"none of the photos labelled in {labels_csv} is under {data_dir}")
    event = Event.open(work_dir / "catalog", settings.model_copy(update={"catalog_url": None}))
    try:
        summary: dict[str, Any] = {"run_id": None}
        run_ingest(event, photos_dir, summary, progress)
        run_analyze(event, summary, progress, reanalyze=True)  # photos measured by other models: again
        found = _catalog_faces(event.engine)
    finally:
        event.close()
    report = AttributeReport(labelled_faces=len(labels), matched_faces=0)
    eyes: tuple[list[bool], list[bool], list[float]] = ([], [], [])
    smiles: tuple[list[bool], list[bool], list[float]] = ([], [], [])
    mouths: tuple[list[bool], list[bool], list[float]] = ([], [], [])
    for row in labels:
        face = _match(row, found.get(f"{row['dataset']}/{row['photo']}", []))
        if face is None:
            report.unmatched.append(f"{row['dataset']}/{row['photo']} {row['x1']},{row['y1']}")
            continue
        report.matched_faces += 1
        m = face._mapping
        d = decide(m, settings.curation, settings.eye_model)
        if d is None:
            continue
        if row["eyes"] in ("open", "closed"):
            eyes[0].append(row["eyes"] == "open")
            eyes[1].append(d.eyes_open is not False)
            measured = m["ear_right"] is not None and m["ear_left"] is not None
            eyes[2].append(
                eyes_open_score(
                    m["ear_right"],
                    m["ear_left"],
                    settings.eye_model,
                    m["iris_dark_right"],
                    m["iris_dark_left"],
                )
                if measured
                else 1.0
            )
        if row["smile"] in ("yes", "no"):
            smiles[0].append(row["smile"] == "yes")
            smiles[1].append(d.smile)
            smiles[2].append(smile_score(m["mouth_width"], m["mouth_lift"]))
        if row["mouth_open"] in ("yes", "no"):
            mouths[0].append(row["mouth_open"] == "yes")
            mouths[1].append(d.mouth_open)
            mouths[2].append(float(m["mouth_opening"]))
    report.scores = [
        _score("eyes open", *eyes),
        _score("smile", *smiles),
        _score("mouth open", *mouths),
    ]
    return report


def format_attributes(report: AttributeReport, settings: Settings) -> str:
    rules = settings.curation
    lines = [
        "## Face attributes: decisions vs hand labels (`tests/data/face_attributes/labels.csv`)",
        "",
        f"Eye model `{settings.eye_model}`; thresholds eyes_open_min_score {rules.eyes_open_min_score}, "
        f"smile_min_score {rules.smile_min_score}, mouth_open_min {rules.mouth_open_min}. "
        f"{report.matched_faces} of {report.labelled_faces} labelled faces found again "
        f"(IoU >= {MATCH_IOU}); `unsure` labels left out.",
        "",
        "| attribute | faces | yes/open | no/closed | recall yes | recall no | balanced accuracy "
        "| cross-validated |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in report.scores:
        cv = "" if s.cross_validated is None else f"{s.cross_validated:.3f}"
        lines.append(
            f"| {s.attribute} | {s.faces} | {s.positives} | {s.negatives} | {s.recall_positive:.3f} | "
            f"{s.recall_negative:.3f} | **{s.balanced_accuracy:.3f}** | {cv} |"
        )
    if report.unmatched:
        lines += ["", f"Not found again: {', '.join(report.unmatched)}"]
    return "\n".join(lines)
