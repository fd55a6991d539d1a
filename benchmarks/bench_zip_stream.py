"""Memory of ``eventlens serve`` while it streams ``GET /events/{id}/export.zip`` of a 1,000-photo event.

Usage: python benchmarks/bench_zip_stream.py [--photos 1000] [--photo-kb 400] [--dir DIR] [--slow-read]
                                            [--runs 2]

Makes ``--photos`` distinct JPEGs (noise, so about ``--photo-kb`` each and incompressible), a synthetic
catalog over them (benchmarks/synthetic_catalog.py) registered as a service event, and a viewer user;
starts ``eventlens serve`` on 127.0.0.1, logs in, and downloads the ZIP of the whole event while
benchmarks/proc_memory.py samples the server's process tree. Prints, as JSON: the ZIP's size, the
server's RSS before the request and at its peak, the growth (peak - before) next to the bytes sent, the
time to the first byte and the throughput. The ZIP is checked (every member readable) after the download.
``--slow-read`` reads the response at about 20 MB/s, so that a server that buffered would show it.
Record ``uptime``'s load average next to the figures.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import numpy as np
import sqlalchemy as sa
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))

from proc_memory import TreeMemorySampler  # noqa: E402
from synthetic_catalog import build_catalog  # noqa: E402

from eventlens.catalog.db import default_url  # noqa: E402
from eventlens.service.db import DataDir, open_service_db  # noqa: E402
from eventlens.service.tables import events, jobs  # noqa: E402
from eventlens.service.users import create_user  # noqa: E402

EVENT_ID = "zipbench"
PASSWORD = "bench-password-1"


def _photos(folder: Path, n: int, kb: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    paths = []
    side = max(64, int((kb * 1024 / 0.75 / 0.75) ** 0.5))  # noise JPEG q85: about 0.75 bytes per pixel
    for i in range(n):
        path = folder / f"IMG_{i:05d}.jpg"
        if not path.exists():
            noise = rng.integers(0, 256, (side * 3 // 4, side, 3), dtype=np.uint8)
            Image.fromarray(noise).save(path, quality=85)
        paths.append(path)
    return paths


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _prepare(root: Path, n: int, kb: int) -> tuple[DataDir, tuple[int, int]]:
    data = DataDir(root / "data")
    photos = _photos(root / "photos", n, kb)
    with Image.open(photos[0]) as first:
        size = first.size
    event_dir = data.event_dir(EVENT_ID)
    if not (event_dir / ".eventlens" / "catalog.sqlite").is_file():
        build_catalog(
            root / "catalog", n, seed=5, photo_files=photos, size_px=size, url=default_url(event_dir)
        )
        engine = open_service_db(data)
        with engine.begin() as conn:
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            conn.execute(
                sa.insert(events).values(
                    event_id=EVENT_ID,
                    owner_key_id="bench",
                    created_at=now,
                    updated_at=now,
                    updated_at_s=time.time(),
                )
            )
            conn.execute(  # a finished collection job: the web UI reads an event's catalog only then
                sa.insert(jobs).values(
                    job_id="job_zipbench",
                    event_id=EVENT_ID,
                    owner_key_id="bench",
                    kind="collection",
                    status="done",
                    created_at=now,
                    created_at_s=time.time(),
                    finished_at=now,
                    photos_total=n,
                    photos_done=n,
                )
            )
        create_user(engine, "viewer", PASSWORD, "viewer")
        engine.dispose()
    return data, size


def _download(
    client: httpx.Client, server: subprocess.Popen[bytes], run: int, args: argparse.Namespace
) -> None:
    """One download of the whole event's ZIP, with the server's memory before and during it (printed)."""
    sampler = TreeMemorySampler(server.pid, interval_s=0.05).start()
    time.sleep(0.5)
    before = sampler.stop().peak_total_rss_mb
    sampler = TreeMemorySampler(server.pid, interval_s=0.05).start()
    t0 = time.perf_counter()
    first_byte_s = None
    total = 0
    buffer = io.BytesIO()
    with client.stream("GET", f"/events/{EVENT_ID}/export.zip") as resp:
        assert resp.status_code == 200, resp.read()[:300]
        for chunk in resp.iter_bytes(1 << 20):
            if first_byte_s is None:
                first_byte_s = time.perf_counter() - t0
                layout = sampler.stop()  # the layout is built before the first byte
                sampler = TreeMemorySampler(server.pid, interval_s=0.05).start()
            total += len(chunk)
            buffer.write(chunk)
            if args.slow_read:
                time.sleep(len(chunk) / 20e6)
    elapsed = time.perf_counter() - t0
    peak = sampler.stop()
    with zipfile.ZipFile(buffer) as zf:
        names = zf.namelist()
        assert zf.testzip() is None
    photos_in_zip = sum(1 for n in names if n.endswith(".jpg") and not n.startswith("output_clusters/"))
    top = max(peak.peak_total_rss_mb, layout.peak_total_rss_mb)
    result = {
        "run": run,
        "photos": args.photos,
        "zip_mb": round(total / 1e6, 1),
        "members": len(names),
        "photo_members": photos_in_zip,
        "server_rss_before_mb": round(before, 1),
        "server_rss_peak_building_layout_mb": round(layout.peak_total_rss_mb, 1),
        "server_rss_peak_streaming_mb": round(peak.peak_total_rss_mb, 1),
        "server_rss_growth_mb": round(top - before, 1),
        "streaming_growth_mb": round(peak.peak_total_rss_mb - layout.peak_total_rss_mb, 1),
        "first_byte_s": round(first_byte_s or 0.0, 2),
        "total_s": round(elapsed, 2),
        "mb_per_s": round(total / 1e6 / elapsed, 1),
        "server_cpu_s": peak.as_dict()["sampled_cpu_s"],
        "load_average": os.getloadavg(),
    }
    print(json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--photo-kb", type=int, default=400)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/eventlens-bench-zip"))
    parser.add_argument("--slow-read", action="store_true")
    parser.add_argument("--runs", type=int, default=2, help="downloads in a row (the first also imports)")
    args = parser.parse_args()
    root = args.dir / f"{args.photos}x{args.photo_kb}"
    data, _size = _prepare(root, args.photos, args.photo_kb)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTLENS_")}
    env["EVENTLENS_WORKERS"] = "1"
    log = open(root / "serve.log", "ab")  # noqa: SIM115 - the child writes it
    server = subprocess.Popen(
        [sys.executable, "-m", "eventlens", "serve", "--port", str(port), "--data", str(data.root)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=600, trust_env=False) as client:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if client.get("/ready").status_code in (200, 401):  # answering: up (it wants a key)
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"eventlens serve did not start; see {root / 'serve.log'}")
                time.sleep(0.3)
            r = client.post("/login", data={"username": "viewer", "password": PASSWORD, "next": "/"})
            assert r.status_code == 303, r.text[:300]
            client.get(f"/events/{EVENT_ID}/export")  # warm: imports, the catalog engine
            for run in range(1, args.runs + 1):
                _download(client, server, run, args)
    finally:
        server.terminate()
        server.wait(60)
        log.close()


if __name__ == "__main__":
    main()
