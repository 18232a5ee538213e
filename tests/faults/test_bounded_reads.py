"""No statement of the worker's loop reads a table in proportion to its size (SPEC §5, "Never
wedged"): with every growing table holding far more rows than the work at hand touches, a
worker run reads only about what it works on.

PostgreSQL's own counters say how many rows each table handed out (`seq_tup_read` +
`idx_tup_fetch`, partitions summed into their table), over the whole run: consumer batches,
scheduler ticks, the relay, the Klaviyo sync check and the pruner. The filler is what months of
production leave behind: waits due in a store whose flow no segflow can read (the store rests,
and its waits stay due), waits due in a month, finished runs, journeys, event ids, published
outbox batches, a big segment and thousands of Klaviyo segments synced an hour ago.
"""

import threading
import time
from datetime import UTC, datetime, timedelta

from segflow.worker import Worker
from tests.faults.test_upgrade import good_and_broken_stores, write_as_an_older_segflow

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
LATER = T0 + timedelta(hours=2)
FILLER = 10_000
"""Rows of each kind; the run itself touches about a hundred."""

TABLE_READS = """
SELECT root::regclass::text, sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0))::bigint
FROM (SELECT coalesce(pg_partition_root(relid), relid) AS root, seq_tup_read, idx_tup_fetch
      FROM pg_stat_user_tables) AS tables
GROUP BY root
"""


def fill(db) -> None:
    """FILLER rows of each kind the worker's statements could trip over."""
    params = {"n": FILLER, "due": T0 + timedelta(minutes=30), "later": T0 + timedelta(days=30), "t0": T0,
              "synced": LATER - timedelta(hours=1), "next": LATER + timedelta(hours=23)}  # fmt: skip
    for statement in (
        "INSERT INTO customers (store_id, email) SELECT s, 'f' || i || '@example.com'"
        " FROM generate_series(1, %(n)s) AS i, unnest(ARRAY['good', 'broken']) AS s",
        # The broken store's waits are due and stay due: its wake fails, so it rests.
        "INSERT INTO live_runs (store_id, key, customer_id, flow_id, flow_version, node_id, status, wake_at,"
        " entered_at, updated_at) SELECT 'broken', 'filler-' || id, id, 'later', 1, 'pause', 'waiting',"
        " %(due)s, %(t0)s, %(t0)s FROM customers WHERE store_id = 'broken' AND email LIKE 'f%%'",
        "INSERT INTO live_runs (store_id, key, customer_id, flow_id, flow_version, node_id, status, wake_at,"
        " entered_at, updated_at) SELECT 'good', 'filler-' || id, id, 'later', 1, 'pause', 'waiting',"
        " %(later)s, %(t0)s, %(t0)s FROM customers WHERE store_id = 'good' AND email LIKE 'f%%'",
        "INSERT INTO finished_runs (store_id, key, customer_id, flow_id, flow_version, node_id, status,"
        " entered_at, updated_at) SELECT 'good', 'done-' || id, id, 'later', 1, NULL, 'completed', %(t0)s,"
        " %(t0)s FROM customers WHERE store_id = 'good' AND email LIKE 'f%%'",
        "INSERT INTO journeys (store_id, customer_id, at, entries) SELECT 'good', id, %(t0)s, '[]'"
        " FROM customers WHERE store_id = 'good' AND email LIKE 'f%%'",
        "INSERT INTO processed_events (store_id, event_id, processed_at)"
        " SELECT 'good', 'old-' || i, now() FROM generate_series(1, %(n)s) AS i",
        "INSERT INTO outbox_batches (store_id, size, event_ids, event_types, keys, payloads, published_at)"
        " SELECT 'good', 1, ARRAY['out-' || i], ARRAY['flow.entered'], ARRAY['k'], ARRAY['{}'], now()"
        " FROM generate_series(1, %(n)s) AS i",
        "INSERT INTO segments (store_id, name, source) VALUES ('good', 'Everyone', 'manual')",
        "INSERT INTO segment_members (store_id, segment_id, customer_id, added_by) SELECT 'good', s.id, c.id, 'csv'"
        " FROM customers c, segments s WHERE c.store_id = 'good' AND c.email LIKE 'f%%' AND s.name = 'Everyone'",
        "INSERT INTO segments (store_id, name, source, external_type, external_id, auto_sync, last_synced_at,"
        " next_sync_at) SELECT 'good', 'Klaviyo ' || i, 'klaviyo', 'list', 'L' || i, true, %(synced)s, %(next)s"
        " FROM generate_series(1, %(n)s) AS i",
    ):
        db.execute(statement, params)
    db.execute("ANALYZE")


def table_reads_after(db, run) -> dict[str, int]:
    """Rows each table handed out while `run` ran (counted once the worker's sessions ended)."""
    db.execute("SELECT pg_stat_force_next_flush()")  # this session's own counts so far, then none
    db.execute("SELECT pg_stat_reset()")
    run()
    deadline = time.monotonic() + 10
    while (
        db.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()[0]
        and time.monotonic() < deadline
    ):
        time.sleep(0.1)  # a session's counts reach the shared ones when it ends
    db.execute("SELECT pg_stat_clear_snapshot()")
    return dict(db.execute(TABLE_READS).fetchall())


def test_the_worker_reads_no_table_in_proportion_to_its_size(db, config):
    good_and_broken_stores(db, config, T0)  # 20 orders each: good's start runs, broken's are dead-lettered
    write_as_an_older_segflow(db, "broken", "later", "tag", "type", "teleport")  # no segflow can read it
    fill(db)
    # 20 of the good store's waits are due too: they wake, tag and complete.
    db.execute(
        "UPDATE live_runs SET wake_at = %s WHERE store_id = 'good' AND key IN"
        " (SELECT key FROM live_runs WHERE store_id = 'good' ORDER BY key LIMIT 20)",
        (T0 + timedelta(hours=1),),
    )

    def later_run() -> None:
        worker = Worker(config, config.database_url, clock=lambda: LATER, stop_when_idle=1.5)
        deadline = threading.Timer(90, worker.stop)  # a worker that spins never idles
        deadline.start()
        try:
            worker.run()
        finally:
            deadline.cancel()

    reads = table_reads_after(db, later_run)

    proportional = {table: n for table, n in reads.items() if n > FILLER // 2}
    assert {} == proportional, f"tables read in proportion to their size: {proportional}"
    waiting = dict(db.execute("SELECT store_id, count(*) FROM live_runs WHERE status = 'waiting' GROUP BY 1"))
    completed = dict(db.execute("SELECT store_id, count(*) FROM runs WHERE status = 'completed' GROUP BY 1"))
    # good: 20 due waits woke and completed, 20 new customers wait; broken: rested, its events dead-lettered
    assert {"good": FILLER - 20 + 20, "broken": FILLER} == waiting
    assert {"good": FILLER + 20} == completed
