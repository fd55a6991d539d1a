"""Speed of the service (issue 10): from POST /process-event to the signed callback, real models.

What runs, all on 127.0.0.1: ``eventlens serve`` (uvicorn, real models, a fresh data folder, ``--workers``
analysis processes), a photo server holding the event's 12 MP JPEGs and the users' selfies, and a callback
receiver. The event is built by ``make_event.py`` with ``--group-share`` of it group photos (class, team and
crowd shots of ``../shared/data/groups``, with seeded zoomed/shifted/mirrored variants when there are not
enough). With the default share of 0.7 the event averages over 15 faces per photo even counting only the
faces large enough to match (``cluster_min_face_px``); the run reports both the faces detected and those
matchable, and the time per face of each.

Users: ``--users`` selfies from ``../shared/data/identities``. There are 31 people there, so beyond 31 a
person gives a second (third, ...) user with another of their photos: for timing only (matching costs the
same); the quality of matching is measured by ``selfie_matching.py``.

Cold case: one event of ``--photos`` photos and ``--users`` users on a service started for it (models load
at the first photo, which is counted). Warm case: then ``--warm-repeats`` events of 1 user x 10 photos on the
same running service, each timed from POST to callback (median reported).

Reported: seconds to the callback, ms per photo and per face, each job step's share (polled every 0.25 s),
the peak RSS of the service's process tree, and the load average before the run (the machine should be
idle: the timings are wall times).

Usage: python benchmarks/bench_service_event.py [--photos 300] [--users 50] [--group-share 0.7]
       [--workers 2] [--warm-repeats 3] [--json] [--keep DIR]
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

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests" / "service"), str(REPO / "tests")]

from make_event import ensure_event, resolve_data_dir  # noqa: E402
from proc_memory import TreeMemorySampler  # noqa: E402
from servers import CallbackReceiver, PhotoServer, ServiceProcess  # noqa: E402

from eventlens.service.signing import verify  # noqa: E402

SECRET = "bench-callback-secret"


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--photos", type=int, default=300)
    p.add_argument("--users", type=int, default=50)
    p.add_argument("--group-share", type=float, default=0.7, help="share of group photos (default 0.7)")
    p.add_argument("--workers", type=int, default=2, help="analysis processes of the service")
    p.add_argument(
        "--warm-repeats", type=int, default=3, help="1 user x 10 photos events on the warm service"
    )
    p.add_argument("--timeout-s", type=float, default=900)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--keep", type=Path, help="keep the service's data folder here")
    return p.parse_args(argv)


def _selfies(identities: Path, users: int) -> list[tuple[str, bytes]]:
    people = sorted(p for p in identities.iterdir() if p.is_dir())
    photos = {
        p.name: sorted(f for f in p.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png"))
        for p in people
    }
    chosen = []
    for i in range(users):
        person = people[i % len(people)].name
        files = photos[person]
        chosen.append((f"{person}-{i // len(people)}", files[(i // len(people)) % len(files)].read_bytes()))
    return chosen


def _run_event(
    service: ServiceProcess,
    receiver: CallbackReceiver,
    server: PhotoServer,
    event_id: str,
    photo_paths: list[str],
    users: list[str],
    timeout_s: float,
) -> dict[str, Any]:
    body = {
        "event_id": event_id,
        "users": [{"user_id": u, "image_url": server.url(f"/selfies/{u}.jpg")} for u in users],
        "photos": [{"photo_id": Path(p).stem, "url": server.url(p)} for p in photo_paths],
        "callback_url": receiver.url,
    }
    before = len(receiver.received)
    steps: list[tuple[str, float]] = []
    with service.client() as c:
        started = time.perf_counter()
        r = c.post("/process-event", json=body)
        r.raise_for_status()
        job_id = r.json()["job_id"]
        job: dict[str, Any] = {}
        while time.perf_counter() - started < timeout_s:
            if len(receiver.received) > before:
                break
            job = c.get(f"/jobs/{job_id}").json()
            step = job.get("step") or job["status"]
            if not steps or steps[-1][0] != step:
                steps.append((step, time.perf_counter() - started))
            if job["status"] == "failed":
                raise SystemExit(f"job failed: {job}")
            time.sleep(0.25)
        else:
            raise SystemExit(f"no callback within {timeout_s} s: {job}")
        elapsed = time.perf_counter() - started
        job = c.get(f"/jobs/{job_id}").json()
    got = receiver.received[-1]
    ok = verify(
        SECRET.encode(),
        got.headers["x-eventlens-timestamp"],
        got.body,
        got.headers["x-eventlens-signature"],
        time.time(),
    )
    if not ok:
        raise SystemExit("the callback's signature does not verify")
    result = got.json()
    spans = {}
    for (name, t0), (_next, t1) in zip(steps, [*steps[1:], ("end", elapsed)], strict=True):
        spans[name] = round(spans.get(name, 0.0) + t1 - t0, 2)
    return {
        "seconds_to_callback": round(elapsed, 2),
        "counts": job.get("counts", {}),
        "errors": len(result["errors"]),
        "matches": len(result["results"]),
        "step_s": spans,
    }


def start_all(
    photos: list[Path], selfies: list[tuple[str, bytes]], workers: int, prefix: str
) -> tuple[PhotoServer, CallbackReceiver, Path, ServiceProcess, TreeMemorySampler, tuple[float, ...]]:
    """The photo server (``/event/<name>``, ``/selfies/<user>.jpg``), the callback receiver, and
    ``eventlens serve`` (real models, ``workers``) in a fresh folder, with its memory sampled; and the load
    average just before the service started."""
    server = PhotoServer()
    for p in photos:
        server.files[f"/event/{p.name}"] = p.read_bytes()
    for user, body in selfies:
        server.files[f"/selfies/{user}.jpg"] = body
    server.start()
    receiver = CallbackReceiver().start()
    work = Path(tempfile.mkdtemp(prefix=prefix))
    env = {
        "EVENTLENS_CALLBACK_SECRET": SECRET,
        "EVENTLENS_DOWNLOAD_ALLOW_NETWORKS": '["127.0.0.0/8"]',
        "EVENTLENS_WORKERS": str(workers),
        "OPENBLAS_NUM_THREADS": "1",
    }
    load = os.getloadavg()
    service = ServiceProcess(work / "data", env).start(ready_timeout_s=300)
    sampler = TreeMemorySampler(service.proc.pid if service.proc else 0, interval_s=0.2).start()
    return server, receiver, work, service, sampler, load


def main(argv: list[str] | None = None) -> None:
    args = _args(argv)
    data = resolve_data_dir(args.data)
    event_dir = (
        Path.home() / ".cache" / "eventlens" / "bench" / f"event-12mp-{args.photos}-groups{args.group_share}"
    )
    manifest = ensure_event(data, event_dir, photos=args.photos, group_share=args.group_share)
    photos = sorted((event_dir / "photos").iterdir())
    selfies = _selfies(data / "identities", args.users)
    server, receiver, work, service, sampler, load = start_all(
        photos, selfies, args.workers, "bench-service-"
    )
    try:
        cold = _run_event(
            service,
            receiver,
            server,
            "bench-cold",
            [f"/event/{p.name}" for p in photos],
            [u for u, _ in selfies],
            args.timeout_s,
        )
        warm = []
        for i in range(args.warm_repeats):
            few = [f"/event/{p.name}" for p in photos[i * 10 : i * 10 + 10]]
            warm.append(_run_event(service, receiver, server, f"bench-warm-{i}", few, [selfies[i][0]], 120))
    finally:
        memory = sampler.stop()
        service.stop()
        server.close()
        receiver.close()
        if args.keep:
            shutil.copytree(work, args.keep, dirs_exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)
    faces = int(cold["counts"].get("faces", 0))  # matchable: embedded (>= cluster_min_face_px)
    detected = int(cold["counts"].get("faces_detected", 0))
    result = {
        "photos": len(photos),
        "users": len(selfies),
        "workers": args.workers,
        "event": manifest["summary"],
        "faces_found": faces,
        "faces_per_photo": round(faces / len(photos), 1),
        "faces_detected": detected,
        "faces_detected_per_photo": round(detected / len(photos), 1),
        "ms_per_detected_face": round(1000 * cold["seconds_to_callback"] / detected, 2) if detected else None,
        "cold": cold,
        "ms_per_photo": round(1000 * cold["seconds_to_callback"] / len(photos), 1),
        "ms_per_face": round(1000 * cold["seconds_to_callback"] / faces, 2) if faces else None,
        "warm_1x10_s": [w["seconds_to_callback"] for w in warm],
        "warm_1x10_median_s": round(statistics.median(w["seconds_to_callback"] for w in warm), 2)
        if warm
        else None,
        "peak_rss_mb": round(memory.peak_total_rss_mb),
        "load_average_before": [round(x, 2) for x in load],
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"cold: {result['photos']} photos x {result['users']} users, {detected} faces detected "
        f"({result['faces_detected_per_photo']}/photo), {faces} matchable "
        f"({result['faces_per_photo']}/photo): callback after {cold['seconds_to_callback']} s = "
        f"{result['ms_per_photo']} ms/photo, {result['ms_per_face']} ms/face; steps {cold['step_s']}; "
        f"{cold['matches']} matches, {cold['errors']} errors"
    )
    print(f"warm 1 user x 10 photos: {result['warm_1x10_s']} s (median {result['warm_1x10_median_s']})")
    print(
        f"peak RSS of the service tree {result['peak_rss_mb']} MB; "
        f"load average before {result['load_average_before']}"
    )


if __name__ == "__main__":
    main()
