"""Condition node: go to `then` or `else` by a rule over segments and fields (SPEC §4).

The rule language lives here; the engine also uses `evaluate` for a trigger's `where`.

Fields: `data.a.b` walks the driving event's data (a timer-woken run has no event, so its
data fields are missing); `customer.x` reads the customer record. A field that is absent or
null is missing: `exists` is false for it and every other op is false.
"""

from __future__ import annotations

import json
from typing import Any

from engine.model import Context, Edge, NodeHandler, Outcome
from schemas.flow import AllRule, AnyRule, ConditionNode, FieldRule, InSegmentRule, NotInSegmentRule, NotRule, Rule

_MISSING = object()


class MissingSegment(Exception):
    """A rule names a segment the store no longer has (deleted with --force after deploy). The
    run fails naming it: neither true nor false would be honest (SPEC §6)."""

    def __init__(self, segment: str, store_id: str) -> None:
        super().__init__(f'segment "{segment}" does not exist in store {store_id}')


def visit(node: ConditionNode, ctx: Context) -> Outcome:
    try:
        taken = evaluate(node.if_, ctx)
    except MissingSegment as missing:
        return Outcome(failure=str(missing))
    return Outcome(next=node.then, edge="then") if taken else Outcome(next=node.else_, edge="else")


def evaluate(rule: Rule, ctx: Context) -> bool:
    """Raises MissingSegment for a rule on a segment the store does not have."""
    match rule:
        case InSegmentRule():
            return _member(ctx, rule.in_segment)
        case NotInSegmentRule():
            return not _member(ctx, rule.not_in_segment)
        case AllRule():
            return all(evaluate(r, ctx) for r in rule.all)
        case AnyRule():
            return any(evaluate(r, ctx) for r in rule.any)
        case NotRule():
            return not evaluate(rule.not_, ctx)
        case FieldRule():
            return compare(resolve(rule.field, ctx), rule.op, rule.value)
    raise AssertionError(f"unhandled rule {rule!r}")


def why_false(rule: Rule, ctx: Context) -> str:
    """For a rule `evaluate` found false: which part was false, in words (for `customers
    explain`). Only asked when a rule refused an entry, never on the hot path."""
    match rule:
        case InSegmentRule():
            return f'not a member of "{rule.in_segment}"'
        case NotInSegmentRule():
            return f'a member of "{rule.not_in_segment}"'
        case AllRule():
            first = next(r for r in rule.all if not evaluate(r, ctx))
            return why_false(first, ctx)
        case AnyRule():
            return "none held: " + "; ".join(why_false(r, ctx) for r in rule.any)
        case NotRule():
            return f"not ({describe(rule.not_)}), and it held"
        case FieldRule():
            actual = resolve(rule.field, ctx)
            return f"{describe(rule)} was false: {rule.field} is {'missing' if actual is _MISSING else _shown(actual)}"
    raise AssertionError(f"unhandled rule {rule!r}")


def describe(rule: Rule) -> str:
    """The rule as a flow author would read it."""
    match rule:
        case InSegmentRule():
            return f'in segment "{rule.in_segment}"'
        case NotInSegmentRule():
            return f'not in segment "{rule.not_in_segment}"'
        case AllRule():
            return " and ".join(f"({describe(r)})" for r in rule.all)
        case AnyRule():
            return " or ".join(f"({describe(r)})" for r in rule.any)
        case NotRule():
            return f"not ({describe(rule.not_)})"
        case FieldRule():
            return f"{rule.field} {rule.op} {_shown(rule.value)}"
    raise AssertionError(f"unhandled rule {rule!r}")


def _shown(value: Any) -> str:
    """A value as JSON would write it; numbers without json.dumps, which refusals pay for often."""
    if type(value) is int or type(value) is float:
        return repr(value)
    return json.dumps(value, default=str)[:80]


def _member(ctx: Context, segment: str) -> bool:
    if not ctx.members.exists(segment):
        raise MissingSegment(segment, ctx.store_id)
    return ctx.members.is_member(ctx.email, segment)


def rule_segments(rule: Rule) -> list[str]:
    """The segments a rule names, in order (a trigger's `where` is a rule too)."""
    match rule:
        case InSegmentRule():
            return [rule.in_segment]
        case NotInSegmentRule():
            return [rule.not_in_segment]
        case AllRule():
            return [name for inner in rule.all for name in rule_segments(inner)]
        case AnyRule():
            return [name for inner in rule.any for name in rule_segments(inner)]
        case NotRule():
            return rule_segments(rule.not_)
    return []


def resolve(path: str, ctx: Context) -> Any:
    root, *parts = path.split(".")
    value: Any = ctx.customer if root == "customer" else (ctx.event.data if ctx.event is not None else {})
    for part in parts:
        if not isinstance(value, dict) or part not in value:  # JSON objects; the Mapping ABC check is slow
            return _MISSING
        value = value[part]
    return _MISSING if value is None else value


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def compare(actual: Any, op: str, expected: Any) -> bool:
    if op == "exists":
        return (actual is not _MISSING) == bool(expected)
    if actual is _MISSING:
        return False
    if op == "eq":
        return bool(actual == expected)
    if op == "ne":
        return bool(actual != expected)
    if op in ("in", "not_in"):
        inside = isinstance(expected, list) and actual in expected
        return inside if op == "in" else not inside
    if op == "contains":
        if isinstance(actual, str) and isinstance(expected, str):
            return expected in actual
        return isinstance(actual, list) and expected in actual
    # Ordering compares numbers with numbers and strings with strings; anything else is false.
    if not ((_number(actual) and _number(expected)) or (isinstance(actual, str) and isinstance(expected, str))):
        return False
    if op == "gt":
        return bool(actual > expected)
    if op == "gte":
        return bool(actual >= expected)
    if op == "lt":
        return bool(actual < expected)
    if op == "lte":
        return bool(actual <= expected)
    raise AssertionError(f"unhandled op {op!r}")


def successors(node: ConditionNode) -> list[Edge]:
    return [Edge("then", node.then), Edge("else", node.else_)]


def check(_node: ConditionNode) -> list[str]:
    return []


def segments(node: ConditionNode) -> list[tuple[str, bool]]:
    return [(name, False) for name in rule_segments(node.if_)]


HANDLER = NodeHandler(type="condition", visit=visit, successors=successors, check=check, segments=segments)
