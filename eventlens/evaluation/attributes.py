"""Accuracy of the face-attribute decisions against hand labels (``tests/data/face_attributes``).

The labelled photos are linked into a work folder and run through the real pipeline (ingest, analyze);
each labelled face is found again by IoU >= 0.5 with its recorded box; its decisions come from
:func:`eventlens.attributes.decide.decide` with the current settings, exactly as ``face_data.csv`` shows
them. ``unsure`` labels are left out of an attribute's figures.

The labels carry a ``split`` column: ``dev`` faces were used to choose models and thresholds, ``test``
faces only to report them (``excluded`` rows are copies of other labelled photos). The report is for one
split (``test`` by default). Per attribute it gives:

* the confusion table, label x answer, where the answer may be ``unknown`` (eyes too small, blurred or
  hidden to judge); balanced accuracy (the mean of the per-class recalls, "always open" scores 0.5) is
  computed over the faces that got an answer, and again with ``unknown`` counted as open/yes, which is how
  the scorer treats it (never penalised);
* a 95 % interval of the balanced accuracy from a bootstrap over photos (faces of one photo, or of one
  identity folder, are resampled together, since they are not independent);
* the accuracy on each hard-case tag of the labels (laughing, narrowed eyes, glasses, small, ...);
* how many faces of at least 40 px answered ``unknown``.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from eventlens.attributes.decide import decide
from eventlens.catalog import queries
from eventlens.detections import box_iou
from eventlens.errors import InputError
from eventlens.pipeline import Event, run_analyze, run_ingest
from eventlens.progress import SILENT, Progress
from eventlens.settings import Settings
from eventlens.summaries import RunSummary

#: where the labels live in a source checkout
DEFAULT_LABELS = Path(__file__).resolve().parents[2] / "tests" / "data" / "face_attributes" / "labels.csv"
MATCH_IOU = 0.5
#: faces at least this wide (px) count in the share of ``unknown`` answers
UNKNOWN_MIN_FACE_PX = 40
#: faces narrower than this (px) get the tag ``small`` in the per-tag figures
SMALL_FACE_PX = 60
_BOOTSTRAP = 2000
_MIN_TAG_FACES = 5
_FOLDS = 5
_SHUFFLES = 20
#: (attribute, label column, label of the positive class, label of the negative class)
_ATTRIBUTES = (
    ("eyes open", "eyes", "open", "closed"),
    ("smile", "smile", "yes", "no"),
    ("mouth open", "mouth_open", "yes", "no"),
)


@dataclass
class TagScore:
    tag: str
    faces: int
    answered: int
    accuracy: float  # share of the answered faces decided as labelled
    wrong: int


@dataclass
class AttributeScore:
    attribute: str
    faces: int  # labelled faces of the split (``unsure`` left out)
    positives: int  # open / smiling / mouth open
    negatives: int
    recall_positive: float  # over the faces that got an answer
    recall_negative: float
    balanced_accuracy: float
    ci95: tuple[float, float] = (float("nan"), float("nan"))  # bootstrap over photos
    unknown: int = 0  # faces answered ``unknown``
    balanced_accuracy_unknown_as_positive: float = float("nan")  # as the scorer sees it
    #: label -> answer -> faces, answers "yes"/"no"/"unknown" (eyes: yes = open)
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    by_tag: list[TagScore] = field(default_factory=list)
    cross_validated: float | None = None  # balanced accuracy with a threshold chosen on other folds


@dataclass
class AttributeReport:
    labelled_faces: int
    matched_faces: int
    split: str = "all"
    scores: list[AttributeScore] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    #: faces of the split at least UNKNOWN_MIN_FACE_PX wide, and how many of them got ``unknown`` eyes
    faces_40px: int = 0
    eyes_unknown_40px: int = 0
    #: open-eyed faces tagged ``laughing`` or ``narrowed_eyes``, and how many of them were called closed
    open_laughing_faces: int = 0
    open_laughing_called_closed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_labels(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fp:
        return list(csv.DictReader(fp))


def rows_of_split(labels: Sequence[dict[str, str]], split: str) -> list[dict[str, str]]:
    """The label rows of ``split`` (``all``: every row but ``excluded`` copies; files without a split
    column hold one split)."""
    if split == "all":
        return [r for r in labels if r.get("split") != "excluded"]
    return [r for r in labels if r.get("split", split) == split]


def photo_group(row: dict[str, str]) -> str:
    """Faces resampled together by the bootstrap: one photo, or one identity folder (its photos show the
    same person, often from one shoot)."""
    if row["dataset"] == "identities":
        return f"identities/{row['photo'].split('/')[0]}"
    return f"{row['dataset']}/{row['photo']}"


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


def bootstrap_interval(
    truth: np.ndarray, predicted: np.ndarray, groups: Sequence[str], resamples: int = _BOOTSTRAP
) -> tuple[float, float]:
    """95 % percentile interval of the balanced accuracy, resampling whole groups (photos) with
    replacement; seeded, so the same inputs give the same interval."""
    names = sorted(set(groups))
    members: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    rng = np.random.default_rng(0)
    values = []
    for _ in range(resamples):
        picked = rng.integers(0, len(names), len(names))
        idx = np.concatenate([members[names[k]] for k in picked])
        t, p = truth[idx], predicted[idx]
        if t.all() or not t.any():
            continue  # a resample without one of the classes has no balanced accuracy
        values.append(balanced_accuracy(t, p)[2])
    if not values:
        return float("nan"), float("nan")
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


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


def _catalog_faces(engine: sa.Engine) -> dict[str, list[queries.FaceView]]:
    """The faces of every present path (relative to its input root)."""
    found: dict[str, list[queries.FaceView]] = {}
    with engine.connect() as conn:
        of_photo: dict[str, list[queries.FaceView]] = {}
        for f in queries.faces_of_photos(conn):
            of_photo.setdefault(f.photo_sha256, []).append(f)
        for p in queries.list_photos(conn, status=None).items:
            for path in p.display_paths:
                found[path] = of_photo.get(p.sha256, [])
    return found


def _match(row: dict[str, str], candidates: list[Any]) -> Any | None:
    if not candidates:
        return None
    box = np.array([[float(row[k]) for k in ("x1", "y1", "x2", "y2")]])
    ious = box_iou(box, np.array([[c.x1, c.y1, c.x2, c.y2] for c in candidates]))[0]
    best = int(np.argmax(ious))
    return candidates[best] if ious[best] >= MATCH_IOU else None


@dataclass
class _Answers:
    """One attribute's labelled faces of the split: label, answer (None: unknown), score, group, tags."""

    truth: list[bool] = field(default_factory=list)
    answer: list[bool | None] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    group: list[str] = field(default_factory=list)
    tags: list[list[str]] = field(default_factory=list)


