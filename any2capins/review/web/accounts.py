"""Accounts and sessions of the review server, in the queue's SQLite file.

    web_users     name, role (annotator | lead), SHA-256 of the login token, created, revoked
    web_sessions  SHA-256 of the session id, user, CSRF token, created, expires, ended

A login token is 256 random bits (`secrets.token_urlsafe(32)`), printed once by `review users
add` and stored only as its SHA-256: with that much entropy a fast hash is enough (nothing to
stretch: guessing is hopeless), and a stolen database yields no usable token. A session id
(the HttpOnly cookie) is stored hashed the same way; its CSRF token is stored as is (it is
worthless without the cookie). Expired and ended sessions stay a while, so a request with one
gets "your session expired" rather than "not logged in".
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

from any2capins.review.errors import ReviewError
from any2capins.review.store import ReviewStore, to_dt

Role = Literal["annotator", "lead"]
ROLES: tuple[str, ...] = ("annotator", "lead")
TOKEN_PREFIX = "a2c-"  # noqa: S105 - a prefix that makes tokens recognisable, not a secret
_KEEP_ENDED_S = 7 * 86400  # how long ended sessions are kept to say "expired"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS web_users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('annotator', 'lead')),
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    revoked_at REAL,
    last_login REAL);
CREATE TABLE IF NOT EXISTS web_sessions (
    sid_sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL REFERENCES web_users (name),
    csrf TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    ended_at REAL);
CREATE INDEX IF NOT EXISTS web_sessions_name ON web_sessions (name);
"""


class AuthError(ReviewError):
    """A login or session was refused; `kind` says why (bad_token, no_session, expired,
    revoked, forbidden, csrf) and the message says what to do."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Session:
    """A logged-in browser: the user, their role and the CSRF token of the session."""

    name: str
    role: str
    csrf: str
    expires_at: float


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def ensure_schema(store: ReviewStore) -> None:
    with store.write() as conn:
        for statement in _SCHEMA.split(";\n"):
            if statement.strip():
                conn.execute(statement)


def add_user(store: ReviewStore, name: str, role: str = "annotator", *,
             new_token: bool = False) -> str:
    """Create user `name` (or give a revoked one, or with `new_token` any one, a new token;
    its sessions end) and return the login token, which is stored only hashed."""
    clean = store.check_annotator(name)
    if role not in ROLES:
        raise AuthError("bad_role", f"role must be one of {', '.join(ROLES)}, not {role!r}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with store.write() as conn:
        row = conn.execute("SELECT revoked_at FROM web_users WHERE name = ?", (clean,)).fetchone()
        if row is not None and row[0] is None and not new_token:
            raise AuthError("exists", f"user {clean!r} exists; `review users add {clean} "
                            "--new-token` replaces the token, `review users revoke` ends it")
        now = store.now()
        conn.execute("INSERT INTO web_users (name, role, token_sha256, created_at) "
                     "VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET role = excluded.role, "
                     "token_sha256 = excluded.token_sha256, created_at = excluded.created_at, "
                     "revoked_at = NULL", (clean, role, sha256(token), now))
        _end_sessions(conn, clean, now)
    return token


def revoke_user(store: ReviewStore, name: str) -> bool:
    """Revoke `name`'s token and end their sessions; False when there is no such active user."""
    with store.write() as conn:
        now = store.now()
        n = conn.execute("UPDATE web_users SET revoked_at = ? WHERE name = ? AND revoked_at "
                         "IS NULL", (now, name.strip())).rowcount
        _end_sessions(conn, name.strip(), now)
    return n > 0


def _end_sessions(conn, name: str, now: float) -> None:
    conn.execute("UPDATE web_sessions SET ended_at = ? WHERE name = ? AND ended_at IS NULL",
                 (now, name))


def list_users(store: ReviewStore) -> list[dict[str, object]]:
    """Every user (never a token): name, role, created, revoked, last login."""
    rows = store.conn.execute("SELECT name, role, created_at, revoked_at, last_login "
                              "FROM web_users ORDER BY name").fetchall()
    return [{"name": r[0], "role": r[1], "created": to_dt(r[2]), "revoked": to_dt(r[3]),
             "last_login": to_dt(r[4]), "active": r[3] is None} for r in rows]


def login(store: ReviewStore, token: str, session_seconds: float) -> tuple[str, Session]:
    """(session id for the cookie, session) for a valid token; AuthError('bad_token') else."""
    digest = sha256(token.strip())
    with store.write() as conn:
        row = conn.execute("SELECT name, role, revoked_at FROM web_users WHERE "
                           "token_sha256 = ?", (digest,)).fetchone()
        if row is None or row[2] is not None:
            raise AuthError("bad_token", "this token is not valid (unknown, replaced or "
                            "revoked): ask your lead for a new one")
        now = store.now()
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        conn.execute("INSERT INTO web_sessions VALUES (?, ?, ?, ?, ?, NULL)",
                     (sha256(sid), row[0], csrf, now, now + session_seconds))
        conn.execute("UPDATE web_users SET last_login = ? WHERE name = ?", (now, row[0]))
        conn.execute("DELETE FROM web_sessions WHERE COALESCE(ended_at, expires_at) < ?",
                     (now - _KEEP_ENDED_S,))
    return sid, Session(row[0], row[1], csrf, now + session_seconds)


def session(store: ReviewStore, sid: str | None) -> Session:
    """The live session of cookie value `sid`; AuthError saying why there is none."""
    if not sid:
        raise AuthError("no_session", "not logged in: log in with your token")
    row = store.conn.execute(
        "SELECT s.name, u.role, s.csrf, s.expires_at, s.ended_at, u.revoked_at FROM "
        "web_sessions s JOIN web_users u ON u.name = s.name WHERE s.sid_sha256 = ?",
        (sha256(sid),)).fetchone()
    if row is None:
        raise AuthError("no_session", "not logged in (or the session was removed): log in "
                        "with your token")
    if row[5] is not None:
        raise AuthError("revoked", "your account was revoked: ask your lead")
    if row[4] is not None or row[3] <= store.now():
        raise AuthError("expired", "your session expired: log in again with your token")
    return Session(row[0], row[1], row[2], row[3])


def logout(store: ReviewStore, sid: str) -> None:
    with store.write() as conn:
        conn.execute("UPDATE web_sessions SET ended_at = ? WHERE sid_sha256 = ? AND ended_at "
                     "IS NULL", (store.now(), sha256(sid)))


def csrf_ok(sess: Session, header: str | None) -> bool:
    """The request's X-CSRF-Token matches the session's (constant-time comparison)."""
    return bool(header) and hmac.compare_digest(sess.csrf.encode(), (header or "").encode())
