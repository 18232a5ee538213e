"""Store access tokens and console sessions (SPEC §10). Only hashes are stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from db import Conn
from db.queries import sql

_INSERT_TOKEN = sql("insert_store_token")
_TOKEN_STORE = sql("token_store")
_REVOKE = sql("revoke_store_tokens")
_END_SESSIONS = sql("end_token_sessions")
_INSERT_SESSION = sql("insert_console_session")
_SESSION = sql("console_session")
_DELETE_SESSION = sql("delete_console_session")
_PRUNE_SESSIONS = sql("prune_console_sessions")
_SET_NOTICE = sql("set_console_notice")


@dataclass(frozen=True, slots=True)
class TokenOwner:
    token_id: int
    store_id: str


@dataclass(frozen=True, slots=True)
class Session:
    store_id: str
    csrf_token: str
    notice: dict[str, Any] | None


def insert_token(conn: Conn, store_id: str, prefix: str, token_hash: bytes) -> datetime:
    row = conn.execute(_INSERT_TOKEN, {"store_id": store_id, "prefix": prefix, "token_hash": token_hash}).fetchone()
    assert row is not None
    created_at: datetime = row[1]
    return created_at


def token_owner(conn: Conn, token_hash: bytes) -> TokenOwner | None:
    row = conn.execute(_TOKEN_STORE, {"token_hash": token_hash}).fetchone()
    return TokenOwner(row[0], row[1]) if row else None


def revoke(conn: Conn, store_id: str, prefix: str) -> list[str]:
    """The prefixes of the tokens revoked; their console sessions end with them."""
    rows = conn.execute(_REVOKE, {"store_id": store_id, "prefix": prefix}).fetchall()
    conn.execute(_END_SESSIONS, {"store_id": store_id, "token_ids": [row[0] for row in rows]})
    return [row[1] for row in rows]


def insert_session(conn: Conn, id_hash: bytes, owner: TokenOwner, csrf_token: str, lifetime: timedelta) -> None:
    conn.execute(_PRUNE_SESSIONS)
    conn.execute(
        _INSERT_SESSION,
        {"id_hash": id_hash, "token_id": owner.token_id, "store_id": owner.store_id, "csrf_token": csrf_token,
         "lifetime": lifetime},
    )  # fmt: skip


def session(conn: Conn, id_hash: bytes) -> Session | None:
    row = conn.execute(_SESSION, {"id_hash": id_hash}).fetchone()
    return Session(row[0], row[1], row[2]) if row else None


def set_notice(conn: Conn, id_hash: bytes, notice: dict[str, Any] | None) -> None:
    conn.execute(_SET_NOTICE, {"id_hash": id_hash, "notice": None if notice is None else Jsonb(notice)})


def delete_session(conn: Conn, id_hash: bytes) -> None:
    conn.execute(_DELETE_SESSION, {"id_hash": id_hash})
