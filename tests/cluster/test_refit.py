"""Re-fitting an event's clustering threshold to answered merge suggestions: the fit itself (bounded, fewest
contradictions, nearest the setting), the minimum number of answers, the report, and re-clustering at the
stored threshold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from people_kit import EMBED_MODEL, FaceSpec, around, build_catalog, unit

from eventlens.catalog.schema import persons
from eventlens.cluster import refit, suggestions
from eventlens.cluster.refit import Answer, contradicted, fit_threshold
from eventlens.cluster.stage import cluster, event_max_distance
from eventlens.curate import corrections
from eventlens.settings import Settings


def test_fit_takes_the_threshold_with_fewest_contradictions_nearest_the_base() -> None:
    answers = [Answer(0.60, True), Answer(0.62, True), Answer(0.70, False), Answer(0.75, False)]
    t = fit_threshold(answers, base=0.56, max_change=0.2)
    assert contradicted(answers, t) == 0 and 0.62 < t <= 0.70
    assert t == pytest.approx(0.62, abs=1e-6)  # the smallest move that agrees with every answer
    # bounded: the answers want 0.62+, the bound allows 0.61, which gets one of the two "yes" right
    bounded = fit_threshold(answers, base=0.56, max_change=0.05)
    assert 0.60 < bounded <= 0.61 and contradicted(answers, bounded) == 1
    # a bound that gains nothing leaves the base
    assert fit_threshold(answers, base=0.56, max_change=0.02) == 0.56
    # answers the base already agrees with change nothing
    agreeing = [Answer(0.70, False), Answer(0.50, True)]
    assert fit_threshold(agreeing, base=0.56, max_change=0.1) == 0.56
    # "no" answers below the base pull it down to at most the nearest of them
    lower = [Answer(0.52, False), Answer(0.54, False)]
    assert fit_threshold(lower, base=0.56, max_change=0.1) == pytest.approx(0.52)


def _event(tmp_path: Path) -> sa.Engine:
    """Six pairs of persons at distances 0.58 .. 0.68 between their looks (each person 3 faces)."""
    rng = np.random.default_rng(11)
    specs = []
    for k in range(6):
        base = unit(rng) * 3.0  # far from every other pair
        other = around(base, 0.58 + 0.02 * k, rng)
        for j in range(3):
            specs.append(FaceSpec(f"p{k}a{j}.jpg", f"person_{2 * k + 1:03d}", base + 0.0 * j))
            specs.append(FaceSpec(f"p{k}b{j}.jpg", f"person_{2 * k + 2:03d}", other))
    return build_catalog(tmp_path, specs)


def test_refit_needs_enough_answers_reports_and_re_clustering_uses_it(
    tmp_path: Path, model_cache_dir: Path
) -> None:
    engine = _event(tmp_path)
    settings = Settings(
        cache_dir=model_cache_dir, cluster_min_face_px=0, refit_min_answers=4, refit_max_change=0.1
    )
    cluster(engine, settings, EMBED_MODEL)  # at 0.56 every pair stays two persons
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(persons)).scalar() == 12
        pairs = sorted(
            (s.min_distance, s.label, s.other_label)
            for s in suggestions.merge_suggestions(conn, EMBED_MODEL, 2.0)
            if int(s.other_label[-3:]) == int(s.label[-3:]) + 1 and int(s.label[-3:]) % 2 == 1
        )
    assert len(pairs) == 6
    # the pairs 0.58 and 0.62 apart are one person each, the two farthest are not
    for _d, a, b in (pairs[0], pairs[2]):
        suggestions.answer(engine, EMBED_MODEL, a, b, same=True)
    suggestions.answer(engine, EMBED_MODEL, pairs[-1][1], pairs[-1][2], same=False)
    few = refit.fit(engine, settings, EMBED_MODEL)
    assert not few.enough and few.new_threshold == few.old_threshold == 0.56
    assert "not enough" in few.line()
    suggestions.answer(engine, EMBED_MODEL, pairs[-2][1], pairs[-2][2], same=False)
    report = refit.fit(engine, settings, EMBED_MODEL)
    assert report.enough and report.answers == 4
    assert report.old_threshold == 0.56 and report.contradicted_before == 2 and report.contradicted_after == 0
    assert pairs[2][0] < report.new_threshold <= pairs[4][0]
    # of the unanswered pairs, the one 0.60 apart joins at the new threshold: its 2 persons change
    joined = [p for p in (pairs[1], pairs[3]) if p[0] < report.new_threshold]
    assert [p[0] for p in joined] == [pytest.approx(0.60, abs=1e-4)]
    assert report.persons_changed == 2
    with engine.connect() as conn:
        assert event_max_distance(conn, settings) == 0.56  # fit stores nothing
    stored = refit.apply(engine, settings, EMBED_MODEL)
    assert stored.applied and "(stored)" in stored.line()
    with engine.connect() as conn:
        assert event_max_distance(conn, settings) == report.new_threshold
        # another setting is the user's choice: the fit was relative to 0.56
        assert event_max_distance(conn, settings.model_copy(update={"cluster_max_distance": 0.5})) == 0.5
    cluster(engine, settings, EMBED_MODEL)
    with engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(persons)).scalar()
    assert count == 12 - 2 - len(joined)  # the two merges, and the joined unanswered pairs
    # undoing answers removes them from the fit
    corrections.undo(engine, steps=4)
    assert refit.fit(engine, settings, EMBED_MODEL).answers == 0
