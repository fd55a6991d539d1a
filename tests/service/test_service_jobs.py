"""Jobs of the service under a slow (fake) detector: a killed server resumes without redoing finished
photos, events share the workers fairly, and a full queue answers 429."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from servers import PhotoServer, ServiceProcess, service_env
from testkit import A, B, encode, photo_array


@pytest.fixture
def many_photos() -> Iterator[PhotoServer]:
    server = PhotoServer()
    for i in range(40):
        server.files[f"/p{i:02d}.jpg"] = encode(
            photo_array([A, B] if i % 2 else [B], i), ".jpg"
        )  # 40 distinct photos
    server.files["/selfie.jpg"] = encode(photo_array([A], 31), ".jpg")
    server.start()
    try:
        yield server
    finally:
        server.close()


def _body(server: PhotoServer, event_id: str, n: int) -> dict[str, object]:
    return {
        "event_id": event_id,
        "users": [{"user_id": "u", "image_url": server.url("/selfie.jpg")}],
        "photos": [{"photo_id": f"p{i}", "url": server.url(f"/p{i:02d}.jpg")} for i in range(n)],
    }


def _slow_service(tmp_path: Path, model_cache_dir: Path, **extra: str) -> ServiceProcess:
    env = service_env(model_cache_dir, EVENTLENS_DETECTOR="slow", DRIVER_DETECT_S="0.25", **extra)
    return ServiceProcess(tmp_path / "data", env)


def _serve_runs(data_dir: Path, event_id: str) -> list[dict[str, object]]:
    engine = sa.create_engine(f"sqlite:///{data_dir / 'events' / event_id / '.eventlens' / 'catalog.sqlite'}")
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT status, summary_json FROM runs WHERE command = 'serve' ORDER BY id")
        ).all()
    engine.dispose()
    return [{"status": r.status, **json.loads(r.summary_json or "{}")} for r in rows]


def _analysed(data_dir: Path, event_id: str) -> int:
    engine = sa.create_engine(f"sqlite:///{data_dir / 'events' / event_id / '.eventlens' / 'catalog.sqlite'}")
    with engine.connect() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM photos WHERE status = 'analyzed'")).scalar_one()
    engine.dispose()
    return int(n)


def test_killed_server_resumes_without_redoing_finished_photos(
    tmp_path: Path, model_cache_dir: Path, many_photos: PhotoServer
) -> None:
    service = _slow_service(tmp_path, model_cache_dir).start()
    try:
        with service.client() as c:
            job_id = c.post("/process-event", json=_body(many_photos, "evt_big", 40)).json()["job_id"]
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                job = c.get(f"/jobs/{job_id}").json()
                if job["step"] == "analysing" and job["progress"]["photos_done"] >= 12:
                    break
                time.sleep(0.1)
            else:
                raise AssertionError(f"analysis did not get going: {job}")
        time.sleep(2.5)  # at least one commit of analysed photos (every 2 s)
        service.kill()  # kill -9: no shutdown code runs
        finished = _analysed(service.data_dir, "evt_big")
        assert 0 < finished < 40
        hits = dict(many_photos.hits)
        service.start()
        job = service.wait_job(job_id, timeout_s=120)
        assert job["status"] == "done", job
    finally:
        service.stop()
    runs = _serve_runs(service.data_dir, "evt_big")
    assert runs[-1]["status"] == "done"
    assert runs[-1]["analyze"]["photos"] == 40 - finished  # type: ignore[index]
    photo_hits = {path: n for path, n in many_photos.hits.items() if path.startswith("/p")}
    assert photo_hits == hits and set(hits.values()) == {1}  # no photo downloaded twice
    assert job["progress"]["photos_done"] == 40
    assert job["counts"]["matches"] == 20  # A is in the 20 odd photos


def test_a_large_event_does_not_hold_up_a_small_one(
    tmp_path: Path, model_cache_dir: Path, many_photos: PhotoServer
) -> None:
    service = _slow_service(tmp_path, model_cache_dir).start()
    try:
        with service.client() as c:
            big = c.post("/process-event", json=_body(many_photos, "evt_big", 40)).json()["job_id"]
            time.sleep(1.0)
            small = c.post("/process-event", json=_body(many_photos, "evt_small", 3)).json()["job_id"]
            small_job = service.wait_job(small, timeout_s=60)
            big_job = c.get(f"/jobs/{big}").json()
            assert small_job["status"] == "done"
            assert big_job["status"] == "running", "the small event should finish while the large one runs"
            service.wait_job(big, timeout_s=120)
    finally:
        service.stop()


def test_a_full_queue_answers_429_with_retry_after(
    tmp_path: Path, model_cache_dir: Path, many_photos: PhotoServer
) -> None:
    service = _slow_service(
        tmp_path, model_cache_dir, EVENTLENS_MAX_QUEUED_JOBS="1", EVENTLENS_JOB_SLOTS="1"
    ).start()
    try:
        with service.client() as c:
            answers = [c.post("/process-event", json=_body(many_photos, f"evt_{i}", 10)) for i in range(3)]
            assert answers[0].status_code == 202
            refused = [a for a in answers if a.status_code == 429]
            assert refused, [a.status_code for a in answers]
            assert int(refused[0].headers["Retry-After"]) > 0
            assert "queued" in refused[0].json()["detail"]
    finally:
        service.stop()


def test_twenty_events_posted_at_once_all_finish_with_their_callbacks(
    tmp_path: Path, model_cache_dir: Path, many_photos: PhotoServer
) -> None:
    """The bounded load test (benchmarks/bench_service_load.py measures it with the real models)."""
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    from servers import CallbackReceiver  # noqa: PLC0415

    receiver = CallbackReceiver().start()
    service = ServiceProcess(tmp_path / "data", service_env(model_cache_dir, EVENTLENS_WORKERS="2")).start()
    try:

        def post(i: int) -> str:
            body = {**_body(many_photos, f"load_{i:02d}", 6), "callback_url": receiver.url}
            with service.client() as c:
                r = c.post("/process-event", json=body)
                assert r.status_code == 202, r.text
                return str(r.json()["job_id"])

        with ThreadPoolExecutor(max_workers=20) as pool:
            jobs = list(pool.map(post, range(20)))
        finished = [service.wait_job(j, timeout_s=300) for j in jobs]
        assert [j["status"] for j in finished] == ["done"] * 20
        deadline = time.monotonic() + 60
        while len(receiver.received) < 20 and time.monotonic() < deadline:
            time.sleep(0.2)
        events = sorted(r.json()["event_id"] for r in receiver.received)
        assert events == [f"load_{i:02d}" for i in range(20)]
        for r in receiver.received:
            # A is in the odd photos p1, p3, p5 of each event; the selfie is A
            assert sorted(m["photo_id"] for m in r.json()["results"]) == ["p1", "p3", "p5"], r.json()
    finally:
        service.stop()
        receiver.close()
