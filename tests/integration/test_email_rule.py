"""One email rule everywhere (SPEC §1): what one entry point accepts, every other accepts, in
the same normalised form."""

import json
import uuid
from dataclasses import replace

from segflow.infra.config import Config
from segflow.worker import Worker
from tests.support.kafka_io import create_topic, produce, read_all

NFC, NFD = "Jos\u00e9@Example.com", "Jose\u0301@example.COM"


def event(event_id, email):
    return {
        "event_id": event_id,
        "type": "customer.updated",
        "store_id": "acme",
        "occurred_at": "2026-11-29T09:00:00Z",
        "customer": {"email": email, "first_name": "X"},
    }


def test_events_imports_and_manual_changes_share_one_rule(cli, db, database_url, kafka_bootstrap, topics, write_file):
    assert 0 == cli("stores", "create", "acme", "--plan", "pro").code
    assert 0 == cli("segments", "create", "Testers", "--store", "acme").code
    create_topic(kafka_bootstrap, topics.input, 1)
    too_long = "x" * 308 + "@example.com"
    messages = [
        (b"acme:a", json.dumps(event("e1", "ann@shop.test")).encode()),
        (b"acme:b", json.dumps(event("e2", NFC)).encode()),
        (b"acme:c", json.dumps(event("e3", NFD)).encode()),
        (b"acme:d", json.dumps(event("e4", too_long)).encode()),
    ]
    produce(kafka_bootstrap, topics.input, messages)
    config = replace(
        Config.from_env({}), database_url=database_url, kafka_bootstrap=kafka_bootstrap,
        group_id=f"g-{uuid.uuid4().hex[:8]}", input_topic=topics.input, output_topic=topics.output, dlq_topic=topics.dlq,
    )  # fmt: skip
    summary = Worker(config, database_url, stop_when_idle=0.5).run()

    assert (3, 1) == (summary.events, summary.dead_lettered)
    customers = sorted(row[0] for row in db.execute("SELECT email FROM customers WHERE store_id = 'acme'"))
    assert ["ann@shop.test", "jos\u00e9@example.com"] == customers  # NFC and NFD: one customer
    [letter] = [json.loads(r.value) for r in read_all(kafka_bootstrap, topics.dlq)]
    assert letter["reason"].startswith("customer.email: 'xxxx")
    assert "is too long" in letter["reason"]

    # The customer an event created can be added and removed by hand, in either spelling.
    added = json.loads(cli("segments", "add", "Testers", "Ann@Shop.TEST", NFD, "--store", "acme", "--json").out)
    assert ["ann@shop.test", "jos\u00e9@example.com"] == added["changed"]
    removed = json.loads(cli("segments", "remove", "Testers", "ann@shop.test", "--store", "acme", "--json").out)
    assert ["ann@shop.test"] == removed["changed"]
    # And a CSV import reads the same way.
    path = write_file("t.csv", f"email\n{NFC}\nops@corp.local\n")
    report = json.loads(cli("segments", "import", "Testers", str(path), "--store", "acme", "--json").out)
    assert (1, 1, []) == (report["already_members"], report["unknown_emails"], report["invalid_rows"])
