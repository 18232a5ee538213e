"""Property tests: random valid graphs validate; a random mistake is caught at the right node."""

from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.validate import validate

TYPES = ["segment", "condition", "split", "wait_duration", "wait_event", "action", "exit"]
SLOTS = {"segment": 1, "condition": 2, "wait_duration": 1, "wait_event": 2, "action": 1, "exit": 0}


def make_node(node_id: str, kind: str, branches: int) -> dict[str, Any]:
    if kind == "segment":
        return {"id": node_id, "type": "segment", "operation": "add", "segment": "VIP", "next": None}
    if kind == "condition":
        return {
            "id": node_id,
            "type": "condition",
            "if": {"field": "data.x", "op": "gt", "value": 1},
            "then": None,
            "else": None,
        }
    if kind == "split":
        share = [100 // branches] * branches
        share[0] += 100 - sum(share)
        return {"id": node_id, "type": "split", "branches": [{"percent": p, "next": None} for p in share]}
    if kind == "wait_duration":
        return {"id": node_id, "type": "wait", "duration": "P1D", "next": None}
    if kind == "wait_event":
        return {
            "id": node_id,
            "type": "wait",
            "until_event": "charge.paid",
            "timeout": "PT12H",
            "next": None,
            "on_timeout": None,
        }
    if kind == "action":
        return {"id": node_id, "type": "action", "action": "notify", "params": {}, "next": None}
    return {"id": node_id, "type": "exit"}


def slot_fields(node: dict[str, Any]) -> list[tuple[Any, str]]:
    """(container, key) for every reference field of a node."""
    if node["type"] == "split":
        return [(branch, "next") for branch in node["branches"]]
    if node["type"] == "condition":
        return [(node, "then"), (node, "else")]
    if node["type"] == "wait" and "until_event" in node:
        return [(node, "next"), (node, "on_timeout")]
    if node["type"] == "exit":
        return []
    return [(node, "next")]


@st.composite
def valid_flows(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(1, 25))
    nodes: list[dict[str, Any]] = []
    free: list[tuple[int, Any, str]] = []  # (owner index, container, key) not yet pointing anywhere
    for i in range(count):
        kind = draw(st.sampled_from(TYPES))
        node = make_node(f"n{i}", kind, draw(st.integers(2, 4)))
        if i > 0:
            if not free:
                break
            owner, container, key = free.pop(draw(st.integers(0, len(free) - 1)))
            container[key] = node["id"]
        nodes.append(node)
        free.extend((i, container, key) for container, key in slot_fields(node))
    for owner, container, key in free:
        choice = draw(st.integers(0, 2))
        if choice == 1 and owner + 1 < len(nodes):
            container[key] = nodes[draw(st.integers(owner + 1, len(nodes) - 1))]["id"]  # forward: no cycle
        elif choice == 2 and nodes[owner]["type"] == "wait":
            container[key] = nodes[draw(st.integers(0, owner))]["id"]  # back through a wait: allowed
    return {
        "id": "prop",
        "store_id": "acme",
        "name": "p",
        "trigger": {"event": "order.processed"},
        "start": "n0",
        "nodes": nodes,
    }


def error_nodes(raw: dict[str, Any]) -> set[str | None]:
    _flow, errors = validate(raw)
    return {e.node for e in errors}


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(valid_flows())
def test_every_generated_graph_is_valid(raw):
    flow, errors = validate(raw)
    assert errors == []
    assert flow is not None


def _mutations(raw: dict[str, Any], index: int, which: int) -> tuple[dict[str, Any], str] | None:
    node = raw["nodes"][index]
    slots = slot_fields(node)
    match which:
        case 0 if slots:
            container, key = slots[0]
            container[key] = "no-such-node"
        case 1:
            node["colour"] = "blue"
        case 2 if node["type"] == "split":
            node["branches"][0]["percent"] += 1
        case 3 if node["type"] == "wait":
            node["timeout" if "until_event" in node else "duration"] = "three days"
        case 4:
            node["type"] = "teleport"
        case 5 if slots and node["type"] != "wait":
            container, key = slots[0]
            container[key] = node["id"]  # a loop with no wait on it
        case 6:
            raw["nodes"].append({**make_node(node["id"], "action", 2)})
        case 7:
            raw["nodes"].append(make_node("island", "exit", 2))
            return raw, "island"
        case _:
            return None
    return raw, node["id"]


@FAST
@given(valid_flows(), st.data())
def test_every_mutation_is_rejected_naming_its_node(raw, data):
    index = data.draw(st.integers(0, len(raw["nodes"]) - 1))
    which = data.draw(st.integers(0, 7))
    mutated = _mutations(raw, index, which)
    assume(mutated is not None)  # not every mutation applies to every node type
    assert mutated is not None
    broken, node_id = mutated
    assert node_id in error_nodes(broken)
