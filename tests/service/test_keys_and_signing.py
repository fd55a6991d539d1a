"""API keys (hashed, shown once, revocable) and callback signatures, without a server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventlens.errors import InputError
from eventlens.service.callbacks import retry_delay_s
from eventlens.service.db import DataDir, open_service_db
from eventlens.service.keys import create_key, list_keys, revoke_key, verify_key
from eventlens.service.signing import callback_secret, sign, verify
from eventlens.settings import load_settings


def test_a_key_is_stored_hashed_and_verifies_until_revoked(tmp_path: Path) -> None:
    engine = open_service_db(DataDir(tmp_path))
    key, record = create_key(engine, "platform", "write")
    assert key.startswith(f"el_{record.key_id}_")
    raw = (tmp_path / "service.sqlite").read_bytes()
    assert key.encode() not in raw and key.split("_", 2)[2].encode() not in raw
    assert verify_key(engine, key) == record
    assert verify_key(engine, key[:-1] + ("x" if key[-1] != "x" else "y")) is None
    assert verify_key(engine, "el_unknown_secret") is None
    assert verify_key(engine, "") is None
    assert [k.key_id for k in list_keys(engine)] == [record.key_id]
    revoke_key(engine, record.key_id)
    assert verify_key(engine, key) is None  # at once in this process, despite the cache
    with pytest.raises(InputError, match="no API key"):
        revoke_key(engine, "nope")
    with pytest.raises(InputError, match="unknown scope"):
        create_key(engine, "x", "root")


def test_scopes_are_ordered(tmp_path: Path) -> None:
    engine = open_service_db(DataDir(tmp_path))
    _, reader = create_key(engine, "r", "read")
    _, admin = create_key(engine, "a", "admin")
    assert reader.allows("read") and not reader.allows("write")
    assert admin.allows("write") and admin.allows("admin")


def test_keys_create_prints_only_the_key_on_stdout(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "eventlens",
        "keys",
        "create",
        "--name",
        "ci",
        "--scope",
        "read",
        "--data",
        str(tmp_path),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60)
    key = out.stdout.strip()
    assert out.stdout == key + "\n" and key.startswith("el_")
    listed = subprocess.run(
        [sys.executable, "-m", "eventlens", "keys", "list", "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "ci" in listed.stdout and key not in listed.stdout


@given(st.binary(max_size=2000), st.integers(min_value=0, max_value=2**40))
def test_signature_verifies_only_the_signed_bytes(body: bytes, timestamp: int) -> None:
    secret = b"s3cret"
    signature = sign(secret, timestamp, body)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert verify(secret, str(timestamp), body, signature, now_s=timestamp)
    assert not verify(secret, str(timestamp), body + b"x", signature, now_s=timestamp)
    assert not verify(secret, str(timestamp + 1), body, signature, now_s=timestamp)
    assert not verify(secret, str(timestamp), body, signature, now_s=timestamp + 301)  # replayed later


def test_the_callback_secret_is_generated_once_and_private(tmp_path: Path) -> None:
    settings = load_settings()
    first = callback_secret(settings, tmp_path)
    assert len(first) == 64 and callback_secret(settings, tmp_path) == first
    assert (tmp_path / "callback_secret").stat().st_mode & 0o077 == 0
    assert callback_secret(load_settings(callback_secret="given"), tmp_path) == b"given"


def test_retries_back_off_exponentially_up_to_a_cap() -> None:
    settings = load_settings(callback_backoff_s=2, callback_max_backoff_s=60)
    delays = [retry_delay_s(n, settings) for n in range(1, 8)]
    assert delays == [2, 4, 8, 16, 32, 60, 60]


def test_retention_purges_only_events_unchanged_for_long(tmp_path: Path) -> None:
    import time  # noqa: PLC0415

    import sqlalchemy as sa  # noqa: PLC0415

    from eventlens.service.app import create_app  # noqa: PLC0415
    from eventlens.service.tables import events  # noqa: PLC0415

    app = create_app(tmp_path, load_settings(event_retention_days=30), start_workers=False)
    service = app.state.service

    class _NoJobs:
        def stop_event(self, event_id: str) -> None:
            return None

        def release_event(self, event_id: str) -> None:
            return None

    service.runner = _NoJobs()
    now = time.time()
    with service.engine.begin() as conn:
        for event_id, age_days in (("old", 31), ("recent", 29)):
            conn.execute(
                events.insert().values(
                    event_id=event_id,
                    owner_key_id="k",
                    created_at="2026-01-01T00:00:00+00:00",
                    updated_at="2026-01-01T00:00:00+00:00",
                    updated_at_s=now - age_days * 86400,
                )
            )
    (tmp_path / "events" / "old" / ".eventlens").mkdir(parents=True)
    (tmp_path / "events" / "old" / ".eventlens" / "x.jpg").write_bytes(b"x")
    assert service.purge_expired() == ["old"]
    with service.engine.connect() as conn:
        assert conn.execute(sa.select(events.c.event_id)).scalars().all() == ["recent"]
    assert not (tmp_path / "events" / "old").exists()
    service.settings = load_settings(event_retention_days=0)
    assert service.purge_expired() == []
