"""Storage over months (SPEC §11): what the database holds by kind, the time partitions of the
tables that grow with events, and removing what is past its retention.

The growing tables (migration 0014) are partitioned by the time the database wrote a row. A
partition is `width` wide on a grid from the epoch; the width follows the retention (a quarter
of it, half for the dedup window, on a ladder whose steps divide each other, so a changed
retention still fits the grid).
Partitions are created ahead of time, and one whose rows are all past the retention is detached
with DETACH ... CONCURRENTLY and dropped: no row is deleted, the space goes back to the disk at
once, and no lock is taken that a batch waits on (detaching concurrently and attaching take
SHARE UPDATE EXCLUSIVE on the table, which inserts, updates and reads do not conflict with).

Not tenant code: maintenance works across stores by design, like the migrations. Creating and
detaching partitions needs a connection in autocommit mode (DETACH CONCURRENTLY cannot run in
a transaction block).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from psycopg import sql as q

from db import Conn
from db.queries import sql

_SIZES = sql("relation_sizes")
_PARTITIONS = sql("retention_partitions")
_LOCK_PARTITIONS = sql("lock_partitions")
_RECORD = sql("record_partition")
_FORGET = sql("forget_partition")
_STATE = sql("partition_state")
_TRY_LOCK = sql("try_maintenance_lock")
_UNLOCK = sql("maintenance_unlock")
_NOW = sql("database_now")
_CREATE = q.SQL(sql("create_partition"))
_ATTACH = q.SQL(sql("attach_partition"))
_DETACH = q.SQL(sql("detach_partition"))
_FINALIZE = q.SQL(sql("finish_detaching_partition"))
_ROWS = q.SQL(sql("partition_rows"))
_UNPUBLISHED = q.SQL(sql("partition_unpublished"))
_DROP = q.SQL(sql("drop_partition"))

# Arbitrary but fixed advisory lock keys (beside the migrations' 0x5E6F_1000).
PARTITION_LOCK_KEY = 0x5E6F_1001
MAINTENANCE_LOCK_KEY = 0x5E6F_1002

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
WIDTHS = tuple(
    timedelta(minutes=m) for m in (1, 5, 15, 60, 6 * 60, 24 * 60, 2 * 24 * 60, 4 * 24 * 60)
)  # each divides the next, so partitions of different widths share one grid
AHEAD_PRUNES = 4
"""Partitions are created to cover this many runs of the pruner ahead: few partitions ahead
(every partition is one more for reads to look into), and a pruner that missed a few rounds
still leaves rows somewhere to go."""

KINDS: dict[str, tuple[str, ...]] = {
    "event_ids": ("processed_events",),
    "runs": ("live_runs", "finished_runs", "flow_entries"),
    "journey_steps": ("journeys",),
    "outbox_events": ("outbox_batches",),
    "segments": ("segments", "segment_members"),
    "customers": ("customers",),
}
"""The tables each kind of `db size` counts; everything else in the database is `other`."""


@dataclass(frozen=True, slots=True)
class Retention:
    """How long one kind's rows are kept, and the partitioned table that holds them."""

    kind: str
    table: str
    keep: timedelta
    only_published: bool = False
    """The outbox: a partition with a row the relay has not published yet is never dropped."""
    parts: int = 4
    """Partitions per retention: more keep less past it, fewer cost reads less."""

    @property
    def width(self) -> timedelta:
        return partition_width(self.keep, self.parts)


def retentions(
    dedup_window: timedelta, run_retention: timedelta, journey_retention: timedelta, outbox_retention: timedelta
) -> tuple[Retention, ...]:
    """The partitioned tables and their retentions (SPEC §8)."""
    return (
        # Every claim probes each dedup partition before its bucket (claim_events): two per window.
        Retention("event_ids", "processed_events", dedup_window, parts=DEDUP_PARTS),
        Retention("runs", "finished_runs", run_retention),
        Retention("journey_steps", "journeys", journey_retention),
        Retention("outbox_events", "outbox_batches", outbox_retention, only_published=True),
    )


DEDUP_PARTS = 2


