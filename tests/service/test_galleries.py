"""Galleries end to end on the real server (fake face backend): enrol by URL and by upload, search an
image, query recognition records, delete; and ``eventlens watch`` on a folder."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from servers import PhotoServer, ServiceProcess
from testkit import A, B, C, D, encode, photo_array


@pytest.fixture
def faces() -> Iterator[PhotoServer]:
    server = PhotoServer()
    server.files = {
        "/alice-1.jpg": encode(photo_array([A], 1), ".jpg"),
        "/alice-2.jpg": encode(photo_array([A], 2), ".jpg"),
        "/nobody.jpg": encode(photo_array([], 3), ".jpg"),
        "/party.jpg": encode(photo_array([A, B, C], 4), ".jpg"),
    }
    server.start()
    try:
        yield server
    finally:
        server.close()


def test_enrol_search_recognitions_delete(service: ServiceProcess, faces: PhotoServer) -> None:
    with service.client() as c:
        by_url = c.post(
            "/galleries/staff/people",
            json={
                "person_id": "alice",
                "name": "Alice",
                "image_urls": [
                    faces.url("/alice-1.jpg"),
                    faces.url("/alice-2.jpg"),
                    faces.url("/nobody.jpg"),
                ],
            },
        )
        assert by_url.status_code == 200, by_url.text
        enrolled = by_url.json()
        assert enrolled["enrolled"] == 2 and enrolled["faces"] == 2
        assert [e["reason"] for e in enrolled["errors"]] == ["no_face"]
        upload = c.post(
            "/galleries/staff/people",
            data={"person_id": "bob", "name": "Bob"},
            files=[("files", ("bob.jpg", encode(photo_array([B], 5), ".jpg"), "image/jpeg"))],
        )
        assert upload.status_code == 200, upload.text
        assert upload.json()["faces"] == 1
        none = c.post(
            "/galleries/staff/people", json={"person_id": "ghost", "image_urls": [faces.url("/nobody.jpg")]}
        )
        assert none.status_code == 422 and "no usable face" in none.text
        assert {p["person_id"] for p in c.get("/galleries/staff/people").json()} == {"alice", "bob"}
        assert c.get("/galleries/staff").json()["faces"] == 3

        before = datetime.now(UTC).isoformat()
        found = c.post("/galleries/staff/search", json={"image_url": faces.url("/party.jpg")})
        assert found.status_code == 200, found.text
        result = found.json()
        by_x = sorted(result["faces"], key=lambda f: f["box"]["x1"])
        assert len(by_x) == 3
        assert [f["matches"][0]["person_id"] if f["matches"] else None for f in by_x] == [
            "alice",
            "bob",
            None,
        ]
        assert by_x[0]["matches"][0]["name"] == "Alice" and 0 < by_x[0]["matches"][0]["confidence"] <= 1
        text = found.text
        assert "embedding" not in text and "landmarks" not in text
        uploaded = c.post(
            "/galleries/staff/search",
            files={"file": ("x.png", encode(photo_array([D, B], 6), ".png"), "image/png")},
        )
        assert uploaded.status_code == 200, uploaded.text
        assert [m["person_id"] for f in uploaded.json()["faces"] for m in f["matches"]] == ["bob"]

        records = c.get("/galleries/staff/recognitions", params={"person_id": "alice"}).json()
        assert [r["recognition_id"] for r in records] == [result["recognition_id"]]
        assert len(c.get("/galleries/staff/recognitions", params={"since": before}).json()) == 2
        assert c.get("/galleries/staff/recognitions", params={"since": "2999-01-01T00:00:00"}).json() == []

        assert c.delete("/galleries/staff/people/alice").status_code == 200
        again = c.post("/galleries/staff/search", json={"image_url": faces.url("/party.jpg")}).json()
        assert [m["person_id"] for f in again["faces"] for m in f["matches"]] == ["bob"]
        gone = c.delete("/galleries/staff").json()["deleted"]
        assert gone["people"] == 1 and gone["recognitions"] == 3
        assert c.get("/galleries/staff").status_code == 404
    assert not (service.data_dir / "galleries" / "staff").exists()


def test_watch_recognises_new_files_in_a_folder(
    service: ServiceProcess, faces: PhotoServer, tmp_path: Path, make_settings
) -> None:  # type: ignore[no-untyped-def]
    from eventlens.service.watch import watch  # noqa: PLC0415

    with service.client() as c:
        assert (
            c.post(
                "/galleries/team/people",
                json={"person_id": "alice", "image_urls": [faces.url("/alice-1.jpg")]},
            ).status_code
            == 200
        )
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "one.jpg").write_bytes(encode(photo_array([A, C], 7), ".jpg"))
    (inbox / "notes.txt").write_text("not a photo")
    stop = threading.Event()
    written: list[Path] = []
    settings = make_settings()
    thread = threading.Thread(
        target=watch,
        args=(inbox, "team", service.data_dir, settings),
        kwargs={"stop": stop, "poll_s": 0.1, "on_result": written.append},
    )
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while len(written) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        (inbox / "two.jpg").write_bytes(encode(photo_array([B], 8), ".jpg"))  # dropped while watching
        while len(written) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(30)
    one = json.loads((inbox / "processed" / "one.jpg.json").read_text())
    assert [m["person_id"] for f in one["faces"] for m in f["matches"]] == ["alice"]
    assert "error" in json.loads((inbox / "processed" / "notes.txt.json").read_text())
    two = json.loads((inbox / "processed" / "two.jpg.json").read_text())
    assert len(two["faces"]) == 1 and two["faces"][0]["matches"] == []
