"""The database's upkeep, for `segflow db` and the worker: the schema brought up to date with
the time partitions this configuration writes to, what is past its retention removed, and the
bytes on disk by kind (docs/operations.md)."""

from __future__ import annotations

from db import Conn, maintenance
from db import migrate as migrations
from db.maintenance import Pruned
from db.migrate import Migration
from segflow.infra.config import Config
from segflow.infra.database import ensure_partitions, retentions_of


def migrate(conn: Conn, config: Config) -> tuple[list[Migration], int]:
    """Apply pending migrations (safe twice, or from two processes at once); (applied, version)."""
    applied = migrations.migrate(conn)
    version = max(migrations.applied(conn), default=0)
    ensure_partitions(conn, config)
    return applied, version


def prune(conn: Conn, config: Config) -> Pruned:
    """Remove what is past its retention now; `skipped` when another process is pruning."""
    return maintenance.prune(conn, retentions_of(config), None, config.prune_every)


def sizes(conn: Conn) -> tuple[int, dict[str, int]]:
    """(total bytes, bytes by kind), indexes and partitions included."""
    return maintenance.sizes(conn)
