"""Messages that cannot be applied cost one dead letter each, never the worker or its partition
(SPEC §2): an oversized one, ones PostgreSQL cannot store, and one a bug rejects, with a deadlock
injected while the batch is split to find it."""

import base64
import hashlib
import json
import re

from tests.faults.toggle import STORE, check, events, prepare
from tests.support.kafka_io import produce, read_all
from tests.support.worker_process import start_worker


def key(event):
    return f"{STORE}:{event['customer']['email']}".encode()


def run_until_idle(env, log, timeout=120):
    worker = start_worker(env, log, idle_s=2.0)
    out, _ = worker.communicate(timeout=timeout)
    assert 0 == worker.returncode, log.read_text()[-3000:]
    return json.loads(out)


def dead_letters(bootstrap, topic):
    return [(r.key, json.loads(r.value), len(r.value)) for r in read_all(bootstrap, topic)]


def test_an_oversized_invalid_value_becomes_one_bounded_dead_letter(
    db, database_url, kafka_bootstrap, topics, tmp_path
):
    env = prepare(db, database_url, kafka_bootstrap, topics)
    good = events(400)
    huge = b'{"event_id": "huge", "data": "' + b"x" * (3_200_000) + b'"'  # 3.2 MB, not even JSON
    messages = [(key(e), json.dumps(e).encode()) for e in good[:200]]
    messages += [(b"acme:huge@example.com", huge)]
    messages += [(key(e), json.dumps(e).encode()) for e in good[200:]]
    produce(kafka_bootstrap, topics.input, messages)

    summary = run_until_idle(env, tmp_path / "worker.log")

    assert (len(good), 1) == (summary["events"], summary["dead_lettered"])
    check(db, good, kafka_bootstrap, topics.output)
    [(letter_key, letter, size)] = dead_letters(kafka_bootstrap, topics.dlq)
    assert b"acme:huge@example.com" == letter_key
    kept = base64.b64decode(letter["original"])
    assert huge[: 512 * 1024] == kept
    assert (len(huge), hashlib.sha256(huge).hexdigest(), True) == (
        letter["original_size"], letter["original_sha256"], letter["original_truncated"]
    )  # fmt: skip
    assert size < 1_000_000  # under Apache Kafka's default max.message.bytes
    assert letter["reason"].startswith("the value is 3,200,")


def test_values_postgresql_cannot_store_are_dead_lettered_naming_the_field(
    db, database_url, kafka_bootstrap, topics, tmp_path
):
    env = prepare(db, database_url, kafka_bootstrap, topics)
    good = events(2_000)
    bad_values = {
        f"nul{i}": f'"customer": {{"email": "n{i}@example.com", "first_name": "A\\u0000n"}}' for i in range(10)
    }
    bad_values["nan"] = '"customer": {"email": "x@example.com"}, "data": {"total": NaN}'
    bad_values["huge-number"] = '"customer": {"email": "y@example.com"}, "data": {"items": [{"price": 1e999}]}'
    bad_values["surrogate"] = '"customer": {"email": "z@example.com", "last_name": "\\ud800"}'
    envelope = (
        '{"event_id": "%s", "type": "order.processed", "store_id": "acme", "occurred_at": "2026-11-29T09:00:00Z", %s}'
    )
    bad = [(f"acme:{name}".encode(), (envelope % (name, fields)).encode()) for name, fields in bad_values.items()]
    messages = [(key(e), json.dumps(e).encode()) for e in good]
    for index, message in enumerate(bad):  # spread among the good ones
        messages.insert(index * 150 + 7, message)
    produce(kafka_bootstrap, topics.input, messages)
    log = tmp_path / "worker.log"

    summary = run_until_idle(env, log)

    assert (len(good), len(bad)) == (summary["events"], summary["dead_lettered"])
    check(db, good, kafka_bootstrap, topics.output)
    reasons = {k.decode(): letter["reason"] for k, letter, _size in dead_letters(kafka_bootstrap, topics.dlq)}
    assert all("customer.first_name: contains a NUL character" == reasons[f"acme:nul{i}"] for i in range(10))
    assert "data.total: nan is not a number JSON can hold" == reasons["acme:nan"]
    assert "data.items[0].price: inf is not a number JSON can hold" == reasons["acme:huge-number"]
    assert "customer.last_name: contains a lone surrogate ('\\ud800')" == reasons["acme:surrogate"]
    assert "batch_failed" not in log.read_text()  # found at parse time: no batch failed or was split


# A record PostgreSQL rejects (a stand-in for a bug a message triggers), and a deadlock injected
# once the batch holding it is being split. Sequences count across rolled-back transactions.
FAULTS = """
CREATE SEQUENCE poison_hits;
CREATE SEQUENCE deadlocks;
CREATE SEQUENCE claim_statements;
CREATE FUNCTION inject_faults() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.event_id = 'poison' THEN
        PERFORM nextval('poison_hits');
        RAISE EXCEPTION 'poisoned record';
    END IF;
    IF NEW.event_id = %(neighbour)s THEN
        IF (SELECT is_called FROM poison_hits) THEN
            IF nextval('deadlocks') = 1 THEN
                RAISE EXCEPTION 'injected deadlock' USING ERRCODE = '40P01';
            END IF;
        END IF;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER inject_faults BEFORE INSERT ON processed_events FOR EACH ROW EXECUTE FUNCTION inject_faults();
CREATE FUNCTION count_claims() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM nextval('claim_statements');
    RETURN NULL;
END $$;
CREATE TRIGGER count_claims BEFORE INSERT ON processed_events FOR EACH STATEMENT EXECUTE FUNCTION count_claims();
"""


def test_a_failing_record_is_found_by_halving_and_a_deadlock_meanwhile_is_retried(
    db, database_url, kafka_bootstrap, topics, tmp_path
):
    env = prepare(db, database_url, kafka_bootstrap, topics)
    good = events(1_000)
    neighbour = good[500]
    poison = {**neighbour, "event_id": "poison"}  # the same customer: the same partition, next to it
    db.execute(FAULTS.replace("%(neighbour)s", f"'{neighbour['event_id']}'"))
    sent = [*good[:501], poison, *good[501:]]
    produce(kafka_bootstrap, topics.input, [(key(e), json.dumps(e).encode()) for e in sent])
    log = tmp_path / "worker.log"

    summary = run_until_idle(env, log)

    assert (len(good), 1) == (summary["events"], summary["dead_lettered"])
    check(db, good, kafka_bootstrap, topics.output)
    [(_key, letter, _size)] = dead_letters(kafka_bootstrap, topics.dlq)
    assert letter["reason"].startswith("processing failed: RaiseException: poisoned record")
    text = log.read_text()
    assert re.search(r'"error": "DeadlockDetected: injected deadlock".*"event": "batch_failed"', text)
    # Halving: a few dozen claim statements, where retrying one record at a time takes a thousand.
    claims = db.execute("SELECT last_value FROM claim_statements").fetchone()[0]
    assert claims < 150, claims
