from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.model import Context, Event, MembershipView
from nodes.condition import HANDLER, MissingSegment, evaluate
from schemas.flow import ConditionNode, FieldRule

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
    outcome = HANDLER.visit(node, ctx({}))
    assert (None, 'segment "Gone" does not exist in store acme') == (outcome.next, outcome.failure)


def test_timer_woken_run_has_no_event_data():
    assert not evaluate(rule({"field": "data.total", "op": "exists", "value": True}), ctx(None))


# SPEC §4's comparison rules written out plainly, as the oracle for the compiled tests the engine
# runs (`comparison`): a missing value fails every op but exists; ordering compares numbers with
# numbers and strings with strings, never across; `in` needs a list.
def _spec_compare(actual, op, expected):
    if op == "exists":
        return (actual is not None) == bool(expected)
    if actual is None:
        return False
    if op == "eq":
        return actual == expected
    if op == "ne":
        return actual != expected
    if op in ("in", "not_in"):
        inside = isinstance(expected, list) and actual in expected
        return inside if op == "in" else not inside
    if op == "contains":
        if isinstance(actual, str) and isinstance(expected, str):
            return expected in actual
        return isinstance(actual, list) and expected in actual
    number = lambda v: isinstance(v, int | float) and not isinstance(v, bool)  # noqa: E731
    if not ((number(actual) and number(expected)) or (isinstance(actual, str) and isinstance(expected, str))):
        return False
    return {"gt": actual > expected, "gte": actual >= expected, "lt": actual < expected, "lte": actual <= expected}[op]


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(-3, 3, allow_nan=False),
    st.sampled_from(["", "a", "b", "ab"]),
)
_VALUES = st.one_of(_SCALARS, st.lists(_SCALARS, max_size=3))


@settings(max_examples=3000, deadline=None)
@given(
    actual=_VALUES,
    op=st.sampled_from(["exists", "eq", "ne", "in", "not_in", "contains", "gt", "gte", "lt", "lte"]),
    expected=_VALUES,
)
def test_compiled_comparisons_follow_the_rules(actual, op, expected):
    data = {} if actual is None else {"v": actual}  # absent and null are the same: missing
    raw = {"field": "data.v", "op": op, "value": expected}
    compiled = FieldRule.model_validate(raw, context={"as_deployed": True})
    assert evaluate(compiled, ctx(data)) is _spec_compare(actual, op, expected)
