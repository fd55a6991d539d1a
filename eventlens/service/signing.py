"""Callback signatures: ``X-Eventlens-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`` with
``X-Eventlens-Timestamp: <unix seconds>``. A receiver recomputes the HMAC over the raw body with the
deployment's secret, compares in constant time, and refuses old timestamps (replays)."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from eventlens.settings import Settings

TIMESTAMP_HEADER = "X-Eventlens-Timestamp"
SIGNATURE_HEADER = "X-Eventlens-Signature"
SECRET_FILE = "callback_secret"


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def signed_headers(secret: bytes, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }


def verify(
    secret: bytes, timestamp: str, body: bytes, signature: str, now_s: float, max_age_s: float = 300
) -> bool:
    """What a receiver does (and the tests do): the signature matches and the timestamp is recent."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(now_s - ts) > max_age_s:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)


def callback_secret(settings: Settings, data_root: Path) -> bytes:
    """The setting ``callback_secret``, else the one kept in ``DATA/callback_secret`` (made on first use,
    readable by the owner only)."""
    if settings.callback_secret is not None:
        return settings.callback_secret.get_secret_value().encode()
    return stored_secret(data_root / SECRET_FILE)


def stored_secret(path: Path) -> bytes:
    """The random secret kept in ``path``, made on first use (readable by the owner only)."""
    data_root = path.parent
    if not path.exists():
        data_root.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()
