"""Retention (SPEC §8, §11) on the real PostgreSQL: what is past its window leaves, a partition
at a time, and nothing else does.

The growing tables are partitioned by the database's clock, which a test cannot move. So these
tests create partitions for a stretch of time ahead (db.maintenance.ensure_partitions with a
`now` of their own), put rows in them by that time, and prune as of later moments.
"""

from __future__ import annotations

import itertools
import json
import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from db import Conn, maintenance
from db import events as event_rows
from segflow.services import customers as customer_service
from tests.support.examples import deploy, load_flow, run_worker, store
from tests.support.kafka_io import produce_events

AT = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

MINUTE = timedelta(minutes=1)
PRUNE_EVERY = timedelta(minutes=5)


def windows(
    dedup: timedelta, journeys: timedelta, outbox: timedelta, runs: timedelta = timedelta(days=31)
) -> tuple[maintenance.Retention, ...]:
    return maintenance.retentions(dedup, runs, journeys, outbox)


@pytest.fixture
def later(db: Conn) -> datetime:
    """A moment days ahead, on the grid of every width: partitions from there are the test's own."""
    widest = maintenance.WIDTHS[-1]
    return maintenance.bucket(maintenance.database_now(db), widest) + 2 * widest


def put_rows(db: Conn, times: dict[str, datetime]) -> None:
    """One row in each growing table per name, written at that time (as if the clock said so)."""
    db.execute("INSERT INTO stores (id, name, plan) VALUES ('acme', 'acme', 'pro') ON CONFLICT DO NOTHING")
    for name, at in times.items():
        db.execute(
            "INSERT INTO processed_events (store_id, event_id, processed_at) VALUES ('acme', %s, %s)", (name, at)
        )
        db.execute(
            "INSERT INTO journeys (store_id, customer_id, at, entries, written_at) VALUES ('acme', 1, %s, %s, %s)",
            (at, f'[["{name}"]]', at),
        )
        db.execute(
            "INSERT INTO outbox_batches (store_id, size, event_ids, event_types, keys, payloads, created_at, "
            "published_at) VALUES ('acme', 1, ARRAY[%s], ARRAY['t'], ARRAY['k'], ARRAY['{}'], %s, %s)",
            (name, at, at),
        )
        db.execute(
            "INSERT INTO finished_runs (store_id, key, customer_id, flow_id, flow_version, status, entered_at, "
            "updated_at, finished_at) VALUES ('acme', %s, 1, 'f', 1, 'completed', %s, %s, %s)",
            (name, at, at, at),
        )


def left(db: Conn) -> dict[str, set[str]]:
    return {
        "event_ids": {r[0] for r in db.execute("SELECT event_id FROM processed_events")},
        "journey_steps": {r[0] for r in db.execute("SELECT entries::json->0->>0 FROM journeys")},
        "outbox_events": {r[0] for r in db.execute("SELECT event_ids[1] FROM outbox_batches")},
        "runs": {r[0] for r in db.execute("SELECT key FROM finished_runs")},
    }


def test_each_kind_loses_exactly_the_partitions_past_its_window(db, later):
    # Widths: dedup PT20M -> 5 min, journeys PT1H -> 15 min, outbox PT4M and runs PT16M -> 1 min.
    policies = windows(20 * MINUTE, 60 * MINUTE, 4 * MINUTE, runs=16 * MINUTE)
    maintenance.ensure_partitions(db, policies, later, PRUNE_EVERY)
    put_rows(db, {"a": later + 1 * MINUTE, "b": later + 7 * MINUTE, "c": later + 16 * MINUTE})

    pruned = maintenance.prune(db, policies, later + 30 * MINUTE, PRUNE_EVERY)

    # As of +30 min: ids claimed in a bucket ending by +10 go (a, b); journeys in one ending by
    # -30 none; published outbox rows in a minute ending by +26 all; finished runs in a minute
    # ending by +14 (a, b).
    assert {
        "event_ids": {"c"}, "journey_steps": {"a", "b", "c"}, "outbox_events": set(), "runs": {"c"}
    } == left(db)  # fmt: skip
    assert {"event_ids": 2, "journey_steps": 0, "outbox_events": 3, "runs": 2} == {
        k: pruned.removed[k] for k in left(db)
    }


def test_rows_stay_their_whole_window(db, later):
    policies = windows(20 * MINUTE, 20 * MINUTE, 20 * MINUTE)  # runs: the default 31 days
    maintenance.ensure_partitions(db, policies, later, PRUNE_EVERY)
    put_rows(db, {"a": later + 4 * MINUTE})  # in the bucket [later, later + 5 min)

    maintenance.prune(db, policies, later + 24 * MINUTE, PRUNE_EVERY)  # a is 20 minutes old
    assert {"event_ids": {"a"}, "journey_steps": {"a"}, "outbox_events": {"a"}, "runs": {"a"}} == left(db)

    maintenance.prune(db, policies, later + 25 * MINUTE, PRUNE_EVERY)  # its whole bucket is
    assert {"event_ids": set(), "journey_steps": set(), "outbox_events": set(), "runs": {"a"}} == left(db)


