"""Who may use the console and the HTTP API (SPEC §10): store access tokens and sessions.

A token is `sf_` and 43 URL-safe characters (256 random bits). It is shown once, when made,
and stored only as its SHA-256; its first 12 characters name it for revoking.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from db import Conn
from db import access as access_rows
from db.access import Session, TokenOwner
from segflow.errors import InvalidInput, NotFound
from segflow.services import stores

TOKEN_PREFIX = "sf_"  # noqa: S105 - a marker, not a secret
NAME_LENGTH = 12
"""The token's first characters, kept to name it (`sf_` and 9 random ones)."""
SESSION_LIFETIME = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class NewToken:
    store_id: str
    token: str
    created_at: datetime


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def new_token(conn: Conn, store_id: str) -> NewToken:
    stores.require(conn, store_id)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with conn.transaction():
        created_at = access_rows.insert_token(conn, store_id, token[:NAME_LENGTH], _digest(token))
    return NewToken(store_id, token, created_at)


def revoke(conn: Conn, store_id: str, prefix: str) -> list[str]:
    """Revoke STORE's live tokens that start with `prefix` (at least 8 characters; a whole token
    works too). Returns the revoked tokens' names."""
    stores.require(conn, store_id)
    prefix = prefix.strip()
    if len(prefix) < 8 or not prefix.startswith(TOKEN_PREFIX):
        raise InvalidInput(f"token prefix {prefix[:NAME_LENGTH]!a} is too short: give at least its first 8 characters")
    with conn.transaction():
        revoked = access_rows.revoke(conn, store_id, prefix[:NAME_LENGTH])
    if not revoked:
        raise NotFound(f"no live token of store {store_id} starts with {prefix[:NAME_LENGTH]!a}")
    return revoked


def token_owner(conn: Conn, token: str) -> TokenOwner | None:
    """The store a live token gives access to; None for anything else."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    return access_rows.token_owner(conn, _digest(token))


@dataclass(frozen=True, slots=True)
class NewSession:
    cookie: str
    store_id: str
    csrf_token: str


def sign_in(conn: Conn, token: str) -> NewSession | None:
    owner = token_owner(conn, token)
    if owner is None:
        return None
    cookie, csrf_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with conn.transaction():
        access_rows.insert_session(conn, _digest(cookie), owner, csrf_token, SESSION_LIFETIME)
    return NewSession(cookie, owner.store_id, csrf_token)


def session(conn: Conn, cookie: str) -> Session | None:
    return access_rows.session(conn, _digest(cookie))


def set_notice(conn: Conn, cookie: str, notice: dict[str, Any] | None) -> None:
    """What the next page of this session shows once (a form's result); None clears it."""
    access_rows.set_notice(conn, _digest(cookie), notice)


def sign_out(conn: Conn, cookie: str) -> None:
    access_rows.delete_session(conn, _digest(cookie))


def same_secret(given: str, expected: str) -> bool:
    return secrets.compare_digest(given.encode(), expected.encode())
