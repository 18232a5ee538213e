"""`customers explain` through the real worker (SPEC §9): the journey is exactly the steps the
simulator computes from the same events, and the verdict says why a customer is, was or never
was in a flow."""

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.simulate import simulate
from schemas.events import InputEvent
from schemas.flow import Flow
from tests.support.examples import deploy, example_store, run_worker, store
from tests.support.kafka_io import produce_events

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def explained(cli, email, *extra):
    result = cli("customers", "explain", email, "--store", "acme", "--json", *extra)
    assert 0 == result.code, result.err
    return json.loads(result.out)


def test_the_journey_is_the_steps_the_simulator_computes(cli, db, config):
    flows, events = example_store(db, config, T0)
    for at in (T0, T0 + timedelta(days=7), T0 + timedelta(days=10)):  # events, then the waits' timers
        run_worker(config, at)

    trace = simulate(flows, [InputEvent.model_validate(e) for e in events], {"Big Spenders": ["ann@example.com"]})
    expected = defaultdict(list)
    for t in trace:
        step = t.step
        operation = "timer" if t.trigger == "timer" else "event"
        effects = [{"type": e.type, "node": e.cause.node_id, **e.data} for e in step.events]
        expected[t.email].append((operation, step.run.flow_id, step.path, step.run.status, effects))
    busiest = sorted(expected, key=lambda email: -len(expected[email]))[:3]
    assert len(busiest) == 3 and all(len(expected[e]) > 1 for e in busiest[:2])
    for email in busiest:
        steps = explained(cli, email)["steps"]
        got = [
            (s["cause"]["operation"], s["flow_id"], s["path"], s["status"], s["effects"])
            for s in steps
            if s["status"]
            != "refused"  # the events that let the customer in not are steps too; the simulator's trace has runs only
        ]
        assert expected[email] == got, email
        refused = [s for s in steps if s["status"] == "refused"]
        assert all(s["reason"] and s["cause"]["event_id"] and not s["path"] for s in refused)


FLOWS = [
    {"id": "gift", "trigger": {"event": "streak.milestone_reached"}},
    {
        "id": "big",
        "trigger": {"event": "order.processed", "where": {"field": "data.total_price", "op": "gte", "value": 100}},
    },
    {"id": "once", "trigger": {"event": "order.processed"}, "reentry": "once"},
    {"id": "quiet", "trigger": {"event": "order.processed"}},
]
ACT: list[dict[str, Any]] = [{"id": "act", "type": "action", "action": "notify", "params": {}, "next": None}]
TEMP = {
    "id": "temp", "trigger": {"event": "charge.failed"}, "start": "pause",
    "nodes": [
        {"id": "pause", "type": "wait", "duration": "PT1H", "next": "check"},
        {"id": "check", "type": "condition", "if": {"in_segment": "Temp"}, "then": "act", "else": None},
        *ACT,
    ],
}  # fmt: skip


def flow(raw):
    return Flow.model_validate({"store_id": "acme", "name": raw["id"], "start": "act", "nodes": ACT, **raw})


def event(n, kind, **data):
    return {
        "event_id": f"e{n}", "type": kind, "store_id": "acme", "occurred_at": T0.isoformat(),
        "customer": {"email": "ann@example.com"}, "data": data,
    }  # fmt: skip


def test_the_verdict_says_why_for_every_kind_of_not_being_in_a_flow(cli, db, config):
    store(db)
    assert 0 == cli("segments", "create", "Temp", "--store", "acme").code
    deploy(db, *(flow(raw) for raw in [*FLOWS, TEMP]))
    assert 0 == cli("flows", "pause", "quiet", "--store", "acme").code
    produce_events(
        config.kafka_bootstrap, config.input_topic,
        [event(1, "order.processed", total_price=50), event(2, "order.processed", total_price=60), event(3, "charge.failed")],
    )  # fmt: skip
    run_worker(config, T0)
    assert 0 == cli("segments", "add", "Temp", "ann@example.com", "--store", "acme").code
    assert 0 == cli("segments", "delete", "Temp", "--store", "acme", "--yes", "--force").code  # temp's run waits on
    run_worker(config, T0 + timedelta(hours=2))  # the wait ends; the segment the rule names is gone

    verdicts = {
        f: explained(cli, "ann@example.com", "--flow", f)["verdicts"][0]["verdict"]
        for f in ("gift", "big", "once", "quiet", "temp")
    }
    assert (
        "never triggered: no streak.milestone_reached event for this customer in the last 31 days" == verdicts["gift"]
    )
    assert verdicts["big"] == (
        "never entered: order.processed e2 on 2026-11-01 08:00:00 UTC matched the trigger, but the trigger's where "
        "was false: data.total_price gte 100 was false: data.total_price is 60"
    )
    assert verdicts["once"].startswith(
        "was in the flow: entered on 2026-11-01 08:00:00 UTC on version 1, completed at node act"
    )
    assert verdicts["once"].endswith(
        "later, order.processed e2 on 2026-11-01 08:00:00 UTC did not let them in again: "
        "reentry is once, and the customer had entered the flow before"
    )
    assert verdicts["quiet"] == (
        "never entered: order.processed e2 on 2026-11-01 08:00:00 UTC matched the trigger, but the flow was paused "
        "(the flow is paused now)"
    )
    assert verdicts["temp"] == (
        "entered on 2026-11-01 08:00:00 UTC on version 1, and the run failed at node check on 2026-11-01 10:00:00 UTC: "
        'segment "Temp" does not exist in store acme (the flow is paused now)'
    )
    # Segment changes made outside flows are steps of the journey too.
    steps = explained(cli, "ann@example.com")["steps"]
    outside = [(s["cause"]["operation"], [e["type"] for e in s["effects"]]) for s in steps if s["flow_id"] is None]
    assert [("manual", ["segment.member_added"]), ("delete", ["segment.member_removed"])] == outside