DEFAULT_RETENTIONS = retentions(timedelta(days=8), timedelta(days=31), timedelta(days=31), timedelta(hours=1))
"""SPEC §8's defaults (segflow.infra.config reads the configured ones), for tests and tools that
write without a configuration."""
DEFAULT_PRUNE_EVERY = timedelta(minutes=5)


def partition_width(keep: timedelta, parts: int = 4) -> timedelta:
    """The widest step of WIDTHS no wider than `keep / parts`: expired rows then wait at most
    that long for their partition to go."""
    target = keep / parts
    return max((w for w in WIDTHS if w <= target), default=WIDTHS[0])


def dedup_width(window: timedelta) -> timedelta:
    """The buckets event ids are claimed in: processed_events' partition width."""
    return partition_width(window, DEDUP_PARTS)


def bucket(at: datetime, width: timedelta) -> datetime:
    """The start of the grid cell `at` falls in (what PostgreSQL's date_bin from the epoch gives)."""
    return EPOCH + ((at - EPOCH) // width) * width


def dedup_grace(width: timedelta) -> timedelta:
    """How long after a bucket starts an event id is claimed in the bucket before it too
    (claim_events): longer than any transaction of the bucket before stays open."""
    return min(width / 2, timedelta(minutes=10))


# --- sizes -----------------------------------------------------------------------------------


def table_sizes(conn: Conn, tables: list[str]) -> dict[str, int]:
    """Bytes of each table (indexes, TOAST and partitions included); '' is the whole database."""
    return {name: int(size) for name, size in conn.execute(_SIZES, {"tables": tables})}


def sizes(conn: Conn) -> tuple[int, dict[str, int]]:
    """The database's bytes, and by kind (KINDS, then `other`)."""
    by_table = table_sizes(conn, [t for tables in KINDS.values() for t in tables])
    total = by_table.pop("")
    kinds = {kind: sum(by_table[t] for t in tables) for kind, tables in KINDS.items()}
    kinds["other"] = max(total - sum(kinds.values()), 0)
    return total, kinds


# --- partitions ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Partition:
    parent: str
    name: str
    lower: datetime | None
    """None: from the beginning of time (the table's rows from before migration 0014)."""
    upper: datetime


def partitions(conn: Conn) -> dict[str, list[Partition]]:
    """Each partitioned table's partitions, oldest first."""
    found: dict[str, list[Partition]] = {}
    for parent, name, lower, upper in conn.execute(_PARTITIONS):
        found.setdefault(parent, []).append(Partition(parent, name, lower, upper))
    return found


def ahead(prune_every: timedelta) -> timedelta:
    return AHEAD_PRUNES * prune_every


def database_now(conn: Conn) -> datetime:
    """The database's clock: what rows are partitioned by."""
    row = conn.execute(_NOW).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def ensure_partitions(
    conn: Conn, policies: Sequence[Retention], now: datetime | None, prune_every: timedelta
) -> datetime:
    """Create the partitions that rows written from `now` (None: the database's now) until well
    ahead need; returns how far every table is covered. Cheap when nothing is missing."""
    now = now or database_now(conn)
    covered = _covered(partitions(conn), policies)
    if all(covered[p.table] >= now + ahead(prune_every) for p in policies):
        return min(covered.values())
    with conn.transaction():
        conn.execute(_LOCK_PARTITIONS, {"key": PARTITION_LOCK_KEY})
        existing = partitions(conn)  # again, under the lock: another process may have made them
        for policy in policies:
            _extend(conn, policy, existing.get(policy.table, []), now, now + ahead(prune_every))
        return min(_covered(partitions(conn), policies).values())


def _covered(existing: dict[str, list[Partition]], policies: Sequence[Retention]) -> dict[str, datetime]:
    return {p.table: max((x.upper for x in existing.get(p.table, [])), default=EPOCH) for p in policies}


def _extend(conn: Conn, policy: Retention, existing: list[Partition], now: datetime, until: datetime) -> None:
    """Partitions from the end of the last one (or, after a gap, from the bucket before now's: a
    claim may write there) up to `until`, each ending on the grid."""
    width = policy.width
    start = max([bucket(now, width) - width, *(p.upper for p in existing)])
    while start < until:
        end = bucket(start, width) + width
        name = f"{policy.table}_p{start:%Y%m%d%H%M}"
        table, part = q.Identifier(policy.table), q.Identifier(name)
        conn.execute(_CREATE.format(table=table, partition=part))
        conn.execute(_ATTACH.format(table=table, partition=part, lower=q.Literal(start), upper=q.Literal(end)))
        conn.execute(_RECORD, {"parent": policy.table, "name": name, "lower": start, "upper": end})
        start = end


# --- pruning ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Pruned:
    removed: dict[str, int] = field(default_factory=dict)
    """Rows removed, by kind."""
    seconds: float = 0.0
    skipped: bool = False
    """Another process was pruning: this one did nothing."""


def prune(conn: Conn, policies: Sequence[Retention], now: datetime | None, prune_every: timedelta) -> Pruned:
    """Drop every partition past its retention at `now` (None: the database's now), roll up flow
    counts, and create the partitions ahead. One pruner at a time (a session advisory lock);
    `conn` must be in autocommit mode."""
    from db import flows as flow_rows  # db.flows imports the engine's types; only pruning needs it

    now = now or database_now(conn)
    started = time.monotonic()
    result = Pruned(removed={p.kind: 0 for p in policies})
    row = conn.execute(_TRY_LOCK, {"key": MAINTENANCE_LOCK_KEY}).fetchone()
    if not (row and row[0]):
        result.skipped = True
        return result
    try:
        existing = partitions(conn)
        for policy in policies:
            for partition in existing.get(policy.table, []):
                if expired(partition, policy, now):
                    result.removed[policy.kind] += _drop(conn, policy, partition)
        result.removed["flow_counts"] = flow_rows.roll_up_counts(conn)
        ensure_partitions(conn, policies, now, prune_every)
    finally:
        conn.execute(_UNLOCK, {"key": MAINTENANCE_LOCK_KEY})
    result.seconds = round(time.monotonic() - started, 3)
    return result


def expired(partition: Partition, policy: Retention, now: datetime) -> bool:
    """Whether every row of the partition was written at least `policy.keep` before `now`.

    A row's partition key can be earlier than when it was written: claim_events files an id
    under the start of its bucket, up to a width earlier. In a partition on the grid that changes
    nothing (a bucket ends by the partition's end); a partition off the grid (migration 0014's
    first ones, or one from before the retention changed) waits one width longer.
    """
    on_grid = bucket(partition.upper, policy.width) == partition.upper
    return partition.upper + (timedelta(0) if on_grid else policy.width) <= now - policy.keep


def _drop(conn: Conn, policy: Retention, partition: Partition) -> int:
    """Detach the partition without blocking writers, then drop it; returns its rows (0 when it
    must stay: the outbox's with rows still to publish)."""
    table, part = q.Identifier(policy.table), q.Identifier(partition.name)
    state = _state(conn, partition.name)
    if state == "attached" and policy.only_published and _has_unpublished(conn, part):
        return 0
    if state == "pending":  # a detach that was interrupted
        conn.execute(_FINALIZE.format(table=table, partition=part))
    elif state == "attached":
        conn.execute(_DETACH.format(table=table, partition=part))
    if state is not None and policy.only_published and _has_unpublished(conn, part):
        # A transaction that began before the partition's end queued a row in it after the
        # check above: detaching waited for it to commit. Put the partition back.
        lower = q.SQL("MINVALUE") if partition.lower is None else q.Literal(partition.lower)
        conn.execute(_ATTACH.format(table=table, partition=part, lower=lower, upper=q.Literal(partition.upper)))
        return 0
    rows = 0
    with conn.transaction():
        if state is not None:
            count = conn.execute(_ROWS.format(partition=part)).fetchone()
            rows = int(count[0]) if count else 0
            conn.execute(_DROP.format(partition=part))
        conn.execute(_FORGET, {"name": partition.name})
    return rows


def _state(conn: Conn, name: str) -> str | None:
    row = conn.execute(_STATE, {"name": name}).fetchone()
    return row[0] if row else None


def _has_unpublished(conn: Conn, part: q.Identifier) -> bool:
    row = conn.execute(_UNPUBLISHED.format(partition=part)).fetchone()
    return bool(row and row[0])
