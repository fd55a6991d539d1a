"""Server time of the web UI's people grid on a synthetic event of ``--faces`` faces (default 2,000).

A service data folder is made in a temporary directory holding one event ``bench`` whose catalog is written
through the schema (no photos are decoded and no model runs: ``--persons`` persons, the faces spread over
photos of up to four people, random 128-d embeddings), plus an editor user. The app
(:func:`eventlens.service.app.create_app`, no workers) is driven in-process with Starlette's TestClient:
log in, then GET ``/events/bench/people`` (first page of the grid, sorted by photos) ``--repeat`` times,
and also sorted by name and filtered by category. Printed: median and max wall ms per request and the
process CPU ms per request (the machine may be shared: CPU is steadier), with the load average.

Usage: python benchmarks/bench_people_grid.py [--faces 2000] [--persons 250] [--repeat 30]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from eventlens.catalog.arrays import to_blob
from eventlens.catalog.db import open_catalog
from eventlens.catalog.schema import faces, persons, photo_paths, photos, sources

EVENT_ID = "bench"


def write_catalog(event_dir: Path, n_faces: int, n_persons: int, seed: int = 0) -> sa.Engine:
    """An analysed event of ``n_faces`` faces of ``n_persons`` persons (each with a representative face),
    written through the schema into ``event_dir/.eventlens/catalog.sqlite``."""
    rng = np.random.default_rng(seed)
    engine = open_catalog(f"sqlite:///{event_dir / '.eventlens' / 'catalog.sqlite'}")
    owner = rng.integers(0, n_persons, size=n_faces)
    owner[:n_persons] = np.arange(n_persons)  # every person has a face
    centres = rng.normal(size=(n_persons, 128)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    per_photo = rng.integers(1, 5, size=n_faces)
    with engine.begin() as conn:
        source = conn.execute(sources.insert().values(kind="folder", uri=str(event_dir))).inserted_primary_key
        assert source is not None
        conn.execute(
            persons.insert(),
            [
                {"id": p + 1, "label": f"person_{p + 1:03d}", "category": ("main", "important", None)[p % 3]}
                for p in range(n_persons)
            ],
        )
        photo_rows, path_rows, face_rows = [], [], []
        i = 0
        while i < n_faces:
            digest = hashlib.sha256(f"photo {len(photo_rows)}".encode()).hexdigest()
            photo_rows.append(
                {
                    "sha256": digest,
                    "size_bytes": 1,
                    "format": "JPEG",
                    "width_px": 4000,
                    "height_px": 3000,
                    "local_path": str(event_dir / f"{digest}.jpg"),
                    "status": "analyzed",
                }
            )
            path_rows.append(
                {"source_id": source[0], "rel_path": f"{digest}.jpg", "sha256": digest, "status": "ok"}
            )
            for k in range(int(per_photo[len(photo_rows) - 1])):
                if i >= n_faces:
                    break
                vector = centres[owner[i]] + rng.normal(scale=0.02, size=128).astype(np.float32)
                face_rows.append(
                    {
                        "id": i + 1,
                        "photo_sha256": digest,
                        "face_index": k,
                        "x1": 200.0 + 800 * k,
                        "y1": 300.0,
                        "x2": 500.0 + 800 * k,
                        "y2": 700.0,
                        "det_score": 0.99,
                        "detect_model": "synthetic",
                        "embedding": to_blob(vector),
                        "embed_model": "synthetic",
                        "person_id": int(owner[i]) + 1,
                        "assigned_by": "cluster",
                    }
                )
                i += 1
        conn.execute(photos.insert(), photo_rows)
        conn.execute(photo_paths.insert(), path_rows)
        conn.execute(faces.insert(), face_rows)
        first_face = sa.select(sa.func.min(faces.c.id)).where(faces.c.person_id == persons.c.id)
        conn.execute(persons.update().values(representative_face_id=first_face.scalar_subquery()))
    return engine


PASSWORD = "bench-password-1"


@contextmanager
def logged_in_client(data: Path, event_id: str, role: str = "editor", **settings: Any) -> Iterator[Any]:
    """A TestClient of the app on ``data`` (in this process, no workers) with ``event_id`` registered in the
    service's database and a user of ``role`` (name and password: the role, PASSWORD) logged in."""
    from fastapi.testclient import TestClient  # noqa: PLC0415

    from eventlens.service.app import create_app  # noqa: PLC0415
    from eventlens.service.db import DataDir, now_iso, open_service_db  # noqa: PLC0415
    from eventlens.service.tables import events  # noqa: PLC0415
    from eventlens.service.users import create_user  # noqa: PLC0415
    from eventlens.settings import load_settings  # noqa: PLC0415

    engine = open_service_db(DataDir(data))
    now = now_iso()
    with engine.begin() as conn:
        if conn.execute(sa.select(events.c.event_id).where(events.c.event_id == event_id)).first() is None:
            conn.execute(
                events.insert().values(
                    event_id=event_id,
                    owner_key_id="bench",
                    created_at=now,
                    updated_at=now,
                    updated_at_s=time.time(),
                )
            )
    create_user(engine, role, PASSWORD, role)
    engine.dispose()
    app = create_app(data, load_settings(**settings), start_workers=False)
    with TestClient(app) as client:
        form = {"username": role, "password": PASSWORD, "next": "/"}
        r = client.post("/login", data=form, follow_redirects=False)
        assert r.status_code == 303, f"login failed: {r.status_code} {r.text[:200]}"
        yield client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=2000)
    parser.add_argument("--persons", type=int, default=250)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        write_catalog(data / "events" / EVENT_ID, args.faces, args.persons).dispose()
        with logged_in_client(data, EVENT_ID) as client:

            def get(path: str) -> None:
                response = client.get(path)
                assert response.status_code == 200, (
                    f"GET {path}: {response.status_code} {response.text[:300]}"
                )

            for query in ("", "?sort=name", "?category=main&hidden=no"):
                get(f"/events/{EVENT_ID}/people{query}")  # warm: templates compiled, caches filled
                wall, cpu = [], []
                for _ in range(args.repeat):
                    w0, c0 = time.perf_counter(), time.process_time()
                    get(f"/events/{EVENT_ID}/people{query}")
                    wall.append((time.perf_counter() - w0) * 1000)
                    cpu.append((time.process_time() - c0) * 1000)
                print(
                    f"people{query or ' (by photos)'}: {args.faces} faces, {args.persons} persons: "
                    f"median {statistics.median(wall):.1f} ms wall (max {max(wall):.1f}), "
                    f"{statistics.median(cpu):.1f} ms CPU per request"
                )
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
