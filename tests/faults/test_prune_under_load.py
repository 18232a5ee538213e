"""Pruning millions of expired rows while a worker applies a paced stream (SPEC §11): no batch
waits on it, and every event is still applied exactly once.

The expired rows are 2,000,000 journey steps in journeys' first partition (what migration 0014
made of the old table, up to when the test database was migrated), past a journey retention of
one minute as of two minutes from now. The worker's own journey steps go to the partition after
it, which stays.
"""

import itertools
import json
import signal
from datetime import datetime, timedelta
from pathlib import Path

import psycopg

from db import maintenance
from tests.faults.toggle import applied, check, events, prepare, stream_paced
from tests.support.worker_process import start_worker, wait_for

EXPIRED = 2_000_000
SLICES = 48  # produced every 0.25 s: the stream lasts about 12 s
MAX_GAP_S = 2.0


def batch_times(log: Path) -> list[datetime]:
    """When the worker committed each batch, from its own log lines."""
    times = []
    for line in log.read_text().splitlines():
        if '"batch_applied"' in line:
            times.append(datetime.fromisoformat(json.loads(line)["timestamp"]))
    return times


def test_a_prune_of_two_million_rows_holds_up_no_batch(database_url, kafka_bootstrap, topics, tmp_path):
    with psycopg.connect(database_url, autocommit=True) as db:
        env = prepare(db, database_url, kafka_bootstrap, topics)
        db.execute(
            "INSERT INTO journeys_p0 (id, store_id, customer_id, at, entries, written_at) "
            "SELECT g, 'acme', g, timestamptz '2026-01-01', '[]', timestamptz '2026-01-01' "
            "FROM generate_series(1, %s) AS g",
            (EXPIRED,),
        )
    sent = events(4_800)
    log = tmp_path / "worker.log"
    worker = start_worker(env, log, idle_s=None)
    wait_for(lambda: b'"partitions_sought"' in log.read_bytes(), 60, "the worker to be consuming")

    producer = stream_paced(kafka_bootstrap, topics.input, sent, len(sent) // SLICES + 1, 0.25)
    wait_for(lambda: len(batch_times(log)) >= 8, 60, "the stream to be flowing")
    policies = maintenance.retentions(timedelta(days=8), timedelta(days=31), timedelta(minutes=1), timedelta(hours=1))
    with psycopg.connect(database_url, autocommit=True) as maintenance_conn:
        as_of = maintenance.database_now(maintenance_conn) + timedelta(minutes=2)
        pruned = maintenance.prune(maintenance_conn, policies, as_of, timedelta(minutes=5))
        prune_ended = maintenance.database_now(maintenance_conn)
    producer.join()

    with psycopg.connect(database_url, autocommit=True) as db:
        wait_for(lambda: applied(db, sent), 120, "every event applied and published")
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=30)
        assert 0 == worker.returncode, log.read_text()[-3000:]
        check(db, sent, kafka_bootstrap, topics.output)
    assert pruned.removed["journey_steps"] >= EXPIRED
    committed = batch_times(log)
    assert committed[-1] > prune_ended, "the stream should outlast the prune"
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(committed)]
    assert max(gaps) < MAX_GAP_S, f"a batch waited {max(gaps):.2f} s (prune took {pruned.seconds} s)"