def _tags(row: dict[str, str]) -> list[str]:
    tags = [t for t in (row.get("tags") or "").split(";") if t]
    if float(row["x2"]) - float(row["x1"]) < SMALL_FACE_PX:
        tags.append(f"small (< {SMALL_FACE_PX} px)")
    return tags


def _score(name: str, a: _Answers) -> AttributeScore:
    truth = np.array(a.truth, dtype=bool)
    known = np.array([x is not None for x in a.answer], dtype=bool)
    predicted = np.array([bool(x) for x in a.answer], dtype=bool)
    pos, neg, bal = balanced_accuracy(truth[known], predicted[known])
    as_positive = predicted | ~known
    groups = [g for g, k in zip(a.group, known, strict=True) if k]
    confusion: dict[str, dict[str, int]] = {}
    for label, value in (("yes", True), ("no", False)):
        answers = Counter(
            "unknown" if x is None else ("yes" if x else "no")
            for x, t in zip(a.answer, a.truth, strict=True)
            if t == value
        )
        confusion[label] = {k: answers.get(k, 0) for k in ("yes", "no", "unknown")}
    by_tag: dict[str, list[int]] = defaultdict(list)
    for i, tags in enumerate(a.tags):
        for tag in tags:
            by_tag[tag].append(i)
    tag_scores = []
    for tag, idx in sorted(by_tag.items()):
        if len(idx) < _MIN_TAG_FACES:
            continue
        answered = [i for i in idx if known[i]]
        right = sum(1 for i in answered if predicted[i] == truth[i])
        tag_scores.append(
            TagScore(
                tag,
                len(idx),
                len(answered),
                right / len(answered) if answered else float("nan"),
                len(answered) - right,
            )
        )
    return AttributeScore(
        name,
        len(truth),
        int(truth.sum()),
        int((~truth).sum()),
        pos,
        neg,
        bal,
        ci95=bootstrap_interval(truth[known], predicted[known], groups),
        unknown=int((~known).sum()),
        balanced_accuracy_unknown_as_positive=balanced_accuracy(truth, as_positive)[2],
        confusion=confusion,
        by_tag=tag_scores,
        cross_validated=cross_validated_threshold(np.array(a.value), truth) if len(truth) else None,
    )


