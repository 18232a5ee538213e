import os
import signal
import subprocess
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

from segflow.infra.embedded import free_port, port_answers


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not port_answers("127.0.0.1", port):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "broker did not listen"
        time.sleep(0.1)


def test_segflow_broker_serves_kafka_clients_and_stops_on_ctrl_c():
    # The documented default is 127.0.0.1:9092; use it when free so this is the real command.
    port = 9092 if not port_answers("127.0.0.1", 9092) else free_port()
    args = [] if port == 9092 else ["--port", str(port)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "segflow", "broker", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        wait_for_port(port, proc)
        bootstrap = f"127.0.0.1:{port}"
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        admin.create_topics([NewTopic("probe", num_partitions=2, replication_factor=1)])
        assert "probe" in admin.list_topics()
        assert 1 == len(admin.describe_cluster()["brokers"])
        admin.close()
        producer = KafkaProducer(bootstrap_servers=bootstrap)
        producer.send("probe", key=b"k", value=b"hello").get(timeout=10)
        producer.close()
        consumer = KafkaConsumer(
            "probe", bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=5000
        )
        assert [b"hello"] == [m.value for m in consumer]
        consumer.close()
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
        _out, err = proc.communicate(timeout=15)
    assert 0 == proc.returncode, err
    assert b"broker stopped" in err
    assert not port_answers("127.0.0.1", port)
