"""`segflow worker --metrics-port` (SPEC §9): what /metrics, /healthz and /readyz say about a
real worker on the real services, a stuck consumer loop injected."""

import json
import threading
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from db.customers import CustomerFields, upsert
from schemas.flow import Flow
from segflow import sample
from segflow.worker import Worker
from segflow.worker import metrics as worker_metrics
from tests.support.examples import deploy, store
from tests.support.kafka_io import produce

EVENTS = 1_000


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def scrape(port):
    status, text = get(port, "/metrics")
    assert 200 == status
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def wait_for(what, check, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")


def test_metrics_health_and_readiness_of_a_real_worker(db, config, monkeypatch):
    monkeypatch.setattr(worker_metrics, "STALE_AFTER_S", 2.0)
    store(db)
    customers = sample.emails(100, "shop.example")
    upsert(db, "acme", [CustomerFields(email=e) for e in customers])
    db.execute("INSERT INTO segments (store_id, name, source) VALUES ('acme', 'VIP', 'manual')")
    deploy(db, Flow.model_validate(sample.every_node_flow("acme")))  # so there is something to publish
    events = sample.events("acme", customers, EVENTS, seed=5)
    messages = [(f"acme:{e['customer']['email'].lower()}".encode(), json.dumps(e).encode()) for e in events]
    poison = [(b"acme:x@example.com", b"not json"), (b"acme:y@example.com", b"{}"), (None, b'{"event_id": 7}')]
    produce(config.kafka_bootstrap, config.input_topic, [*messages[:500], *poison, *messages[500:]])

    assert config.database_url is not None
    worker = Worker(config, config.database_url, metrics_port=0)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        server = wait_for("the port bound", lambda: worker.metrics_server)
        port = server.port
        # Not ready until the group gave this worker its partitions (a join takes seconds).
        first = wait_for("an answer", lambda: get(port, "/readyz"))
        assert (503, "no input partitions assigned yet\n") == first
        wait_for("ready", lambda: get(port, "/readyz")[0] == 200)

        def settled():
            m = scrape(port)
            lags = [v for (name, _), v in m.items() if name == "segflow_consumer_lag"]
            done = m[("segflow_events_total", (("outcome", "applied"),))] == EVENTS
            return m if done and lags and not any(lags) and m[("segflow_outbox_unpublished", ())] == 0 else None

        m = wait_for("all applied, lag 0, outbox empty", settled)
        assert 3 == m[("segflow_events_total", (("outcome", "dead_lettered"),))]
        assert 0 == m[("segflow_events_total", (("outcome", "duplicate"),))]
        assert 4 == len([k for k in m if k[0] == "segflow_consumer_lag"])  # one per partition, nothing else
        assert m[("segflow_batch_apply_seconds_count", ())] >= 1
        queued = db.execute("SELECT sum(size) FROM outbox_batches").fetchone()[0]
        assert queued > 0
        # The relay marks a slice published, then tells the worker its count: wait for both.
        wait_for("every queued event published", lambda: scrape(port)[("segflow_events_published_total", ())] == queued)
        assert 0 == m[("segflow_outbox_oldest_unpublished_seconds", ())]
        assert m[("segflow_process_rss_bytes", ())] > 10 * 2**20
        database = {labels[0][1]: v for (name, labels), v in m.items() if name == "segflow_database_bytes"}
        assert {"event_ids", "runs", "journey_steps", "outbox_events", "segments", "customers", "other"} == set(
            database
        )
        assert all(size > 0 for size in database.values())
        pruned = {labels[0][1] for (name, labels), _ in m.items() if name == "segflow_rows_pruned_total"}
        assert {"event_ids", "runs", "journey_steps", "outbox_events", "flow_counts"} == pruned
        assert (200, "ok\n") == get(port, "/healthz")

        # A stuck loop: the next batch hangs in the database's place until released.
        release = threading.Event()
        apply = worker.applier.apply

        def hanging(*args, **kwargs):
            release.wait(60)
            return apply(*args, **kwargs)

        monkeypatch.setattr(worker.applier, "apply", hanging)
        produce(config.kafka_bootstrap, config.input_topic, [messages[0]])  # a duplicate: it only needs a batch
        wait_for("503", lambda: get(port, "/healthz")[0] == 503, timeout=30)
        assert (503, "the consumer loop is stuck\n") == get(port, "/healthz")
        release.set()
        wait_for("200 again", lambda: get(port, "/healthz")[0] == 200, timeout=30)
        wait_for(
            "the duplicate counted", lambda: scrape(port)[("segflow_events_total", (("outcome", "duplicate"),))] == 1
        )
        assert 404 == get(port, "/other")[0]
    finally:
        worker.stop()
        thread.join(60)
    assert not thread.is_alive()
