"""Structural validation of flow definitions (SPEC §4), without a database.

Every problem is reported, not only the first, each as (node id or None, one-line message).
Store-aware rules (the store exists, its plan, segment names) are checked at deploy time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from nodes import REGISTRY
from schemas.flow import MAX_NODES, Flow


@dataclass(frozen=True, slots=True)
class FlowError:
    node: str | None
    message: str


def validate(raw: Any) -> tuple[Flow | None, list[FlowError]]:
    if not isinstance(raw, dict):
        return None, [FlowError(None, "a flow definition must be a JSON object")]
    nodes = raw.get("nodes")
    if isinstance(nodes, list) and len(nodes) > MAX_NODES:
        return None, [FlowError(None, f"the flow has {len(nodes)} nodes; the limit is {MAX_NODES}")]
    try:
        flow = Flow.model_validate(raw)
    except ValidationError as exc:
        return None, [_from_pydantic(raw, error) for error in exc.errors()]
    return flow, check_graph(flow)


_NODE_TAGS = frozenset(REGISTRY)


def _from_pydantic(raw: dict[str, Any], error: Any) -> FlowError:
    loc = list(error["loc"])
    node: str | None = None
    if len(loc) >= 2 and loc[0] == "nodes" and isinstance(loc[1], int):
        item = raw["nodes"][loc[1]]
        node_id = item.get("id") if isinstance(item, dict) else None
        node = node_id if isinstance(node_id, str) else None
        # Drop ("nodes", i) and the union tag pydantic inserts; name the node by id instead.
        loc = loc[3:] if len(loc) > 2 and loc[2] in _NODE_TAGS else loc[2:]
        if node is None:
            loc = [f"nodes[{error['loc'][1]}]", *loc]
    path = _path(loc)
    message = _message(error)
    return FlowError(node, f"{path}: {message}" if path else message)


def _path(loc: list[Any]) -> str:
    """pydantic puts each union tag in the path ("if", "all", "all", 0); show what the author wrote."""
    parts: list[Any] = []
    for i, part in enumerate(loc):
        if parts and parts[-1] == part:
            continue  # a rule's tag followed by its field of the same name
        if part == "field" and i + 1 < len(loc) and loc[i + 1] in ("op", "value"):
            continue  # the field-rule tag before one of its other fields
        parts.append(part)
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    if kind == "union_tag_invalid" and error.get("ctx"):
        return f"unknown node type {error['ctx']['tag']!r} (known: {', '.join(sorted(REGISTRY))})"
    return str(error["msg"])


def check_graph(flow: Flow) -> list[FlowError]:
    errors: list[FlowError] = []
    by_id: dict[str, Any] = {}
    for node in flow.nodes:
        if node.id in by_id:
            errors.append(FlowError(node.id, "node id is used twice"))
        by_id.setdefault(node.id, node)
    if flow.start not in by_id:
        errors.append(FlowError(None, f"start refers to unknown node {flow.start!r}"))
    edges: dict[str, list[str]] = {}
    for node in flow.nodes:
        handler = REGISTRY[node.type]
        errors.extend(FlowError(node.id, problem) for problem in handler.check(node))
        targets = []
        for edge in handler.successors(node):
            if edge.target is None:
                continue
            if edge.target not in by_id:
                errors.append(FlowError(node.id, f"{edge.label} refers to unknown node {edge.target!r}"))
            else:
                targets.append(edge.target)
        edges[node.id] = targets
    reachable = _reachable(flow.start, edges) if flow.start in by_id else set()
    errors.extend(FlowError(n.id, "unreachable from start") for n in flow.nodes if n.id not in reachable)
    errors.extend(
        FlowError(node_id, "is on a cycle with no wait node") for node_id in _cycles_without_wait(flow, edges)
    )
    return errors


def _reachable(start: str, edges: dict[str, list[str]]) -> set[str]:
    seen = {start}
    stack = [start]
    while stack:
        for target in edges.get(stack.pop(), []):
            if target not in seen:
                seen.add(target)
                stack.append(target)
    return seen


def _cycles_without_wait(flow: Flow, edges: dict[str, list[str]]) -> list[str]:
    """One node id per cycle that never passes a node a run can wait in (an endless loop)."""
    pausing = {n.id for n in flow.nodes if REGISTRY[n.type].pauses}
    graph = {nid: [t for t in targets if t not in pausing] for nid, targets in edges.items() if nid not in pausing}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    found: list[str] = []
    for root in graph:
        if root in state:
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        state[root] = 1
        while stack:
            node_id, index = stack[-1]
            targets = graph.get(node_id, [])
            if index < len(targets):
                stack[-1] = (node_id, index + 1)
                target = targets[index]
                if state.get(target) == 1:
                    found.append(target)
                elif target not in state:
                    state[target] = 1
                    stack.append((target, 0))
            else:
                state[node_id] = 2
                stack.pop()
    return found
