"""Tags and a caption per person, offline: derived only from what eventlens has measured.

Pure functions over small fact records (built by the export from the read model and the curation step), so
the same facts always give the same tags. The vocabulary (``docs/delivery.md`` lists it):

    photos:<n>           always: the number of photos they appear in
    smiling              at least half of the person's judged faces smile
    rarely-smiling       at most a tenth do (at least 5 judged faces)
    eyes-closed-in-burst in a burst (near-duplicate group) their eyes are closed in one photo, open in
                         another
    portrait             at least one photo shows them alone
    group-photos         at least half of their photos hold GROUP_MIN_FACES faces or more
    morning | afternoon | evening | night
                         the time of day of most of their photos (EXIF time; at least half of those
                         that have one)
    with:<person>        one of the (at most 3) persons they appear with most often (at least 2 photos
                         together); ``<person>`` is the name when the person has one, else the label

Left out on purpose: indoor/outdoor and dominant colours. eventlens measures a photo's brightness,
sharpness and exposure clipping, none of which tells a room from a garden; guessing them from colour
statistics would be wrong too often to tag people by.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

SMILING_MIN_SHARE = 0.5
RARELY_SMILING_MAX_SHARE = 0.1
RARELY_SMILING_MIN_FACES = 5
GROUP_MIN_FACES = 4
GROUP_MIN_SHARE = 0.5
TIME_OF_DAY_MIN_SHARE = 0.5
WITH_MIN_PHOTOS = 2
WITH_MAX_PERSONS = 3
#: (first hour, name) in order: an hour belongs to the last bucket whose first hour it reaches
TIME_OF_DAY = ((0, "night"), (5, "morning"), (12, "afternoon"), (17, "evening"), (21, "night"))


@dataclass(frozen=True, slots=True)
class FaceFacts:
    person: str  # label, "" when the face belongs to no person
    smile: bool | None  # None when the face was not judged
    eyes_open: bool | None  # None when unknown or not judged


@dataclass(frozen=True, slots=True)
class PhotoFacts:
    sha256: str
    taken_at: datetime | None
    duplicate_group: int  # photos of one burst share it
    faces: tuple[FaceFacts, ...]


@dataclass(frozen=True, slots=True)
class PersonTags:
    tags: tuple[str, ...]
    caption: str


def time_of_day(when: datetime) -> str:
    name = TIME_OF_DAY[0][1]
    for first_hour, bucket in TIME_OF_DAY:
        if when.hour >= first_hour:
            name = bucket
    return name


def _share(count: int, total: int) -> float:
    return count / total if total else 0.0


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _burst_blink(label: str, photos: Sequence[PhotoFacts]) -> bool:
    states: dict[int, set[bool]] = {}
    for p in photos:
        for f in p.faces:
            if f.person == label and f.eyes_open is not None:
                states.setdefault(p.duplicate_group, set()).add(f.eyes_open)
    return any(len(s) == 2 for s in states.values())


def person_tags(label: str, photos: Sequence[PhotoFacts], display: Mapping[str, str]) -> PersonTags:
    """The tags and caption of person ``label`` from the photos they appear in.

    ``display`` maps labels to what people see (the name, else the label); a label missing from it is shown
    as itself."""
    mine = [p for p in photos if any(f.person == label for f in p.faces)]
    own_faces = [f for p in mine for f in p.faces if f.person == label]
    judged = [f.smile for f in own_faces if f.smile is not None]
    smiles = sum(judged)
    tags: list[str] = [f"photos:{len(mine)}"]
    if judged and _share(smiles, len(judged)) >= SMILING_MIN_SHARE:
        tags.append("smiling")
    elif len(judged) >= RARELY_SMILING_MIN_FACES and _share(smiles, len(judged)) <= RARELY_SMILING_MAX_SHARE:
        tags.append("rarely-smiling")
    if _burst_blink(label, mine):
        tags.append("eyes-closed-in-burst")
    solo = sum(1 for p in mine if len(p.faces) == 1)
    groups = sum(1 for p in mine if len(p.faces) >= GROUP_MIN_FACES)
    if solo:
        tags.append("portrait")
    if mine and _share(groups, len(mine)) >= GROUP_MIN_SHARE:
        tags.append("group-photos")
    times = Counter(time_of_day(p.taken_at) for p in mine if p.taken_at is not None)
    when = None
    if times:
        bucket, n = min(times.items(), key=lambda kv: (-kv[1], kv[0]))
        if _share(n, sum(times.values())) >= TIME_OF_DAY_MIN_SHARE:
            when = bucket
            tags.append(bucket)
    together = Counter(
        other for p in mine for other in {f.person for f in p.faces} if other in display and other != label
    )
    companions = [
        other for other, n in sorted(together.items(), key=lambda kv: (-kv[1], kv[0])) if n >= WITH_MIN_PHOTOS
    ][:WITH_MAX_PERSONS]
    tags.extend(f"with:{display.get(c, c)}" for c in companions)
    caption = _caption(
        display.get(label, label),
        len(mine),
        solo,
        groups,
        smiles,
        len(judged),
        when,
        companions,
        together,
        display,
    )
    return PersonTags(tuple(tags), caption)


def _caption(
    who: str,
    n_photos: int,
    solo: int,
    groups: int,
    smiles: int,
    judged: int,
    when: str | None,
    companions: list[str],
    together: Mapping[str, int],
    display: Mapping[str, str],
) -> str:
    parts = [f"{who} appears in {_plural(n_photos, 'photo')}"]
    if solo:
        parts.append(f"{solo} of them alone")
    if groups:
        parts.append(f"{groups} in groups of {GROUP_MIN_FACES} or more")
    sentence = ", ".join(parts)
    if when is not None:
        sentence += f", mostly in the {when}" if when != "night" else ", mostly at night"
    sentences = [sentence + "."]
    if judged:
        sentences.append(f"Smiling in {smiles} of {_plural(judged, 'judged face')}.")
    if companions:
        names = [f"{display.get(c, c)} ({_plural(together[c], 'photo')})" for c in companions]
        joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        sentences.append(f"Most often with {joined}.")
    return " ".join(sentences)


def tags_for_persons(labels: Mapping[str, str], photos: Sequence[PhotoFacts]) -> dict[str, PersonTags]:
    """:func:`person_tags` of every person in ``labels`` (label -> display name)."""
    return {label: person_tags(label, photos, labels) for label in sorted(labels)}
