"""The service end to end: ``eventlens serve`` under uvicorn on loopback, photos and selfies from a local
HTTP server, results POSTed to a local callback receiver — with the fake face backend, so that who is in
which photo is known exactly (tests/testkit.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest
import sqlalchemy as sa
from servers import SECRET, CallbackReceiver, PhotoServer, ServiceProcess
from testkit import A, B, C, encode, photo_array

from eventlens.service.signing import verify


def _redirect(to: str):  # type: ignore[no-untyped-def]
    def handler(h: BaseHTTPRequestHandler) -> None:
        h.send_response(302)
        h.send_header("Location", to)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return handler


def _big_text(h: BaseHTTPRequestHandler) -> None:
    """60 MB that are not an image, streamed."""
    h.send_response(200)
    h.send_header("Content-Type", "image/jpeg")  # lies
    h.send_header("Content-Length", str(60_000_000))
    h.end_headers()
    chunk = b"this is not an image " * 5000
    try:
        for _ in range(60_000_000 // len(chunk)):
            h.wfile.write(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the service stopped reading: what it should do


@pytest.fixture
def photos() -> Iterator[PhotoServer]:
    server = PhotoServer()
    server.files = {
        "/p1.jpg": encode(photo_array([A], 1), ".jpg"),
        "/p2.jpg": encode(photo_array([A, B], 2), ".jpg"),
        "/p3.png": encode(photo_array([B], 3), ".png"),
        "/p4.jpg": encode(photo_array([C], 4), ".jpg"),
        "/empty-room.jpg": encode(photo_array([], 5), ".jpg"),
        "/selfie-a.jpg": encode(photo_array([A], 11), ".jpg"),
        "/selfie-b.jpg": encode(photo_array([B], 12), ".jpg"),
        "/selfie-nobody.jpg": encode(photo_array([], 13), ".jpg"),
        "/notes.jpg": b"guest list: Alice, Bob\n",
    }
    server.files["/p1-again.jpg"] = server.files["/p1.jpg"]
    server.routes = {
        "/loop-a": _redirect("/loop-b"),
        "/loop-b": _redirect("/loop-a"),
        "/to-private": _redirect("http://10.1.2.3/photo.jpg"),
        "/big-not-an-image.jpg": _big_text,
    }
    server.start()
    try:
        yield server
    finally:
        server.close()


def _event_body(photos: PhotoServer, receiver_url: str, event_id: str = "evt_1") -> dict[str, object]:
    photo_paths = {
        "p1": "/p1.jpg",
        "p2": "/p2.jpg",
        "p3": "/p3.png",
        "p4": "/p4.jpg",
        "p1_copy": "/p1-again.jpg",
        "room": "/empty-room.jpg",
        "missing": "/gone.jpg",
        "notes": "/notes.jpg",
        "loop": "/loop-a",
        "redirect_private": "/to-private",
        "huge": "/big-not-an-image.jpg",
    }
    photo_list: list[dict[str, str]] = [
        {"photo_id": pid, "url": photos.url(path)} for pid, path in photo_paths.items()
    ]
    photo_list.append({"photo_id": "private", "url": "http://192.168.0.10/p.jpg"})
    return {
        "event_id": event_id,
        "users": [
            {"user_id": "user_a", "image_url": photos.url("/selfie-a.jpg")},
            {
                "user_id": "user_b",
                "image_urls": [photos.url("/selfie-b.jpg"), photos.url("/gone-selfie.jpg")],
            },
            {"user_id": "user_nobody", "image_url": photos.url("/selfie-nobody.jpg")},
        ],
        "photos": photo_list,
        "callback_url": receiver_url,
    }


EXPECTED = {("user_a", "p1"), ("user_a", "p1_copy"), ("user_a", "p2"), ("user_b", "p2"), ("user_b", "p3")}


def test_event_results_arrive_signed_and_correct(
    service: ServiceProcess, photos: PhotoServer, receiver: CallbackReceiver
) -> None:
    with service.client() as c:
        answer = c.post("/process-event", json=_event_body(photos, receiver.url))
        assert answer.status_code == 202, answer.text
        accepted = answer.json()
        assert accepted["status"] == "queued" and accepted["event_id"] == "evt_1"
        job = service.wait_job(accepted["job_id"])
        assert job["status"] == "done", job
        got = receiver.wait(30)
        # signed: HMAC-SHA256 of "<timestamp>.<body>" with the deployment's secret, timestamp recent
        assert verify(
            SECRET.encode(),
            got.headers["x-eventlens-timestamp"],
            got.body,
            got.headers["x-eventlens-signature"],
            time.time(),
        )
        assert not verify(
            b"another secret",
            got.headers["x-eventlens-timestamp"],
            got.body,
            got.headers["x-eventlens-signature"],
            time.time(),
        )
        body = got.json()
        assert body["event_id"] == "evt_1" and body["job_id"] == accepted["job_id"]
        assert {(r["user_id"], r["photo_id"]) for r in body["results"]} == EXPECTED
        assert all(0 <= r["confidence"] <= 1 and r["event_id"] == "evt_1" for r in body["results"])
        reasons = {e.get("photo_id") or e.get("user_id"): e["reason"] for e in body["errors"]}
        assert reasons["missing"] == "http_status"
        assert reasons["notes"] == "not_an_image"
        assert reasons["huge"] in ("not_an_image", "too_large")
        assert reasons["loop"] in ("redirect_loop", "too_many_redirects")
        assert reasons["redirect_private"] == "private_address"
        assert reasons["private"] == "private_address"
        assert reasons["room"] == "no_face"
        assert reasons["user_nobody"] == "no_face"
        assert "user_b" in reasons  # its second selfie is missing; the first was used
        assert not any("embedding" in k for r in body["results"] for k in r)
        # the same results by pull, per user and above a confidence
        pulled = c.get("/events/evt_1/matches").json()["matches"]
        assert {(m["user_id"], m["photo_id"]) for m in pulled} == EXPECTED
        only_b = c.get("/events/evt_1/matches", params={"user_id": "user_b"}).json()["matches"]
        assert {m["photo_id"] for m in only_b} == {"p2", "p3"}
        assert c.get("/events/evt_1/matches", params={"min_confidence": 1.01}).status_code == 422
        final = c.get(f"/jobs/{accepted['job_id']}").json()
        assert (
            final["callback"]["state"] == "delivered"
            and final["progress"]["photos_done"] == final["progress"]["photos_total"] == 12
        )
        metrics = c.get("/metrics").text
        assert 'eventlens_jobs{state="done"} 1.0' in metrics
        assert 'eventlens_download_failures_total{reason="private_address"} 2.0' in metrics
        assert "eventlens_callback_attempts_total 1.0" in metrics
        assert "eventlens_request_duration_seconds_bucket" in metrics
    # the huge body was not read to its end
    assert photos.hits["/big-not-an-image.jpg"] == 1


def test_repost_reuses_finished_work_and_adds_new(
    service: ServiceProcess, photos: PhotoServer, receiver: CallbackReceiver
) -> None:
    body = _event_body(photos, receiver.url)
    with service.client() as c:
        first = service.wait_job(c.post("/process-event", json=body).json()["job_id"])
        assert first["counts"]["photos_new"] > 0
        photos.files["/p5.jpg"] = encode(photo_array([B, C], 6), ".jpg")
        body["photos"].append({"photo_id": "p5", "url": photos.url("/p5.jpg")})  # type: ignore[attr-defined]
        hits_before = dict(photos.hits)
        second = service.wait_job(c.post("/process-event", json=body).json()["job_id"])
        assert second["status"] == "done"
        assert second["counts"]["photos_new"] == 1  # only p5 was analysed
        assert photos.hits["/p1.jpg"] == hits_before["/p1.jpg"]  # nor downloaded again
        assert photos.hits["/selfie-a.jpg"] == hits_before["/selfie-a.jpg"]
        pulled = {(m["user_id"], m["photo_id"]) for m in c.get("/events/evt_1/matches").json()["matches"]}
        assert pulled == EXPECTED | {("user_b", "p5")}


def test_dead_receiver_gets_retries_and_results_stay_pullable(
    service: ServiceProcess, photos: PhotoServer
) -> None:
    failing = CallbackReceiver(fail_first=2).start()
    try:
        with service.client() as c:
            job_id = c.post("/process-event", json=_event_body(photos, failing.url, "evt_retry")).json()[
                "job_id"
            ]
            service.wait_job(job_id)
            got = failing.wait(30)  # third attempt succeeds (backoff 0.2 s, 0.4 s)
            assert failing.attempts == 3
            assert {(r["user_id"], r["photo_id"]) for r in got.json()["results"]} == EXPECTED
            assert c.get(f"/jobs/{job_id}").json()["callback"]["attempts"] == 3
    finally:
        failing.close()
    dead_url = failing.url  # nothing listens there any more
    with service.client() as c:
        job_id = c.post("/process-event", json=_event_body(photos, dead_url, "evt_dead")).json()["job_id"]
        service.wait_job(job_id)
        deadline = time.monotonic() + 30
        while c.get(f"/jobs/{job_id}").json()["callback"]["attempts"] < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        state = c.get(f"/jobs/{job_id}").json()["callback"]
        assert state["state"] == "pending" and state["attempts"] >= 2 and state["last_error"]
        pulled = {(m["user_id"], m["photo_id"]) for m in c.get("/events/evt_dead/matches").json()["matches"]}
        assert pulled == EXPECTED


def test_delete_leaves_no_row_or_file_of_the_event(
    service: ServiceProcess, photos: PhotoServer, receiver: CallbackReceiver
) -> None:
    with service.client() as c:
        job_id = c.post("/process-event", json=_event_body(photos, receiver.url, "evt_gone")).json()["job_id"]
        service.wait_job(job_id)
        keep = service.wait_job(
            c.post("/process-event", json=_event_body(photos, receiver.url, "evt_kept")).json()["job_id"]
        )
        assert keep["status"] == "done"
        answer = c.delete("/events/evt_gone")
        assert answer.status_code == 200, answer.text
        deleted = answer.json()["deleted"]
        assert deleted["matches"] == len(EXPECTED) and deleted["photos"] == 12 and deleted["files"] > 0
        assert c.get(f"/jobs/{job_id}").status_code == 404
        assert c.get("/events/evt_gone/matches").status_code == 404
        assert c.delete("/events/evt_gone").status_code == 404
        assert {
            (m["user_id"], m["photo_id"]) for m in c.get("/events/evt_kept/matches").json()["matches"]
        } == EXPECTED
    # no row of the service catalog names the event or its job; no file or folder of it is left
    engine = sa.create_engine(f"sqlite:///{service.data_dir / 'service.sqlite'}")
    with engine.connect() as conn:
        for table in sa.inspect(engine).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):  # noqa: S608 - table names from the schema
                text = " ".join(str(v) for v in row)
                assert "evt_gone" not in text and job_id not in text, (table, text)
    engine.dispose()
    assert not (service.data_dir / "events" / "evt_gone").exists()
    assert not [p for p in service.data_dir.rglob("*") if "evt_gone" in str(p)]


def test_every_endpoint_but_health_needs_a_key(service: ServiceProcess, photos: PhotoServer) -> None:
    import httpx  # noqa: PLC0415

    with httpx.Client(base_url=service.base, trust_env=False) as anon:
        assert anon.get("/health").status_code == 200
        for method, path in (
            ("GET", "/ready"),
            ("GET", "/metrics"),
            ("GET", "/jobs/x"),
            ("POST", "/process-event"),
            ("DELETE", "/events/x"),
        ):
            answer = anon.request(method, path)
            assert answer.status_code == 401, (method, path, answer.text)
        assert anon.get("/ready", headers={"Authorization": "Bearer el_nope_nope"}).status_code == 401
    reader = service.create_key("read", "dashboard")
    with service.client(reader) as c:
        assert c.get("/ready").status_code == 200
        body = {"event_id": "evt_r", "photos": [{"photo_id": "p", "url": photos.url("/p1.jpg")}]}
        assert c.post("/process-event", json=body).status_code == 403
    other = service.create_key("write", "another platform")
    with service.client() as mine, service.client(other) as theirs:
        job_id = mine.post("/process-event", json=body).json()["job_id"]
        service.wait_job(job_id)
        assert theirs.delete("/events/evt_r").status_code == 403
        assert theirs.post("/process-event", json=body).status_code == 403


def test_invalid_input_names_the_field(service: ServiceProcess) -> None:
    with service.client() as c:
        bad_url = c.post(
            "/process-event", json={"event_id": "e", "photos": [{"photo_id": "p", "url": "ftp://x/y.jpg"}]}
        )
        assert bad_url.status_code == 422 and "url" in bad_url.text
        bad_id = c.post("/process-event", json={"event_id": "../etc", "photos": []})
        assert bad_id.status_code == 422 and "event_id" in bad_id.text
        dup = c.post(
            "/process-event",
            json={"event_id": "e", "photos": [{"photo_id": "p", "url": "http://127.0.0.1/a.jpg"}] * 2},
        )
        assert dup.status_code == 422 and "photos" in dup.text
        huge = c.post(
            "/process-event",
            content=b"{" + b" " * 21_000_000 + b"}",
            headers={"Content-Type": "application/json"},
        )
        assert huge.status_code == 413
