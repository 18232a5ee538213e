"""Condition node: go to `then` or `else` by a rule over segments and fields (SPEC §4).

The rule language lives here; the engine also uses `evaluate` for a trigger's `where`.

Fields: `data.a.b` walks the driving event's data (a timer-woken run has no event, so its
data fields are missing); `customer.x` reads the customer record. A field that is absent or
null is missing: `exists` is false for it and every other op is false.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from typing import Any

from engine.model import Context, Edge, NodeHandler, Outcome, Visit
from schemas.flow import AllRule, AnyRule, ConditionNode, FieldRule, InSegmentRule, NotInSegmentRule, NotRule, Rule

_MISSING = object()


class MissingSegment(Exception):
    """A rule names a segment the store no longer has (deleted with --force after deploy). The
    run fails naming it: neither true nor false would be honest (SPEC §6)."""

    def __init__(self, segment: str, store_id: str) -> None:
        super().__init__(f'segment "{segment}" does not exist in store {store_id}')


def prepare(node: ConditionNode) -> Visit:
    holds = predicate(node.if_)
    then, otherwise = Outcome(next=node.then, edge="then"), Outcome(next=node.else_, edge="else")

    def visit(ctx: Context) -> Outcome:
        try:
            return then if holds(ctx) else otherwise
        except MissingSegment as missing:
            return Outcome(failure=str(missing))

    return visit


Predicate = Callable[[Context], bool]


def predicate(rule: Rule) -> Predicate:
    """The rule as a test of a context, built once per deployed version (`CompiledFlow`): most
    events ask a trigger's `where` or a condition's `if`, and matching the rule's model on each
    ask was a fifth of the engine's time. A test that meets a segment the store does not have
    raises MissingSegment."""
    match rule:
        case InSegmentRule():
            segment = rule.in_segment
            return lambda ctx: _member(ctx, segment)
        case NotInSegmentRule():
            segment = rule.not_in_segment
            return lambda ctx: not _member(ctx, segment)
        case AllRule():
            every = tuple(predicate(r) for r in rule.all)
            return lambda ctx: all(holds(ctx) for holds in every)
        case AnyRule():
            some = tuple(predicate(r) for r in rule.any)
            return lambda ctx: any(holds(ctx) for holds in some)
        case NotRule():
            inner = predicate(rule.not_)
            return lambda ctx: not inner(ctx)
        case FieldRule():
            read, test = reader(rule.field), comparison(rule.op, rule.value)
            return lambda ctx: test(read(ctx))
    raise AssertionError(f"unhandled rule {rule!r}")


def evaluate(rule: Rule, ctx: Context) -> bool:
    """Raises MissingSegment for a rule on a segment the store does not have."""
    return predicate(rule)(ctx)


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
    return reader(path)(ctx)


def reader(path: str) -> Callable[[Context], Any]:
    """Reads a field of the context: its value, or _MISSING when absent or null."""
    root, *parts = path.split(".")
    from_customer = root == "customer"

    def read(ctx: Context) -> Any:
        value: Any = ctx.customer if from_customer else (ctx.event.data if ctx.event is not None else {})
        for part in parts:
            if not isinstance(value, dict) or part not in value:  # JSON objects; the Mapping ABC check is slow
                return _MISSING
            value = value[part]
        return _MISSING if value is None else value

    return read


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le,
}  # fmt: skip


def comparison(op: str, expected: Any) -> Callable[[Any], bool]:
    """`op` with `expected` as a test of a field's value (_MISSING when absent or null: false for
    every op but `exists`). Ordering compares numbers with numbers and strings with strings;
    anything else is false."""
    if op == "exists":
        wanted = bool(expected)
        return lambda actual: (actual is not _MISSING) == wanted
    if op == "eq":
        return lambda actual: actual is not _MISSING and bool(actual == expected)
    if op == "ne":
        return lambda actual: actual is not _MISSING and bool(actual != expected)
    if op in ("in", "not_in"):
        inside = expected if isinstance(expected, list) else []
        if op == "in":
            return lambda actual: actual is not _MISSING and actual in inside
        return lambda actual: actual is not _MISSING and actual not in inside
    if op == "contains":
        return lambda actual: (
            expected in actual
            if isinstance(actual, str) and isinstance(expected, str)
            else isinstance(actual, list) and expected in actual
        )
    order = _ORDERINGS.get(op)
    if order is None:
        raise AssertionError(f"unhandled op {op!r}")
    if _number(expected):
        return lambda actual: _number(actual) and bool(order(actual, expected))
    if isinstance(expected, str):
        return lambda actual: isinstance(actual, str) and bool(order(actual, expected))
    return lambda _actual: False


def successors(node: ConditionNode) -> list[Edge]:
    return [Edge("then", node.then), Edge("else", node.else_)]


def check(_node: ConditionNode) -> list[str]:
    return []


def segments(node: ConditionNode) -> list[tuple[str, bool]]:
    return [(name, False) for name in rule_segments(node.if_)]


HANDLER = NodeHandler(type="condition", prepare=prepare, successors=successors, check=check, segments=segments)
