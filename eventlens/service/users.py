"""Users of the web UI (``eventlens users ...``) and their sessions, in the service catalog.

A user has a name, a role (viewer < editor < admin) and an argon2id hash of their password. A session is
made by a login, with a password or with an API key (whose scope gives the role: read -> viewer,
write -> editor, admin -> admin); the browser holds a random token, the catalog only its SHA-256. A session
dies when it expires, at logout, when its user is deleted or changes password, and when its API key is
revoked: :func:`session_of` checks all of that on every request.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import Literal, get_args

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from eventlens.errors import InputError, NotFoundError
from eventlens.service.db import now_iso
from eventlens.service.keys import ApiKey
from eventlens.service.tables import api_keys, users, web_sessions

Role = Literal["viewer", "editor", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
_RANK = {"viewer": 0, "editor": 1, "admin": 2}
ROLE_OF_SCOPE: dict[str, Role] = {"read": "viewer", "write": "editor", "admin": "admin"}
MIN_PASSWORD_CHARS = 10
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")

_hasher = PasswordHasher()
#: verified against when the user name is unknown, so that a wrong name costs as long as a wrong password
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def role_allows(role: str, needed: str) -> bool:
    return _RANK.get(role, -1) >= _RANK[needed]


@dataclass(frozen=True)
class User:
    username: str
    role: Role
    created_at: str
    password_changed_at: str


def _check_username(username: str) -> str:
    if not _USERNAME.match(username):
        raise InputError(
            f"user name {username!r} is not valid: 1-64 letters, digits and _ . @ -, starting with a letter "
            "or digit"
        )
    return username


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise InputError(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > 1000:
        raise InputError("a password may have at most 1000 characters")
    return password


def _check_role(role: str) -> Role:
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    return role  # type: ignore[return-value]


def create_user(engine: sa.Engine, username: str, password: str, role: str) -> User:
    _check_username(username)
    _check_password(password)
    now = now_iso()
    user = User(username, _check_role(role), now, now)
    with engine.begin() as conn:
        if conn.execute(sa.select(users.c.username).where(users.c.username == username)).first():
            raise InputError(f"user {username!r} exists already (eventlens users set-password to change it)")
        conn.execute(
            users.insert().values(
                username=username,
                password_hash=_hasher.hash(password),
                role=user.role,
                created_at=now,
                password_changed_at=now,
            )
        )
    return user


def list_users(engine: sa.Engine) -> list[User]:
    with engine.connect() as conn:
        return [
            User(r.username, r.role, r.created_at, r.password_changed_at)
            for r in conn.execute(sa.select(users).order_by(users.c.username))
        ]


def delete_user(engine: sa.Engine, username: str) -> int:
    """Delete the user and end their sessions; returns how many sessions ended."""
    with engine.begin() as conn:
        if not conn.execute(users.delete().where(users.c.username == username)).rowcount:
            raise NotFoundError(f"no user {username!r} (see `eventlens users list`)")
        return int(conn.execute(web_sessions.delete().where(web_sessions.c.username == username)).rowcount)


def set_password(engine: sa.Engine, username: str, password: str) -> int:
    """Change the password and end the user's sessions; returns how many ended."""
    _check_password(password)
    with engine.begin() as conn:
        changed = conn.execute(
            users.update()
            .where(users.c.username == username)
            .values(password_hash=_hasher.hash(password), password_changed_at=now_iso())
        ).rowcount
        if not changed:
            raise NotFoundError(f"no user {username!r} (see `eventlens users list`)")
        return int(conn.execute(web_sessions.delete().where(web_sessions.c.username == username)).rowcount)


def verify_password(engine: sa.Engine, username: str, password: str) -> User | None:
    """The user when the password is theirs; None otherwise (taking as long for an unknown name)."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.username == username)).first()
    try:
        _hasher.verify(row.password_hash if row is not None else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    return User(row.username, row.role, row.created_at, row.password_changed_at)


# --- sessions -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    session_id: str  # the SHA-256 of the token: names the session without being able to act as it
    display_name: str  # the user name, or "key <name>"
    role: Role
    csrf_token: str
    username: str | None
    key_id: str | None
    expires_at_s: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def _new_session(
    engine: sa.Engine, ttl_s: float, role: Role, display: str, username: str | None, key_id: str | None
) -> tuple[str, Session]:
    token = secrets.token_urlsafe(32)
    session = Session(
        _digest(token), display, role, secrets.token_urlsafe(32), username, key_id, time.time() + ttl_s
    )
    with engine.begin() as conn:
        conn.execute(web_sessions.delete().where(web_sessions.c.expires_at_s < time.time()))
        conn.execute(
            web_sessions.insert().values(
                token_hash=session.session_id,
                username=username,
                key_id=key_id,
                role=role,
                display_name=display,
                csrf_token=session.csrf_token,
                created_at=now_iso(),
                expires_at_s=session.expires_at_s,
            )
        )
    return token, session


def start_user_session(engine: sa.Engine, user: User, ttl_s: float) -> tuple[str, Session]:
    """A new session of ``user``: returns the token for the cookie (shown once) and the session."""
    return _new_session(engine, ttl_s, user.role, user.username, user.username, None)


def start_key_session(engine: sa.Engine, key: ApiKey, ttl_s: float) -> tuple[str, Session]:
    return _new_session(engine, ttl_s, ROLE_OF_SCOPE[key.scope], f"key {key.name}", None, key.key_id)


def session_of(engine: sa.Engine, token: str) -> Session | None:
    """The live session of the cookie's ``token``, or None (unknown, expired, user gone, key revoked).
    A user's role is read at each call, so a changed role applies at once."""
    if not token or len(token) > 200:
        return None
    query = (
        sa.select(
            web_sessions,
            users.c.role.label("user_role"),
            api_keys.c.revoked_at.label("key_revoked_at"),
            api_keys.c.key_id.label("key_found"),
        )
        .outerjoin(users, users.c.username == web_sessions.c.username)
        .outerjoin(api_keys, api_keys.c.key_id == web_sessions.c.key_id)
        .where(web_sessions.c.token_hash == _digest(token), web_sessions.c.expires_at_s > time.time())
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    if row.username is not None:
        if row.user_role is None:
            return None
        role = row.user_role
    else:
        if row.key_found is None or row.key_revoked_at is not None:
            return None
        role = row.role
    return Session(
        row.token_hash, row.display_name, role, row.csrf_token, row.username, row.key_id, row.expires_at_s
    )


def end_session(engine: sa.Engine, session_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(web_sessions.delete().where(web_sessions.c.token_hash == session_id))
