"""A part of the worker that dies is seen by its owner and replaced (segflow.worker.parts): the
pruner, the Klaviyo sync loop and the metrics server each ended by what their own error handling
does not catch (SystemExit ends a thread without a word), on a real worker and real services.
(The relay child killed by kill -9 is tests/faults/test_relay_death.py.)"""

import json
import threading
from dataclasses import replace
from datetime import timedelta
from http.server import ThreadingHTTPServer

import pytest

from segflow import sample
from segflow.services.syncs import SyncLoop
from segflow.worker import Worker
from segflow.worker import parts as worker_parts
from segflow.worker.maintenance import Pruner
from tests.integration.test_metrics import scrape, wait_for
from tests.support.examples import store
from tests.support.kafka_io import produce

EVENTS = 200


def dies_first_time(monkeypatch, owner, name):
    """Patch `owner.name` so that its first call ends the thread; returns the list of calls."""
    real = getattr(owner, name)
    calls: list[int] = []

    def once(self, *args, **kwargs):
        calls.append(len(calls))
        if len(calls) == 1:
            raise SystemExit  # not an Exception: the part's own `except Exception` lets it by
        return real(self, *args, **kwargs)

    monkeypatch.setattr(owner, name, once)
    return calls


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the deaths we cause
def test_a_part_that_dies_is_replaced_and_works_again(db, config, monkeypatch):
    monkeypatch.setattr(worker_parts, "RESTART_EVERY_S", 0.5)
    pruned = dies_first_time(monkeypatch, Pruner, "prune_once")
    synced = dies_first_time(monkeypatch, SyncLoop, "_sync_all_due")
    served = dies_first_time(monkeypatch, ThreadingHTTPServer, "serve_forever")
    store(db)
    worker = Worker(replace(config, prune_every=timedelta(seconds=1)), config.database_url, metrics_port=0)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        server = wait_for("the port bound", lambda: worker.metrics_server)
        port = server.port

        def replaced():
            now_serving = worker.metrics_server
            if now_serving is None or now_serving is server or not now_serving.alive:
                return None
            figures = scrape(port)  # the new server answers on the port the first one had
            restarted = {dict(k[1])["part"]: v for k, v in figures.items() if k[0] == "segflow_parts_restarted_total"}
            return restarted if len(pruned) >= 2 and len(synced) >= 2 else None

        restarted = wait_for("every dead part replaced and working", replaced, timeout=60)
        assert {"metrics_server": 1, "pruner": 1, "klaviyo_sync": 1, "relay": 0} == restarted
        assert len(served) == 2
        # The consumer went on through it all.
        events = sample.events("acme", sample.emails(20, "shop.example"), EVENTS, seed=3)
        keyed = [(f"acme:{e['customer']['email'].lower()}".encode(), json.dumps(e).encode()) for e in events]
        produce(config.kafka_bootstrap, config.input_topic, keyed)
        wait_for("the events applied", lambda: worker.summary.events == EVENTS)
    finally:
        worker.stop()
        thread.join(60)
    assert not thread.is_alive()
