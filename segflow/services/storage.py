"""The database's upkeep, for `segflow db` and the worker: the schema brought up to date with
the time partitions this configuration writes to, what is past its retention removed, the
bytes on disk by kind and the outbox's backlog (docs/operations.md)."""

from __future__ import annotations

from datetime import datetime, timedelta

from db import Conn, maintenance, outbox
from db import migrate as migrations
from db.maintenance import EPOCH as EPOCH  # "no partitions seen yet", for the worker
from db.maintenance import Pruned as Pruned  # what a prune removed
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


def backlog(conn: Conn) -> tuple[int, float]:
    """(output events queued and not yet published, seconds the oldest of them has waited)."""
    return outbox.backlog(conn)


def dedup_width(config: Config) -> timedelta:
    """The buckets input event ids are claimed in, for the configured dedup window."""
    return maintenance.dedup_width(config.dedup_window)


def partitions_ahead(config: Config) -> timedelta:
    """How far ahead of now the pruner keeps the time partitions."""
    return maintenance.ahead(config.prune_every)


def partitions_until(conn: Conn, config: Config) -> datetime:
    """Create the time partitions rows will be written to for a while; returns until when."""
    return maintenance.ensure_partitions(conn, retentions_of(config), None, config.prune_every)
