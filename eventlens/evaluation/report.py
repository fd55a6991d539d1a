"""Markdown tables of the evaluation results, ready to paste into ``BENCHMARKS.md``."""

from __future__ import annotations

from collections.abc import Sequence

from eventlens.evaluation.detection import BucketRecall, DetectionReport
from eventlens.evaluation.identities import IdentityReport, SweepRow
from eventlens.evaluation.metrics import ClusteringScores

#: the acceptance bar of the clustering: pairwise precision at least this ...
TARGET_PAIRWISE_PRECISION = 0.99
#: ... and BCubed F1 at least this
TARGET_BCUBED_F1 = 0.97

_SCORE_HEADER = "pairwise P | pairwise R | pairwise F | BCubed P | BCubed R | BCubed F"


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def _scores(s: ClusteringScores) -> list[str]:
    values = (
        s.pairwise.precision,
        s.pairwise.recall,
        s.pairwise.f1,
        s.bcubed.precision,
        s.bcubed.recall,
        s.bcubed.f1,
    )
    return [f"{v:.4f}" for v in values]


def _pct(found: int, total: int) -> str:
    return f"{found / total:.3f}" if total else "–"


def format_identities(report: IdentityReport) -> str:
    """The clustering section: scores at the given settings, data notes and (if run) the sweep."""
    st = report.settings
    s = report.scores
    meets = s.pairwise.precision >= TARGET_PAIRWISE_PRECISION and s.bcubed.f1 >= TARGET_BCUBED_F1
    lines = [
        f"## Clustering quality: `{report.root}`",
        "",
        f"Settings: cluster_max_distance {st['cluster_max_distance']}, min_faces {st['min_faces']}, "
        f"min_face_px {st['min_face_px']}, min_det_score {st['min_det_score']}, "
        f"cluster_min_face_px {st['cluster_min_face_px']}. One item per labelled photo (its largest, most "
        "central face); faces left unassigned and photos without a face are singletons.",
        "",
        *_table(
            ["photos", "labels", "groups (incl. singletons)", *_SCORE_HEADER.split(" | ")],
            [[s.items, s.labels, s.clusters, *_scores(s)]],
        ),
        "",
        f"Photos without a detected face: {report.photos_without_face}; "
        f"unreadable: {report.unreadable_photos}; faces detected in labelled photos: {report.faces}; "
        "identical copies scored once: "
        f"{report.duplicate_paths}; photos under conflicting labels (not scored): {report.label_conflicts}.",
        f"Target pairwise P >= {TARGET_PAIRWISE_PRECISION} and BCubed F >= {TARGET_BCUBED_F1}: "
        f"{'met' if meets else 'NOT met'}.",
    ]
    lines += _run_line(report)
    if report.sweep:
        lines += ["", *format_sweep(report.sweep, st["cluster_max_distance"], st["min_faces"])]
    return "\n".join(lines)


def _run_line(report: IdentityReport) -> list[str]:
    analyze = report.run.get("analyze") or {}
    if analyze.get("photos"):
        return [
            f"Analysis: {analyze['photos']} photos in {analyze['wall_s']:.1f} s, "
            f"{analyze['photos_per_s']:.1f} photos/s on {analyze['workers']} workers."
        ]
    return ["Analysis: reused from the work folder (no photo analysed in this run)."]


def _best(rows: Sequence[SweepRow], threshold: float) -> SweepRow | None:
    """The row of highest BCubed F among those meeting the precision target; ties: nearest ``threshold``."""
    ok = [r for r in rows if r.scores.pairwise.precision >= TARGET_PAIRWISE_PRECISION]
    return max(ok, key=lambda r: (r.scores.bcubed.f1, -abs(r.threshold - threshold)), default=None)


def format_sweep(rows: Sequence[SweepRow], threshold: float, min_faces: int) -> list[str]:
    """The sweep table; the row of the current settings is marked with ``*``."""
    table = [
        [
            f"{r.threshold:.2f}{' *' if (r.threshold, r.min_faces) == (threshold, min_faces) else ''}",
            r.min_faces,
            r.scores.clusters,
            *_scores(r.scores),
        ]
        for r in rows
    ]
    lines = [
        "### Sweep: fresh clustering of the same embeddings",
        "",
        *_table(["threshold", "min_faces", "groups", *_SCORE_HEADER.split(" | ")], table),
    ]
    best = _best(rows, threshold)
    if best is not None:
        lines += [
            "",
            f"Best BCubed F with pairwise P >= {TARGET_PAIRWISE_PRECISION}: threshold {best.threshold:.2f}, "
            f"min_faces {best.min_faces} (pairwise P {best.scores.pairwise.precision:.4f}, "
            f"BCubed F {best.scores.bcubed.f1:.4f}).",
        ]
    return lines


def format_detection(reports: Sequence[DetectionReport]) -> str:
    """The detection section: recall per face-size bucket, one column pair per ``min_face_px``."""
    if not reports:
        return ""
    first = reports[0]
    by_kind = {k: sum(im.kind == k for im in first.images) for k in ("boxes", "points", "count")}
    header = ["face size (px)", "faces"] + [h for r in reports for h in (f"found @{r.min_face_px}", "recall")]
    rows: list[list[object]] = []
    for i, bucket in enumerate(first.buckets()):
        rows.append([bucket.name, bucket.faces] + [c for r in reports for c in _cells(r.buckets()[i])])
    head = first.recall_at_least()
    rows.append(
        [f"**all {head.name}**", head.faces] + [c for r in reports for c in _cells(r.recall_at_least())]
    )
    points = first.point_recall()
    rows.append(
        ["nose points (any size)", points.faces] + [c for r in reports for c in _cells(r.point_recall())]
    )
    lines = [
        "## Detection recall: annotated group photos",
        "",
        f"{len(first.images)} photos: {by_kind['boxes']} with boxes (dlib, WIDER), "
        f"{by_kind['points']} with nose points (CompreFace), {by_kind['count']} with face counts only "
        "(PhotoPrism). Size = sqrt(w*h) of the annotated box in original pixels; match = IoU >= 0.3 (boxes) "
        "or box contains the point; "
        f"min_det_score {first.min_det_score}.",
        "",
        *_table(header, rows),
        "",
        *_table(
            [
                "min_face_px",
                "unmatched detections (box photos)",
                "face counts: expected -> detected",
                "decode s",
                "detect s",
                "photos/s (decode + detect, 1 single-threaded process)",
            ],
            [_speed_row(r) for r in reports],
        ),
        "",
        "Unmatched detections are detections matching no annotated face; WIDER and dlib annotations are "
        "incomplete, so this bounds false positives from above rather than counting them.",
    ]
    return "\n".join(lines)


def _cells(bucket: BucketRecall) -> list[object]:
    return [bucket.found, _pct(bucket.found, bucket.faces)]


def _speed_row(r: DetectionReport) -> list[object]:
    counts = r.count_agreement()
    expected = ",".join(str(e) for _, e, _ in counts)
    detected = ",".join(str(d) for _, _, d in counts)
    exact = sum(e == d for _, e, d in counts)
    return [
        r.min_face_px,
        r.unmatched_detections(),
        f"{expected} -> {detected} ({exact}/{len(counts)} exact)",
        f"{r.decode_s:.2f}",
        f"{r.detect_s:.2f}",
        f"{r.photos_per_s:.1f}",
    ]
