"""Structural validation of flow definitions (SPEC §4), without a database.

Every problem is reported at once, each as (node id or None, one-line message in the author's
words): what the JSON text holds that no parser agrees on or the database cannot store
(`parse_definition`), then the flow's own fields and each node on its own, so a bad node hides
nothing else, then the graph. Store-aware rules (the store exists, its plan, segment names)
are segflow.services.flows.store_errors, run on whatever parts are valid.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from nodes import REGISTRY
from schemas.events import unstorable_text
from schemas.flow import MAX_NODES, PATTERNS_IN_WORDS, Flow, FlowHeader, Node

MAX_DEPTH = 64
"""How deeply a flow definition's JSON may nest (about 30 rules inside each other)."""


@dataclass(frozen=True, slots=True)
class FlowError:
    node: str | None
    message: str


def parse_definition(text: str) -> tuple[Any, list[FlowError]]:
    """A flow file's JSON, and every problem in it that no later check can see: a key given twice
    (parsers keep one of them, which one differs), NaN, Infinity or a number beyond a double,
    a NUL character or a lone surrogate (PostgreSQL cannot store them), nesting beyond MAX_DEPTH."""
    problems: list[FlowError] = []

    def object_of(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        found = dict(pairs)
        node_id = found.get("id") if "type" in found and isinstance(found.get("id"), str) else None
        keys = [key for key, _value in pairs]
        for key in dict.fromkeys(k for k in keys if keys.count(k) > 1):
            problems.append(FlowError(node_id, f"the key {key!r} is given twice; give it once"))
        return found

    def not_finite(text: str) -> None:
        problems.append(FlowError(None, f"{text} is not a number JSON can carry"))

    def number(text: str) -> float | None:
        value = float(text)
        if not math.isfinite(value):
            problems.append(FlowError(None, f"{text[:40]} is beyond the numbers JSON can carry"))
            return None
        return value

    try:
        raw = json.loads(text, object_pairs_hook=object_of, parse_constant=not_finite, parse_float=number)
    except json.JSONDecodeError as exc:
        return None, [FlowError(None, f"not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}")]
    except RecursionError:
        return None, [FlowError(None, f"the JSON nests deeper than {MAX_DEPTH} levels")]
    except ValueError as exc:  # an integer of more than 4,300 digits
        return None, [FlowError(None, f"not valid JSON: {exc}")]
    if _depth(raw) > MAX_DEPTH:
        return None, [FlowError(None, f"the JSON nests deeper than {MAX_DEPTH} levels")]
    for path, why in _unstorable(raw, []):
        problems.append(_at(raw, path, why))
    return raw, problems


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def _unstorable(value: Any, path: list[Any]) -> Iterator[tuple[list[Any], str]]:
    if isinstance(value, str):
        why = unstorable_text(value)
        if why:
            yield path, why
    elif isinstance(value, dict):
        for key, item in value.items():
            why = unstorable_text(key)
            if why:
                yield path, f"a key {why}"
            yield from _unstorable(item, [*path, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unstorable(item, [*path, index])


def _at(raw: Any, path: list[Any], message: str) -> FlowError:
    """An error at `path` of the definition, named by its node where it is inside one."""
    node: str | None = None
    if len(path) >= 2 and path[0] == "nodes" and isinstance(raw, dict) and isinstance(raw.get("nodes"), list):
        item = raw["nodes"][path[1]]
        candidate = item.get("id") if isinstance(item, dict) else None
        if isinstance(candidate, str) and not unstorable_text(candidate):
            node, path = candidate, path[2:]
    where = _path(path)
    return FlowError(node, f"{where}: {message}" if where else message)


def validate(raw: Any) -> tuple[Flow | None, list[FlowError]]:
    """The flow, or None with every structural problem."""
    flow, errors = check(raw)
    return (flow if not errors else None), errors


def check(raw: Any) -> tuple[Flow | None, list[FlowError]]:
    """Every structural problem, and the flow as far as it is valid (its own fields and the
    nodes that are; None when its own fields are not), for the store-aware checks."""
    if not isinstance(raw, dict):
        return None, [FlowError(None, "a flow definition must be a JSON object")]
    nodes_raw = raw.get("nodes")
    if isinstance(nodes_raw, list) and len(nodes_raw) > MAX_NODES:
        return None, [FlowError(None, f"the flow has {len(nodes_raw)} nodes; the limit is {MAX_NODES}")]
    errors: list[FlowError] = []
    header: FlowHeader | None = None
    try:
        header = FlowHeader.model_validate({key: value for key, value in raw.items() if key != "nodes"})
    except ValidationError as exc:
        errors.extend(_from_pydantic(raw, error) for error in exc.errors() if error["type"] not in _SAID)
    nodes: list[Any] = []
    invalid: set[str] = set()
    if not isinstance(nodes_raw, list) or not nodes_raw:
        errors.append(FlowError(None, "nodes: a flow needs a list of at least one node"))
    else:
        for index, item in enumerate(nodes_raw):
            try:
                nodes.append(_NODE.validate_python(item))
            except ValidationError as exc:
                for error in exc.errors():
                    if error["type"] not in _SAID:
                        errors.append(_from_pydantic(raw, {**error, "loc": ("nodes", index, *error["loc"])}))
                node_id = item.get("id") if isinstance(item, dict) else None
                if isinstance(node_id, str):
                    invalid.add(node_id)
    start = raw.get("start")
    if isinstance(start, str):
        errors.extend(check_graph(start, nodes, invalid))
    if header is None:
        return None, errors
    return Flow.model_construct(**dict(header), nodes=nodes), errors


_NODE: TypeAdapter[Node] = TypeAdapter(Node)
_SAID = frozenset({"string_unicode"})
"""pydantic errors parse_definition reports in its own words (a lone surrogate)."""
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
    """pydantic's error in a flow author's words."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    if kind == "union_tag_invalid" and ctx:
        return f"unknown node type {ctx['tag']!r} (known: {', '.join(sorted(REGISTRY))})"
    if kind == "string_pattern_mismatch":
        return PATTERNS_IN_WORDS.get(ctx.get("pattern", ""), f"does not match {ctx.get('pattern')}")
    if kind == "literal_error":
        return f"must be {ctx.get('expected')}"
    if kind == "string_too_short":
        least = ctx.get("min_length")
        return "must not be empty" if least == 1 else f"needs at least {least} characters"
    if kind == "string_too_long":
        return f"is longer than {ctx.get('max_length')} characters"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length')} item(s)"
    if kind in ("greater_than_equal", "less_than_equal"):
        bound = ctx.get("ge", ctx.get("le"))
        return f"must be at {'least' if kind == 'greater_than_equal' else 'most'} {bound}"
    return _WORDS.get(kind) or str(error["msg"]).removeprefix("Value error, ")


_WORDS = {
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
}


def check_graph(start: str, nodes: list[Any], invalid: set[str] | None = None) -> list[FlowError]:
    """The graph's problems. `invalid`: ids of nodes that failed their own checks; they exist, so
    references to them are fine, but where they lead is unknown, so reachability is not judged."""
    invalid = invalid or set()
    errors: list[FlowError] = []
    by_id: dict[str, Any] = {}
    for node in nodes:
        if node.id in by_id or node.id in invalid:
            errors.append(FlowError(node.id, "node id is used twice"))
        by_id.setdefault(node.id, node)
    known = set(by_id) | invalid
    if start not in known:
        errors.append(FlowError(None, f"start refers to unknown node {start!r}"))
    edges: dict[str, list[str]] = {}
    for node in nodes:
        handler = REGISTRY[node.type]
        errors.extend(FlowError(node.id, problem) for problem in handler.check(node))
        targets = []
        for edge in handler.successors(node):
            if edge.target is None:
                continue
            if edge.target not in known:
                errors.append(FlowError(node.id, f"{edge.label} refers to unknown node {edge.target!r}"))
            elif edge.target in by_id:
                targets.append(edge.target)
        edges[node.id] = targets
    if not invalid:
        reachable = _reachable(start, edges) if start in by_id else set()
        errors.extend(FlowError(n.id, "unreachable from start") for n in nodes if n.id not in reachable)
    errors.extend(
        FlowError(node_id, "is on a cycle with no wait node") for node_id in _cycles_without_wait(nodes, edges)
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


def _cycles_without_wait(nodes: list[Any], edges: dict[str, list[str]]) -> list[str]:
    """One node id per cycle that never passes a node a run can wait in (an endless loop)."""
    pausing = {n.id for n in nodes if REGISTRY[n.type].pauses}
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
