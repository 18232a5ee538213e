"""PostgreSQL stopped while events stream in: nothing lost, nothing doubled (SPEC §2, §5).

The worker must not move past records it could not apply: while the database is down its
partitions stay parked, and once it is back they are sought to the stored offsets.
"""

import json
import signal
import time

import psycopg
import pytest

from tests.faults.toggle import applied, check, events, prepare, stream_paced, with_duplicates
from tests.support.services import OwnPostgres
from tests.support.worker_process import start_worker, wait_for

SLICES = 60  # produced every 0.25 s: the stream lasts about 15 s
OUTAGES = ((2.5, "fast"), (6.5, "immediate"), (10.5, "fast"))  # seconds into the stream, stop mode
DOWN_S = 2.5


@pytest.fixture
def own_postgres(tmp_path):
    pg = OwnPostgres(tmp_path / "pg")
    yield pg
    pg.close()


def test_three_outages_mid_stream_lose_and_double_nothing(own_postgres, kafka_bootstrap, topics, tmp_path):
    pg = own_postgres
    with psycopg.connect(pg.url, autocommit=True) as db:
        env = prepare(db, pg.url, kafka_bootstrap, topics)
    sent = with_duplicates(events(9_000))
    log = tmp_path / "worker.log"
    worker = start_worker(env, log, idle_s=None)
    wait_for(lambda: b'"partitions_sought"' in log.read_bytes(), 60, "the worker to be consuming")

    began = time.monotonic()
    producer = stream_paced(kafka_bootstrap, topics.input, sent, len(sent) // SLICES + 1, 0.25)
    for at, mode in OUTAGES:
        time.sleep(max(0.0, began + at - time.monotonic()))
        pg.stop(mode)
        time.sleep(DOWN_S)
        pg.start()
    producer.join()
    with psycopg.connect(pg.url, autocommit=True) as db:
        wait_for(lambda: applied(db, sent), 120, "every event applied and published")
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=30)
        assert 0 == worker.returncode, log.read_text()[-3000:]
        check(db, sent, kafka_bootstrap, topics.output)
    text = log.read_text()
    # Every outage was met by the loop (the first failure after a committed batch: one per outage
    # at least; it is a batch in flight, or the scheduler when the outage began between batches),
    # and batches in flight were among what failed.
    worker_lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    first_failures = [
        line for line in worker_lines
        if line.get("decision") == "outage" and line.get("failures_in_a_row") == 1
        and not str(line["event"]).startswith("relay")
    ]  # fmt: skip
    assert len(first_failures) >= len(OUTAGES), [line["event"] for line in first_failures]
    assert any(line["event"] == "batch_failed" for line in worker_lines)
    # Every failed batch parked the partitions, and they were sought back after it (the start's
    # seek comes on top). An outage the scheduler met first parks nothing.
    failed_batches = [line for line in first_failures if line["event"] == "batch_failed"]
    assert sum(line["event"] == "partitions_sought" for line in worker_lines) > len(failed_batches)
