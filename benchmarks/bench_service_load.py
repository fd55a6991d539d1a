"""A bounded load test of the service (issue 10): ``--events`` events posted at once, real models.

``eventlens serve`` (fresh data folder, ``--workers`` analysis processes) on 127.0.0.1, a photo server and a
callback receiver; ``--events`` POST /process-event requests are sent together (one thread each), every
event with ``--photos`` 12 MP photos of its own (from the event ``make_event.py`` builds, cut into slices)
and ``--users`` selfies. Reported: whether every job finished (``done``) and every callback arrived, the
time until the last callback, each event's time to its callback (median and max), and the peak RSS and
PSS of the service's process tree (sampled every 0.2 s), with the load average before the run.

Usage: python benchmarks/bench_service_load.py [--events 20] [--photos 10] [--users 2] [--workers 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests" / "service"), str(REPO / "tests")]

from bench_service_event import _selfies, start_all  # noqa: E402
from make_event import ensure_event, resolve_data_dir  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--events", type=int, default=20)
    p.add_argument("--photos", type=int, default=10, help="photos per event")
    p.add_argument("--users", type=int, default=2, help="users per event")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--timeout-s", type=float, default=1800)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    data = resolve_data_dir(args.data)
    total = args.events * args.photos
    event_dir = Path.home() / ".cache" / "eventlens" / "bench" / f"event-12mp-{total}"
    ensure_event(data, event_dir, photos=total)
    photos = sorted((event_dir / "photos").iterdir())
    selfies = _selfies(data / "identities", args.users * args.events)
    server, receiver, work, service, sampler, load = start_all(photos, selfies, args.workers, "bench-load-")
    posted_at: dict[str, float] = {}

    def post(i: int) -> str:
        mine = photos[i * args.photos : (i + 1) * args.photos]
        users = selfies[i * args.users : (i + 1) * args.users]
        body = {
            "event_id": f"load-{i:02d}",
            "users": [{"user_id": u, "image_url": server.url(f"/selfies/{u}.jpg")} for u, _ in users],
            "photos": [{"photo_id": ph.stem, "url": server.url(f"/event/{ph.name}")} for ph in mine],
            "callback_url": receiver.url,
        }
        with service.client() as c:
            posted_at[body["event_id"]] = time.perf_counter()
            r = c.post("/process-event", json=body)
            r.raise_for_status()
            return str(r.json()["job_id"])

    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.events) as pool:
            jobs = list(pool.map(post, range(args.events)))
        arrived: dict[str, float] = {}
        while len(arrived) < args.events and time.perf_counter() - started < args.timeout_s:
            for r in receiver.received:
                arrived.setdefault(r.json()["event_id"], time.perf_counter())
            time.sleep(0.2)
        last_s = time.perf_counter() - started
        with service.client() as c:
            statuses = [c.get(f"/jobs/{j}").json()["status"] for j in jobs]
    finally:
        memory = sampler.stop()
        service.stop()
        server.close()
        receiver.close()
        shutil.rmtree(work, ignore_errors=True)
    per_event = [arrived[e] - posted_at[e] for e in arrived]
    result = {
        "events": args.events,
        "photos_per_event": args.photos,
        "users_per_event": args.users,
        "workers": args.workers,
        "jobs_done": statuses.count("done"),
        "callbacks": len(arrived),
        "seconds_to_last_callback": round(last_s, 1),
        "event_seconds_median": round(statistics.median(per_event), 1) if per_event else None,
        "event_seconds_max": round(max(per_event), 1) if per_event else None,
        "peak_rss_mb": round(memory.peak_total_rss_mb),
        "peak_pss_mb": round(memory.peak_total_pss_mb),
        "load_average_before": [round(x, 2) for x in load],
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"{result['jobs_done']}/{args.events} jobs done, {result['callbacks']} callbacks; last after "
            f"{result['seconds_to_last_callback']} s (per event median {result['event_seconds_median']} s, "
            f"max {result['event_seconds_max']} s); peak RSS {result['peak_rss_mb']} MB, PSS "
            f"{result['peak_pss_mb']} MB; load before {result['load_average_before']}"
        )
    if result["jobs_done"] != args.events or result["callbacks"] != args.events:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
