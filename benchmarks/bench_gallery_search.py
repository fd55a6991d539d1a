"""Gallery search through the HTTP API (issue 10): a 1 MP photo against 10,000 enrolled faces.

1. ``eventlens serve`` (real models, ``--workers``) on 127.0.0.1, fresh data folder. The 31 people of
   ``../shared/data/identities`` are enrolled through ``POST /galleries/{id}/people`` (multipart uploads,
   up to ``--enrol-per-person`` photos each): the **enrolment rate** (faces per second, wall time of the
   requests) is measured on these real faces.
2. The service is stopped and the gallery is filled up to ``--faces`` faces with vectors inserted straight
   into the catalog (``gallery_faces``): each a real enrolled embedding plus Gaussian noise (0.08 per
   dimension, about 0.9 away from it, so they are strangers, not matches). Enrolling 10,000 real faces
   would take the real models an hour here and would measure the same thing as step 1.
3. The service is started again; ``POST /galleries/{id}/search`` with a group photo resized to ``--mp``
   megapixels (multipart upload) is sent ``--repeats`` times after one warm-up (which also builds the
   gallery's in-memory index from the catalog; its time is reported apart). Median and p95 of the
   request time are reported, with the faces found in the photo.

The vector search alone (``EmbeddingIndex.search``) is measured by ``bench_vector_index.py``.

Usage: python benchmarks/bench_gallery_search.py [--faces 10000] [--mp 1.0] [--repeats 20] [--workers 2]
       [--photo groups/NAME] [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests" / "service"), str(REPO / "tests")]

from make_event import resolve_data_dir  # noqa: E402
from servers import ServiceProcess  # noqa: E402

from eventlens.catalog.arrays import from_blob, to_blob  # noqa: E402
from eventlens.service.tables import gallery_faces, gallery_people  # noqa: E402

GALLERY = "bench"
DEFAULT_PHOTO = "groups/compreface_010_2.jpg"


def _one_mp_jpeg(path: Path, megapixels: float) -> bytes:
    with Image.open(path) as im:
        im = im.convert("RGB")
        scale = (megapixels * 1e6 / (im.width * im.height)) ** 0.5
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _fill(db: Path, total: int, seed: int = 7) -> int:
    """Insert synthetic strangers until the gallery holds ``total`` faces; returns how many were added."""
    engine = sa.create_engine(f"sqlite:///{db}")
    rng = np.random.default_rng(seed)
    with engine.begin() as conn:
        real = conn.execute(sa.select(gallery_faces).where(gallery_faces.c.gallery_id == GALLERY)).all()
        missing = total - len(real)
        if missing <= 0:
            return 0
        base = np.stack([from_blob(r.embedding) for r in real])
        model = real[0].embed_model
        now = real[0].created_at
        people = [
            {"gallery_id": GALLERY, "person_id": f"stranger-{i:05d}", "name": None, "created_at": now}
            for i in range(missing)
        ]
        conn.execute(gallery_people.insert(), people)
        vectors = base[rng.integers(0, len(base), missing)] + rng.normal(0, 0.08, (missing, base.shape[1]))
        conn.execute(
            gallery_faces.insert(),
            [
                {
                    "gallery_id": GALLERY,
                    "person_id": f"stranger-{i:05d}",
                    "image_sha256": f"{i:064x}",
                    "embedding": to_blob(vectors[i].astype(np.float32)),
                    "embed_model": model,
                    "created_at": now,
                }
                for i in range(missing)
            ],
        )
    engine.dispose()
    return missing


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--faces", type=int, default=10_000)
    p.add_argument("--enrol-per-person", type=int, default=5)
    p.add_argument("--mp", type=float, default=1.0, help="megapixels of the searched photo")
    p.add_argument("--photo", default=DEFAULT_PHOTO, help="photo under --data to search with")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    data = resolve_data_dir(args.data)
    work = Path(tempfile.mkdtemp(prefix="bench-gallery-"))
    env = {"EVENTLENS_WORKERS": str(args.workers), "OPENBLAS_NUM_THREADS": "1"}
    load = os.getloadavg()
    service = ServiceProcess(work / "data", env)
    try:
        service.key = service.create_key(scope="write", name="bench")
        service.start(ready_timeout_s=300)
        enrol_s = 0.0
        with service.client() as c:
            for person in sorted(d for d in (data / "identities").iterdir() if d.is_dir()):
                files = sorted(f for f in person.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png"))
                upload = [
                    ("files", (f.name, f.read_bytes(), "image/jpeg")) for f in files[: args.enrol_per_person]
                ]
                t0 = time.perf_counter()
                r = c.post(
                    f"/galleries/{GALLERY}/people", data={"person_id": person.name}, files=upload, timeout=300
                )
                enrol_s += time.perf_counter() - t0
                if r.status_code != 200:
                    print(f"enrolling {person.name}: HTTP {r.status_code} {r.text[:200]}", file=sys.stderr)
        service.stop()
        added = _fill(work / "data" / "service.sqlite", args.faces)
        engine = sa.create_engine(f"sqlite:///{work / 'data' / 'service.sqlite'}")
        with engine.connect() as conn:
            real_faces = conn.execute(
                sa.select(sa.func.count())
                .select_from(gallery_faces)
                .where(gallery_faces.c.person_id.notlike("stranger-%"))
            ).scalar_one()
            total_faces = conn.execute(sa.select(sa.func.count()).select_from(gallery_faces)).scalar_one()
        engine.dispose()
        photo = _one_mp_jpeg(data / args.photo, args.mp)
        service.start(ready_timeout_s=300)
        times = []
        with service.client() as c:
            t0 = time.perf_counter()
            first = c.post(
                f"/galleries/{GALLERY}/search", files={"file": ("q.jpg", photo, "image/jpeg")}, timeout=120
            )
            first_s = time.perf_counter() - t0
            first.raise_for_status()
            faces_in_photo = len(first.json().get("faces", []))
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                r = c.post(
                    f"/galleries/{GALLERY}/search",
                    files={"file": ("q.jpg", photo, "image/jpeg")},
                    timeout=120,
                )
                times.append(time.perf_counter() - t0)
                r.raise_for_status()
    finally:
        service.stop()
        shutil.rmtree(work, ignore_errors=True)
    times_ms = sorted(1000 * t for t in times)
    result = {
        "gallery_faces": total_faces,
        "real_faces_enrolled": real_faces,
        "synthetic_faces_added": added,
        "enrolment_faces_per_s": round(real_faces / enrol_s, 2) if enrol_s else None,
        "search_photo": args.photo,
        "search_megapixels": args.mp,
        "faces_in_photo": faces_in_photo,
        "first_search_ms": round(1000 * first_s),
        "search_ms_median": round(statistics.median(times_ms), 1),
        "search_ms_p95": round(times_ms[max(0, round(0.95 * len(times_ms)) - 1)], 1),
        "repeats": args.repeats,
        "workers": args.workers,
        "load_average_before": [round(x, 2) for x in load],
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"gallery of {total_faces} faces ({real_faces} real, enrolled at "
        f"{result['enrolment_faces_per_s']} faces/s); search of a {args.mp} MP photo with "
        f"{faces_in_photo} faces: median {result['search_ms_median']} ms, "
        f"p95 {result['search_ms_p95']} ms (first, building the index: {result['first_search_ms']} ms); "
        f"load before {result['load_average_before']}"
    )


if __name__ == "__main__":
    main()
