"""Re-fit an event's clustering threshold to the merge suggestions a user answered.

Each answer (:func:`eventlens.cluster.suggestions.answer`, a ``merge`` or ``not_same`` correction not
undone, holding the pair's ``min_distance``) says where the threshold should be: the cluster stage links
two faces closer than ``cluster_max_distance``, so a pair answered "yes" wants the threshold above its
smallest face distance and a pair answered "no" at or below it. The re-fitted threshold is the one, within
``cluster_max_distance ± refit_max_change``, that contradicts the fewest answers, the nearest to the setting
among equals (so answers the setting already agrees with change nothing). It is fitted only from
``refit_min_answers`` answers on.

:func:`fit` reports the old and new threshold and how many persons the new one would change (persons with a
face in a cluster that a partition at the new threshold forms differently:
:func:`eventlens.cluster.stage.preview_partition`); :func:`apply` stores it for the event
(``catalog_state``), and the next ``eventlens cluster`` (or ``process``) uses it while the setting stays the
value it was fitted from (:func:`eventlens.cluster.stage.event_max_distance`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

import numpy as np
import sqlalchemy as sa

from eventlens.catalog.schema import catalog_state, corrections
from eventlens.cluster.stage import REFIT_STATE_KEY, event_max_distance, preview_partition
from eventlens.curate.corrections import Target, reading, writing
from eventlens.settings import Settings

#: correction actions that answer a merge suggestion: yes, no
_ANSWERS = {"merge": True, "not_same": False}


@dataclass(frozen=True, slots=True)
class Answer:
    min_distance: float
    same: bool


@dataclass(frozen=True, slots=True)
class RefitReport:
    answers: int  # answered suggestions (not undone)
    enough: bool  # at least refit_min_answers
    old_threshold: float  # what the event clusters at now
    new_threshold: float  # the fitted one (old_threshold when not enough answers)
    contradicted_before: int  # answers the old threshold contradicts
    contradicted_after: int  # answers the new one contradicts
    persons_changed: int  # persons the new threshold would group differently
    applied: bool = False

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def line(self) -> str:
        if not self.enough:
            return f"refit: {self.answers} answered suggestions, not enough to re-fit the threshold"
        return (
            f"refit: threshold {self.old_threshold:.3f} -> {self.new_threshold:.3f} from {self.answers} "
            f"answers ({self.contradicted_before} -> {self.contradicted_after} contradicted); "
            f"{self.persons_changed} persons would change" + (" (stored)" if self.applied else "")
        )


def answered_suggestions(conn: sa.Connection) -> list[Answer]:
    rows = conn.execute(
        sa.select(corrections.c.action, corrections.c.payload_json).where(
            corrections.c.action.in_(list(_ANSWERS)), corrections.c.undone_by.is_(None)
        )
    ).all()
    found = []
    for action, payload_json in rows:
        suggestion = json.loads(payload_json).get("suggestion")
        if suggestion is not None:
            found.append(Answer(float(suggestion["min_distance"]), _ANSWERS[action]))
    return found


def contradicted(answers: list[Answer], threshold: float) -> int:
    """Answers ``threshold`` gets wrong: "yes" pairs it would not link, "no" pairs it would."""
    return sum(1 for a in answers if (a.min_distance < threshold) != a.same)


def fit_threshold(answers: list[Answer], base: float, max_change: float) -> float:
    """The threshold in ``[base - max_change, base + max_change]`` contradicting the fewest ``answers``;
    the nearest to ``base`` among equals (see the module docstring)."""
    low, high = base - max_change, base + max_change
    candidates = {base, low, high}
    for a in answers:  # the error count only changes at an answer's distance: just above or at it
        for t in (a.min_distance, float(np.nextafter(a.min_distance, np.inf))):
            if low <= t <= high:
                candidates.add(t)
    return min(candidates, key=lambda t: (contradicted(answers, t), abs(t - base), t))


def _persons_changed(
    conn: sa.Connection, settings: Settings, embed_model: str, old: float, new: float
) -> int:
    if abs(new - old) < 1e-12:
        return 0
    _ids, person, before = preview_partition(conn, settings, embed_model, old)
    _ids, _person, after = preview_partition(conn, settings, embed_model, new)
    changed: set[int] = set()
    for lab in np.unique(before).tolist():
        members = before == lab
        if len(np.unique(after[members])) != 1 or int((after == after[members][0]).sum()) != int(
            members.sum()
        ):
            changed.update(int(p) for p in np.unique(person[members]).tolist() if p >= 0)
    return len(changed)


def fit(target: Target, settings: Settings, embed_model: str) -> RefitReport:
    """The re-fit the answers give (nothing stored)."""
    with reading(target) as conn:
        answers = answered_suggestions(conn)
        old = event_max_distance(conn, settings)
        enough = len(answers) >= settings.refit_min_answers
        new = (
            fit_threshold(answers, settings.cluster_max_distance, settings.refit_max_change)
            if enough
            else old
        )
        return RefitReport(
            answers=len(answers),
            enough=enough,
            old_threshold=old,
            new_threshold=new,
            contradicted_before=contradicted(answers, old),
            contradicted_after=contradicted(answers, new),
            persons_changed=_persons_changed(conn, settings, embed_model, old, new) if enough else 0,
        )


def apply(target: Target, settings: Settings, embed_model: str) -> RefitReport:
    """Fit, and store the new threshold for the event when there were enough answers (the next cluster run
    uses it); the report says whether it was stored."""
    report = fit(target, settings, embed_model)
    if not report.enough:
        return report
    value = json.dumps({"threshold": report.new_threshold, "base": settings.cluster_max_distance})
    with writing(target) as conn:
        conn.execute(catalog_state.delete().where(catalog_state.c.key == REFIT_STATE_KEY))
        conn.execute(catalog_state.insert().values(key=REFIT_STATE_KEY, value=value))
    return replace(report, applied=True)
