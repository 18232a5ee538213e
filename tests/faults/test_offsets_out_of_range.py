"""Stored offsets are checked against the partition's true bounds and the topic's id (SPEC §5):
one beyond the end is logged and read from the beginning; one at the true end is left alone,
although the embedded broker reports a smaller end."""

import json
import os
import uuid
from dataclasses import replace
from typing import Any

from kafka import KafkaProducer, TopicPartition
from structlog.testing import capture_logs

from consumers import kafka as kafka_clients
from segflow.infra.config import Config
from segflow.worker import Worker
from tests.faults.toggle import check, events, prepare, produce


def test_offsets_outside_their_partition_are_read_again_and_the_true_end_is_not(
    db, database_url, kafka_bootstrap, topics, tmp_path
):
    env = prepare(db, database_url, kafka_bootstrap, topics)
    sent = events(800)
    produce(kafka_bootstrap, topics.input, sent)
    last = events(5, prefix="last")  # partition 1 ends with one batch of 5 records
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=200)
    for event in last:
        producer.send(topics.input, partition=1, key=b"acme:last", value=json.dumps(event).encode())
    producer.flush()
    producer.close()
    sent += last
    records: list[Any] = []
    read = kafka_clients.read_topic(kafka_bootstrap, topics.input, "test-ends", each=records.append)
    by_partition: dict[int, list[str]] = {}
    for record in records:
        by_partition.setdefault(record.partition, []).append(json.loads(record.value)["event_id"])
    probe = kafka_clients.reader(kafka_bootstrap, "test-reported-end")
    reported = probe.end_offsets([TopicPartition(topics.input, 1)])[TopicPartition(topics.input, 1)]
    probe.close()
    group = env["SEGFLOW_GROUP_ID"]
    rows = [
        (0, 10_000, None),  # beyond the end, no topic id to go by (a row from before ids were kept)
        (1, read.ends[1], None),  # exactly the true end: everything there counts as applied
        (2, 0, uuid.uuid4()),  # an offset in another incarnation of the topic
    ]  # partition 3 has no row: the group never saw it
    for partition, offset, topic_id in rows:
        db.execute(
            "INSERT INTO consumer_offsets (group_id, topic, partition, next_offset, topic_id) VALUES (%s, %s, %s, %s, %s)",
            (group, topics.input, partition, offset, topic_id),
        )
    config = replace(
        Config.from_env(env), database_url=database_url, home=tmp_path, log_format="json"
    )  # fmt: skip
    with capture_logs() as logs:
        summary = Worker(config, database_url, stop_when_idle=1.0).run()

    skipped = set(by_partition[1])
    assert len(sent) - len(skipped) == summary.events
    check(db, [e for e in sent if e["event_id"] not in skipped])
    lost = {line["partition"]: line for line in logs if line["event"] == "offsets_out_of_range"}
    assert {0, 2} == set(lost)
    assert lost[0]["why"].startswith("beyond the partition's end")
    assert "deleted and created again" in lost[2]["why"]
    stored = dict(
        db.execute("SELECT partition, next_offset FROM consumer_offsets WHERE group_id = %s", (group,)).fetchall()
    )
    assert stored == read.ends  # every partition read to its end, partition 1 not again
    if "SEGFLOW_TEST_KAFKA_BOOTSTRAP" not in os.environ:
        # The embedded broker reports the last batch's first offset + 1 as the end: the stored
        # offset of partition 1 lay beyond that, and still counted as in range.
        assert read.ends[1] - 4 == reported
