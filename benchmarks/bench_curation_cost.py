"""What the curation measurements add to the analysis pass, measured A/B photo by photo.

Usage:
    python benchmarks/bench_curation_cost.py [--photos 1000] [--workers 2] [--setting KEY=VALUE] [--json]

End-to-end runs with ``measure_faces`` off and on (``bench_throughput.py --setting measure_faces=false``)
answer the question directly, but on a shared virtual machine the same run varies by +-15 % from one
minute to the next (the detector's time per photo, identical work, ranged 98-124 ms between runs), which
hides a 10 % effect. This benchmark takes the machine's drift out: ``--workers`` processes (one per core,
as in a real run, so they compete for caches the same way) each analyse their share of the event's photos
twice in a row, once without and once with the measurements, alternating which goes first, and sum the CPU
time of each. Both variants of a photo run within a fraction of a second of each other, so they see the
same machine.

It reports CPU ms per photo for the core analysis (decode, detect, embed) and with curation (plus 68
landmarks, eye model, face and photo measurements), the difference per step, and the overhead relative
to the core analysis. The analysis pass is ~92 % of an end-to-end run (``bench_throughput.py``); the other
stages (ingest, clustering, export, scoring) are the same with and without the measurements, except the
scoring step's use of them, which runs from the catalog in well under a second.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from make_event import add_event_options, event_from_args

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from eventlens.analysis.pool import worker_environment  # noqa: E402

_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _worker(photo_paths: list[str], first_on: bool, env: dict[str, str], queue: Any) -> None:
    """Analyse each photo without and with measurements (order alternating); put per-variant sums.
    ``env``: ``EVENTLENS_*`` settings for both variants (defaults otherwise)."""
    os.environ.update({k: "1" for k in _THREAD_ENV})
    for key in [k for k in os.environ if k.startswith("EVENTLENS_")]:
        del os.environ[key]
    os.environ.update(env)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from eventlens.analysis.photo import analyze_photo  # noqa: PLC0415
    from eventlens.analysis.pool import build_models  # noqa: PLC0415 - in the child only
    from eventlens.settings import Settings  # noqa: PLC0415

    settings = Settings(workers=1)
    models = build_models(settings, load=True)
    sums: dict[str, dict[str, float]] = {
        v: {"cpu_ms": 0.0, "wall_ms": 0.0, "faces": 0.0} for v in ("core", "curation")
    }
    steps: dict[str, dict[str, float]] = {"core": {}, "curation": {}}
    for i, raw in enumerate(photo_paths):
        path = Path(raw)
        order = (True, False) if (i % 2 == 0) == first_on else (False, True)
        for measure in order:
            variant = "curation" if measure else "core"
            cpu, wall = time.process_time(), time.perf_counter()
            result = analyze_photo(
                path.name,
                path,
                models,
                min_face_px=settings.min_face_px,
                min_det_score=settings.min_det_score,
                max_megapixels=settings.max_image_megapixels,
                embed_min_face_px=settings.cluster_min_face_px,
                measure=measure,
            )
            sums[variant]["cpu_ms"] += (time.process_time() - cpu) * 1000
            sums[variant]["wall_ms"] += (time.perf_counter() - wall) * 1000
            sums[variant]["faces"] += len(result.faces)
            for step, ms in result.timings_ms.items():
                steps[variant][step] = steps[variant].get(step, 0.0) + ms
    queue.put({"photos": len(photo_paths), "sums": sums, "steps": steps})


def measure(photos: list[Path], workers: int, env: dict[str, str]) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    shares = [[str(p) for p in photos[w::workers]] for w in range(workers)]
    procs = [
        ctx.Process(target=_worker, args=(share, w % 2 == 0, env, queue)) for w, share in enumerate(shares)
    ]
    started = time.perf_counter()
    huge_pages = env.get("EVENTLENS_HUGE_PAGES", "true").lower() not in ("0", "false", "no", "off")
    with worker_environment(huge_pages):  # as the analysis pool starts its workers (threads, huge pages)
        for proc in procs:
            proc.start()
    parts = [queue.get() for _ in procs]
    for proc in procs:
        proc.join()
    n = sum(p["photos"] for p in parts)
    total: dict[str, Any] = {
        "photos": n,
        "workers": workers,
        "settings": env,
        "wall_s": time.perf_counter() - started,
    }
    for variant in ("core", "curation"):
        cpu = sum(p["sums"][variant]["cpu_ms"] for p in parts)
        step_names = sorted({s for p in parts for s in p["steps"][variant]})
        total[variant] = {
            "cpu_ms_per_photo": cpu / n,
            "faces": int(sum(p["sums"][variant]["faces"] for p in parts)),
            "steps_ms_per_photo": {
                s: sum(p["steps"][variant].get(s, 0.0) for p in parts) / n for s in step_names
            },
        }
    core, cur = total["core"]["cpu_ms_per_photo"], total["curation"]["cpu_ms_per_photo"]
    total["overhead_pct"] = 100 * (cur - core) / core
    total["per_worker_overhead_pct"] = [
        100 * (p["sums"]["curation"]["cpu_ms"] / p["sums"]["core"]["cpu_ms"] - 1) for p in parts
    ]
    return total


def report(result: dict[str, Any], event: Path) -> str:
    core, cur = result["core"], result["curation"]
    lines = [
        f"### Curation cost, A/B per photo (`benchmarks/bench_curation_cost.py`), {event.name}",
        "",
        f"- {result['photos']} photos, {core['faces']} faces, {result['workers']} worker processes, "
        f"{result['wall_s']:.0f} s; settings: defaults"
        + "".join(f", {k.removeprefix('EVENTLENS_').lower()}={v}" for k, v in result["settings"].items()),
        "",
        "| step | core ms/photo | with curation ms/photo | added |",
        "| --- | ---: | ---: | ---: |",
    ]
    steps = sorted(set(core["steps_ms_per_photo"]) | set(cur["steps_ms_per_photo"]))
    for s in steps:
        a, b = core["steps_ms_per_photo"].get(s, 0.0), cur["steps_ms_per_photo"].get(s, 0.0)
        lines.append(f"| {s} | {a:.1f} | {b:.1f} | {b - a:+.1f} |")
    a, b = core["cpu_ms_per_photo"], cur["cpu_ms_per_photo"]
    spread = ", ".join(f"{v:+.1f} %" for v in result["per_worker_overhead_pct"])
    added = f"{b - a:+.1f} ({result['overhead_pct']:+.1f} %)"
    lines += [
        f"| **CPU of the analysis** | **{a:.1f}** | **{b:.1f}** | **{added}** |",
        "",
        f"Per worker: {spread}. Step timers are wall clock inside the worker; the totals are CPU time.",
    ]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_event_options(p)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: cores)")
    p.add_argument("--limit", type=int, default=0, help="only the first N photos (default: all)")
    p.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting for both variants, as EVENTLENS_KEY=VALUE (repeatable), e.g. eye_model=dlib_68",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    args = p.parse_args()
    env = {}
    for item in args.setting:
        key, sep, value = item.partition("=")
        if not sep:
            p.error(f"--setting wants KEY=VALUE, got {item!r}")
        env[f"EVENTLENS_{key.strip().upper()}"] = value
    event_dir, _ = event_from_args(args)
    photos = sorted((event_dir / "photos").glob("*.jpg"))
    if args.limit:
        photos = photos[: args.limit]
    result = measure(photos, max(1, args.workers), env)
    print(json.dumps(result, indent=2) if args.json else report(result, event_dir))
    if not args.json:
        print(f"\nmedian per-worker overhead {statistics.median(result['per_worker_overhead_pct']):+.1f} %")


if __name__ == "__main__":
    main()
