"""Start-up and shutdown as one stack (SPEC §5, never wedged): whatever fails while the worker
opens its resources, what it had opened is closed, and a taken metrics port is one line, exit 1."""

import json
import multiprocessing
import socket
import subprocess
import sys
import threading
import time

import pytest

from segflow.errors import InvalidInput
from segflow.worker import Worker
from segflow.worker import loop as worker_loop
from tests.support.worker_process import ROOT, worker_env


def sessions(db, database_url, expected: int | None = None) -> int:
    """Connections to the test's database other than the test's own (waiting a little for
    `expected`: a server process leaves pg_stat_activity a moment after its client hung up)."""
    deadline = time.monotonic() + 5
    while True:
        row = db.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
        if row[0] == expected or expected is None or time.monotonic() > deadline:
            return int(row[0])
        time.sleep(0.05)


@pytest.fixture
def taken_port():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    yield holder.getsockname()[1]
    holder.close()


def test_a_taken_metrics_port_is_one_line_and_exit_1(database_url, kafka_bootstrap, topics, taken_port):
    env = worker_env(database_url, kafka_bootstrap, "g-port", topics)

    plain = subprocess.run(
        [sys.executable, "-m", "segflow", "worker", "--metrics-port", str(taken_port)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    as_json = subprocess.run(
        [sys.executable, "-m", "segflow", "worker", "--json", "--metrics-port", str(taken_port)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert 1 == plain.returncode
    [line] = [x for x in plain.stderr.splitlines() if not x.startswith("{")]  # log lines are JSON
    assert f"--metrics-port {taken_port}" in line and "Traceback" not in plain.stderr
    assert 1 == as_json.returncode
    assert f"--metrics-port {taken_port}" in json.loads(as_json.stdout)["error"]


def test_a_taken_port_starts_nothing(db, config, taken_port):
    threads = threading.active_count()
    before = sessions(db, config.database_url, expected=0)  # the fixtures' own sessions may linger a moment

    with pytest.raises(InvalidInput):
        Worker(config, config.database_url, metrics_port=taken_port).run()

    assert (threads, [], before) == (
        threading.active_count(),
        multiprocessing.active_children(),
        sessions(db, config.database_url, expected=before),
    )


def test_what_was_opened_is_closed_when_the_consumer_cannot_start(db, config, monkeypatch):
    threads = threading.active_count()
    before = sessions(db, config.database_url, expected=0)  # the fixtures' own sessions may linger a moment

    def refuse(*_args, **_kwargs):
        raise RuntimeError("the consumer could not start")

    monkeypatch.setattr(worker_loop, "InputConsumer", refuse)
    with pytest.raises(RuntimeError, match="could not start"):
        Worker(config, config.database_url, metrics_port=0).run()

    assert (threads, [], before) == (
        threading.active_count(),
        multiprocessing.active_children(),
        sessions(db, config.database_url, expected=before),
    )
