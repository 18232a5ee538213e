"""The broker restarts empty, or the input topic is recreated, under a running worker: the new
events are all applied, none twice, and the skip is never silent (SPEC §5, offsets_out_of_range)."""

import contextlib
import json
import signal

import pytest
from kafka import KafkaAdminClient
from kafka.errors import TopicAlreadyExistsError

from segflow.infra.embedded import free_port
from tests.faults.toggle import applied, check, events, prepare, produce, with_duplicates
from tests.support.kafka_io import create_topic, read_all
from tests.support.services import OwnBroker
from tests.support.worker_process import start_worker, wait_for


@pytest.fixture
def own_broker():
    broker = OwnBroker(free_port())
    yield broker
    broker.close()


def logged(log, event):
    return [line for line in map(json.loads, log.read_text().splitlines()) if line.get("event") == event]


def last_outbox_id(db):
    return db.execute("SELECT coalesce(max(id), 0) FROM outbox_batches").fetchone()[0]


def test_a_restarted_broker_loses_no_new_event(db, database_url, own_broker, topics, tmp_path):
    bootstrap = own_broker.bootstrap
    env = prepare(db, database_url, bootstrap, topics)
    before = with_duplicates(events(3_000))
    produce(bootstrap, topics.input, before)
    log = tmp_path / "worker.log"
    worker = start_worker(env, log, idle_s=None)
    wait_for(lambda: applied(db, before), 60, "the first events applied and published")
    published_before = last_outbox_id(db)

    own_broker.restart()  # memory-only: every topic, offset and group is gone
    with contextlib.suppress(TopicAlreadyExistsError):  # the worker's metadata requests may have created it
        create_topic(bootstrap, topics.input, 4)
    after = events(600, prefix="n") + before[:50]  # new events, and some old ones sent again
    produce(bootstrap, topics.input, after)
    wait_for(lambda: applied(db, before + after), 90, "the new events applied and published")
    worker.send_signal(signal.SIGTERM)
    worker.communicate(timeout=30)
    assert 0 == worker.returncode, log.read_text()[-3000:]

    check(db, before + after, bootstrap, topics.output, published_after=published_before)
    out_of_range = logged(log, "offsets_out_of_range")
    assert out_of_range and all(line["stored"] > line["end"] for line in out_of_range)
    positions = dict(db.execute("SELECT partition, next_offset FROM relay_positions").fetchall())
    after_last: dict[int, int] = {}  # the offset after each partition's last record (markers take offsets too)
    for record in read_all(bootstrap, topics.output):
        after_last[record.partition] = max(after_last.get(record.partition, 0), record.offset + 1)
    assert after_last == positions  # the relay's positions follow the restarted topic


def test_a_recreated_input_topic_is_read_from_its_beginning(db, database_url, kafka_bootstrap, topics, tmp_path):
    env = prepare(db, database_url, kafka_bootstrap, topics)
    before = events(2_000)
    produce(kafka_bootstrap, topics.input, before)
    log = tmp_path / "worker.log"
    worker = start_worker(env, log, idle_s=None)
    wait_for(lambda: applied(db, before), 60, "the first events applied and published")

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.delete_topics([topics.input])
        wait_for(lambda: topics.input not in admin.list_topics(), 10, "the topic deleted")
        with contextlib.suppress(TopicAlreadyExistsError):
            create_topic(kafka_bootstrap, topics.input, 4)
    finally:
        admin.close()
    after = events(400, prefix="n")
    produce(kafka_bootstrap, topics.input, after)
    wait_for(lambda: applied(db, before + after), 90, "the new events applied and published")
    worker.send_signal(signal.SIGTERM)
    worker.communicate(timeout=30)
    assert 0 == worker.returncode, log.read_text()[-3000:]

    check(db, before + after, kafka_bootstrap, topics.output)
    assert logged(log, "offsets_out_of_range")
