"""What ``report.html`` adds to an export of the 240-photo 12 MP event.

Usage:
    python benchmarks/bench_report.py [--photos 240] [--workers 2] [--repeat 3] [--json]

The event is built by ``make_event.py`` (cached outside the repository) and processed once by the real
pipeline into ``<event-dir>-processed`` (the folder ``bench_enhance.py`` uses too); only its catalog is
copied into a temporary output folder, so every export here starts from the same catalog and writes into
a folder of its own. Each round exports once without a report (to fill the face-crop cache, which any first
export makes, untimed), then runs :func:`eventlens.export.layout.export` four times:

* ``no report``: ``report_html`` off: the export as it was;
* ``report, cold, threads``: the thumbnail cache deleted first, thumbnails made on threads (what
  ``eventlens export`` does);
* ``report, cold, pool``: the same on ``--workers`` worker processes (what ``eventlens process`` does: the
  analysis pool, started before the clock starts);
* ``report, warm``: the thumbnails already there (any later export of unchanged photos).

Reported per variant: the median wall time and, for the in-process variants, the CPU time of this process
(all its threads; the pool's workers are not counted) per photo, and what each adds to ``no report``.
The machine's load average is printed before and after: wall times are comparable only on a quiet
machine, CPU time per photo less so dependent on the load.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_enhance import processed_event
from make_event import add_event_options, event_from_args

from eventlens.analysis.pool import AnalysisPool
from eventlens.catalog.db import default_url, open_catalog
from eventlens.export.layout import export
from eventlens.export.report_thumbs import THUMBS_DIR
from eventlens.settings import Settings, load_settings

VARIANTS = ("no report", "report, cold, threads", "report, cold, pool", "report, warm")


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_event_options(p)
    p.add_argument("--workers", type=int, default=2, help="threads and worker processes (default 2)")
    p.add_argument("--repeat", type=int, default=3, help="rounds; medians are reported (default 3)")
    p.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    return args


def _fresh_out(processed: Path, base: Path) -> Path:
    """A new output folder holding only a copy of the processed event's catalog."""
    out = Path(tempfile.mkdtemp(prefix="out-", dir=base))
    (out / ".eventlens").mkdir()
    for name in ("catalog.sqlite", "catalog.sqlite-wal", "catalog.sqlite-shm"):
        if (processed / ".eventlens" / name).exists():
            shutil.copy2(processed / ".eventlens" / name, out / ".eventlens" / name)
    return out


def _export(out: Path, settings: Settings, pool: AnalysisPool | None) -> dict[str, Any]:
    engine = open_catalog(default_url(out))
    try:
        cpu0, started = time.process_time(), time.perf_counter()
        summary = export(engine, out, settings, pool.executor if pool is not None else None)
        wall_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu0
    finally:
        engine.dispose()
    return {
        "wall_s": wall_s,
        "cpu_s": cpu_s,
        "photos": summary.photos,
        "thumbnails": summary.report_thumbnails,
    }


def _round(processed: Path, base: Path, workers: int, pool: AnalysisPool) -> dict[str, dict[str, Any]]:
    off = load_settings(workers=workers, report_html=False)
    on = load_settings(workers=workers)
    result = {}
    out = _fresh_out(processed, base)
    _export(out, off, None)  # the face-crop cache, made by any first export: not the report's cost
    result["no report"] = _export(out, off, None)
    result["report, cold, threads"] = _export(out, on, None)
    shutil.rmtree(out / ".eventlens" / THUMBS_DIR)
    result["report, cold, pool"] = _export(out, on, pool)
    result["report, warm"] = _export(out, on, None)
    result["sizes"] = {
        "report_html_kb": round((out / "report.html").stat().st_size / 1024, 1),
        "thumbs_mb": round(
            sum(p.stat().st_size for p in (out / ".eventlens" / THUMBS_DIR).rglob("*.jpg")) / 2**20, 1
        ),
    }
    shutil.rmtree(out)
    return result


def _summary(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    photos = rounds[0]["no report"]["photos"]
    med = {
        v: {k: statistics.median(r[v][k] for r in rounds) for k in ("wall_s", "cpu_s", "thumbnails")}
        for v in VARIANTS
    }
    base = med["no report"]
    return {
        "photos": photos,
        "rounds": len(rounds),
        "variants": {
            v: {
                "wall_s": round(m["wall_s"], 2),
                "added_wall_s": round(m["wall_s"] - base["wall_s"], 2),
                "cpu_ms_per_photo": None if "pool" in v else round(1000 * m["cpu_s"] / photos, 1),
                "added_cpu_ms_per_photo": None
                if "pool" in v
                else round(1000 * (m["cpu_s"] - base["cpu_s"]) / photos, 1),
                "thumbnails_made": int(m["thumbnails"]),
            }
            for v, m in med.items()
        },
        "sizes": rounds[-1]["sizes"],
    }


def _markdown(result: dict[str, Any]) -> str:
    lines = [
        f"{result['photos']} photos, median of {result['rounds']} rounds, "
        f"{result['workers']} threads/workers; "
        f"load average {result['load_before']} before, {result['load_after']} after",
        "",
        "| export | wall s | report adds, wall s | CPU ms/photo (this process) | report adds, CPU ms/photo "
        "| thumbnails made |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, v in result["variants"].items():
        cpu = "-" if v["cpu_ms_per_photo"] is None else v["cpu_ms_per_photo"]
        added_cpu = "-" if v["added_cpu_ms_per_photo"] is None else v["added_cpu_ms_per_photo"]
        lines.append(
            f"| {name} | {v['wall_s']} | {v['added_wall_s']} | {cpu} | {added_cpu} | {v['thumbnails_made']} |"
        )
    sizes = result["sizes"]
    lines += ["", f"report.html {sizes['report_html_kb']} KB, thumbnails {sizes['thumbs_mb']} MB"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = _args(argv)
    event_dir, _manifest = event_from_args(args)
    processed = processed_event(event_dir, args.workers)
    load_before = [round(v, 2) for v in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="eventlens-bench-report-") as tmp:
        settings = load_settings(workers=args.workers)
        with AnalysisPool(settings, args.workers) as pool:
            rounds = []
            for i in range(args.repeat):
                sys.stderr.write(f"round {i + 1}/{args.repeat} ...\n")
                rounds.append(_round(processed, Path(tmp), args.workers, pool))
    result = {
        **_summary(rounds),
        "workers": args.workers,
        "load_before": load_before,
        "load_after": [round(v, 2) for v in os.getloadavg()],
        "command": "python benchmarks/bench_report.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    print(json.dumps(result, indent=2) if args.json else _markdown(result))


if __name__ == "__main__":
    main()
