"""Server time of photo searches (eventlens/catalog/search.py) on a synthetic 10,000-photo catalog.

Usage: python benchmarks/bench_search.py [--photos 10000] [--repeats 15] [--dir DIR]

Builds the catalog (benchmarks/synthetic_catalog.py; reused when DIR already holds one of that size),
scores it once as the web pages do (eventlens/curate/facts.py: the one-off cost per catalog change, kept in
a cache afterwards), then runs each filter combination ``--repeats`` times for the first page (48 photos,
as the search page) and for the page after it. Prints median and p95 wall time and the median CPU time per
query, in milliseconds, as JSON lines. Record ``uptime``'s load average next to the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from synthetic_catalog import build_catalog  # noqa: E402

from eventlens.catalog.db import open_catalog  # noqa: E402
from eventlens.catalog.search import PhotoQuery, search_photos  # noqa: E402
from eventlens.curate.facts import event_curation  # noqa: E402
from eventlens.settings import load_settings  # noqa: E402

QUERIES = {
    "none": PhotoQuery(),
    "person label": PhotoQuery(person="person_004"),
    "person name + >=2 faces": PhotoQuery(person="ada 1", min_people=2),
    "category main + dates": PhotoQuery(
        category="main", taken_from=date(2024, 6, 15), taken_to=date(2024, 6, 15)
    ),
    "score >= 0.5 + eyes open": PhotoQuery(min_score=0.5, eyes_open=True),
    "smiling + important + 1-3 faces": PhotoQuery(
        smiling=True, category="important", min_people=1, max_people=3
    ),
    "rare: person + smiling + eyes": PhotoQuery(person="person_123", smiling=True, eyes_open=True),
    "no match (future dates)": PhotoQuery(taken_from=date(2030, 1, 1)),
}


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/eventlens-bench-search"))
    args = parser.parse_args()
    folder = args.dir / str(args.photos)
    if not (folder / "catalog.sqlite").is_file():
        build_catalog(folder, args.photos)
    engine = open_catalog(f"sqlite:///{folder / 'catalog.sqlite'}")
    settings = load_settings()
    with engine.connect() as conn:
        t0, c0 = time.perf_counter(), time.process_time()
        facts = event_curation(conn, settings).facts
        print(
            json.dumps(
                {
                    "step": "curation (once per catalog change)",
                    "photos": args.photos,
                    "wall_s": round(time.perf_counter() - t0, 2),
                    "cpu_s": round(time.process_time() - c0, 2),
                }
            )
        )
        for name, q in QUERIES.items():
            for which in ("first page", "second page"):
                walls, cpus, found = [], [], 0
                for _ in range(args.repeats):
                    t0, c0 = time.perf_counter(), time.process_time()
                    page = search_photos(conn, q, facts if q.needs_facts else None, limit=48)
                    if which == "second page" and page.next_cursor is not None:
                        page = search_photos(
                            conn, q, facts if q.needs_facts else None, limit=48, after=page.next_cursor
                        )
                    walls.append((time.perf_counter() - t0) * 1000)
                    cpus.append((time.process_time() - c0) * 1000)
                    found = len(page.items)
                print(
                    json.dumps(
                        {
                            "query": name,
                            "page": which + (" (incl. the first)" if which == "second page" else ""),
                            "results": found,
                            "median_ms": round(statistics.median(walls), 1),
                            "p95_ms": round(_p95(walls), 1),
                            "median_cpu_ms": round(statistics.median(cpus), 1),
                        }
                    )
                )
    print(json.dumps({"load_average": os.getloadavg()}))


if __name__ == "__main__":
    main()
