from datetime import UTC, datetime, timedelta

from engine.batch import Batch, CustomerState, FlowSet, net_changes
from engine.model import Event, MembershipView
from engine.step import CompiledFlow, MemberChange
from nodes.split import bucket
from schemas.flow import Flow

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def flow(nodes, start=None, trigger="order.processed", reentry="not_while_active", where=None, flow_id="f"):
    raw = {
        "id": flow_id,
        "store_id": "acme",
        "name": "t",
        "trigger": {"event": trigger},
        "reentry": reentry,
        "start": start or nodes[0]["id"],
        "nodes": nodes,
    }
    if where is not None:
        raw["trigger"]["where"] = where
    return Flow.model_validate(raw)


def batch(*flows, segments=(), members=None, status="active"):
    fs = FlowSet()
    for f in flows:
        fs.add(CompiledFlow.of(f, 1), status, latest=True)
    view = MembershipView()
    for name in segments:
        view.create(name)
    for email, names in (members or {}).items():
        for name in names:
            view.add(email, name)
    return Batch("acme", fs, view)


def customer(email="ann@example.com"):
    return CustomerState(email, {"email": email})


def event(n, kind="order.processed", **data):
    return Event(f"e{n}", kind, T0 + timedelta(minutes=n), data)


TAG = {"id": "tag", "type": "segment", "operation": "add", "segment": "VIP", "next": None}


def test_reentry_rules():
    wait = {"id": "w", "type": "wait", "duration": "P1D", "next": None}
    for reentry, entries in (("once", 1), ("not_while_active", 1), ("always", 3)):
        b = batch(flow([wait], reentry=reentry))
        ann = customer()
        for n in range(3):
            b.on_event(ann, event(n), T0)
        assert entries == len(b.runs()), reentry
    # not_while_active lets the customer in again once the run ended
    b = batch(flow([wait]))
    ann = customer()
    b.on_event(ann, event(1), T0)
    assert b.on_timer(ann, ann.runs[0].key, T0 + timedelta(days=2)).run.status == "completed"
    b.on_event(ann, event(2), T0 + timedelta(days=3))
    assert 2 == len(b.runs())


def test_where_filters_entry_and_paused_flows_take_no_one():
    f = flow([TAG], where={"field": "data.total", "op": "gte", "value": 100})
    b = batch(f, segments=["VIP"])
    ann = customer()
    assert [] == b.on_event(ann, event(1, total=99), T0)
    assert 1 == len(b.on_event(ann, event(2, total=100), T0))
    assert [] == batch(f, segments=["VIP"], status="paused").on_event(customer(), event(3, total=500), T0)


def test_later_event_in_batch_sees_earlier_membership_change():
    gate = {"id": "gate", "type": "condition", "if": {"in_segment": "VIP"}, "then": "yes", "else": None}
    yes = {"id": "yes", "type": "action", "action": "notify", "next": None}
    b = batch(
        flow([TAG], trigger="order.processed", flow_id="tagger"),
        flow([gate, yes], trigger="charge.paid", flow_id="gated"),
        segments=["VIP"],
    )
    ann = customer()
    first = b.on_event(ann, event(1, "charge.paid"), T0)
    assert ["gate"] == first[0].path
    b.on_event(ann, event(2), T0)
    second = b.on_event(ann, event(3, "charge.paid"), T0)
    assert ["gate", "yes"] == second[0].path


def test_adding_a_member_twice_changes_and_emits_once():
    b = batch(flow([TAG], reentry="always"), segments=["VIP"])
    ann = customer()
    b.on_event(ann, event(1), T0)
    b.on_event(ann, event(2), T0)
    assert 1 == len(b.changes())
    assert 1 == sum(e.type == "segment.member_added" for e in b.events())


def test_missing_segment_fails_the_run_with_a_reason():
    b = batch(flow([TAG]))
    step = b.on_event(customer(), event(1), T0)[0]
    assert step.run.status == "failed"
    assert 'segment "VIP" does not exist in store acme' == step.run.reason
    assert ["flow.entered", "flow.failed"] == [e.type for e in step.events]


