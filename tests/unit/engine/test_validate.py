import copy
import json
import typing
from pathlib import Path

import pytest

from engine.validate import FlowError, check, parse_definition, validate
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


def problems(text):
    """What `flows validate` says of a file's text: the JSON's problems, then the structure's."""
    raw, errors = parse_definition(text)
    if raw is not None:
        errors += check(raw)[1]
    return [(e.node, e.message) for e in errors]


def with_node(change):
    raw = base()
    change(raw)
    return json.dumps(raw)


def test_a_bad_node_hides_neither_other_nodes_nor_the_graph():
    def two(raw):
        node(raw, "discount").update(colour="red")  # a schema error
        node(raw, "notify").update(next="nowhere")  # a graph error elsewhere
        raw["name"] = ""  # and one in the flow's own fields

    assert {
        (None, "name: must not be empty"),
        ("discount", "colour: unknown field"),
        ("notify", "next refers to unknown node 'nowhere'"),
    } == set(mutate(two))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda r: r.update(id="Big Flow"),
            (None, "id: must be 1-100 lowercase letters, digits, '-' or '_', starting with a letter or digit"),
        ),
        (
            lambda r: r["trigger"].update(event="Order Processed"),
            (None, "trigger.event: must be a dotted lowercase event type such as order.processed"),
        ),
        (
            lambda r: node(r, "ab")["branches"][0].update(percent="half"),
            ("ab", "branches[0].percent: must be a whole number"),
        ),
        (lambda r: r.update(reentry="sometimes"), (None, "reentry: must be 'once', 'not_while_active' or 'always'")),
    ],
)
def test_messages_are_in_the_authors_words(change, expected):
    assert [expected] == mutate(change)


def rule_node(rule):
    return lambda raw: (
        raw["nodes"].insert(0, {"id": "c", "type": "condition", "if": rule, "then": "ab", "else": None}),
        raw.update(start="c"),
    )


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"field": "data.x", "op": "exists", "value": "yes"}, "if.value: exists takes true or false"),
        ({"field": "data.x", "op": "in", "value": "gold"}, "if.value: in takes a list"),
        ({"in_segment": " VIP"}, "if.in_segment: segment name ' VIP' has spaces at its start or end"),
        (
            {"not_in_segment": "VIP\nList"},
            "if.not_in_segment: segment name 'VIP\\nList' contains a control character (U+000A)",
        ),
        ({"in_segment": ""}, "if.in_segment: segment name '' is empty"),
    ],
)
def test_rules_the_engine_could_not_apply_are_refused(rule, message):
    assert [("c", message)] == mutate(rule_node(rule))


@pytest.mark.parametrize("duration", ["P3650000D", "PT99999999999999999999S", "P99999999999999999999D"])
def test_durations_beyond_the_longest_wait_are_refused_not_a_traceback(duration):
    [(where, message)] = mutate(lambda r: node(r, "cool-off").update(duration=duration))
    assert "cool-off" == where
    assert "longer than the longest wait, P3650D" in message or "is not an ISO-8601 duration" in message


def test_what_json_parsers_disagree_on_or_postgresql_cannot_store():
    text = with_node(lambda r: node(r, "discount")["params"].update(note="<nul>", rate="<nan>", cap="<inf>"))
    text = text.replace('"<nul>"', '"a\\u0000b"').replace('"<nan>"', "NaN").replace('"<inf>"', "1e999")
    found = problems(text)
    assert (None, "NaN is not a number JSON can carry") in found
    assert (None, "1e999 is beyond the numbers JSON can carry") in found
    assert ("discount", "params.note: contains a NUL character") in found
    surrogate = with_node(lambda r: r.update(name="<s>")).replace('"<s>"', '"\\ud800"')
    assert [(None, "name: contains a lone surrogate ('\\ud800')")] == problems(surrogate)


def test_a_key_given_twice_is_refused_even_the_id():
    text = with_node(lambda r: None).replace('"id": "notify"', '"id": "notify", "id": "notify2"', 1)
    assert ("notify2", "the key 'id' is given twice; give it once") in problems(text)


@pytest.mark.parametrize("levels", [40, 500])  # 500 used to be a RecursionError traceback
def test_nesting_beyond_the_limit_is_an_error_not_a_recursion_error(levels):
    deep = '{"all": [' * levels + '{"in_segment": "VIP"}' + "]}" * levels
    text = with_node(rule_node({"in_segment": "<deep>"})).replace('{"in_segment": "<deep>"}', deep)
    assert [(None, "the JSON nests deeper than 64 levels")] == problems(text)
