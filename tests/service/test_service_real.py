"""The service with the real models on real photos from ../shared/data: four people's selfies matched
against their other photos and group photos, the results signed and correct."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import SECRET, CallbackReceiver, PhotoServer, ServiceProcess

from eventlens.service.signing import verify

pytestmark = pytest.mark.real_models

PEOPLE = ("Ariel_Sharon", "George_W_Bush", "Vladimir_Putin", "Jacques_Chirac")
GROUPS = ("compreface_000_5.jpg", "compreface_010_2.jpg", "compreface_014_5.jpg", "compreface_016_8.jpg")


@pytest.fixture
def real_photos(shared_data: Path) -> Iterator[tuple[PhotoServer, dict[str, str]]]:
    """Served photos, and the person each event photo id shows (None for group photos)."""
    server = PhotoServer()
    truth: dict[str, str] = {}
    for person in PEOPLE:
        files = sorted((shared_data / "identities" / person).glob("*.jpg"))[:6]
        server.files[f"/selfies/{person}.jpg"] = files[0].read_bytes()
        for f in files[1:]:
            server.files[f"/event/{f.name}"] = f.read_bytes()
            truth[f.stem] = person
    for name in GROUPS:
        server.files[f"/event/{name}"] = (shared_data / "groups" / name).read_bytes()
        truth[Path(name).stem] = ""
    server.start()
    try:
        yield server, truth
    finally:
        server.close()


def test_real_selfies_find_their_photos(
    tmp_path: Path,
    model_cache_dir: Path,
    real_photos: tuple[PhotoServer, dict[str, str]],
    receiver: CallbackReceiver,
) -> None:
    server, truth = real_photos
    env = {
        "EVENTLENS_CACHE_DIR": str(model_cache_dir),
        "EVENTLENS_CALLBACK_SECRET": SECRET,
        "EVENTLENS_DOWNLOAD_ALLOW_NETWORKS": '["127.0.0.0/8"]',
        "EVENTLENS_WORKERS": "2",
    }
    service = ServiceProcess(tmp_path / "data", env).start(ready_timeout_s=180)
    try:
        body = {
            "event_id": "wedding",
            "users": [{"user_id": p, "image_url": server.url(f"/selfies/{p}.jpg")} for p in PEOPLE],
            "photos": [{"photo_id": pid, "url": server.url(f"/event/{pid}.jpg")} for pid in sorted(truth)],
            "callback_url": receiver.url,
        }
        with service.client() as c:
            job_id = c.post("/process-event", json=body).json()["job_id"]
            job = service.wait_job(job_id, timeout_s=300)
        assert job["status"] == "done", job
        got = receiver.wait(60)
    finally:
        service.stop()
    assert verify(
        SECRET.encode(),
        got.headers["x-eventlens-timestamp"],
        got.body,
        got.headers["x-eventlens-signature"],
        time.time(),
    )
    results = {(r["user_id"], r["photo_id"]) for r in got.json()["results"]}
    wrong = {(u, p) for u, p in results if truth[p] != u}
    assert not wrong, f"photos given to the wrong person: {sorted(wrong)}"
    expected = {(person, pid) for pid, person in truth.items() if person}
    found = len(results & expected)
    assert found >= 0.9 * len(expected), (
        f"found {found} of {len(expected)}: missed {sorted(expected - results)}"
    )