def evaluate_attributes(
    labels_csv: Path,
    data_dir: Path,
    work_dir: Path,
    settings: Settings,
    progress: Progress = SILENT,
    split: str = "test",
) -> AttributeReport:
    """Run the pipeline on the labelled photos of ``split`` and score the eyes, smile and mouth-open
    decisions (see the module docstring)."""
    labels = rows_of_split(read_labels(labels_csv), split)
    if not labels:
        raise InputError(f"{labels_csv} has no rows of split {split!r}")
    photos_dir = work_dir / "photos"
    if not link_labelled_photos(labels, data_dir, photos_dir):
        raise InputError(f"none of the photos labelled in {labels_csv} is under {data_dir}")
    event = Event.open(work_dir / "catalog", settings.model_copy(update={"catalog_url": None}))
    try:
        summary = RunSummary()
        run_ingest(event, photos_dir, summary, progress)
        run_analyze(event, summary, progress, reanalyze=True)  # photos measured by other models: again
        found = _catalog_faces(event.engine)
    finally:
        event.close()
    report = AttributeReport(labelled_faces=len(labels), matched_faces=0, split=split)
    answers = {name: _Answers() for name, *_ in _ATTRIBUTES}
    for row in labels:
        face = _match(row, found.get(f"{row['dataset']}/{row['photo']}", []))
        if face is None:
            report.unmatched.append(f"{row['dataset']}/{row['photo']} {row['x1']},{row['y1']}")
            continue
        report.matched_faces += 1
        m = face.measurements
        d = decide(m, settings.curation, settings.eye_model)
        if d is None:
            continue
        if float(row["x2"]) - float(row["x1"]) >= UNKNOWN_MIN_FACE_PX:
            report.faces_40px += 1
            report.eyes_unknown_40px += d.eyes_open is None
        decided: dict[str, tuple[bool | None, float]] = {
            "eyes open": (d.eyes_open, 1.0 if d.eyes_open_score is None else d.eyes_open_score),
            "smile": (d.smile, d.smile_score),
            "mouth open": (d.mouth_open, float(m["mouth_opening"])),
        }
        if row["eyes"] == "open" and {"laughing", "narrowed_eyes"} & set(_tags(row)):
            report.open_laughing_faces += 1
            report.open_laughing_called_closed += d.eyes_open is False
        for name, column, positive, negative in _ATTRIBUTES:
            if row[column] not in (positive, negative):
                continue
            answer, value = decided[name]
            a = answers[name]
            a.truth.append(row[column] == positive)
            a.answer.append(answer)
            a.value.append(value)
            a.group.append(photo_group(row))
            a.tags.append(_tags(row))
    report.scores = [_score(name, answers[name]) for name, *_ in _ATTRIBUTES]
    return report


def format_attributes(report: AttributeReport, settings: Settings) -> str:
    rules = settings.curation
    share = report.eyes_unknown_40px / report.faces_40px if report.faces_40px else float("nan")
    lines = [
        f"## Face attributes: decisions vs hand labels, split `{report.split}`",
        "",
        f"Eye model `{settings.eye_model}`; thresholds eyes_open_min_score {rules.eyes_open_min_score}, "
        f"smile_min_score {rules.smile_min_score}, mouth_open_min {rules.mouth_open_min}. "
        f"{report.matched_faces} of {report.labelled_faces} labelled faces found again "
        f"(IoU >= {MATCH_IOU}); `unsure` labels left out. Eyes `unknown` on {report.eyes_unknown_40px} of "
        f"{report.faces_40px} faces of >= {UNKNOWN_MIN_FACE_PX} px ({share:.1%}). Open-eyed faces that "
        f"laugh or narrow their eyes called closed: {report.open_laughing_called_closed} of "
        f"{report.open_laughing_faces}.",
        "",
        "| attribute | faces | yes/open | no/closed | unknown | recall yes | recall no | balanced accuracy "
        "| 95 % interval (photos) | unknown as yes | threshold cross-validated |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in report.scores:
        cv = "" if s.cross_validated is None else f"{s.cross_validated:.3f}"
        lines.append(
            f"| {s.attribute} | {s.faces} | {s.positives} | {s.negatives} | {s.unknown} | "
            f"{s.recall_positive:.3f} | {s.recall_negative:.3f} | **{s.balanced_accuracy:.3f}** | "
            f"{s.ci95[0]:.3f}-{s.ci95[1]:.3f} | {s.balanced_accuracy_unknown_as_positive:.3f} | {cv} |"
        )
    for s in report.scores:
        c = s.confusion
        lines += [
            "",
            f"{s.attribute}: label (rows) x answer (columns)",
            "",
            "| label | yes | no | unknown |",
            "|---|---|---|---|",
            *(f"| {lab} | {c[lab]['yes']} | {c[lab]['no']} | {c[lab]['unknown']} |" for lab in ("yes", "no")),
        ]
        if s.by_tag:
            lines += ["", "| tag | faces | answered | accuracy | wrong |", "|---|---|---|---|---|"]
            lines += [
                f"| {t.tag} | {t.faces} | {t.answered} | {t.accuracy:.3f} | {t.wrong} |" for t in s.by_tag
            ]
    if report.unmatched:
        lines += ["", f"Not found again: {', '.join(report.unmatched)}"]
    return "\n".join(lines)
