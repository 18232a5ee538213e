"""What the benchmarks share: a throw-away database on a PostgreSQL server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import psycopg
from psycopg.conninfo import make_conninfo

from db.migrate import migrate
from segflow.infra.config import Config
from segflow.infra.database import ensure_partitions


@contextmanager
def scratch_database(admin_url: str, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """A freshly migrated database on the server at `admin_url`, dropped afterwards, with the
    time partitions for the retentions `env` configures (SEGFLOW_*; the defaults without)."""
    name = f"segflow_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"'.encode())
    try:
        url = make_conninfo(admin_url, dbname=name)
        with psycopg.connect(url, autocommit=True) as conn:
            migrate(conn)
            ensure_partitions(conn, Config.from_env(env or {}))
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
