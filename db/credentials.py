"""Per-store API keys for integrations. Keys leave this module only as SecretStr."""

from __future__ import annotations

from pydantic import SecretStr

from db import Conn
from db.queries import sql

_SET = sql("set_credential")
_GET = sql("get_credential")


def set_key(conn: Conn, store_id: str, provider: str, api_key: SecretStr) -> None:
    conn.execute(_SET, {"store_id": store_id, "provider": provider, "api_key": api_key.get_secret_value()})


def get_key(conn: Conn, store_id: str, provider: str) -> SecretStr | None:
    row = conn.execute(_GET, {"store_id": store_id, "provider": provider}).fetchone()
    return SecretStr(row[0]) if row else None
