"""A worker the group gives no partitions says so (SPEC §5, never wedged): a
`no_partitions_assigned` warning as often as NO_PARTITIONS_WARN_AFTER_S, with the group, the
topic, how long, and the group's members and the topic's partitions as the broker tells them;
and /readyz gives the reason. Here another member of the group holds the topic's one partition."""

import threading
import time
import urllib.error
import urllib.request
from dataclasses import replace

from kafka import KafkaConsumer
from kafka.coordinator.assignors.abstract import ConsumerProtocolAssignment, ConsumerProtocolSubscription
from kafka.coordinator.assignors.range import RangePartitionAssignor
from structlog.testing import capture_logs

from segflow.worker import Worker
from segflow.worker import metrics as worker_metrics
from tests.support.kafka_io import create_topic


class Greedy(RangePartitionAssignor):  # type: ignore[misc]
    """Named `range`, so the group agrees on it with the worker, but as the group's leader it
    gives every partition to the member that marked itself the holder."""

    @classmethod
    def assign(cls, cluster, members):
        return {
            m.member_id: ConsumerProtocolAssignment(
                cls.version,
                [(t, sorted(cluster.partitions_for_topic(t) or ())) for t in sorted(m.metadata.topics)]
                if m.metadata.user_data == b"holder" else [],
                b"",
            )
            for m in members
        }  # fmt: skip

    @classmethod
    def metadata(cls, topics):
        return ConsumerProtocolSubscription(cls.version, list(topics), b"holder")


def readyz(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_a_worker_holding_no_partition_warns_and_is_not_ready(config, monkeypatch):
    monkeypatch.setattr(worker_metrics, "NO_PARTITIONS_WARN_AFTER_S", 3.0)
    config = replace(config, input_topic=f"{config.input_topic}-one")
    create_topic(config.kafka_bootstrap, config.input_topic, 1)
    holder = KafkaConsumer(
        config.input_topic, bootstrap_servers=config.kafka_bootstrap, group_id=config.group_id,
        session_timeout_ms=6000, heartbeat_interval_ms=1000, partition_assignment_strategy=[Greedy],
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while not holder.assignment():
        assert time.monotonic() < deadline, "the holder got no partition"
        holder.poll(200)
    worker = Worker(config, config.database_url, metrics_port=0)
    with capture_logs() as logs:
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 60
            while len([e for e in logs if e["event"] == "no_partitions_assigned"]) < 2:
                assert time.monotonic() < deadline, [e["event"] for e in logs]
                holder.poll(100)  # the holder stays a member
            assert not worker.input.assignment
            assert worker.metrics_server is not None
            status, why = readyz(worker.metrics_server.port)
        finally:
            worker.stop()
            thread.join(30)
            holder.close()

    first, second = [e for e in logs if e["event"] == "no_partitions_assigned"][:2]
    assert "warning" == first["log_level"]
    assert (config.group_id, config.input_topic, 1) == (first["group_id"], first["topic"], first["partitions"])
    # The group's members where the broker's admin API tells them (kafka-python cannot read the
    # embedded broker's DescribeGroups answer: then why not is logged instead).
    assert 2 == first["members"] if "members" in first else first["admin_error"]
    assert second["seconds"] > first["seconds"] >= 3
    assert 503 == status and why.startswith("no input partitions assigned for "), why