def test_an_outbox_partition_with_an_unpublished_row_stays(db, later):
    policies = windows(20 * MINUTE, 20 * MINUTE, 0 * MINUTE)
    maintenance.ensure_partitions(db, policies, later, PRUNE_EVERY)
    put_rows(db, {"sent": later + 1 * MINUTE, "queued": later + 2 * MINUTE})
    db.execute("UPDATE outbox_batches SET published_at = NULL WHERE event_ids[1] = 'queued'")

    maintenance.prune(db, policies, later + 60 * MINUTE, PRUNE_EVERY)
    assert {"queued"} == left(db)["outbox_events"]

    db.execute("UPDATE outbox_batches SET published_at = now() WHERE event_ids[1] = 'queued'")
    maintenance.prune(db, policies, later + 60 * MINUTE, PRUNE_EVERY)
    assert set() == left(db)["outbox_events"]


def test_partitions_are_created_ahead_and_never_overlap(db, later):
    policies = windows(20 * MINUTE, 60 * MINUTE, 4 * MINUTE)
    covered = maintenance.ensure_partitions(db, policies, later, PRUNE_EVERY)
    again = maintenance.ensure_partitions(db, policies, later + 3 * MINUTE, PRUNE_EVERY)

    assert covered >= later + 4 * PRUNE_EVERY
    assert again >= covered
    for parent, parts in maintenance.partitions(db).items():
        for before, after in itertools.pairwise(parts):
            assert before.upper <= (after.lower or before.upper), f"{parent}: {before} overlaps {after}"


def test_an_id_claimed_anywhere_in_the_window_is_a_duplicate(db):
    width = maintenance.dedup_width(timedelta(days=8))
    now = maintenance.database_now(db)
    db.execute("INSERT INTO stores (id, name, plan) VALUES ('acme', 'acme', 'pro')")
    for event_id, age in (("week-old", timedelta(days=7, hours=23)), ("bucket-before", width)):
        db.execute(
            "INSERT INTO processed_events (store_id, event_id, processed_at) VALUES ('acme', %s, %s)",
            (event_id, maintenance.bucket(now - age, width)),
        )
    with db.transaction():
        fresh = event_rows.claim(db, "acme", ["week-old", "bucket-before", "new"], width).result()
    assert {"new"} == fresh
    with db.transaction():
        assert set() == event_rows.claim(db, "acme", ["new"], width).result()


def test_two_transactions_claiming_one_id_apply_it_once(database_url):
    """The second waits for the first's claim to commit, then finds it taken."""
    width = maintenance.dedup_width(timedelta(days=8))
    results: dict[str, set[str]] = {}
    with psycopg.connect(database_url, autocommit=True) as setup:
        setup.execute("INSERT INTO stores (id, name, plan) VALUES ('acme', 'acme', 'pro')")
    first = psycopg.connect(database_url)
    second = psycopg.connect(database_url)
    try:
        results["first"] = event_rows.claim(first, "acme", ["e1"], width).result()

        def claim_second() -> None:
            results["second"] = event_rows.claim(second, "acme", ["e1"], width).result()
            second.commit()

        waiting = threading.Thread(target=claim_second)
        waiting.start()
        waiting.join(1.0)
        assert waiting.is_alive(), "the second claim should wait for the first transaction"
        first.commit()
        waiting.join(10)
    finally:
        first.close()
        second.close()
    assert {"first": {"e1"}, "second": set()} == results


def test_db_size_and_prune_answer_in_the_spec_shapes(cli):
    size = cli("db", "size", "--json")
    assert 0 == size.code, size.err
    sizes = json.loads(size.out)
    assert {"event_ids", "runs", "journey_steps", "outbox_events", "segments", "customers", "other"} == set(
        sizes["kinds"]
    )
    assert sizes["total_bytes"] == sum(sizes["kinds"].values())

    pruned = cli("db", "prune", "--json")
    assert 0 == pruned.code, pruned.err
    report = json.loads(pruned.out)
    assert {"event_ids", "runs", "journey_steps", "outbox_events"} <= set(report["removed"])
    assert report["seconds"] >= 0


def test_a_once_customer_stays_out_after_their_finished_runs_are_gone(db, config):
    """free-gift is `reentry: once`: what re-entry needs outlives the runs (flow_entries)."""
    store(db)
    deploy(db, load_flow("free-gift"))
    first, second = (
        {"event_id": f"s{n}", "type": "streak.milestone_reached", "store_id": "acme", "occurred_at": AT.isoformat(),
         "customer": {"email": "ann@example.com"}, "data": {"streak": n}}
        for n in (1, 2)
    )  # fmt: skip
    produce_events(config.kafka_bootstrap, config.input_topic, [first])
    run_worker(config, AT)
    assert [("completed",)] == db.execute("SELECT status FROM runs").fetchall()

    db.execute("DELETE FROM finished_runs")  # as pruning them past SEGFLOW_RUN_RETENTION does
    produce_events(config.kafka_bootstrap, config.input_topic, [second])
    run_worker(config, AT)

    assert [] == db.execute("SELECT status FROM runs").fetchall()
    assert 1 == db.execute("SELECT count(*) FROM outbox WHERE event_type = 'flow.entered'").fetchone()[0]
    explained = customer_service.explain(db, "acme", "ann@example.com", "free-gift")
    assert "reentry is once, and the customer had entered the flow before" in explained.verdicts[0].verdict