def test_a_rule_on_a_deleted_segment_fails_the_run_naming_it():
    rule = {"id": "c", "type": "condition", "if": {"not_in_segment": "Gone"}, "then": None, "else": None}
    step = batch(flow([rule])).on_event(customer(), event(1), T0)[0]
    assert ("failed", "c", 'segment "Gone" does not exist in store acme') == (
        step.run.status, step.run.node_id, step.run.reason
    )  # fmt: skip


def test_a_trigger_on_a_deleted_segment_enters_and_fails_the_run():
    step = batch(flow([TAG], where={"in_segment": "Gone"}), segments=["VIP"]).on_event(customer(), event(1), T0)[0]
    assert ("failed", 'trigger: segment "Gone" does not exist in store acme') == (step.run.status, step.run.reason)
    assert ["flow.entered", "flow.failed"] == [e.type for e in step.events]


def test_create_if_missing_creates_the_segment():
    b = batch(flow([{**TAG, "create_if_missing": True}]))
    assert not b.members.exists("VIP")
    b.on_event(customer(), event(1), T0)
    assert b.members.exists("VIP")
    assert [("VIP", "add")] == [(c.segment, c.operation) for c in b.changes()]


def test_until_event_resumes_on_the_event_and_times_out_otherwise():
    wait = {
        "id": "w",
        "type": "wait",
        "until_event": "charge.paid",
        "timeout": "P2D",
        "next": "paid",
        "on_timeout": "late",
    }
    paid = {"id": "paid", "type": "action", "action": "thanks", "next": None}
    late = {"id": "late", "type": "exit"}
    b = batch(flow([wait, paid, late], trigger="charge.failed"))
    ann, bob = customer(), customer("bob@example.com")
    b.on_event(ann, event(1, "charge.failed"), T0)
    b.on_event(bob, event(2, "charge.failed"), T0)
    assert ["w", "paid"] == b.on_event(ann, event(3, "charge.paid"), T0 + timedelta(days=1))[0].path
    assert b.on_timer(bob, bob.runs[0].key, T0 + timedelta(days=1)) is None  # not due yet
    late_step = b.on_timer(bob, bob.runs[0].key, T0 + timedelta(days=3))
    assert (["w", "late"], "exited") == (late_step.path, late_step.run.status)


def test_split_is_deterministic_and_roughly_fair():
    counts = [0, 0]
    for i in range(2000):
        point = bucket("acme", "f", "ab", f"c{i}@example.com")
        assert point == bucket("acme", "f", "ab", f"c{i}@example.com")
        counts[point < 30] += 1
    assert 500 < counts[1] < 700  # 30% of 2000 = 600


def test_archived_flow_exits_its_waiting_runs_on_their_next_wake():
    wait = {"id": "w", "type": "wait", "duration": "P1D", "next": None}
    f = flow([wait])
    b = batch(f)
    ann = customer()
    b.on_event(ann, event(1), T0)
    b.flows.status["f"] = "archived"
    step = b.on_timer(ann, ann.runs[0].key, T0 + timedelta(days=2))
    assert ("exited", "flow archived") == (step.run.status, step.run.reason)


def test_output_event_ids_are_deterministic():
    def ids():
        b = batch(flow([TAG]), segments=["VIP"])
        b.on_event(customer(), event(1), T0)
        return [e.event_id for e in b.events()]

    assert ids() == ids()
    assert len(set(ids())) == 3


def test_net_changes_collapse_undone_pairs():
    def change(op, segment="VIP"):
        return MemberChange("ann@example.com", segment, op, "flow:f@1", T0)

    assert [] == net_changes([change("add"), change("remove")])
    assert ["add"] == [c.operation for c in net_changes([change("add"), change("remove"), change("add")])]
    assert ["remove", "add"] == [c.operation for c in net_changes([change("remove"), change("add", "Other")])]
