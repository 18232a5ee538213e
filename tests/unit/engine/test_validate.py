import copy
import json
import typing
from pathlib import Path

import pytest

from engine.validate import FlowError, validate
from nodes import REGISTRY
from schemas.flow import Node

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "flows"


def base():
    return json.loads((EXAMPLES / "winback-split.json").read_text())


def errors_of(raw):
    flow, errors = validate(raw)
    assert (flow is None) or errors == [] or all(isinstance(e, FlowError) for e in errors)
    return [(e.node, e.message) for e in errors]


def test_registry_matches_the_node_union():
    union = typing.get_args(typing.get_args(Node)[0])
    tags = {typing.get_args(model.model_fields["type"].annotation)[0] for model in union}
    assert tags == set(REGISTRY)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_examples_are_valid(path):
    assert [] == errors_of(json.loads(path.read_text()))


def mutate(change):
    raw = base()
    change(raw)
    return errors_of(raw)


def node(raw, node_id):
    return next(n for n in raw["nodes"] if n["id"] == node_id)


def test_unknown_node_type():
    assert [("notify", "unknown node type 'mail' (known: action, condition, exit, segment, split, wait)")] == mutate(
        lambda r: node(r, "notify").update(type="mail")
    )


def test_unknown_field():
    assert [("discount", "colour: unknown field")] == mutate(lambda r: node(r, "discount").update(colour="red"))


def test_dangling_reference():
    assert [("notify", "next refers to unknown node 'nowhere'")] == mutate(
        lambda r: node(r, "notify").update(next="nowhere")
    )


def test_missing_reference_field():
    assert [("notify", "next: required field is missing")] == mutate(lambda r: node(r, "notify").pop("next"))


def test_unreachable_node():
    def add_orphan(raw):
        raw["nodes"].append({"id": "orphan", "type": "exit"})

    assert [("orphan", "unreachable from start")] == mutate(add_orphan)


def test_cycle_without_wait_is_refused_but_through_a_wait_is_fine():
    assert [("ab", "is on a cycle with no wait node")] == mutate(lambda r: node(r, "notify").update(next="ab"))
    assert [] == mutate(lambda r: node(r, "cool-off").update(next="ab"))


def test_split_percents():
    assert [("ab", "branch percents sum to 90, not 100")] == mutate(
        lambda r: node(r, "ab")["branches"][0].update(percent=40)
    )


@pytest.mark.parametrize(
    ("duration", "message"),
    [("3 days", "'3 days' is not an ISO-8601 duration"), ("P1M", "uses years or months"), ("PT0S", "not a positive")],
)
def test_bad_durations(duration, message):
    found = mutate(lambda r: node(r, "cool-off").update(duration=duration))
    assert 1 == len(found) and "cool-off" == found[0][0] and message in found[0][1]


def test_more_than_500_nodes():
    def grow(raw):
        raw["nodes"] += [{"id": f"x{i}", "type": "exit"} for i in range(500)]

    assert [(None, "the flow has 507 nodes; the limit is 500")] == mutate(grow)


def test_all_errors_are_reported_at_once():
    def three(raw):
        node(raw, "notify").update(next="nowhere")
        node(raw, "ab")["branches"][0].update(percent=10)
        node(raw, "cool-off").update(duration="soon")

    assert {"notify", "ab", "cool-off"} == {n for n, _m in mutate(three)}


def test_rule_errors_name_the_path_the_author_wrote():
    raw = copy.deepcopy(base())
    raw["nodes"].insert(0, {"id": "c", "type": "condition", "if": {"all": [{"foo": 1}]}, "then": "ab", "else": None})
    raw["start"] = "c"
    assert [("c", "if.all[0]: a rule needs one of in_segment, not_in_segment, field, all, any, not")] == errors_of(raw)


def test_not_an_object():
    assert [(None, "a flow definition must be a JSON object")] == errors_of([1, 2])
