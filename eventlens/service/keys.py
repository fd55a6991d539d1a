"""API keys: created once (the key is shown once and stored only as an argon2id hash), listed, revoked.

A key reads ``el_<key_id>_<secret>``: the key id finds the row, argon2 checks the whole key. Verifying with
argon2 costs tens of milliseconds by design, so a key that verified is remembered for
:data:`VERIFIED_TTL_S` (by its SHA-256, in memory); a revoked key stops working within that time in other
processes and at once in the process that revoked it.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Literal, get_args

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from eventlens.errors import InputError
from eventlens.service.db import now_iso
from eventlens.service.tables import api_keys

Scope = Literal["read", "write", "admin"]
SCOPES: tuple[str, ...] = get_args(Scope)
#: what each scope may do: read < write < admin
_RANK = {"read": 0, "write": 1, "admin": 2}
VERIFIED_TTL_S = 60.0
_PREFIX = "el_"

_hasher = PasswordHasher()


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    scope: Scope
    created_at: str
    revoked_at: str | None = None
    last_used_at: str | None = None

    def allows(self, needed: Scope) -> bool:
        return _RANK[self.scope] >= _RANK[needed]


def _row_key(r: sa.Row[object]) -> ApiKey:
    m = r._mapping
    return ApiKey(m["key_id"], m["name"], m["scope"], m["created_at"], m["revoked_at"], m["last_used_at"])


def create_key(engine: sa.Engine, name: str, scope: str) -> tuple[str, ApiKey]:
    """A new key: returns the key itself (shown once) and its record."""
    if scope not in SCOPES:
        raise InputError(f"unknown scope {scope!r}: choose one of {', '.join(SCOPES)}")
    if not name.strip() or len(name) > 100:
        raise InputError("a key needs a name of 1-100 characters")
    key_id = secrets.token_hex(6)
    key = f"{_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    record = ApiKey(key_id, name.strip(), scope, now_iso())  # type: ignore[arg-type]
    with engine.begin() as conn:
        conn.execute(
            api_keys.insert().values(
                key_id=key_id,
                name=record.name,
                scope=scope,
                secret_hash=_hasher.hash(key),
                created_at=record.created_at,
            )
        )
    return key, record


def list_keys(engine: sa.Engine) -> list[ApiKey]:
    with engine.connect() as conn:
        return [_row_key(r) for r in conn.execute(sa.select(api_keys).order_by(api_keys.c.created_at))]


def revoke_key(engine: sa.Engine, key_id: str) -> ApiKey:
    with engine.begin() as conn:
        row = conn.execute(sa.select(api_keys).where(api_keys.c.key_id == key_id)).first()
        if row is None:
            raise InputError(f"no API key with id {key_id!r} (see `eventlens keys list`)")
        if row.revoked_at is None:
            conn.execute(api_keys.update().where(api_keys.c.key_id == key_id).values(revoked_at=now_iso()))
    _verified.forget(key_id)
    return _row_key(row)


class _VerifiedKeys:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_digest: dict[str, tuple[float, ApiKey]] = {}

    def get(self, digest: str) -> ApiKey | None:
        with self._lock:
            hit = self._by_digest.get(digest)
            if hit is None or hit[0] < time.monotonic():
                self._by_digest.pop(digest, None)
                return None
            return hit[1]

    def put(self, digest: str, key: ApiKey) -> None:
        with self._lock:
            if len(self._by_digest) > 10_000:
                self._by_digest.clear()
            self._by_digest[digest] = (time.monotonic() + VERIFIED_TTL_S, key)

    def forget(self, key_id: str) -> None:
        with self._lock:
            for digest in [d for d, (_, k) in self._by_digest.items() if k.key_id == key_id]:
                del self._by_digest[digest]


_verified = _VerifiedKeys()


def verify_key(engine: sa.Engine, presented: str) -> ApiKey | None:
    """The key's record when ``presented`` is a valid, unrevoked key; None otherwise."""
    digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).hexdigest()
    cached = _verified.get(digest)
    if cached is not None:
        return cached
    parts = presented.split("_")
    if len(parts) < 3 or not presented.startswith(_PREFIX) or len(presented) > 200:
        return None
    key_id = parts[1]
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(api_keys).where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
        ).first()
    if row is None:
        return None
    try:
        _hasher.verify(row.secret_hash, presented)
    except (VerificationError, InvalidHashError):
        return None
    key = _row_key(row)
    with engine.begin() as conn:
        conn.execute(api_keys.update().where(api_keys.c.key_id == key_id).values(last_used_at=now_iso()))
    _verified.put(digest, key)
    return key
