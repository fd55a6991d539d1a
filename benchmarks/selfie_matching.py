"""Quality of selfie matching (issue 10): precision and recall of (user, photo) pairs on real photos.

The people of ``../shared/data/identities`` (31 folders, one person each) are the users. Each gives one
selfie (or three): the first of their photos by sorted name in which a face is found, and, for the random
selections, photos drawn with seeds ``--seeds``. The event is every other identity photo plus
``../shared/data/groups`` (strangers only, except the pairs of :data:`VERIFIED_IN_GROUPS`). A pair (user,
photo) is correct iff the photo is in the user's folder (or is one of those verified pairs); the labelled
person of a photo is its largest, most central face, other faces are other people. Photos without a found
face count as misses.

Embeddings come from the real pipeline: ``eventlens process <folder> --out WORK/<folder>`` (incremental:
a re-run reads the cached catalog in seconds), then the catalogs are read back (faces, boxes and
embeddings). The selfie's face is :func:`eventlens.match.selfies.largest_face`; the event's clusters are
those a first run of the cluster stage gives on the event's own faces (the stage's algorithm and
settings). Matching is :func:`eventlens.match.selfies.match_users` as the service calls it.

The people are split into a development half and a test half (``--split-seed``). The default threshold
is chosen on the development people only (the highest recall, averaged over 1 and 3 selfies, at which
precision is >= 0.99 with 1 and with 3 selfies, pooled over the selections), then reported on the test
people and on all. When the development half is scored, only its people are users: the test people are
then strangers in the event, as most faces of a real event are. The script also prints the alternatives
that were measured (how several selfies combine, with or without the event's clusters, each face to its
best user only or not), each at its own threshold chosen the same way, the logistic fit behind
:mod:`eventlens.match.confidence`, and the misses and false matches at the default.

Usage: python benchmarks/selfie_matching.py [--data ../shared/data] [--work bench-out/selfie-matching]
       [--seeds 1 2 3 4] [--split-seed 0] [--strict]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import subprocess  # noqa: E402
import sys  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from eventlens.catalog import queries  # noqa: E402
from eventlens.catalog.arrays import from_blob  # noqa: E402
from eventlens.catalog.db import default_url, open_catalog  # noqa: E402
from eventlens.catalog.schema import faces as faces_table  # noqa: E402
from eventlens.evaluation.fresh_clusters import cluster_embeddings  # noqa: E402
from eventlens.evaluation.identities import labelled_face_index  # noqa: E402
from eventlens.match.confidence import (  # noqa: E402
    CENTRE_DISTANCE,
    SCALE_DISTANCE,
    confidence_of_distance,
    distance_of_confidence,
)
from eventlens.match.selfies import (  # noqa: E402
    best_user_only,
    face_distances,
    largest_face,
    match_users,
    matches_from_distances,
)
from eventlens.settings import Settings, load_settings  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ("identities", "groups")
#: group photos in which a labelled person genuinely is (checked by eye: the matched face is that person)
VERIFIED_IN_GROUPS = {
    ("Barack_Obama", "groups/facerec_two_people.jpg"): "Obama and Biden, side by side",
    ("Barack_Obama", "groups/facerec_obama_and_biden.jpg"): "Biden and Obama waving (MANIFEST notes it)",
    ("Barack_Obama", "groups/wider_11_Meeting_Meeting_11_Meeting_Meeting_11_176.jpg"): "Obama standing",
    ("Jennifer_Aniston", "groups/facenetpytorch_multiface.jpg"): "the cast of Friends, Aniston left",
    ("Jennifer_Aniston", "groups/insightface_t1.jpg"): "the cast of Friends at cards, Aniston left",
}
#: what precision the default threshold must keep, with 1 and with 3 selfies, on the development people
TARGET_PRECISION = 0.99
#: distance grid of the threshold sweep (a confidence threshold is a distance threshold)
DISTANCE_GRID = np.round(np.arange(0.30, 0.7001, 0.005), 3)


# --- the photos and faces of the pipeline ---------------------------------------------------------


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]
    embedding: np.ndarray | None  # None: too small to embed (cluster_min_face_px)
    yaw_deg: float | None

    @property
    def size_px(self) -> float:
        x1, y1, x2, y2 = self.box
        return float(np.sqrt(max(x2 - x1, 0.0) * max(y2 - y1, 0.0)))


@dataclass(frozen=True)
class Photo:
    key: str  # <folder>/<display path>
    label: str | None  # the person (its folder in identities/), None in groups/
    width_px: int
    height_px: int
    faces: tuple[Face, ...]

    @property
    def embedded(self) -> list[Face]:
        return [f for f in self.faces if f.embedding is not None]

    def selfie_embedding(self) -> np.ndarray | None:
        """The embedding of the largest face (None when it has none)."""
        index = largest_face(np.array([f.box for f in self.faces]).reshape(-1, 4))
        return None if index is None else self.faces[index].embedding

    def labelled_face(self) -> Face | None:
        index = labelled_face_index([f.box for f in self.faces], self.width_px, self.height_px)
        return None if index is None else self.faces[index]


def process_folder(folder: Path, out: Path) -> None:
    """``eventlens process folder --out out`` (the real pipeline, incremental)."""
    command = [sys.executable, "-m", "eventlens", "process", str(folder), "--out", str(out), "-q"]
    subprocess.run(command, check=True)


def read_photos(out: Path, folder_name: str, labelled: bool) -> list[Photo]:
    """One :class:`Photo` per distinct photo of the catalog under ``out`` (identical bytes: one photo)."""
    engine = open_catalog(default_url(out))
    try:
        with engine.connect() as conn:
            photos = queries.list_photos(conn, status=None).items
            views = queries.faces_of_photos(conn)
            rows = conn.execute(
                sa.select(faces_table.c.id, faces_table.c.embedding, faces_table.c.embed_model)
            ).all()
    finally:
        engine.dispose()
    models = {r.embed_model for r in rows if r.embedding is not None}
    if len(models) > 1:
        raise SystemExit(f"{out}: embeddings of several models ({sorted(models)}); re-run with --reanalyze")
    embedding = {r.id: None if r.embedding is None else from_blob(r.embedding) for r in rows}
    by_photo: dict[str, list[Face]] = {}
    for v in sorted(views, key=lambda v: (v.photo_sha256, v.face_index)):
        yaw = v.measurements.get("yaw_deg")
        by_photo.setdefault(v.photo_sha256, []).append(Face(v.box, embedding[v.id], yaw))
    result = []
    for p in photos:
        label = p.display_path.split("/")[0] if labelled and "/" in p.display_path else None
        if labelled and label is None:
            continue  # a file at the top of identities/: no label
        faces = tuple(by_photo.get(p.sha256, ())) if p.status == "analyzed" else ()
        result.append(
            Photo(f"{folder_name}/{p.display_path}", label, p.width_px or 0, p.height_px or 0, faces)
        )
    return result


def load_data(data: Path, work: Path) -> list[Photo]:
    photos = []
    for name in FOLDERS:
        process_folder(data / name, work / name)
        photos += read_photos(work / name, name, labelled=name == "identities")
    return sorted(photos, key=lambda p: p.key)


# --- one event: selfies, event faces, clusters -------------------------------------------------------


@dataclass
class Event:
    """The event of one selection of selfies."""

    selfies: dict[str, list[Photo]]  # person -> selfie photos
    photos: list[Photo]  # event photos (not a selfie of anyone)
    keys: list[str]  # per event face: its photo's key
    embeddings: np.ndarray  # per event face (n, 128)
    clusters: np.ndarray  # per event face: cluster label, -1 for none

    def users(self, people: Sequence[str]) -> dict[str, np.ndarray]:
        return {p: np.stack([s.selfie_embedding() for s in self.selfies[p]]) for p in people}  # type: ignore[misc]


def choose_selfies(
    photos: list[Photo], people: Sequence[str], count: int, seed: int | None
) -> dict[str, list[Photo]]:
    """``count`` selfies per person: the first by name among photos whose largest face has an embedding,
    or, with ``seed``, a random draw of them."""
    rng = None if seed is None else np.random.default_rng(seed)
    chosen = {}
    for person in people:
        candidates = [p for p in photos if p.label == person and p.selfie_embedding() is not None]
        if rng is not None:
            candidates = [candidates[i] for i in rng.permutation(len(candidates))]
        chosen[person] = candidates[:count]
    return chosen


def build_event(photos: list[Photo], selfies: dict[str, list[Photo]], settings: Settings) -> Event:
    taken = {s.key for chosen in selfies.values() for s in chosen}
    event = [p for p in photos if p.key not in taken]
    keys = [p.key for p in event for _ in p.embedded]
    vectors = [f.embedding for p in event for f in p.embedded]
    embeddings = np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, 128), np.float32)
    clusters = cluster_embeddings(embeddings, settings.cluster_max_distance, settings.min_faces, keys)
    return Event(selfies, event, keys, embeddings, clusters)


# --- scoring ----------------------------------------------------------------------------------------


def correct(person: str, photo: Photo, strict: bool) -> bool:
    return photo.label == person or (not strict and (person, photo.key) in VERIFIED_IN_GROUPS)


@dataclass
class Scored:
    """All candidate pairs of one event for some users: confidence and correctness of each record, and
    the number of correct pairs there are (found or not)."""

    confidence: np.ndarray
    correct: np.ndarray
    positives: int
    records: list[tuple[str, str, float]] = field(default_factory=list)  # user, photo key, confidence

    def at(self, min_confidence: float) -> tuple[int, int, int]:
        """True positives, false positives, false negatives at ``min_confidence``."""
        hit = self.confidence >= min_confidence
        tp = int((hit & self.correct).sum())
        return tp, int((hit & ~self.correct).sum()), self.positives - tp


def score(
    records: Sequence[tuple[str, str, float]], event: Event, people: Sequence[str], strict: bool
) -> Scored:
    by_key = {p.key: p for p in event.photos}
    positives = sum(correct(u, p, strict) for u in people for p in event.photos)
    ok = np.array([correct(u, by_key[k], strict) for u, k, _ in records], dtype=bool)
    conf = np.array([c for _, _, c in records], dtype=np.float64)
    return Scored(conf, ok, positives, list(records))


#: a way of matching: (event, users of this run) -> records (user, photo key, confidence)
Method = Callable[[Event, Sequence[str]], list[tuple[str, str, float]]]


def chosen_method(event: Event, people: Sequence[str]) -> list[tuple[str, str, float]]:
    """The library as the service calls it: mean selfie, event clusters, each face to its best user."""
    found = match_users(event.users(people), event.keys, event.embeddings, 0.0, face_clusters=event.clusters)
    return [(m.user_id, m.photo_key, m.confidence) for m in found]


def guarded_cluster_distances(
    selfies: Sequence[np.ndarray], faces: np.ndarray, labels: np.ndarray, face_guard: bool, selfie_guard: bool
) -> np.ndarray:
    """The library's distances (:func:`eventlens.match.selfies.face_distances`) with either guard of the
    path through a cluster left out, for the comparison: without ``face_guard`` every face of a cluster is
    as close as its centre; without ``selfie_guard`` the user reaches a centre by the mean selfie alone."""
    f = faces.astype(np.float64)
    means = np.stack([s.mean(0) for s in selfies])
    distances = np.linalg.norm(f[None, :, :] - means[:, None, :], axis=2)
    for c in np.unique(labels[labels >= 0]):
        members = np.flatnonzero(labels == c)
        centre = f[members].mean(0)
        to_centre = np.linalg.norm(means - centre, axis=1)
        if selfie_guard:
            nearest = np.array([np.linalg.norm(s - centre, axis=1).min() for s in selfies])
            to_centre = np.maximum(to_centre, nearest)
        via = np.repeat(to_centre[:, None], len(members), axis=1)
        if face_guard:
            via = np.maximum(via, np.linalg.norm(f[members] - centre, axis=1)[None, :])
        distances[:, members] = np.minimum(distances[:, members], via)
    return distances


def variant(combine: str, clusters: str, exclusive: bool) -> Method:
    """An alternative built from the library's parts: ``combine`` = ``mean`` (mean selfie embedding),
    ``min``, ``mean distance`` or ``median distance`` (of the distances to each selfie); ``clusters`` =
    ``none``, ``guarded`` (the library's rule), ``whole`` (no face guard) or ``mean only`` (no selfie
    guard)."""

    def method(event: Event, people: Sequence[str]) -> list[tuple[str, str, float]]:
        labels = None if clusters == "none" else event.clusters
        users = event.users(people)
        ids = sorted(users)
        selfies = [users[u] for u in ids]
        if clusters in ("whole", "mean only"):
            assert labels is not None and combine == "mean"
            distances = guarded_cluster_distances(
                selfies, event.embeddings, labels, clusters != "whole", clusters != "mean only"
            )
        elif combine == "mean":
            distances = face_distances(selfies, event.embeddings, labels)
        else:  # each selfie on its own: the nearest one counts, or the mean or median of the distances
            reduce = {"min": np.min, "mean distance": np.mean, "median distance": np.median}[combine]
            distances = np.stack(
                [
                    reduce(face_distances(list(s[:, None, :]), event.embeddings, labels), axis=0)
                    for s in selfies
                ]
            )
        keep = best_user_only(distances) if exclusive else None
        found = matches_from_distances(ids, distances, event.keys, 0.0, keep)
        return [(m.user_id, m.photo_key, m.confidence) for m in found]

    return method


@dataclass(frozen=True)
class Figures:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def __add__(self, other: Figures) -> Figures:
        return Figures(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)


def pooled(scored: Sequence[Scored], min_confidence: float) -> Figures:
    total = Figures(0, 0, 0)
    for s in scored:
        total = total + Figures(*s.at(min_confidence))
    return total


def choose_threshold(dev: dict[int, list[Scored]]) -> tuple[float, dict[int, Figures]] | None:
    """The distance of the grid with the best mean development recall over the selfie counts at which
    every count keeps TARGET_PRECISION; None when no distance does."""
    best: tuple[float, float, dict[int, Figures]] | None = None
    for d in DISTANCE_GRID:
        c = confidence_of_distance(float(d))
        figures = {k: pooled(runs, c) for k, runs in dev.items()}
        if all(f.precision >= TARGET_PRECISION for f in figures.values()):
            recall = float(np.mean([f.recall for f in figures.values()]))
            if best is None or recall > best[1]:
                best = (float(d), recall, figures)
    return None if best is None else (best[0], best[2])


def largest_distance(runs: dict[int, list[Scored]], precision: float) -> float | None:
    """The largest distance of the grid at which every selfie count keeps ``precision`` (and every smaller
    distance of the grid does too)."""
    last = None
    for d in DISTANCE_GRID:
        c = confidence_of_distance(float(d))
        if not all(pooled(r, c).precision >= precision for r in runs.values()):
            break
        last = float(d)
    return last


def fit_logistic(distances: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """Centre and scale of P(same | d) = σ((centre - d) / scale), fitted by Newton's method with both
    classes weighted equally."""
    x = np.stack([np.ones_like(distances), distances], axis=1)
    weight = np.where(same, 0.5 / max(same.sum(), 1), 0.5 / max((~same).sum(), 1))
    beta = np.array([10.0, -20.0])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(x @ beta)))
        gradient = x.T @ (weight * (same - p))
        hessian = (x * (weight * p * (1 - p))[:, None]).T @ x
        step = np.linalg.solve(hessian, gradient)
        beta += step
        if np.abs(step).max() < 1e-10:
            break
    return float(-beta[0] / beta[1]), float(-1.0 / beta[1])


# --- misses -------------------------------------------------------------------------------------------


def miss_reason(photo: Photo) -> str:
    if not photo.faces:
        return "no face found"
    if not photo.embedded:
        return "faces too small to embed"
    face = photo.labelled_face()
    assert face is not None
    if face.yaw_deg is not None and abs(face.yaw_deg) > 45:
        return "profile (|yaw| > 45°)"
    if face.size_px < 64:
        return "small face (< 64 px)"
    if (photo.width_px, photo.height_px) == (112, 112):
        return "too far: 112 px aligned celebrity crop"
    if (photo.width_px, photo.height_px) == (250, 250):
        return "too far: 250 px LFW photo"
    return "too far: full-size photo"


# --- the report -------------------------------------------------------------------------------------


def split_people(people: Sequence[str], seed: int) -> tuple[list[str], list[str]]:
    """Development and test people: a seeded permutation, the first half (rounded up) for development."""
    order = np.random.default_rng(seed).permutation(len(people))
    dev = sorted(people[i] for i in order[: (len(people) + 1) // 2])
    return dev, sorted(set(people) - set(dev))


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def row(cells: Sequence[object]) -> str:
        return "| " + " | ".join(str(c) for c in cells) + " |"

    return "\n".join([row(header), row(["---"] * len(header)), *(row(r) for r in rows)])


def pr(f: Figures) -> str:
    return f"{f.precision:.3f} / {f.recall:.3f}"


@dataclass
class Bench:
    """The events of every selection and the people of every subset."""

    events: dict[tuple[int, str], Event]  # (selfies per person, selection) -> event
    subsets: dict[str, list[str]]  # dev / test / all -> people
    strict: bool

    def run(self, method: Method, subset: str, strict: bool | None = None) -> dict[int, list[Scored]]:
        """Scored records per selfie count, one per selection (the first: first by name)."""
        people = self.subsets[subset]
        out: dict[int, list[Scored]] = {}
        for (k, _name), event in self.events.items():
            strict_k = self.strict if strict is None else strict
            out.setdefault(k, []).append(score(method(event, people), event, people, strict_k))
        return out


VARIANTS: list[tuple[str, Method]] = [
    ("min over selfies, faces one by one", variant("min", "none", False)),
    ("mean of the distances to the selfies, faces one by one", variant("mean distance", "none", False)),
    ("median of the distances to the selfies, faces one by one", variant("median distance", "none", False)),
    ("mean selfie, faces one by one", variant("mean", "none", False)),
    ("mean selfie, each face to its best user", variant("mean", "none", True)),
    ("mean selfie + whole event clusters (no face guard) + best user", variant("mean", "whole", True)),
    (
        "mean selfie + event clusters, user by mean selfie only + best user",
        variant("mean", "mean only", True),
    ),
    ("mean selfie + event clusters", variant("mean", "guarded", False)),
    ("min over selfies + event clusters + best user", variant("min", "guarded", True)),
    ("**mean selfie + event clusters + best user** (chosen: match_users)", chosen_method),
]


def check_reimplementation(event: Event, people: Sequence[str]) -> None:
    """The comparison's own distances with both guards are the library's."""
    users = event.users(people)
    selfies = [users[u] for u in sorted(users)]
    mine = guarded_cluster_distances(selfies, event.embeddings, event.clusters, True, True)
    np.testing.assert_allclose(mine, face_distances(selfies, event.embeddings, event.clusters), atol=1e-9)


def print_best_user(bench: Bench) -> None:
    """Each face to its best user, or not: all people as users, at several distances."""
    rows: list[list[object]] = []
    runs = {
        "no": bench.run(variant("mean", "guarded", False), "all"),
        "yes": bench.run(chosen_method, "all"),
    }
    for d in (0.45, 0.48, 0.50, 0.55, 0.60):
        c = confidence_of_distance(d)
        rows.append([f"{d:.2f}"] + [pr(pooled(runs[x][k], c)) for k in (1, 3) for x in ("no", "yes")])
    print("\n### Each face to its best user only, or not (all people as users; selections pooled; P / R)\n")
    print(table(["distance", "1 selfie, no", "1 selfie, yes", "3 selfies, no", "3 selfies, yes"], rows))


def print_alternatives(bench: Bench) -> dict[str, dict[int, list[Scored]]]:
    """The table of the alternatives; returns the runs of the chosen method per subset."""
    rows: list[list[object]] = []
    chosen: dict[str, dict[int, list[Scored]]] = {}
    for name, method in VARIANTS:
        runs = {s: bench.run(method, s) for s in ("dev", "test", "all")}
        if method is chosen_method:
            chosen = runs
        picked = choose_threshold(runs["dev"])
        if picked is None:
            rows.append([name, "", "none keeps P 0.99", "", "", ""])
            continue
        c = confidence_of_distance(picked[0])
        for k in sorted(runs["dev"]):
            head = [name, k, f"{picked[0]:.3f}"] if k == 1 else ["", k, ""]
            rows.append(head + [pr(pooled(runs[s][k], c)) for s in ("dev", "test", "all")])
    print(
        "### Alternatives, each at its own threshold chosen on the development people (selections pooled)\n"
    )
    print(table(["method", "selfies", "distance", "dev P / R", "test P / R", "all P / R"], rows))
    return chosen


def print_mapping_and_bounds(chosen: dict[str, dict[int, list[Scored]]], settings: Settings) -> None:
    dev_pairs = [s for runs in chosen["dev"].values() for s in runs]
    conf = np.concatenate([s.confidence for s in dev_pairs])
    same = np.concatenate([s.correct for s in dev_pairs])
    centre, scale = fit_logistic(np.asarray(distance_of_confidence(conf)), same)
    print(
        f"\nlogistic fit of 'same person' on the distance of each record (development people, classes "
        f"weighted equally): centre {centre:.4f}, scale {scale:.4f}; eventlens.match.confidence uses "
        f"centre {CENTRE_DISTANCE}, scale {SCALE_DISTANCE}\n"
    )
    picked = choose_threshold(chosen["dev"])
    if picked is not None:
        d = picked[0]
        print(
            f"- default threshold chosen on the development people: distance {d:.3f} = confidence "
            f"{confidence_of_distance(d):.4f}"
        )
    for what, precision in (("definitely", 0.999), ("probably", 0.95)):
        d = largest_distance(chosen["dev"], precision)
        if d is not None:
            print(
                f"- development precision >= {precision} with every selfie count up to distance {d:.3f} "
                f"(confidence {confidence_of_distance(d):.4f}): the bound of `{what}`"
            )
    for name in ("match_min_confidence", "match_definitely_confidence", "match_probably_confidence"):
        c = getattr(settings, name)
        print(f"- settings: {name} = {c} (distance {distance_of_confidence(c):.4f})")
    print()


def print_sweep(chosen: dict[str, dict[int, list[Scored]]]) -> None:
    rows: list[list[object]] = []
    for d in DISTANCE_GRID[(DISTANCE_GRID >= 0.38) & (DISTANCE_GRID <= 0.55)][::2]:
        c = confidence_of_distance(float(d))
        rows.append(
            [f"{d:.2f}", f"{c:.3f}"]
            + [pr(pooled(chosen[s][k], c)) for k in (1, 3) for s in ("dev", "test", "all")]
        )
    print("### Sweep of the chosen method (selections pooled; P / R)\n")
    print(
        table(["distance", "confidence", "dev, 1", "test, 1", "all, 1", "dev, 3", "test, 3", "all, 3"], rows)
    )


def print_default(bench: Bench, chosen: dict[str, dict[int, list[Scored]]], c: float) -> None:
    print(
        f"\n### At the default threshold: match_min_confidence = {c} "
        f"(distance {distance_of_confidence(c):.3f})\n"
    )
    strict = {s: bench.run(chosen_method, s, strict=True) for s in ("dev", "test", "all")}
    rows: list[list[object]] = []
    for k in sorted(chosen["dev"]):
        for s in ("dev", "test", "all"):
            first = Figures(*chosen[s][k][0].at(c))
            every = pooled(chosen[s][k], c)
            rows.append(
                [
                    k,
                    s,
                    f"{first.precision:.3f}",
                    f"{first.recall:.3f}",
                    f"{first.tp} / {first.fp} / {first.fn}",
                    f"{every.precision:.3f}",
                    f"{every.recall:.3f}",
                    f"{pooled(strict[s][k], c).precision:.3f}",
                    "yes" if every.precision >= 0.99 and every.recall >= 0.95 else "no",
                ]
            )
    print(
        table(
            [
                "selfies",
                "people",
                "P, first by name",
                "R, first by name",
                "TP / FP / FN, first by name",
                "P, all selections",
                "R, all selections",
                "P strict, all selections",
                "P >= 0.99 and R >= 0.95",
            ],
            rows,
        )
    )


def print_errors(bench: Bench, chosen: dict[str, dict[int, list[Scored]]], c: float) -> None:
    """Misses (by reason) and false matches at ``c``: selfies first by name, all people as users."""
    people = bench.subsets["all"]
    for k in sorted(chosen["all"]):
        event = bench.events[k, "first by name"]
        scored = chosen["all"][k][0]
        found = {(u, key) for u, key, conf in scored.records if conf >= c}
        by_key = {p.key: p for p in event.photos}
        misses = [
            (u, p)
            for u in people
            for p in event.photos
            if correct(u, p, bench.strict) and (u, p.key) not in found
        ]
        reasons = Counter(miss_reason(p) for _, p in misses)
        print(
            f"\n{k} selfie(s), first by name, all people: {len(misses)} missed photos. By reason: "
            + "; ".join(f"{r}: {n}" for r, n in reasons.most_common())
        )
        print(
            "- missed per person: "
            + ", ".join(f"{u} {n}" for u, n in Counter(u for u, _ in misses).most_common())
        )
        wrong = sorted(
            (u, key, conf)
            for u, key, conf in scored.records
            if conf >= c and not correct(u, by_key[key], bench.strict)
        )
        for u, key, conf in wrong:
            print(
                f"- false match: {u} in {key} "
                f"(confidence {conf:.3f}, distance {distance_of_confidence(conf):.3f})"
            )


def print_other_splits(photos: list[Photo], bench: Bench, seeds: Sequence[int]) -> None:
    """The threshold the same rule chooses with other development/test splits, and its test figures."""
    rows: list[list[object]] = []
    for seed in seeds:
        dev, test = split_people(bench.subsets["all"], seed)
        other = Bench(bench.events, {"dev": dev, "test": test, "all": bench.subsets["all"]}, bench.strict)
        runs = {s: other.run(chosen_method, s) for s in ("dev", "test")}
        picked = choose_threshold(runs["dev"])
        if picked is None:
            rows.append([seed, "none keeps P 0.99", "", ""])
            continue
        c = confidence_of_distance(picked[0])
        rows.append(
            [seed, f"{picked[0]:.3f}"] + [pr(pooled(runs["test"][k], c)) for k in sorted(runs["test"])]
        )
    print(
        "\n### The same choice with other development/test splits of the people "
        "(test P / R at its threshold)\n"
    )
    print(table(["split seed", "distance", "test, 1 selfie", "test, 3 selfies"], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=REPO / "bench-out" / "selfie-matching")
    parser.add_argument("--seeds", type=int, nargs="*", default=[1, 2, 3, 4], help="random selfie draws")
    parser.add_argument("--split-seed", type=int, default=0, help="seed of the development/test split")
    parser.add_argument("--other-splits", type=int, nargs="*", default=[1, 2, 3, 4], help="splits to compare")
    parser.add_argument(
        "--strict", action="store_true", help="count the verified group photos of labelled people as wrong"
    )
    args = parser.parse_args()
    settings = load_settings()
    photos = load_data(args.data, args.work)
    people = sorted({p.label for p in photos if p.label is not None})
    dev, test = split_people(people, args.split_seed)
    selections: list[tuple[str, int | None]] = [("first by name", None)] + [
        (f"seed {s}", s) for s in args.seeds
    ]
    events = {
        (k, name): build_event(photos, choose_selfies(photos, people, k, seed), settings)
        for k in (1, 3)
        for name, seed in selections
    }
    bench = Bench(events, {"dev": dev, "test": test, "all": people}, args.strict)
    print(
        f"{len(photos)} photos, {len(people)} people ({len(dev)} development, {len(test)} test); "
        f"{len(events[1, 'first by name'].photos)} event photos with 1 selfie per person; selfies: "
        f"{', '.join(n for n, _ in selections)}; ground truth: "
        f"{'strict' if args.strict else 'with the verified group photos'}\n"
    )
    print(f"development people: {', '.join(dev)}\n")
    check_reimplementation(events[3, "first by name"], people)
    chosen = print_alternatives(bench)
    print_best_user(bench)
    print_mapping_and_bounds(chosen, settings)
    print_sweep(chosen)
    print_default(bench, chosen, settings.match_min_confidence)
    print_errors(bench, chosen, settings.match_min_confidence)
    if args.other_splits:
        print_other_splits(photos, bench, args.other_splits)


if __name__ == "__main__":
    main()
