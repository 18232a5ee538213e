"""Outage or bad message, decided by what failed (SPEC §5): an error one message causes is
dead-lettered even when the driver files it under OperationalError, and an outage that keeps
coming back is retried ever less often until a batch commits, never at full rate."""

import json
import time

from tests.faults.toggle import check, events, prepare, produce
from tests.support.worker_process import start_worker, wait_for

# A value PostgreSQL cannot index raises SQLSTATE 54000 (program_limit_exceeded, which psycopg
# files under OperationalError). Raised here for one event, the way the server raises it.
PROGRAM_LIMIT = """
CREATE FUNCTION too_large() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.event_id = 'too-large' THEN
        RAISE EXCEPTION 'index row size 9016 exceeds btree version 4 maximum 2704' USING ERRCODE = '54000';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER too_large BEFORE INSERT ON processed_events FOR EACH ROW EXECUTE FUNCTION too_large();
"""

# An outage while a row is in `outage_on`: every claim fails as a server out of connections
# answers (53300). `attempts` counts them across the rolled-back transactions.
OUTAGE = """
CREATE TABLE outage_on (since timestamptz);
CREATE SEQUENCE attempts;
CREATE FUNCTION outage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM outage_on) THEN
        PERFORM nextval('attempts');
        RAISE EXCEPTION 'sorry, too many clients already' USING ERRCODE = '53300';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER outage BEFORE INSERT ON processed_events FOR EACH STATEMENT EXECUTE FUNCTION outage();
INSERT INTO outage_on VALUES (now());
"""


def key(event):
    return f"acme:{event['customer']['email']}".encode()


def test_an_error_a_message_causes_is_dead_lettered_whatever_class_the_driver_gives_it(
    db, database_url, kafka_bootstrap, topics, tmp_path
):
    env = prepare(db, database_url, kafka_bootstrap, topics)
    good = events(600)
    db.execute(PROGRAM_LIMIT)
    poison = {**good[300], "event_id": "too-large"}
    produce(kafka_bootstrap, topics.input, [*good[:300], poison, *good[300:]])
    log = tmp_path / "worker.log"

    worker = start_worker(env, log, idle_s=2.0)
    out, _ = worker.communicate(timeout=120)

    assert 0 == worker.returncode, log.read_text()[-3000:]
    summary = json.loads(out)
    assert (len(good), 1) == (summary["events"], summary["dead_lettered"])
    check(db, good, kafka_bootstrap, topics.output)
    assert '"decision": "outage"' not in log.read_text()


def test_an_outage_that_keeps_coming_back_is_retried_ever_less_often(
    db, database_url, kafka_bootstrap, topics, tmp_path
):
    env = prepare(db, database_url, kafka_bootstrap, topics)
    sent = events(500)
    db.execute(OUTAGE)
    produce(kafka_bootstrap, topics.input, sent)
    log = tmp_path / "worker.log"
    worker = start_worker(env, log, idle_s=2.0)
    wait_for(lambda: db.execute("SELECT is_called FROM attempts").fetchone()[0], 60, "the first attempt")
    first = time.monotonic()
    time.sleep(8)
    attempts = db.execute("SELECT last_value FROM attempts").fetchone()[0]

    db.execute("DELETE FROM outage_on")  # the outage ends; the worker goes on by itself
    out, _ = worker.communicate(timeout=120)

    # 0.2 s, then doubling with jitter: 5 to 7 attempts in 8 s, where a back-off reset by every
    # seek and scheduler tick retries every 0.2 s (about 40).
    assert 3 <= attempts <= 9, (attempts, time.monotonic() - first)
    assert 0 == worker.returncode, log.read_text()[-3000:]
    assert 0 == json.loads(out)["dead_lettered"]
    check(db, sent, kafka_bootstrap, topics.output)
    text = log.read_text()
    assert '"decision": "outage"' in text and '"decision": "message"' not in text


# A statement that hangs (a lock held elsewhere, a server in trouble) while a row is in `hang_on`.
HANG = """
CREATE TABLE hang_on (since timestamptz);
CREATE FUNCTION hang() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM hang_on) THEN
        PERFORM pg_sleep(30);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER hang BEFORE INSERT ON processed_events FOR EACH STATEMENT EXECUTE FUNCTION hang();
INSERT INTO hang_on VALUES (now());
"""


def test_a_statement_past_the_statement_timeout_is_cancelled_and_retried(
    db, database_url, kafka_bootstrap, topics, tmp_path
):
    env = prepare(db, database_url, kafka_bootstrap, topics, SEGFLOW_STATEMENT_TIMEOUT="PT1S")
    sent = events(300)
    db.execute(HANG)
    produce(kafka_bootstrap, topics.input, sent)
    log = tmp_path / "worker.log"
    worker = start_worker(env, log, idle_s=2.0)
    wait_for(lambda: log.read_text().count("QueryCanceled") >= 2, 60, "two statements cancelled")

    db.execute("DELETE FROM hang_on")
    out, _ = worker.communicate(timeout=120)

    assert 0 == worker.returncode, log.read_text()[-3000:]
    assert (len(sent), 0) == (json.loads(out)["events"], json.loads(out)["dead_lettered"])
    check(db, sent, kafka_bootstrap, topics.output)
    cancelled = [json.loads(line) for line in log.read_text().splitlines() if "QueryCanceled" in line]
    assert {"outage"} == {entry["decision"] for entry in cancelled}
