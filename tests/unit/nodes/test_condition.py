from datetime import UTC, datetime

import pytest

from engine.model import Context, Event, MembershipView
from nodes.condition import MissingSegment, evaluate, visit
from schemas.flow import ConditionNode

NOW = datetime(2026, 11, 26, tzinfo=UTC)


def ctx(data=None, customer=None, member_of=()):
    view = MembershipView()
    for name in member_of:
        view.create(name)
        view.add("ann@example.com", name)
    event = Event("e1", "order.processed", NOW, data or {}) if data is not None else None
    return Context("acme", "f", "ann@example.com", customer or {"email": "ann@example.com"}, event, view, NOW)


def rule(raw):
    return ConditionNode.model_validate({"id": "c", "type": "condition", "if": raw, "then": None, "else": None}).if_


@pytest.mark.parametrize(
    ("raw", "data", "expected"),
    [
        ({"field": "data.total", "op": "eq", "value": 10}, {"total": 10}, True),
        ({"field": "data.total", "op": "ne", "value": 10}, {"total": 11}, True),
        ({"field": "data.total", "op": "ne", "value": 10}, {}, False),  # missing: every op but exists is false
        ({"field": "data.total", "op": "gt", "value": 10}, {"total": 10.5}, True),
        ({"field": "data.total", "op": "gte", "value": 10}, {"total": 10}, True),
        ({"field": "data.total", "op": "lt", "value": 10}, {"total": 10}, False),
        ({"field": "data.total", "op": "lte", "value": 10}, {"total": 10}, True),
        ({"field": "data.total", "op": "gt", "value": 10}, {"total": "11"}, False),  # no cross-type ordering
        ({"field": "data.plan", "op": "in", "value": ["a", "b"]}, {"plan": "b"}, True),
        ({"field": "data.plan", "op": "not_in", "value": ["a", "b"]}, {"plan": "c"}, True),
        ({"field": "data.plan", "op": "not_in", "value": ["a"]}, {}, False),
        ({"field": "data.tags", "op": "contains", "value": "vip"}, {"tags": ["new", "vip"]}, True),
        ({"field": "data.note", "op": "contains", "value": "gift"}, {"note": "free gift!"}, True),
        ({"field": "data.a.b", "op": "eq", "value": 1}, {"a": {"b": 1}}, True),
        ({"field": "data.a.b", "op": "exists", "value": True}, {"a": {"b": None}}, False),
        ({"field": "data.a", "op": "exists", "value": False}, {}, True),
        ({"field": "data.flag", "op": "eq", "value": True}, {"flag": True}, True),
        (
            {
                "all": [
                    {"field": "data.x", "op": "eq", "value": 1},
                    {"not": {"field": "data.y", "op": "exists", "value": True}},
                ]
            },
            {"x": 1},
            True,
        ),
        (
            {"any": [{"field": "data.x", "op": "eq", "value": 2}, {"field": "data.x", "op": "eq", "value": 1}]},
            {"x": 1},
            True,
        ),
    ],
)
def test_field_rules(raw, data, expected):
    assert evaluate(rule(raw), ctx(data)) is expected


def test_customer_fields_and_segments():
    c = ctx({}, customer={"email": "ann@example.com", "first_name": "Ann"}, member_of=["VIP"])
    c.members.create("Other")
    assert evaluate(rule({"field": "customer.first_name", "op": "eq", "value": "Ann"}), c)
    assert evaluate(rule({"in_segment": "vip"}), c)  # names are case-insensitive
    assert not evaluate(rule({"not_in_segment": "VIP"}), c)
    assert evaluate(rule({"not_in_segment": "Other"}), c)


@pytest.mark.parametrize(
    "raw", [{"in_segment": "Gone"}, {"not_in_segment": "Gone"}, {"not": {"not_in_segment": "Gone"}}]
)
def test_a_rule_on_a_segment_the_store_does_not_have_is_neither_true_nor_false(raw):
    with pytest.raises(MissingSegment, match='segment "Gone" does not exist in store acme'):
        evaluate(rule(raw), ctx({}))
    node = ConditionNode.model_validate({"id": "c", "type": "condition", "if": raw, "then": "a", "else": "b"})
    outcome = visit(node, ctx({}))
    assert (None, 'segment "Gone" does not exist in store acme') == (outcome.next, outcome.failure)


def test_timer_woken_run_has_no_event_data():
    assert not evaluate(rule({"field": "data.total", "op": "exists", "value": True}), ctx(None))
