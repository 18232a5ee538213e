"""The relay's publisher against the real broker: order per partition, offsets, errors."""

import pytest
from kafka.errors import KafkaError

from consumers import publish
from tests.support.kafka_io import create_topic
from tests.support.kafka_io import read_all as read_topic


def test_records_arrive_in_order_per_partition_across_several_batches(kafka_bootstrap, topics):
    create_topic(kafka_bootstrap, topics.output, 4)
    value_size = 1_000
    per_partition = 2 * publish.MAX_BATCH_BYTES // value_size + 10  # a little over two batches each
    records = [
        (n % 4, f"key-{n % 4}".encode(), f"{n:08d}".encode().ljust(value_size, b".")) for n in range(4 * per_partition)
    ]
    sender = publish.ConfluentPublisher(kafka_bootstrap, "test-sender", f"test-sender:{topics.output}")
    try:
        assert 4 == sender.partitions(topics.output)
        ends = sender.send(topics.output, records)
    finally:
        sender.close()
    assert {p: per_partition for p in range(4)} == ends  # the offset after each partition's last record
    on_topic = read_topic(kafka_bootstrap, topics.output)
    for partition in range(4):
        sent = [value for p, _key, value in records if p == partition]
        got = sorted((r for r in on_topic if r.partition == partition), key=lambda r: r.offset)
        assert sent == [r.value for r in got]
        assert [f"key-{partition}".encode()] * len(sent) == [r.key for r in got]


def test_a_partition_the_topic_does_not_have_is_an_error_and_nothing_of_it_is_sent(kafka_bootstrap, topics):
    create_topic(kafka_bootstrap, topics.output, 2)
    sender = publish.ConfluentPublisher(kafka_bootstrap, "test-sender", f"test-sender:{topics.output}")
    try:
        with pytest.raises(KafkaError, match="partition 5"):
            sender.send(topics.output, [(5, b"k", b"v")])
    finally:
        sender.close()
    assert [] == read_topic(kafka_bootstrap, topics.output)
