"""The relay child killed by kill -9 (as the OOM killer does): the worker notices, starts another
that finishes what the dead one left half done, and still stops promptly on SIGTERM."""

import json
import signal
import time
from functools import partial

import psutil

from segflow.worker.relay import STOP_GRACE_S
from tests.faults.toggle import applied, check, events, prepare, stream_paced, with_duplicates
from tests.support.worker_process import start_worker, wait_for


def relay_of(worker):
    """The worker's relay child (spawned: `multiprocessing.spawn`, not a resource tracker)."""
    children = [
        child
        for child in psutil.Process(worker.pid).children()
        if "spawn_main" in " ".join(child.cmdline()) and "resource_tracker" not in " ".join(child.cmdline())
    ]
    return children[0] if len(children) == 1 else None


def published_at_least(db, count):
    return db.execute("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL").fetchone()[0] >= count


def logged(log, event):
    return [line for line in map(json.loads, log.read_text().splitlines()) if line.get("event") == event]


def test_a_killed_relay_is_replaced_and_nothing_is_published_twice(db, database_url, kafka_bootstrap, topics, tmp_path):
    env = prepare(db, database_url, kafka_bootstrap, topics)
    sent = with_duplicates(events(12_000))
    log = tmp_path / "worker.log"
    worker = start_worker(env, log, idle_s=None)
    wait_for(lambda: relay_of(worker) is not None, 30, "the relay started")

    producer = stream_paced(kafka_bootstrap, topics.input, sent, 400, 0.1)
    killed = []
    for published in (3_000, 12_000):  # kill it twice, the second time the new one
        wait_for(partial(published_at_least, db, published), 60, f"{published} events published")
        relay = relay_of(worker)
        assert relay is not None and relay.pid not in killed
        relay.kill()
        killed.append(relay.pid)
    producer.join()
    wait_for(lambda: applied(db, sent), 90, "every event applied and published by a new relay")
    assert len(logged(log, "relay_died")) == 2
    check(db, sent, kafka_bootstrap, topics.output)

    # A relay killed while the worker may be about to wake it: SIGTERM still stops the worker.
    wait_for(lambda: relay_of(worker) is not None, 30, "a relay running again")
    relay_of(worker).kill()
    asked = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    worker.communicate(timeout=60)
    took = time.monotonic() - asked
    assert 0 == worker.returncode, log.read_text()[-3000:]
    assert took < STOP_GRACE_S + 5, took
