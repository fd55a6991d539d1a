"""Photo scoring: an additive, explainable score from the rules in ``curation`` settings.

For a photo::

    final_score = photo_sharpness_weight * photo_sharpness
                - exposure_penalty      (if the photo is badly exposed)
                + sum over faces of the face term
                - duplicate_penalty     (if the photo is not the pick of its near-duplicate group)

and for each face of category c (a person's label; ``other`` for unlabelled and unassigned faces)::

    presence(c)
    + smile_reward(c) * smile_score
    + face_sharpness_weight * presence(c) * face_sharpness
    - eyes_closed_penalty(c)   (if the eyes are closed)
    - exposure_penalty         (if the face is badly exposed)
    - looking_away_penalty     (if |yaw| > max_yaw_deg)

A photo where a face of a category with ``require_eyes_open`` has closed eyes is *disqualified*: it is
ranked after every qualified photo. Each photo's ``results_string`` lists the terms that mattered (every
``main`` and ``important`` face, the first other persons, a count of the rest), so a person can see why
it ranks where it does. Everything here is a pure function of its inputs: the same
catalog and settings give the same ranking (ties are broken by photo path).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from eventlens.attributes.decide import FaceDecisions
from eventlens.settings import CurationSettings

#: other (non-main, non-important) persons named one by one in results_string before the rest is counted
_LISTED_OTHERS = 3
_EYES_TEXT = {True: "open", False: "closed", None: "unknown"}


@dataclass(frozen=True)
class ScoredFace:
    person: str  # person label, or "" when unassigned
    category: str  # main | important | other
    decisions: FaceDecisions | None
    sharpness: float


@dataclass
class PhotoInput:
    photo: str  # path relative to the input root
    sha256: str
    sharpness: float | None
    well_exposed: bool
    faces: list[ScoredFace] = field(default_factory=list)
    duplicate_group: int = 0
    duplicate_pick: bool = True


@dataclass(frozen=True)
class PhotoScore:
    photo: str
    sha256: str
    final_score: float
    disqualified: bool
    persons: tuple[str, ...]
    results_string: str
    duplicate_group: int
    duplicate_pick: bool


def face_term(face: ScoredFace, rules: CurationSettings) -> tuple[float, bool, str]:
    """(score contribution, violates a requirement, explanation) of one face."""
    rule = rules.categories.get(face.category, rules.categories["other"])
    who = f"{face.person or 'unassigned'}:{face.category}"
    d = face.decisions
    if d is None:
        return rule.presence, False, f"{who} unmeasured"
    score = rule.presence + rule.smile_reward * d.smile_score
    score += rules.face_sharpness_weight * rule.presence * face.sharpness
    parts = [
        who,
        f"eyes={_EYES_TEXT[d.eyes_open]}",
        f"smile={d.smile_score:.2f}",
        f"sharp={face.sharpness:.2f}",
    ]
    violates = False
    if d.eyes_open is False:
        score -= rule.eyes_closed_penalty
        violates = rule.require_eyes_open
    if not d.well_exposed:
        score -= rules.exposure_penalty
        parts.append("exposure=bad")
    if d.looking_away:
        score -= rules.looking_away_penalty
        parts.append("looking_away")
    if violates:
        parts.append("REQUIRED_EYES_OPEN")
    return score, violates, " ".join(parts)


def score_photo(photo: PhotoInput, rules: CurationSettings) -> PhotoScore:
    sharp = photo.sharpness or 0.0
    total = rules.photo_sharpness_weight * sharp
    head = [f"photo sharp={sharp:.2f}"]
    if not photo.well_exposed:
        total -= rules.exposure_penalty
        head.append("exposure=bad")
    if not photo.duplicate_pick:
        total -= rules.duplicate_penalty
        head.append(f"near_duplicate_of_group={photo.duplicate_group}")
    disqualified = False
    explained = []
    others: list[float] = []
    named_others = 0
    rest_closed = 0  # closed eyes among the other faces that are not named one by one
    ranked_faces = sorted(photo.faces, key=lambda f: (_category_rank(f.category), f.person or "~"))
    for face in ranked_faces:
        term, violates, text = face_term(face, rules)
        disqualified |= violates
        if face.category in ("main", "important"):
            total += term
            explained.append(text)
            continue
        others.append(term)
        if face.person and named_others < _LISTED_OTHERS:
            explained.append(text)
            named_others += 1
        else:
            rest_closed += face.decisions is not None and face.decisions.eyes_open is False
    if others:
        total += sum(others) / len(others)
        rest = len(others) - named_others
        if rest > 0:
            explained.append(f"+{rest} other faces ({rest_closed} with eyes closed)")
    persons = tuple(sorted({f.person for f in photo.faces if f.person}))
    return PhotoScore(
        photo=photo.photo,
        sha256=photo.sha256,
        final_score=round(total, 4),
        disqualified=disqualified,
        persons=persons,
        results_string="; ".join(explained + [" ".join(head)]),
        duplicate_group=photo.duplicate_group,
        duplicate_pick=photo.duplicate_pick,
    )


def _category_rank(category: str) -> int:
    return {"main": 0, "important": 1}.get(category, 2)


def rank(scores: list[PhotoScore]) -> list[PhotoScore]:
    """Best first: qualified before disqualified, then by score, then by photo path."""
    return sorted(scores, key=lambda s: (s.disqualified, -s.final_score, s.photo))


def person_photo_score(face: ScoredFace, photo_score: PhotoScore, rules: CurationSettings) -> float:
    """How good a photo is *for one person*: their own face term dominates, the photo's score breaks ties."""
    own, _, _ = face_term(ScoredFace(face.person, "main", face.decisions, face.sharpness), rules)
    return own + 0.1 * photo_score.final_score
