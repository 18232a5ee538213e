"""Forward-only schema migrations: `db/migrations/NNNN_name.sql`, applied in order.

All pending files apply in one transaction under a transaction-scoped advisory lock, so two
processes migrating at once serialise: the second waits, then finds nothing left to do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files

from db import Conn
from db.queries import sql

# Arbitrary but fixed: the advisory lock key every segflow process uses for migrations.
MIGRATION_LOCK_KEY = 0x5E6F_1000

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_CREATE_TABLE = sql("create_schema_migrations")
_APPLIED = sql("applied_migrations")
_RECORD = sql("record_migration")
_LOCK = sql("lock_migrations")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    text: str


def available() -> list[Migration]:
    found: list[Migration] = []
    for entry in files("db").joinpath("migrations").iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migration files are not numbered 1..n without gaps: {versions}")
    return found


def applied(conn: Conn) -> set[int]:
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return set()
    return {row[0] for row in conn.execute(_APPLIED).fetchall()}


def pending(conn: Conn) -> list[Migration]:
    done = applied(conn)
    return [m for m in available() if m.version not in done]


def migrate(conn: Conn) -> list[Migration]:
    """Apply what is pending; returns what this call applied (empty if another process did)."""
    with conn.transaction():
        conn.execute(_LOCK, {"key": MIGRATION_LOCK_KEY})
        conn.execute(_CREATE_TABLE)
        todo = pending(conn)
        for migration in todo:
            conn.execute(migration.text.encode())
            conn.execute(_RECORD, {"version": migration.version, "name": migration.name})
    return todo
