"""Wait node: pause for a duration, or until an event arrives or times out (SPEC §4)."""

from __future__ import annotations

import functools
import re
from datetime import timedelta

import isodate

from engine.model import Context, Edge, NodeHandler, Outcome, Visit
from schemas.flow import WaitNode
from schemas.names import EVENT_TYPE_PATTERN

MAX_WAIT = timedelta(days=3650)
"""The longest wait (about ten years): a run's wake time must stay a date the database and
Python can hold, whatever time the run starts."""


@functools.lru_cache(maxsize=1024)  # a flow has few durations and the hot loop asks for them again and again
def parse_duration(text: str) -> timedelta:
    """ISO-8601 duration of fixed length, at most MAX_WAIT; ValueError names what is wrong."""
    try:
        value = isodate.parse_duration(text)
    except (isodate.ISO8601Error, ValueError, OverflowError):
        raise ValueError(f"{text!r} is not an ISO-8601 duration such as P3D or PT12H") from None
    if not isinstance(value, timedelta):  # years and months have no fixed length
        raise ValueError(f"{text!r} uses years or months; use days (P30D) instead")
    if value <= timedelta(0):
        raise ValueError(f"{text!r} is not a positive duration")
    if value > MAX_WAIT:
        raise ValueError(f"{text!r} is longer than the longest wait, P{MAX_WAIT.days}D")
    return value


def prepare(node: WaitNode) -> Visit:
    """Arriving pauses the run; resuming (ctx.wake) picks the way out."""
    until_event = node.until_event
    timed_out = Outcome(next=node.on_timeout, edge="on_timeout")
    done = Outcome(next=node.next)

    def visit(ctx: Context) -> Outcome:
        if ctx.wake is None:
            length = parse_duration(node.duration if node.duration is not None else node.timeout or "")
            return Outcome(wake_at=ctx.now + length, waiting_for=until_event)
        if ctx.wake == "timer" and until_event is not None:
            return timed_out
        return done

    return visit


def successors(node: WaitNode) -> list[Edge]:
    edges = [Edge("next", node.next)]
    if node.until_event is not None:
        edges.append(Edge("on_timeout", node.on_timeout))
    return edges


def check(node: WaitNode) -> list[str]:
    problems: list[str] = []
    if (node.duration is None) == (node.until_event is None):
        return ["a wait needs exactly one of duration or until_event"]
    if node.duration is not None:
        if node.timeout is not None or node.on_timeout is not None:
            problems.append("timeout and on_timeout go with until_event, not duration")
        durations = [("duration", node.duration)]
    else:
        if not re.match(EVENT_TYPE_PATTERN, node.until_event or ""):
            problems.append(f"until_event {node.until_event!r} is not a dotted lowercase event type")
        if node.timeout is None:
            problems.append("until_event needs a timeout (e.g. P7D)")
        durations = [("timeout", node.timeout)] if node.timeout is not None else []
    for field, text in durations:
        try:
            parse_duration(text)
        except ValueError as exc:
            problems.append(f"{field}: {exc}")
    return problems


HANDLER = NodeHandler(type="wait", prepare=prepare, successors=successors, check=check, pauses=True)
