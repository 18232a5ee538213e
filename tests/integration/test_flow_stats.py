"""`flows stats` through the real worker (SPEC §9): every count equals what the output topic says
happened, counted from the topic alone."""

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

from db import flows as flow_rows
from db.customers import CustomerFields, upsert
from schemas.flow import Flow
from segflow import sample
from tests.support.examples import deploy, run_worker, store
from tests.support.kafka_io import produce_events, read_all

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def stats(cli):
    result = cli("flows", "stats", "every-node", "--store", "acme", "--json")
    assert 0 == result.code, result.err
    return json.loads(result.out)


def from_topic(config):
    """What happened in the every-node flow, counted from its output events only."""
    seen: Counter[tuple[str, str | None]] = Counter()
    for record in read_all(config.kafka_bootstrap, config.output_topic):
        event = json.loads(record.value)
        if event["cause"].get("flow_id") == "every-node":
            seen[(event["type"], event["cause"].get("node_id"))] += 1
    entered = seen[("flow.entered", None)]
    ended = {
        status: sum(n for (kind, _), n in seen.items() if kind == f"flow.{status}")
        for status in ("completed", "exited", "failed")
    }
    # Actions always emit; a run completes at the node with no next; `bye` is the only exit.
    offer_a, offer_b = seen[("action.requested", "offer-a")], seen[("action.requested", "offer-b")]
    thanked, untagged = seen[("flow.completed", "thank")], seen[("flow.completed", "untag")]
    regular, bye = seen[("flow.completed", "tag-regular")], seen[("flow.exited", "bye")]
    waiting = entered - sum(ended.values())
    visits = {
        "is-vip": entered, "is-regular": regular + bye, "bye": bye, "ab": offer_a + offer_b,
        "offer-a": offer_a, "offer-b": offer_b, "tag-a": offer_a, "tag-b": offer_b,
        "wait-order": offer_a + offer_b, "thank": thanked, "untag": untagged, "tag-regular": regular,
    }  # fmt: skip
    edges = {
        "is-vip": {"then": offer_a + offer_b, "else": regular + bye},
        "is-regular": {"then": regular, "else": bye},
        "bye": {},
        "ab": {"branches[0].next": offer_a, "branches[1].next": offer_b},
        "offer-a": {"next": offer_a}, "offer-b": {"next": offer_b}, "tag-a": {"next": offer_a},
        "tag-b": {"next": offer_b},
        "wait-order": {"next": thanked, "on_timeout": untagged},
        "thank": {"next": thanked}, "untag": {"next": untagged}, "tag-regular": {"next": regular},
    }  # fmt: skip
    return {"active": 0, "waiting": waiting, **ended}, visits, edges


def test_stats_equal_what_the_output_topic_says(cli, db, config):
    store(db)
    customers = sample.emails(80, "shop.example")
    upsert(db, "acme", [CustomerFields(email=e) for e in customers])
    assert 0 == cli("segments", "create", "VIP", "--store", "acme").code
    assert 0 == cli("segments", "add", "VIP", *customers[:40], "--store", "acme").code
    deploy(db, Flow.model_validate(sample.every_node_flow("acme")))
    produce_events(config.kafka_bootstrap, config.input_topic, sample.events("acme", customers, 600, seed=3))

    run_worker(config, T0)  # runs wait at wait-order for a next order or 30 days
    runs, visits, edges = from_topic(config)
    got = stats(cli)
    assert runs == got["runs"]
    assert runs["waiting"] > 0 and runs["completed"] > 0 and runs["exited"] > 0
    assert {n["id"]: n["visits"] for n in got["nodes"]} == visits
    assert {n["id"]: n["edges"] for n in got["nodes"]} == edges
    assert {n["id"]: n["waiting"] for n in got["nodes"] if n["waiting"]} == {"wait-order": runs["waiting"]}

    run_worker(config, T0 + timedelta(days=31))  # the rest time out
    runs, visits, edges = from_topic(config)
    got = stats(cli)
    assert runs == got["runs"] and 0 == runs["waiting"] and visits["untag"] > 0
    assert {n["id"]: n["visits"] for n in got["nodes"]} == visits
    assert {n["id"]: n["edges"] for n in got["nodes"]} == edges
    # The worker sums the count rows now and then (hourly, with its purge): the same stats after,
    # and one row per key. (A batch's row for a key is there twice at least, as a second batch.)
    flow_rows.add_counts(db, "acme", {("every-node", 1, "is-vip", "then"): 0, ("every-node", 1, "is-vip", ""): 0})
    assert flow_rows.roll_up_counts(db) >= 2
    keys = "SELECT count(*), count(DISTINCT (store_id, flow_id, version, node_id, edge)) FROM flow_counts"
    total, distinct = db.execute(keys).fetchone()
    assert total == distinct
    assert got == stats(cli)

    graph = cli("flows", "graph", "every-node", "--store", "acme", "--stats")
    assert 0 == graph.code, graph.err
    assert f"|{sum(runs.values())} entered|" in graph.out
    assert f"|on_timeout: {edges['wait-order']['on_timeout']}|" in graph.out
